// Invitations (`palisade invite`, the /invite/<token> page): one row per
// one-time token. Only the SHA-256 of the token is kept, so a copy of the
// database cannot redeem anything. Times are epoch milliseconds on both backends.
import { sql, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const int64 = pg ? 'bigint' : 'integer';
  let table = db.schema
    .createTable('invitations')
    // SQLite: AUTOINCREMENT so a revoked invitation's id is never reused.
    .addColumn('id', pg ? sql`bigint generated always as identity` : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', int64, (c) => c.notNull())
    .addColumn('expires_at', int64, (c) => c.notNull())
    .addColumn('group_name', key)
    .addColumn('localpart', key)
    .addColumn('used_at', int64)
    .addColumn('used_by', key)
    .addColumn('revoked_at', int64);
  if (!pg) table = table.modifyEnd(sql`strict`);
  await table.execute();
}
