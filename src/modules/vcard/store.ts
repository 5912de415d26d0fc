// vCards in the shared database (table `vcards`, migration 0004-vcard-private).
import type { ColumnType, Kysely } from 'kysely';
import { readDate } from '../../storage/values.ts';

type Timestamp = ColumnType<Date | number, Date, Date>;

export interface VCardsTable {
  domain: string;
  localpart: string;
  /** The <vCard xmlns='vcard-temp'/> element as XML text. */
  xml: string;
  bytes: number;
  /** SHA-1 (lowercase hex) of the PHOTO/BINVAL bytes; '' when there is no image. */
  photo_hash: string;
  updated_at: Timestamp;
}

export interface VCardTables {
  vcards: VCardsTable;
}

export interface StoredVCard {
  xml: string;
  photoHash: string;
  updatedAt: Date;
}

export class VCardStore {
  readonly #db: Kysely<VCardTables>;

  constructor(db: Kysely<VCardTables>) {
    this.#db = db;
  }

  async get(domain: string, localpart: string): Promise<StoredVCard | undefined> {
    const row = await this.#db
      .selectFrom('vcards')
      .select(['xml', 'photo_hash', 'updated_at'])
      .where('domain', '=', domain)
      .where('localpart', '=', localpart)
      .executeTakeFirst();
    return row && { xml: row.xml, photoHash: row.photo_hash, updatedAt: readDate(row.updated_at) };
  }

  /** The avatar hash only: '' for a vCard without an image, undefined when there is no vCard. */
  async photoHash(domain: string, localpart: string): Promise<string | undefined> {
    const row = await this.#db
      .selectFrom('vcards')
      .select('photo_hash')
      .where('domain', '=', domain)
      .where('localpart', '=', localpart)
      .executeTakeFirst();
    return row?.photo_hash;
  }

  /** Replaces the account's vCard; returns the previous photo hash (undefined: there was no vCard). */
  async set(domain: string, localpart: string, xml: string, photoHash: string, now = new Date()): Promise<string | undefined> {
    const bytes = Buffer.byteLength(xml, 'utf8');
    return this.#db.transaction().execute(async (tx) => {
      const before = await new VCardStore(tx).photoHash(domain, localpart);
      await tx
        .insertInto('vcards')
        .values({ domain, localpart, xml, bytes, photo_hash: photoHash, updated_at: now })
        .onConflict((oc) => oc.columns(['domain', 'localpart']).doUpdateSet({ xml, bytes, photo_hash: photoHash, updated_at: now }))
        .execute();
      return before;
    });
  }

  /** Deletes the account's vCard; returns the previous photo hash (undefined: there was none). */
  async remove(domain: string, localpart: string): Promise<string | undefined> {
    const row = await this.#db
      .deleteFrom('vcards')
      .where('domain', '=', domain)
      .where('localpart', '=', localpart)
      .returning('photo_hash')
      .executeTakeFirst();
    return row?.photo_hash;
  }
}
