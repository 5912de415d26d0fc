// Persistent rooms and their affiliations in the shared database (tables from
// migration 0011-muc), dialect-neutral Kysely. Temporary rooms are never
// written. The service changes one room at a time (a queue per room), so the
// writes here need no locking of their own.
import type { ColumnType, Kysely } from 'kysely';
import { readDate } from '../../storage/values.ts';
import type { RoomConfig } from './config.ts';
import type { Affiliation } from './roles.ts';

type Timestamp = ColumnType<Date | number, Date, Date>;

export interface MucTables {
  muc_rooms: {
    service: string;
    room: string;
    config: string;
    subject: string | null;
    subject_nick: string | null;
    creator: string;
    created_at: Timestamp;
  };
  muc_affiliations: {
    service: string;
    room: string;
    jid: string;
    affiliation: Exclude<Affiliation, 'none'>;
  };
}

export interface StoredRoom {
  /** The room's localpart. */
  room: string;
  config: RoomConfig;
  subject: { text: string; nick: string } | undefined;
  creator: string;
  createdAt: Date;
  /** Affiliations other than none, by bare JID. */
  affiliations: Map<string, Affiliation>;
}

export class MucStore {
  readonly #db: Kysely<MucTables>;
  readonly #service: string;

  /** The rooms of one MUC service (its domain). */
  constructor(db: Kysely<MucTables>, service: string) {
    this.#db = db;
    this.#service = service;
  }

  /** Every persistent room of the service, with its affiliations. */
  async loadRooms(): Promise<StoredRoom[]> {
    const rooms = await this.#db.selectFrom('muc_rooms').selectAll().where('service', '=', this.#service).orderBy('room').execute();
    const affs = await this.#db.selectFrom('muc_affiliations').selectAll().where('service', '=', this.#service).execute();
    const byRoom = new Map<string, Map<string, Affiliation>>();
    for (const a of affs) {
      let m = byRoom.get(a.room);
      if (!m) byRoom.set(a.room, (m = new Map()));
      m.set(a.jid, a.affiliation);
    }
    return rooms.map((r) => ({
      room: r.room,
      config: JSON.parse(r.config) as RoomConfig,
      subject: r.subject === null ? undefined : { text: r.subject, nick: r.subject_nick ?? '' },
      creator: r.creator,
      createdAt: readDate(r.created_at),
      affiliations: byRoom.get(r.room) ?? new Map(),
    }));
  }

  /** Writes the whole room (configuration, subject, every affiliation), replacing what was stored. */
  async saveRoom(room: StoredRoom): Promise<void> {
    await this.#db.transaction().execute(async (tx) => {
      const values = {
        config: JSON.stringify(room.config),
        subject: room.subject?.text ?? null,
        subject_nick: room.subject?.nick ?? null,
      };
      await tx
        .insertInto('muc_rooms')
        .values({
          service: this.#service,
          room: room.room,
          creator: room.creator,
          created_at: room.createdAt,
          ...values,
        })
        .onConflict((oc) => oc.columns(['service', 'room']).doUpdateSet(values))
        .execute();
      await tx.deleteFrom('muc_affiliations').where('service', '=', this.#service).where('room', '=', room.room).execute();
      const rows = [...room.affiliations]
        .filter(([, a]) => a !== 'none')
        .map(([jid, a]) => ({
          service: this.#service,
          room: room.room,
          jid,
          affiliation: a as Exclude<Affiliation, 'none'>,
        }));
      // Bounded inserts: SQLite allows 32766 parameters per statement.
      for (let i = 0; i < rows.length; i += 500)
        await tx
          .insertInto('muc_affiliations')
          .values(rows.slice(i, i + 500))
          .execute();
    });
  }

  /** One affiliation of a stored room ('none' removes it). */
  async setAffiliation(room: string, jid: string, affiliation: Affiliation): Promise<void> {
    const remove = this.#db.deleteFrom('muc_affiliations').where('service', '=', this.#service).where('room', '=', room).where('jid', '=', jid);
    if (affiliation === 'none') {
      await remove.execute();
      return;
    }
    await this.#db
      .insertInto('muc_affiliations')
      .values({ service: this.#service, room, jid, affiliation })
      .onConflict((oc) => oc.columns(['service', 'room', 'jid']).doUpdateSet({ affiliation }))
      .execute();
  }

  async setSubject(room: string, subject: { text: string; nick: string }): Promise<void> {
    await this.#db
      .updateTable('muc_rooms')
      .set({ subject: subject.text, subject_nick: subject.nick })
      .where('service', '=', this.#service)
      .where('room', '=', room)
      .execute();
  }

  /** Deletes the room with its affiliations; false if it was not stored. */
  async deleteRoom(room: string): Promise<boolean> {
    const r = await this.#db.deleteFrom('muc_rooms').where('service', '=', this.#service).where('room', '=', room).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
