// Roster storage (tables from migration 0002-roster), dialect-neutral Kysely.
// Every change to an item bumps the owner's roster version in the same
// transaction and records the new version on the item (or on a tombstone when
// the item is removed), so a client's cached roster can be brought up to date
// with only what changed (XEP-0237).
import { randomInt } from 'node:crypto';
import { sql, type ColumnType, type Kysely, type Transaction } from 'kysely';
import { readBool, readDate, readInt } from '../../storage/values.ts';

export type Subscription = 'none' | 'to' | 'from' | 'both';
export const SUBSCRIPTIONS: readonly Subscription[] = ['none', 'to', 'from', 'both'];

type Bool = ColumnType<boolean | number, boolean, boolean>;
type Int64 = ColumnType<number | string, number, number>;
type Timestamp = ColumnType<Date | number, Date, Date>;

export interface RosterTables {
  roster_items: {
    domain: string;
    localpart: string;
    contact: string;
    name: string | null;
    subscription: Subscription;
    ask: Bool;
    approved: Bool;
    /** JSON array of group names. */
    groups: string;
    version: Int64;
  };
  roster_pending: {
    domain: string;
    localpart: string;
    contact: string;
    stanza: string;
    created_at: Timestamp;
  };
  roster_versions: {
    domain: string;
    localpart: string;
    version: Int64;
    floor: Int64;
  };
  roster_tombstones: {
    domain: string;
    localpart: string;
    contact: string;
    version: Int64;
  };
}

/** Whose roster: an account, by its prepared parts. */
export interface Owner {
  domain: string;
  localpart: string;
}

export interface ItemData {
  /** The contact's bare JID. */
  jid: string;
  name: string | undefined;
  groups: string[];
  subscription: Subscription;
  /** Pending Out: the account asked for the contact's presence and has no answer yet. */
  ask: boolean;
  /** Pre-approved: a request from the contact will be accepted without asking (RFC 6121 §3.4). */
  approved: boolean;
}

export interface StoredItem extends ItemData {
  /** The roster version at which the item last changed. */
  version: number;
}

/** An inbound subscription request not answered yet (Pending In). */
export interface PendingRequest {
  /** The requester's bare JID. */
  from: string;
  /** The request as it arrived (XML), for redelivery. */
  stanza: string;
  createdAt: Date;
}

export interface StoredRoster {
  items: StoredItem[];
  pending: PendingRequest[];
  /** 0 when the account's roster never changed (it is empty and has no history). */
  version: number;
  /** Every change after this version is known. */
  floor: number;
}

/** Removed items kept per account for versioning; older ones are forgotten and the floor moves up. */
export const MAX_TOMBSTONES = 1000;

/** Rows per INSERT in bulk writes (10 parameters each). */
const BATCH = 500;

export class RosterStore {
  readonly #db: Kysely<RosterTables>;

  constructor(db: Kysely<any>) {
    this.#db = db as Kysely<RosterTables>;
  }

  async load(owner: Owner): Promise<StoredRoster> {
    const [items, pending, version] = await Promise.all([
      this.#db
        .selectFrom('roster_items')
        .selectAll()
        .where('domain', '=', owner.domain)
        .where('localpart', '=', owner.localpart)
        .orderBy('contact')
        .execute(),
      this.#db
        .selectFrom('roster_pending')
        .select(['contact', 'stanza', 'created_at'])
        .where('domain', '=', owner.domain)
        .where('localpart', '=', owner.localpart)
        .orderBy('created_at')
        .orderBy('contact')
        .execute(),
      this.#db
        .selectFrom('roster_versions')
        .select(['version', 'floor'])
        .where('domain', '=', owner.domain)
        .where('localpart', '=', owner.localpart)
        .executeTakeFirst(),
    ]);
    return {
      items: items.map(rowToItem),
      pending: pending.map((r) => ({ from: r.contact, stanza: r.stanza, createdAt: readDate(r.created_at) })),
      version: version ? readInt(version.version) : 0,
      floor: version ? readInt(version.floor) : 0,
    };
  }

  /** The roster's current version (0 if it never changed), one primary-key read. */
  async version(owner: Owner): Promise<number> {
    const row = await this.#db
      .selectFrom('roster_versions')
      .select('version')
      .where('domain', '=', owner.domain)
      .where('localpart', '=', owner.localpart)
      .executeTakeFirst();
    return row ? readInt(row.version) : 0;
  }

  /** One item without loading the whole roster (e.g. to answer a probe for an offline account). */
  async getItem(owner: Owner, contact: string): Promise<StoredItem | undefined> {
    const row = await this.#db
      .selectFrom('roster_items')
      .selectAll()
      .where('domain', '=', owner.domain)
      .where('localpart', '=', owner.localpart)
      .where('contact', '=', contact)
      .executeTakeFirst();
    return row && rowToItem(row);
  }

