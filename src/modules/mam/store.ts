// The message archive in the shared database (tables from migration 0012-mam,
// and 0014-muc-mam for rooms), dialect-neutral Kysely. Archive order is the row
// id; clients only ever see the random stanza ids, which are resolved to row
// ids per query.
import type { ColumnType, Compilable, Generated, Kysely, SelectQueryBuilder } from 'kysely';
import { readInt } from '../../storage/values.ts';
import { notHeld } from './holds.ts';
import type { Preferences } from './prefs.ts';

type Int64 = ColumnType<number | string, number, number>;

export type Direction = 'in' | 'out';

interface MessageRow {
  /** bigint on PostgreSQL (arrives as a string), integer on SQLite. */
  id: Generated<number | string>;
  domain: string;
  localpart: string;
  stanza_id: string;
  peer: string;
  peer_resource: string;
  direction: Direction;
  stored_at: Int64;
  xml: string;
}

export interface MamTables {
  mam_messages: MessageRow;
  /** Room archives: the same columns, owned by a room (`domain` the MUC service, `localpart` the room). */
  muc_mam_messages: MessageRow;
  mam_prefs: {
    domain: string;
    localpart: string;
    default_mode: Preferences['default'];
    always_jids: string;
    never_jids: string;
  };
}

/** The tables of messages: accounts' archives and rooms' archives. */
export type MessageTable = 'mam_messages' | 'muc_mam_messages';

/** Runs one write statement (Storage.runWrite). */
export type RunWrite = (query: Compilable) => Promise<void>;

/** Whose archive: an account (or a room), by its prepared parts. */
export interface Owner {
  domain: string;
  localpart: string;
}

export interface NewArchived {
  owner: Owner;
  stanzaId: string;
  /** The other party's bare JID (the owner's own for a message to themselves). */
  peer: string;
  /** The other party's resource, '' for none. */
  peerResource: string;
  direction: Direction;
  storedAt: Date;
  /** The message stanza as XML text. */
  xml: string;
}

/** Where a message sits in the archive. */
export interface ArchivePosition {
  stanzaId: string;
  storedAt: Date;
}

export interface Archived extends ArchivePosition {
  xml: string;
}

/** What a query selects (XEP-0313 §4.1): every field optional. */
export interface ArchiveFilter {
  /** Matches the peer's bare JID, and its resource when one is given. */
  with?: { bare: string; resource: string };
  /** Inclusive bounds on when the message was archived. */
  start?: Date;
  end?: Date;
  /** Exclusive bounds in archive order (stanza ids). */
  afterId?: string;
  beforeId?: string;
  ids?: readonly string[];
}

/** XEP-0059 paging: forward after `after` (or from the start), or backward before `before` ('' = from the end). */
export interface ArchivePaging {
  max: number;
  after?: string;
  before?: string;
}

export interface ArchivePage {
  /** In archive order, whichever way the page was taken. */
  items: Archived[];
  /** No further items in the paging direction. */
  complete: boolean;
  /** Items matching the filter, all pages together. */
  count: number;
}

/** A stanza id in a query that is not (or no longer) in the archive. */
export class UnknownArchiveIdError extends Error {
  override name = 'UnknownArchiveIdError';
  constructor(readonly stanzaId: string) {
    super(`no archived message with id ${stanzaId}`);
  }
}

type MessagesQuery = SelectQueryBuilder<MamTables, 'mam_messages', object>;

export class ArchiveStore {
  readonly #db: Kysely<MamTables>;
  // Both tables have the same columns; naming one of them to the type checker
  // lets every query below serve either.
  readonly #table: 'mam_messages';
  /** Accounts' archives keep what a legal hold covers; rooms are not accounts. */
  readonly #holds: boolean;
  readonly #runWrite: RunWrite;

  /** `runWrite` runs the inserts (Storage.runWrite: off the event loop on SQLite); by default on `db`. */
  constructor(db: Kysely<MamTables>, table: MessageTable = 'mam_messages', runWrite?: RunWrite) {
    this.#db = db;
    this.#runWrite = runWrite ?? ((q) => db.executeQuery(q.compile()).then(() => undefined));
    this.#table = table as 'mam_messages';
    this.#holds = table === 'mam_messages';
  }

  /** Writes the copies of one message in one statement: committed together when the promise resolves. */
  async add(rows: readonly NewArchived[]): Promise<void> {
    if (rows.length === 0) return;
    await this.#runWrite(
      this.#db
        .insertInto(this.#table)
        .values(
          rows.map((r) => ({
            domain: r.owner.domain,
            localpart: r.owner.localpart,
            stanza_id: r.stanzaId,
            peer: r.peer,
            peer_resource: r.peerResource,
            direction: r.direction,
            stored_at: r.storedAt.getTime(),
            xml: r.xml,
          })),
        ),
    );
  }

