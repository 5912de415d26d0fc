// Compliance archiving and legal hold (docs/policy.md "Archiving").
//
// compliance_messages: the organisation's copies of messages of accounts whose
// archiving mode is 'compliance', kept apart from the users' own archives
// (mam_messages) so that a user's preferences decide what the user sees while
// the organisation keeps everything. A row expires at `expires_at` (the
// policy's retention_days from when it was stored), never earlier. No foreign
// key to accounts: the organisation's record outlives the account.
// `user_stanza_id` is the id of the same message in the user's own archive,
// null when the user's preferences (or none) kept no copy there.
//
// legal_holds: accounts whose archived messages (both kinds) no retention
// purge deletes, and which cannot be removed, until the hold is released.
// Times are epoch milliseconds on both backends.
import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const int64 = pg ? 'bigint' : 'integer';

  let messages: CreateTableBuilder<string, string> = db.schema
    .createTable('compliance_messages')
    .addColumn('id', pg ? sql`bigint generated always as identity` : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('localpart', key, (c) => c.notNull())
    .addColumn('stanza_id', key, (c) => c.notNull())
    .addColumn('user_stanza_id', key)
    .addColumn('peer', key, (c) => c.notNull())
    .addColumn('peer_resource', key, (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('stored_at', int64, (c) => c.notNull())
    .addColumn('expires_at', int64, (c) => c.notNull())
    .addColumn('xml', 'text', (c) => c.notNull())
    .addCheckConstraint('compliance_messages_direction', sql`direction in ('in', 'out')`)
    .addUniqueConstraint('compliance_messages_stanza_id', ['domain', 'localpart', 'stanza_id']);
  if (!pg) messages = messages.modifyEnd(sql`strict`);
  await messages.execute();
  // Export by account in archive order; the purge finds expired rows by expiry.
  await db.schema.createIndex('compliance_messages_account_id').on('compliance_messages').columns(['domain', 'localpart', 'id']).execute();
  await db.schema.createIndex('compliance_messages_expires_at').on('compliance_messages').column('expires_at').execute();

  let holds: CreateTableBuilder<string, string> = db.schema
    .createTable('legal_holds')
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('localpart', key, (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('placed_by', 'text', (c) => c.notNull())
    .addColumn('placed_at', int64, (c) => c.notNull())
    .addPrimaryKeyConstraint('legal_holds_pk', ['domain', 'localpart']);
  if (!pg) holds = holds.modifyEnd(sql`strict`);
  await holds.execute();
}