  /** Adds or replaces an item; returns it with its new version, and the roster's floor. */
  async putItem(owner: Owner, item: ItemData): Promise<{ item: StoredItem; floor: number }> {
    return this.#db.transaction().execute(async (trx) => {
      const { version, floor } = await bump(trx, owner);
      const row = { ...itemRow(owner, item), version };
      await trx
        .insertInto('roster_items')
        .values(row)
        .onConflict((oc) =>
          oc.columns(['domain', 'localpart', 'contact']).doUpdateSet({
            name: row.name,
            subscription: row.subscription,
            ask: row.ask,
            approved: row.approved,
            groups: row.groups,
            version,
          }),
        )
        .execute();
      await trx
        .deleteFrom('roster_tombstones')
        .where('domain', '=', owner.domain)
        .where('localpart', '=', owner.localpart)
        .where('contact', '=', item.jid)
        .execute();
      return { item: { ...item, version }, floor };
    });
  }

  /**
   * Removes an item (and any pending request from that contact); returns the
   * tombstone's version and the roster's floor (old tombstones may have been
   * forgotten), or undefined if there was no item.
   */
  async removeItem(owner: Owner, contact: string): Promise<{ version: number; floor: number } | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      await deletePending(trx, owner, contact);
      return removeWithTombstone(trx, owner, contact);
    });
  }

  /** Records (or replaces) an inbound subscription request. */
  async setPending(owner: Owner, request: PendingRequest): Promise<void> {
    await this.#db
      .insertInto('roster_pending')
      .values({ domain: owner.domain, localpart: owner.localpart, contact: request.from, stanza: request.stanza, created_at: request.createdAt })
      .onConflict((oc) => oc.columns(['domain', 'localpart', 'contact']).doUpdateSet({ stanza: request.stanza, created_at: request.createdAt }))
      .execute();
  }

  async deletePending(owner: Owner, contact: string): Promise<boolean> {
    return deletePending(this.#db, owner, contact);
  }

  /** Removed items whose tombstone is newer than `version`, oldest first. */
  async tombstonesSince(owner: Owner, version: number): Promise<{ jid: string; version: number }[]> {
    const rows = await this.#db
      .selectFrom('roster_tombstones')
      .select(['contact', 'version'])
      .where('domain', '=', owner.domain)
      .where('localpart', '=', owner.localpart)
      .where('version', '>', version)
      .orderBy('version')
      .execute();
    return rows.map((r) => ({ jid: r.contact, version: readInt(r.version) }));
  }

  /**
   * Bulk set-up (imports, tests, benchmarks): writes the items in one
   * transaction, each with a version of its own. Existing items are replaced.
   */
  async putMany(owner: Owner, items: readonly ItemData[]): Promise<void> {
    if (items.length === 0) return;
    await this.#db.transaction().execute(async (trx) => {
      await bump(trx, owner);
      const r = await trx
        .updateTable('roster_versions')
        .set({ version: sql<number>`version + ${items.length}` })
        .where('domain', '=', owner.domain)
        .where('localpart', '=', owner.localpart)
        .returning('version')
        .executeTakeFirstOrThrow();
      const last = readInt(r.version);
      const rows = items.map((item, i) => ({ ...itemRow(owner, item), version: last - items.length + 1 + i }));
      for (let i = 0; i < rows.length; i += BATCH) {
        const batch = rows.slice(i, i + BATCH);
        await trx
          .insertInto('roster_items')
          .values(batch)
          .onConflict((oc) =>
            oc.columns(['domain', 'localpart', 'contact']).doUpdateSet((eb) => ({
              name: eb.ref('excluded.name'),
              subscription: eb.ref('excluded.subscription'),
              ask: eb.ref('excluded.ask'),
              approved: eb.ref('excluded.approved'),
              groups: eb.ref('excluded.groups'),
              version: eb.ref('excluded.version'),
            })),
          )
          .execute();
        await trx
          .deleteFrom('roster_tombstones')
          .where('domain', '=', owner.domain)
          .where('localpart', '=', owner.localpart)
          .where(
            'contact',
            'in',
            batch.map((b) => b.contact),
          )
          .execute();
      }
    });
  }
}

/**
 * Deleting an account (RFC 6121 §2.5 applied by the server): its own roster,
 * pending requests and history go, and so does every item and pending request
 * on other accounts' rosters that points at it; each such roster gets a new
 * version and a tombstone, so their clients learn of the removal. Database
 * only: works from the CLI with no server running.
 */
