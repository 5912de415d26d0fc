// (Slot 0009/0010 was released empty, so the tables come here.)
// Message archive (XEP-0313): one row per archived copy of a message, in
// archive order per account, and each account's archiving preferences. The
// stanza is kept as XML text (the user's data, stored as received); `stanza_id`
// is the XEP-0359 id clients page with; `peer` (bare JID) and `peer_resource`
// serve the 'with' filter without parsing the XML. Times are epoch milliseconds
// on both backends.
import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const int64 = pg ? 'bigint' : 'integer';

  let messages: CreateTableBuilder<string, string> = db.schema
    .createTable('mam_messages')
    // Archive order. SQLite: AUTOINCREMENT so an id is never reused after the
    // newest row is purged (paging positions stay meaningful).
    .addColumn('id', pg ? sql`bigint generated always as identity` : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('localpart', key, (c) => c.notNull())
    .addColumn('stanza_id', key, (c) => c.notNull())
    .addColumn('peer', key, (c) => c.notNull())
    .addColumn('peer_resource', key, (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('stored_at', int64, (c) => c.notNull())
    .addColumn('xml', 'text', (c) => c.notNull())
    .addCheckConstraint('mam_messages_direction', sql`direction in ('in', 'out')`)
    .addUniqueConstraint('mam_messages_stanza_id', ['domain', 'localpart', 'stanza_id'])
    // Removing an account removes its archive.
    .addForeignKeyConstraint('mam_messages_account', ['domain', 'localpart'], 'accounts', ['domain', 'localpart'], (fk) => fk.onDelete('cascade'));
  if (!pg) messages = messages.modifyEnd(sql`strict`);
  await messages.execute();
  await db.schema.createIndex('mam_messages_account_id').on('mam_messages').columns(['domain', 'localpart', 'id']).execute();
  await db.schema.createIndex('mam_messages_peer_id').on('mam_messages').columns(['domain', 'localpart', 'peer', 'id']).execute();
  // The retention purge finds expired rows without scanning every archive.
  await db.schema.createIndex('mam_messages_stored_at').on('mam_messages').column('stored_at').execute();

  let prefs: CreateTableBuilder<string, string> = db.schema
    .createTable('mam_prefs')
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('localpart', key, (c) => c.notNull())
    .addColumn('default_mode', 'text', (c) => c.notNull())
    // JSON arrays of JIDs, as the account gave them (after preparation).
    .addColumn('always_jids', 'text', (c) => c.notNull())
    .addColumn('never_jids', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('mam_prefs_pk', ['domain', 'localpart'])
    .addCheckConstraint('mam_prefs_default', sql`default_mode in ('always', 'never', 'roster')`)
    .addForeignKeyConstraint('mam_prefs_account', ['domain', 'localpart'], 'accounts', ['domain', 'localpart'], (fk) => fk.onDelete('cascade'));
  if (!pg) prefs = prefs.modifyEnd(sql`strict`);
  await prefs.execute();
}
