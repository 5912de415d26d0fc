// The 'roster' service: each account's roster, cached in memory while it is in
// use (loaded on demand, dropped a while after its last session ends), changed
// only through exclusive sections (one at a time per account), written to the
// database before the cache, and pushed to the account's interested resources
// (RFC 6121 §2.1.6: the sessions that requested the roster).
import type { Logger } from 'pino';
import { x, type Element } from '../../xmpp/element.ts';
import type { JID } from '../../xmpp/jid.ts';
import type { ClientSession } from '../../core/session.ts';
import type { SessionRegistry } from '../../core/sessions.ts';
import type { ItemData, Owner, PendingRequest, RosterStore, StoredItem, Subscription } from './store.ts';

export const NS_ROSTER = 'jabber:iq:roster';

/** An account's roster as cached. Read it freely; change it only through RosterService inside exclusive(). */
export interface Roster {
  /** The owner's bare JID. */
  readonly owner: JID;
  /** By the contact's bare JID. */
  readonly items: Map<string, StoredItem>;
  /** Inbound subscription requests not answered yet, by the requester's bare JID. */
  readonly pending: Map<string, PendingRequest>;
  /** 0 when the roster never changed. */
  version: number;
  floor: number;
  lastUsed: number;
}

interface Interest {
  /** The session asked with 'ver' (XEP-0237), so pushes carry the version. */
  versioned: boolean;
  /** Pushes held back until the interim pushes after a versioned roster get have gone out. */
  queue: Element[] | undefined;
}

export interface RosterServiceDeps {
  store: RosterStore;
  sessions: SessionRegistry;
  log: Logger;
  maxItems: number;
}

/** How long a roster of an account with no session stays cached after its last use. */
export const IDLE_EVICT_MS = 60_000;

export class RosterService {
  readonly store: RosterStore;
  readonly maxItems: number;
  private readonly sessions: SessionRegistry;
  private readonly log: Logger;
  private readonly cache = new Map<string, Roster>();
  private readonly loading = new Map<string, Promise<Roster>>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly interested = new Map<ClientSession, Interest>();
  private pushCounter = 0;

  constructor(deps: RosterServiceDeps) {
    this.store = deps.store;
    this.sessions = deps.sessions;
    this.log = deps.log;
    this.maxItems = deps.maxItems;
  }

  /** The cached roster, if loaded (no I/O: for hot paths that can fall back). */
  peek(owner: JID | string): Roster | undefined {
    const r = this.cache.get(typeof owner === 'string' ? owner : owner.bareString());
    if (r) r.lastUsed = Date.now();
    return r;
  }

  /**
   * Brings a cached roster up to date with the database when something else
   * changed it (the CLI deleting an account bumps the versions of the rosters
   * it touches): one primary-key read when nothing changed.
   */
  async reconcile(owner: JID): Promise<Roster> {
    return this.exclusive(owner, async (r) => {
      const stored = await this.store.version(ownerOf(owner));
      if (stored === r.version) return r;
      const fresh = await this.store.load(ownerOf(owner));
      r.items.clear();
      for (const i of fresh.items) r.items.set(i.jid, i);
      r.pending.clear();
      for (const q of fresh.pending) r.pending.set(q.from, q);
      r.version = fresh.version;
      r.floor = fresh.floor;
      this.log.debug({ owner: owner.bareString(), version: r.version }, 'cached roster reloaded: changed elsewhere');
      return r;
    });
  }

