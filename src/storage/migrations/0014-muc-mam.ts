// Room archives (XEP-0313 on MUC rooms): a room has no account row, so its
// messages cannot sit in mam_messages (whose rows belong to accounts). This
// table has the same columns, so the one archive store (src/modules/mam/store.ts)
// serves both: `domain` is the MUC service, `localpart` the room, `peer` the
// room's bare JID and `peer_resource` the sender's nickname. Only persistent
// rooms are archived, and the archive goes with the stored room (cascade).
import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const int64 = pg ? 'bigint' : 'integer';

  let messages: CreateTableBuilder<string, string> = db.schema
    .createTable('muc_mam_messages')
    // Archive order; SQLite: AUTOINCREMENT so a purged id is never reused.
    .addColumn('id', pg ? sql`bigint generated always as identity` : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('localpart', key, (c) => c.notNull())
    .addColumn('stanza_id', key, (c) => c.notNull())
    .addColumn('peer', key, (c) => c.notNull())
    .addColumn('peer_resource', key, (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('stored_at', int64, (c) => c.notNull())
    .addColumn('xml', 'text', (c) => c.notNull())
    .addCheckConstraint('muc_mam_messages_direction', sql`direction in ('in', 'out')`)
    .addUniqueConstraint('muc_mam_messages_stanza_id', ['domain', 'localpart', 'stanza_id'])
    .addForeignKeyConstraint('muc_mam_messages_room', ['domain', 'localpart'], 'muc_rooms', ['service', 'room'], (fk) => fk.onDelete('cascade'));
  if (!pg) messages = messages.modifyEnd(sql`strict`);
  await messages.execute();
  await db.schema.createIndex('muc_mam_messages_room_id').on('muc_mam_messages').columns(['domain', 'localpart', 'id']).execute();
  await db.schema.createIndex('muc_mam_messages_peer_id').on('muc_mam_messages').columns(['domain', 'localpart', 'peer', 'id']).execute();
  await db.schema.createIndex('muc_mam_messages_stored_at').on('muc_mam_messages').column('stored_at').execute();
}
