// FAST tokens (XEP-0484): per account and client (SASL2 user-agent id) at most
// two rows, the 'current' token and a 'new' one not yet used (the XEP's two
// slots). No token is stored: a row holds a random seed, and the token is an
// HMAC of it under a key kept outside the database (src/auth/fast-store.ts), so
// a copy of the database logs no one in. Times are epoch milliseconds.
import { sql, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const int64 = pg ? 'bigint' : 'integer';
  let table = db.schema
    .createTable('fast_tokens')
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('localpart', key, (c) => c.notNull())
    .addColumn('agent_id', key, (c) => c.notNull())
    .addColumn('slot', key, (c) => c.notNull())
    .addColumn('seed', 'text', (c) => c.notNull())
    .addColumn('mechanism', 'text', (c) => c.notNull())
    .addColumn('created_at', int64, (c) => c.notNull())
    .addColumn('expires_at', int64, (c) => c.notNull())
    .addColumn('last_count', int64)
    .addPrimaryKeyConstraint('fast_tokens_pk', ['domain', 'localpart', 'agent_id', 'slot']);
  if (!pg) table = table.modifyEnd(sql`strict`);
  await table.execute();
}