export async function removeAccountRosterData(db: Kysely<any>, owner: Owner): Promise<void> {
  const kdb = db as Kysely<RosterTables>;
  const bare = `${owner.localpart}@${owner.domain}`;
  await kdb.transaction().execute(async (trx) => {
    for (const table of ['roster_items', 'roster_pending', 'roster_versions', 'roster_tombstones'] as const) {
      await trx.deleteFrom(table).where('domain', '=', owner.domain).where('localpart', '=', owner.localpart).execute();
    }
    const others = await trx.selectFrom('roster_items').select(['domain', 'localpart']).where('contact', '=', bare).execute();
    for (const other of others) await removeWithTombstone(trx, other, bare);
    await trx.deleteFrom('roster_pending').where('contact', '=', bare).execute();
  });
}

async function deletePending(db: Kysely<RosterTables> | Transaction<RosterTables>, owner: Owner, contact: string): Promise<boolean> {
  const r = await db
    .deleteFrom('roster_pending')
    .where('domain', '=', owner.domain)
    .where('localpart', '=', owner.localpart)
    .where('contact', '=', contact)
    .executeTakeFirst();
  return r.numDeletedRows > 0n;
}

async function removeWithTombstone(
  trx: Transaction<RosterTables>,
  owner: Owner,
  contact: string,
): Promise<{ version: number; floor: number } | undefined> {
  const deleted = await trx
    .deleteFrom('roster_items')
    .where('domain', '=', owner.domain)
    .where('localpart', '=', owner.localpart)
    .where('contact', '=', contact)
    .executeTakeFirst();
  if (deleted.numDeletedRows === 0n) return undefined;
  const { version, floor } = await bump(trx, owner);
  await trx
    .insertInto('roster_tombstones')
    .values({ domain: owner.domain, localpart: owner.localpart, contact, version })
    .onConflict((oc) => oc.columns(['domain', 'localpart', 'contact']).doUpdateSet({ version }))
    .execute();
  const pruned = await pruneTombstones(trx, owner);
  return { version, floor: Math.max(floor, pruned ?? 0) };
}

/** Keeps the newest MAX_TOMBSTONES; the floor rises to the newest one forgotten (returned). */
async function pruneTombstones(trx: Transaction<RosterTables>, owner: Owner): Promise<number | undefined> {
  const cut = await trx
    .selectFrom('roster_tombstones')
    .select('version')
    .where('domain', '=', owner.domain)
    .where('localpart', '=', owner.localpart)
    .orderBy('version', 'desc')
    .offset(MAX_TOMBSTONES)
    .limit(1)
    .executeTakeFirst();
  if (!cut) return undefined;
  const floor = readInt(cut.version);
  await trx
    .deleteFrom('roster_tombstones')
    .where('domain', '=', owner.domain)
    .where('localpart', '=', owner.localpart)
    .where('version', '<=', floor)
    .execute();
  await trx
    .updateTable('roster_versions')
    .set({ floor })
    .where('domain', '=', owner.domain)
    .where('localpart', '=', owner.localpart)
    .where('floor', '<', floor)
    .execute();
  return floor;
}

/**
 * The next roster version of an account. The first one starts at a random
 * point (so a deleted and re-created account never answers "unchanged" to a
 * version a client cached for the old one) and has no history before it.
 */
async function bump(trx: Transaction<RosterTables>, owner: Owner): Promise<{ version: number; floor: number }> {
  const start = randomInt(1, 2 ** 40);
  await trx
    .insertInto('roster_versions')
    .values({ domain: owner.domain, localpart: owner.localpart, version: start, floor: start })
    .onConflict((oc) => oc.columns(['domain', 'localpart']).doNothing())
    .execute();
  const r = await trx
    .updateTable('roster_versions')
    .set({ version: sql<number>`version + 1` })
    .where('domain', '=', owner.domain)
    .where('localpart', '=', owner.localpart)
    .returning(['version', 'floor'])
    .executeTakeFirstOrThrow();
  return { version: readInt(r.version), floor: readInt(r.floor) };
}

function itemRow(owner: Owner, item: ItemData) {
  return {
    domain: owner.domain,
    localpart: owner.localpart,
    contact: item.jid,
    name: item.name ?? null,
    subscription: item.subscription,
    ask: item.ask,
    approved: item.approved,
    groups: JSON.stringify(item.groups),
  };
}

function rowToItem(row: {
  contact: string;
  name: string | null;
  subscription: Subscription;
  ask: boolean | number;
  approved: boolean | number;
  groups: string;
  version: number | string;
}): StoredItem {
  return {
    jid: row.contact,
    name: row.name ?? undefined,
    groups: JSON.parse(row.groups) as string[],
    subscription: row.subscription,
    ask: readBool(row.ask),
    approved: readBool(row.approved),
    version: readInt(row.version),
  };
}
