// Legal holds (table legal_holds, migration 0019): accounts whose archived
// messages the retention purge keeps, in their own archive and in the
// compliance archive, until the hold is released (`palisade hold`). Read by the
// purge, which runs in the server, and written by the command line.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { readInt } from '../../storage/values.ts';
import type { Owner } from './store.ts';

export interface HoldTables {
  legal_holds: {
    domain: string;
    localpart: string;
    reason: string;
    placed_by: string;
    placed_at: number | string;
  };
}

export interface LegalHold extends Owner {
  reason: string;
  placedBy: string;
  placedAt: Date;
}

export class HoldStore {
  readonly #db: Kysely<HoldTables>;

  constructor(db: Kysely<HoldTables>) {
    this.#db = db;
  }

  /** Places a hold; false when the account is already on hold (the first hold and its reason stand). */
  async place(hold: LegalHold): Promise<boolean> {
    const r = await this.#db
      .insertInto('legal_holds')
      .values({ domain: hold.domain, localpart: hold.localpart, reason: hold.reason, placed_by: hold.placedBy, placed_at: hold.placedAt.getTime() })
      .onConflict((oc) => oc.columns(['domain', 'localpart']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** Releases a hold; the hold as it was, or undefined when there was none. */
  async release(owner: Owner): Promise<LegalHold | undefined> {
    const hold = await this.get(owner);
    if (!hold) return undefined;
    await this.#db.deleteFrom('legal_holds').where('domain', '=', owner.domain).where('localpart', '=', owner.localpart).execute();
    return hold;
  }

  async get(owner: Owner): Promise<LegalHold | undefined> {
    const r = await this.#db.selectFrom('legal_holds').selectAll().where('domain', '=', owner.domain).where('localpart', '=', owner.localpart).executeTakeFirst();
    return r && toHold(r);
  }

  async list(domain: string): Promise<LegalHold[]> {
    const rows = await this.#db.selectFrom('legal_holds').selectAll().where('domain', '=', domain).orderBy('localpart').execute();
    return rows.map(toHold);
  }
}

function toHold(r: HoldTables['legal_holds']): LegalHold {
  return { domain: r.domain, localpart: r.localpart, reason: r.reason, placedBy: r.placed_by, placedAt: new Date(readInt(r.placed_at)) };
}

/** A condition on a table with domain and localpart columns: its account is not on legal hold. */
export function notHeld(table: string): RawBuilder<boolean> {
  return sql<boolean>`not exists (select 1 from legal_holds where legal_holds.domain = ${sql.ref(`${table}.domain`)} and legal_holds.localpart = ${sql.ref(`${table}.localpart`)})`;
}
