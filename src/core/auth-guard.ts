// Brute-force protection for logins: failures per account (in the database, so
// locks survive restarts and the CLI can lift them) and per source address (in
// memory), a delay before each failure answer that doubles with recent
// failures, and a lock after too many. Unknown accounts are counted in memory
// the same way, so they look exactly like real ones from outside; they also
// read and write a decoy row, so their failures cost the same database work
// and take the same time (test/integration/brute-force.raw.test.ts, timing).
// A lock is applied after a right password (lockState): refused like a wrong
// guess from the addresses that led to it, told to everyone else.
import type { Kysely } from 'kysely';
import type { Storage } from '../storage/types.ts';
import type { Config } from '../config/schema.ts';

interface LockoutRow {
  domain: string;
  localpart: string;
  failures: number;
  window_start: number | string;
  locked_until: number | string | null;
}

interface Tables {
  auth_lockouts: LockoutRow;
}

export interface AuthGuardOptions {
  domain: string;
  lockoutFailures: number;
  windowMs: number;
  lockoutMs: number;
  maxDelayMs: number;
  now?: () => number;
}

interface Counter {
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

const BASE_DELAY_MS = 250;
/** The row unknown accounts read and write: '' is no account's localpart. */
const DECOY = '';
const MAX_MEMORY_ENTRIES = 50_000;
/** Beyond this many failing addresses on one account, more are not told apart (they are told of the lock). */
const MAX_ADDRESSES_PER_ACCOUNT = 4096;

export class AuthGuard {
  private readonly db: Kysely<Tables>;
  private readonly opts: AuthGuardOptions;
  private readonly now: () => number;
  private readonly byIp = new Map<string, Counter>();
  private readonly unknownAccounts = new Map<string, Counter>();
  /** The addresses that failed on each account before it was locked: a lock refuses them, and tells the others. */
  private readonly failedFrom = new Map<string, Set<string>>();
  /** Accounts seen with a failure row, so a successful login writes only when there is something to clear. */
  private readonly withFailures = new Set<string>();

  /** The guard the auth.lockout_* and auth.failure_delay_max settings describe. */
  static fromConfig(storage: Storage, config: Config): AuthGuard {
    return new AuthGuard(storage, {
      domain: config.domain,
      lockoutFailures: config.auth.lockout_failures,
      windowMs: config.auth.lockout_window * 1000,
      lockoutMs: config.auth.lockout_duration * 1000,
      maxDelayMs: config.auth.failure_delay_max * 1000,
    });
  }

  constructor(storage: Storage, opts: AuthGuardOptions) {
    this.db = storage.db as unknown as Kysely<Tables>;
    this.opts = opts;
    this.now = opts.now ?? Date.now;
  }

  /**
   * For a login whose password (or token) was right: 'open' when the account is
   * not locked; when it is, 'refuse' for an address that failed on it before
   * the lock (the guesser gets the answer of a wrong guess, so the lock keeps
   * its secret from whoever does not know the password) and 'tell' for any other address,
   * with the time the lock ends (the real user learns why, issue #7). The
   * addresses are kept in memory: after a restart every address is told.
   */
  async lockState(localpart: string, ip: string): Promise<{ state: 'open' } | { state: 'refuse' } | { state: 'tell'; until: Date }> {
    const c = await this.load(localpart);
    if (!c || c.lockedUntil <= this.now()) return { state: 'open' };
    return this.failedFrom.get(localpart)?.has(ip) ? { state: 'refuse' } : { state: 'tell', until: new Date(c.lockedUntil) };
  }

  async isLocked(localpart: string, exists: boolean): Promise<boolean> {
    const stored = await this.load(exists ? localpart : DECOY);
    const c = exists ? stored : this.unknownAccounts.get(localpart);
    return c !== undefined && c.lockedUntil > this.now();
  }

