// Failed-login counters and locks per account (brute-force protection). Kept in
// the database so a lock survives restarts and `palisade user unlock` works
// from another process. Times are epoch milliseconds on both backends.
import { sql, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const int64 = pg ? 'bigint' : 'integer';
  let table = db.schema
    .createTable('auth_lockouts')
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('localpart', key, (c) => c.notNull())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('window_start', int64, (c) => c.notNull())
    .addColumn('locked_until', int64)
    .addPrimaryKeyConstraint('auth_lockouts_pk', ['domain', 'localpart']);
  if (!pg) table = table.modifyEnd(sql`strict`);
  await table.execute();
}
