// Group chat (XEP-0045): the persistent rooms of each MUC service (temporary
// rooms never reach the database) and their affiliations. A room's
// configuration is one JSON text: it is read when the service starts and
// written when an owner submits the form, never searched by field. Room and
// JID keys are prepared JIDs, compared byte for byte.
import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const timestamp = pg ? 'timestamptz' : 'integer'; // SQLite: epoch milliseconds
  const create = async (table: CreateTableBuilder<string, string>) => {
    await (pg ? table : table.modifyEnd(sql`strict`)).execute();
  };

  await create(
    db.schema
      .createTable('muc_rooms')
      // The MUC service's domain (e.g. conference.example.org) and the room's localpart.
      .addColumn('service', key, (c) => c.notNull())
      .addColumn('room', key, (c) => c.notNull())
      .addColumn('config', 'text', (c) => c.notNull())
      .addColumn('subject', 'text')
      .addColumn('subject_nick', 'text')
      // The creator's bare JID: rooms per user are counted by it.
      .addColumn('creator', key, (c) => c.notNull())
      .addColumn('created_at', timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint('muc_rooms_pk', ['service', 'room']),
  );
  await create(
    db.schema
      .createTable('muc_affiliations')
      .addColumn('service', key, (c) => c.notNull())
      .addColumn('room', key, (c) => c.notNull())
      // A bare JID; local users and, later, remote ones alike, so no foreign key to accounts.
      .addColumn('jid', key, (c) => c.notNull())
      .addColumn('affiliation', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('muc_affiliations_pk', ['service', 'room', 'jid'])
      .addCheckConstraint('muc_affiliations_affiliation', sql`affiliation in ('owner', 'admin', 'member', 'outcast')`)
      .addForeignKeyConstraint('muc_affiliations_room', ['service', 'room'], 'muc_rooms', ['service', 'room'], (fk) => fk.onDelete('cascade')),
  );
}
