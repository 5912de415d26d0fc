// Offline messages (XEP-0160): one row per stored message, in arrival order per
// account. The stanza is kept as XML text (the user's data, stored as sent);
// `bytes` is its UTF-8 length, so a quota check needs no scan of the text.
import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const timestamp = pg ? 'timestamptz' : 'integer'; // SQLite: epoch milliseconds

  let table: CreateTableBuilder<string, string> = db.schema
    .createTable('offline_messages')
    // Arrival order. SQLite: AUTOINCREMENT so an id is never reused after the
    // newest row is deleted (a reader that saw an id never sees it again).
    .addColumn('id', pg ? sql`bigint generated always as identity` : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('localpart', key, (c) => c.notNull())
    .addColumn('stored_at', timestamp, (c) => c.notNull())
    .addColumn('bytes', 'integer', (c) => c.notNull())
    .addColumn('xml', 'text', (c) => c.notNull())
    .addCheckConstraint('offline_messages_bytes', sql`bytes >= 0`)
    // Removing an account removes what was stored for it.
    .addForeignKeyConstraint('offline_messages_account', ['domain', 'localpart'], 'accounts', ['domain', 'localpart'], (fk) =>
      fk.onDelete('cascade'),
    );
  if (!pg) table = table.modifyEnd(sql`strict`);
  await table.execute();
  await db.schema.createIndex('offline_messages_account_id').on('offline_messages').columns(['domain', 'localpart', 'id']).execute();
}
