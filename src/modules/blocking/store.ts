// Block lists in the database (table from migration 0005-blocking): one row per
// blocked address per account, on SQLite and PostgreSQL alike.
import type { Kysely } from 'kysely';

export interface BlocklistTable {
  /** The account: its domain and localpart, as in `accounts` (rows go when the account goes). */
  domain: string;
  localpart: string;
  /** The blocked address, a prepared JID: user@domain/resource, user@domain, domain/resource or domain. */
  jid: string;
}

export interface BlockingTables {
  blocklist: BlocklistTable;
}

// Three parameters a row: far below SQLite's (32766) and PostgreSQL's (65535) limits.
const CHUNK = 500;

export class BlockingStore {
  readonly #db: Kysely<BlockingTables>;

  constructor(db: Kysely<BlockingTables>) {
    this.#db = db;
  }

  /** The account's blocked addresses, in code point order. */
  async list(domain: string, localpart: string): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('blocklist')
      .select('jid')
      .where('domain', '=', domain)
      .where('localpart', '=', localpart)
      .orderBy('jid')
      .execute();
    return rows.map((r) => r.jid);
  }

  /** Adds addresses (those already there stay as they are), all or none. */
  async add(domain: string, localpart: string, jids: readonly string[]): Promise<void> {
    if (jids.length === 0) return;
    await this.#db.transaction().execute(async (trx) => {
      for (let i = 0; i < jids.length; i += CHUNK) {
        await trx
          .insertInto('blocklist')
          .values(jids.slice(i, i + CHUNK).map((jid) => ({ domain, localpart, jid })))
          .onConflict((oc) => oc.columns(['domain', 'localpart', 'jid']).doNothing())
          .execute();
      }
    });
  }

  /** Removes these addresses; returns how many were there. */
  async remove(domain: string, localpart: string, jids: readonly string[]): Promise<number> {
    if (jids.length === 0) return 0;
    return this.#db.transaction().execute(async (trx) => {
      let removed = 0;
      for (let i = 0; i < jids.length; i += CHUNK) {
        const r = await trx
          .deleteFrom('blocklist')
          .where('domain', '=', domain)
          .where('localpart', '=', localpart)
          .where('jid', 'in', jids.slice(i, i + CHUNK))
          .executeTakeFirst();
        removed += Number(r.numDeletedRows);
      }
      return removed;
    });
  }

  /** Empties the account's list; returns how many addresses it held. */
  async clear(domain: string, localpart: string): Promise<number> {
    const r = await this.#db.deleteFrom('blocklist').where('domain', '=', domain).where('localpart', '=', localpart).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