  /**
   * Records a failed login and returns how long to wait before answering it, and
   * whether this failure locked the account.
   */
  async failure(localpart: string | undefined, exists: boolean, ip: string): Promise<{ delayMs: number; locked: boolean }> {
    const ipCount = this.bump(this.byIp, ip);
    let accountCount = 0;
    let locked = false;
    if (localpart !== undefined) {
      const stored = await this.load(exists ? localpart : DECOY);
      const before = exists ? stored : this.unknownAccounts.get(localpart);
      const wasLocked = (before?.lockedUntil ?? 0) > this.now();
      const next = this.advance(before);
      if (next.failures >= this.opts.lockoutFailures && next.lockedUntil <= this.now()) {
        next.lockedUntil = this.now() + this.opts.lockoutMs;
        locked = true;
      }
      await this.save(exists ? localpart : DECOY, next);
      if (exists) {
        this.withFailures.add(localpart);
        // The addresses that led up to a lock; one that only mistypes while locked is still told.
        if (!wasLocked) this.noteAddress(localpart, ip);
      } else remember(this.unknownAccounts, localpart, next);
      accountCount = next.failures;
    }
    const n = Math.max(ipCount, accountCount);
    return { delayMs: Math.min(this.opts.maxDelayMs, BASE_DELAY_MS * 2 ** (n - 1)), locked };
  }

  /** A successful login clears the account's failures (the address keeps its own count). */
  async success(localpart: string): Promise<void> {
    this.failedFrom.delete(localpart);
    if (!this.withFailures.delete(localpart)) return;
    await this.db.deleteFrom('auth_lockouts').where('domain', '=', this.opts.domain).where('localpart', '=', localpart).execute();
  }

  private noteAddress(localpart: string, ip: string): void {
    let set = this.failedFrom.get(localpart);
    if (!set) {
      set = new Set();
      this.failedFrom.set(localpart, set);
      if (this.failedFrom.size > MAX_MEMORY_ENTRIES) this.failedFrom.delete(this.failedFrom.keys().next().value!);
    }
    if (set.size < MAX_ADDRESSES_PER_ACCOUNT) set.add(ip);
  }

  /** Lifts a lock (palisade user unlock); true if there was one. */
  async unlock(localpart: string): Promise<boolean> {
    this.failedFrom.delete(localpart);
    const r = await this.db.deleteFrom('auth_lockouts').where('domain', '=', this.opts.domain).where('localpart', '=', localpart).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  private advance(current: Counter | undefined): Counter {
    const t = this.now();
    if (!current || t - current.windowStart > this.opts.windowMs) {
      return { failures: 1, windowStart: t, lockedUntil: current?.lockedUntil ?? 0 };
    }
    return { ...current, failures: current.failures + 1 };
  }

  private bump(map: Map<string, Counter>, key: string): number {
    const next = this.advance(map.get(key));
    remember(map, key, next);
    return next.failures;
  }

  private async load(localpart: string): Promise<Counter | undefined> {
    const row = await this.db
      .selectFrom('auth_lockouts')
      .selectAll()
      .where('domain', '=', this.opts.domain)
      .where('localpart', '=', localpart)
      .executeTakeFirst();
    if (!row) return undefined;
    if (localpart !== DECOY) this.withFailures.add(localpart);
    return { failures: row.failures, windowStart: Number(row.window_start), lockedUntil: Number(row.locked_until ?? 0) };
  }

  private async save(localpart: string, c: Counter): Promise<void> {
    const values = { failures: c.failures, window_start: c.windowStart, locked_until: c.lockedUntil || null };
    await this.db
      .insertInto('auth_lockouts')
      .values({ domain: this.opts.domain, localpart, ...values })
      .onConflict((oc) => oc.columns(['domain', 'localpart']).doUpdateSet(values))
      .execute();
  }
}

/** Bounded memory: the oldest entries go first (Map keeps insertion order). */
function remember(map: Map<string, Counter>, key: string, value: Counter): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_MEMORY_ENTRIES) map.delete(map.keys().next().value!);
}
