// Offline messages in the shared database (table from migration 0003-offline).
// Dialect-neutral Kysely; the module serialises the writes of one account (see
// AccountQueue), so the quota check and the insert need no lock of their own.
import type { ColumnType, Generated, Kysely } from 'kysely';
import { readDate, readInt } from '../../storage/values.ts';

type Timestamp = ColumnType<Date | number, Date, Date>;

export interface OfflineMessagesTable {
  /** bigint on PostgreSQL (arrives as a string), integer on SQLite. */
  id: Generated<number | string>;
  domain: string;
  localpart: string;
  stored_at: Timestamp;
  bytes: number;
  xml: string;
}

export interface OfflineTables {
  offline_messages: OfflineMessagesTable;
}

export interface StoredMessage {
  id: number;
  storedAt: Date;
  /** The message stanza as XML text. */
  xml: string;
}

export interface OfflineUsage {
  messages: number;
  bytes: number;
}

export interface OfflineLimits {
  maxMessages: number;
  maxBytes: number;
}

export type StoreResult = { stored: true; id: number } | { stored: false; usage: OfflineUsage };

export class OfflineStore {
  readonly #db: Kysely<OfflineTables>;

  constructor(db: Kysely<OfflineTables>) {
    this.#db = db;
  }

  async usage(domain: string, localpart: string): Promise<OfflineUsage> {
    const row = await this.#db
      .selectFrom('offline_messages')
      .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.sum<number | string | null>('bytes').as('b')])
      .where('domain', '=', domain)
      .where('localpart', '=', localpart)
      .executeTakeFirstOrThrow();
    return { messages: readInt(row.n), bytes: row.b === null ? 0 : readInt(row.b) };
  }

  /**
   * Stores one message unless that would take the account past a limit. The
   * write is committed when the promise resolves (SQLite WAL: it survives a
   * process kill from then on).
   */
  async add(domain: string, localpart: string, xml: string, limits: OfflineLimits, now = new Date()): Promise<StoreResult> {
    const bytes = Buffer.byteLength(xml, 'utf8');
    return this.#db.transaction().execute(async (tx) => {
      const store = new OfflineStore(tx);
      const usage = await store.usage(domain, localpart);
      if (usage.messages + 1 > limits.maxMessages || usage.bytes + bytes > limits.maxBytes) return { stored: false, usage };
      const row = await tx
        .insertInto('offline_messages')
        .values({ domain, localpart, stored_at: now, bytes, xml })
        .returning('id')
        .executeTakeFirstOrThrow();
      return { stored: true, id: readInt(row.id) };
    });
  }

  /** The oldest stored messages of an account, in arrival order, after id `after`. */
  async list(domain: string, localpart: string, opts: { after?: number; limit?: number } = {}): Promise<StoredMessage[]> {
    let q = this.#db
      .selectFrom('offline_messages')
      .select(['id', 'stored_at', 'xml'])
      .where('domain', '=', domain)
      .where('localpart', '=', localpart);
    if (opts.after !== undefined) q = q.where('id', '>', opts.after);
    const rows = await q
      .orderBy('id')
      .limit(opts.limit ?? 100)
      .execute();
    return rows.map((r) => ({ id: readInt(r.id), storedAt: readDate(r.stored_at), xml: r.xml }));
  }

  /** Deletes the given messages of the account; returns how many were deleted. */
  async remove(domain: string, localpart: string, ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const r = await this.#db
      .deleteFrom('offline_messages')
      .where('domain', '=', domain)
      .where('localpart', '=', localpart)
      .where('id', 'in', ids)
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