  async load(owner: JID): Promise<Roster> {
    const key = owner.bareString();
    const cached = this.peek(key);
    if (cached) return cached;
    let p = this.loading.get(key);
    if (!p) {
      p = this.store
        .load(ownerOf(owner))
        .then((stored) => {
          const r: Roster = {
            owner: owner.bare,
            items: new Map(stored.items.map((i) => [i.jid, i])),
            pending: new Map(stored.pending.map((q) => [q.from, q])),
            version: stored.version,
            floor: stored.floor,
            lastUsed: Date.now(),
          };
          this.cache.set(key, r);
          return r;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  /**
   * Runs fn with the account's roster, one section at a time per account. Never
   * nest sections of two accounts (do one, then the other): two accounts
   * changing each other's state at once would wait for each other forever.
   */
  exclusive<T>(owner: JID, fn: (r: Roster) => Promise<T> | T): Promise<T> {
    const key = owner.bareString();
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(async () => fn(await this.load(owner)));
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }

  /** The subscription the owner has with the contact ('none' when not on the roster); reads one row if the roster isn't cached. */
  async subscription(owner: JID, contact: string): Promise<Subscription> {
    const r = this.peek(owner);
    if (r) return r.items.get(contact)?.subscription ?? 'none';
    return (await this.store.getItem(ownerOf(owner), contact))?.subscription ?? 'none';
  }

  // --- changes (inside exclusive) -------------------------------------------

  /** Adds or replaces an item, then pushes it. */
  async put(r: Roster, data: ItemData): Promise<StoredItem> {
    const { item, floor } = await this.store.putItem(ownerOf(r.owner), data);
    r.items.set(item.jid, item);
    r.version = Math.max(r.version, item.version);
    r.floor = Math.max(r.floor, floor);
    this.push(r.owner, itemElement(item), item.version);
    return item;
  }

  /** Removes an item (and a pending request from the contact), then pushes the removal. False if there was no item. */
  async remove(r: Roster, jid: string): Promise<boolean> {
    const removed = await this.store.removeItem(ownerOf(r.owner), jid);
    r.pending.delete(jid);
    if (removed === undefined) return false;
    const { version, floor } = removed;
    r.items.delete(jid);
    r.version = Math.max(r.version, version);
    r.floor = Math.max(r.floor, floor);
    this.push(r.owner, x('item', { jid, subscription: 'remove' }), version);
    return true;
  }

  async setPending(r: Roster, request: PendingRequest): Promise<void> {
    await this.store.setPending(ownerOf(r.owner), request);
    r.pending.set(request.from, request);
  }

  async clearPending(r: Roster, from: string): Promise<void> {
    if (!r.pending.has(from)) return;
    await this.store.deletePending(ownerOf(r.owner), from);
    r.pending.delete(from);
  }

  // --- interested resources and pushes ---------------------------------------

  /** The session requested the roster: it gets pushes from now on. */
  markInterested(session: ClientSession, versioned: boolean): void {
    const existing = this.interested.get(session);
    if (existing) existing.versioned ||= versioned;
    else this.interested.set(session, { versioned, queue: undefined });
  }

  isInterested(session: ClientSession): boolean {
    return this.interested.has(session);
  }

  forget(session: ClientSession): void {
    this.interested.delete(session);
  }

  /**
   * Sends the interim pushes of a versioned roster get (XEP-0237 §2.4) after the
   * result the router is about to send; pushes of changes made meanwhile wait
   * behind them, so the session sees versions in increasing order.
   */
  sendInterim(session: ClientSession, changes: readonly { item: Element; version: number }[]): void {
    const interest = this.interested.get(session);
    if (!interest) return;
    const queue = (interest.queue ??= []);
    queue.unshift(...changes.map((c) => this.pushStanza(session, c.item, c.version, true)));
    setImmediate(() => {
      if (this.interested.get(session) !== interest) return;
      const out = interest.queue ?? [];
      interest.queue = undefined;
      for (const el of out) session.send(el);
    });
  }

  private push(owner: JID, item: Element, version: number): void {
    for (const session of this.sessions.ofAccount(owner)) {
      const interest = this.interested.get(session);
      if (!interest) continue;
      const el = this.pushStanza(session, item, version, interest.versioned);
      if (interest.queue) interest.queue.push(el);
      else session.send(el);
    }
  }

  private pushStanza(session: ClientSession, item: Element, version: number, versioned: boolean): Element {
    const query = x('query', versioned ? { xmlns: NS_ROSTER, ver: String(version) } : { xmlns: NS_ROSTER }, item.clone());
    return x('iq', { type: 'set', id: `push${++this.pushCounter}`, to: session.jid.toString() }, query);
  }

  // --- cache upkeep -----------------------------------------------------------

  /** Drops rosters of accounts with no session that weren't used for IDLE_EVICT_MS. */
  sweep(now = Date.now()): number {
    let dropped = 0;
    for (const [key, r] of this.cache) {
      if (now - r.lastUsed < IDLE_EVICT_MS || this.locks.has(key)) continue;
      if (this.sessions.ofAccount(key).length > 0) continue;
      this.cache.delete(key);
      dropped++;
    }
    if (dropped) this.log.debug({ dropped, cached: this.cache.size }, 'rosters evicted from the cache');
    return dropped;
  }

  get cachedCount(): number {
    return this.cache.size;
  }
}

export function ownerOf(j: JID): Owner {
  return { domain: j.domain, localpart: j.local };
}

/** An <item/> as RFC 6121 §2.1.2 writes it. */
export function itemElement(item: StoredItem | ItemData): Element {
  const attrs: Record<string, string> = { jid: item.jid, subscription: item.subscription };
  if (item.name !== undefined) attrs.name = item.name;
  if (item.ask) attrs.ask = 'subscribe';
  if (item.approved) attrs.approved = 'true';
  const el = x('item', attrs);
  for (const g of item.groups) el.c('group').t(g);
  return el;
}
