// Block lists (XEP-0191, module 'blocking'): one row per blocked address per
// account; the rows go with the account.
import { sql, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  // As in 0001: byte order ("C") on PostgreSQL, which is what SQLite compares with.
  const key = pg ? sql`text collate "C"` : 'text';
  let table = db.schema
    .createTable('blocklist')
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('localpart', key, (c) => c.notNull())
    .addColumn('jid', key, (c) => c.notNull())
    // The primary key is also the index that reads one account's list.
    .addPrimaryKeyConstraint('blocklist_pk', ['domain', 'localpart', 'jid'])
    .addForeignKeyConstraint('blocklist_account_fk', ['domain', 'localpart'], 'accounts', ['domain', 'localpart'], (fk) =>
      fk.onDelete('cascade'),
    );
  if (!pg) table = table.modifyEnd(sql`strict`);
  await table.execute();
}