  /** One page of the owner's archive. Throws UnknownArchiveIdError for an id the archive does not hold. */
  async query(owner: Owner, filter: ArchiveFilter, paging: ArchivePaging): Promise<ArchivePage> {
    const rowIds = await this.resolve(owner, [filter.afterId, filter.beforeId, paging.after, paging.before || undefined, ...(filter.ids ?? [])]);
    const row = (stanzaId: string | undefined) => (stanzaId === undefined ? undefined : rowIds.get(stanzaId)!);

    let base: MessagesQuery = this.#db.selectFrom(this.#table).where('domain', '=', owner.domain).where('localpart', '=', owner.localpart);
    if (filter.with) {
      base = base.where('peer', '=', filter.with.bare);
      if (filter.with.resource !== '') base = base.where('peer_resource', '=', filter.with.resource);
    }
    if (filter.start) base = base.where('stored_at', '>=', filter.start.getTime());
    if (filter.end) base = base.where('stored_at', '<=', filter.end.getTime());
    const afterId = row(filter.afterId);
    const beforeId = row(filter.beforeId);
    if (afterId !== undefined) base = base.where('id', '>', afterId);
    if (beforeId !== undefined) base = base.where('id', '<', beforeId);
    if (filter.ids) base = base.where('id', 'in', [...new Set(filter.ids.map((id) => row(id)!))]);

    const counted = await base.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
    const count = readInt(counted.n);
    if (paging.max === 0) return { items: [], complete: count === 0, count };

    const backward = paging.before !== undefined;
    let page: MessagesQuery = base;
    const after = row(paging.after);
    const before = row(paging.before || undefined);
    if (after !== undefined) page = page.where('id', '>', after);
    if (before !== undefined) page = page.where('id', '<', before);
    // One more than asked for tells whether the page is the last one in its direction.
    const rows = await page
      .select(['stanza_id', 'stored_at', 'xml'])
      .orderBy('id', backward ? 'desc' : 'asc')
      .limit(paging.max + 1)
      .execute();
    const complete = rows.length <= paging.max;
    const taken = rows.slice(0, paging.max);
    if (backward) taken.reverse();
    return { items: taken.map((r) => ({ stanzaId: r.stanza_id, storedAt: new Date(readInt(r.stored_at)), xml: r.xml })), complete, count };
  }

  /** The oldest and newest archived messages (XEP-0313 §5, archive metadata). */
  async bounds(owner: Owner): Promise<{ first: ArchivePosition; last: ArchivePosition } | undefined> {
    const end = (dir: 'asc' | 'desc') =>
      this.#db
        .selectFrom(this.#table)
        .select(['stanza_id', 'stored_at'])
        .where('domain', '=', owner.domain)
        .where('localpart', '=', owner.localpart)
        .orderBy('id', dir)
        .limit(1)
        .executeTakeFirst();
    const [first, last] = [await end('asc'), await end('desc')];
    if (!first || !last) return undefined;
    const out = (r: typeof first) => ({ stanzaId: r.stanza_id, storedAt: new Date(readInt(r.stored_at)) });
    return { first: out(first), last: out(last) };
  }

  /** Deletes up to `limit` messages archived before `cutoff` (of any account not on legal hold), oldest first; returns how many. */
  async purgeBatch(cutoff: Date, limit: number): Promise<number> {
    const r = await this.#db
      .deleteFrom(this.#table)
      .where('id', 'in', (eb) => {
        const expired = eb.selectFrom(this.#table).select('id').where('stored_at', '<', cutoff.getTime());
        return (this.#holds ? expired.where(notHeld(this.#table)) : expired).orderBy('id').limit(limit);
      })
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async getPrefs(owner: Owner): Promise<Preferences | undefined> {
    const r = await this.#db
      .selectFrom('mam_prefs')
      .select(['default_mode', 'always_jids', 'never_jids'])
      .where('domain', '=', owner.domain)
      .where('localpart', '=', owner.localpart)
      .executeTakeFirst();
    if (!r) return undefined;
    return { default: r.default_mode, always: JSON.parse(r.always_jids) as string[], never: JSON.parse(r.never_jids) as string[] };
  }

  async setPrefs(owner: Owner, prefs: Preferences): Promise<void> {
    const values = { default_mode: prefs.default, always_jids: JSON.stringify(prefs.always), never_jids: JSON.stringify(prefs.never) };
    await this.#db
      .insertInto('mam_prefs')
      .values({ domain: owner.domain, localpart: owner.localpart, ...values })
      .onConflict((oc) => oc.columns(['domain', 'localpart']).doUpdateSet(values))
      .execute();
  }

  /** Row ids of the given stanza ids in the owner's archive. */
  private async resolve(owner: Owner, stanzaIds: readonly (string | undefined)[]): Promise<Map<string, number>> {
    const wanted = [...new Set(stanzaIds.filter((s): s is string => s !== undefined))];
    const found = new Map<string, number>();
    if (wanted.length === 0) return found;
    const rows = await this.#db
      .selectFrom(this.#table)
      .select(['id', 'stanza_id'])
      .where('domain', '=', owner.domain)
      .where('localpart', '=', owner.localpart)
      .where('stanza_id', 'in', wanted)
      .execute();
    for (const r of rows) found.set(r.stanza_id, readInt(r.id));
    const missing = wanted.find((s) => !found.has(s));
    if (missing !== undefined) throw new UnknownArchiveIdError(missing);
    return found;
  }
}
