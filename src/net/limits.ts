// Rate and connection limits for what peers send (threats: floods, slowloris,
// connection exhaustion). Token buckets refill continuously; nothing here
// buffers data, it only says "now", "wait this long" or "no".

export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly rate: number;
  readonly burst: number;
  private readonly now: () => number;
  /** The most the bucket may owe (unbounded by default). */
  private readonly maxDebt: number;

  /** rate: tokens per second; burst: the most that can be taken at once after a pause. */
  constructor(rate: number, burst: number, now: () => number = Date.now, maxDebt = Number.POSITIVE_INFINITY) {
    this.rate = rate;
    this.burst = burst;
    this.now = now;
    this.maxDebt = maxDebt;
    this.tokens = burst;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  /** Takes n tokens (going into debt if needed) and returns how many ms the taker should wait. */
  take(n: number): number {
    this.refill();
    this.tokens = Math.max(this.tokens - n, -this.maxDebt);
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
  }

  get full(): boolean {
    this.refill();
    return this.tokens >= this.burst;
  }

  /** Takes n tokens only if they are there now. */
  tryTake(n: number): boolean {
    this.refill();
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}

/** The rates an account shares across all its streams, on top of each stream's own. */
export interface AccountRates {
  stanzasPerSecond: number;
  stanzasBurst: number;
  bytesPerSecond: number;
  bytesBurst: number;
}

export interface AccountBuckets {
  readonly stanzas: TokenBucket;
  readonly bytes: TokenBucket;
}

/** Accounts whose buckets have refilled are forgotten at most this often (they hold nothing a new pair would not). */
const ACCOUNT_SWEEP_MS = 60_000;

/**
 * Per-account token buckets: an account with many sessions (up to
 * sessions_per_account) gets no more than these rates in all, so extra
 * sessions do not multiply what one attacker may send.
 */
export class AccountLimits {
  private readonly entries = new Map<string, AccountBuckets>();
  private lastSweep: number;
  private readonly rates: AccountRates;
  private readonly now: () => number;

  constructor(rates: AccountRates, now: () => number = Date.now) {
    this.rates = rates;
    this.now = now;
    this.lastSweep = now();
  }

  /** The buckets of this account (bare JID or local part: one key per account). */
  of(account: string): AccountBuckets {
    this.sweep();
    let e = this.entries.get(account);
    if (!e) {
      const r = this.rates;
      // Debt is capped at one burst: what sessions closed for abuse ran up holds a new session back for at most burst/rate.
      e = {
        stanzas: new TokenBucket(r.stanzasPerSecond, r.stanzasBurst, this.now, r.stanzasBurst),
        bytes: new TokenBucket(r.bytesPerSecond, r.bytesBurst, this.now, r.bytesBurst),
      };
      this.entries.set(account, e);
    }
    return e;
  }

  get size(): number {
    return this.entries.size;
  }

  private sweep(): void {
    if (this.now() - this.lastSweep < ACCOUNT_SWEEP_MS) return;
    this.lastSweep = this.now();
    for (const [account, e] of this.entries) if (e.stanzas.full && e.bytes.full) this.entries.delete(account);
  }
}

export interface ConnectionLimits {
  perIp: number;
  ratePerIp: number;
  burstPerIp: number;
  total: number;
}

/** Admission of new connections: concurrent per IP and in total, and new connections per IP per second. */
export class ConnectionGate {
  private readonly limits: ConnectionLimits;
  private readonly open = new Map<string, number>();
  private readonly rates = new Map<string, TokenBucket>();
  private total = 0;
  private readonly now: () => number;

  constructor(limits: ConnectionLimits, now: () => number = Date.now) {
    this.limits = limits;
    this.now = now;
  }

  get connections(): number {
    return this.total;
  }

  /** Returns a release function, or the reason for refusing. */
  admit(ip: string): { release: () => void } | { refused: string } {
    if (this.total >= this.limits.total) return { refused: 'the server has reached its connection limit' };
    const current = this.open.get(ip) ?? 0;
    if (current >= this.limits.perIp) return { refused: `too many connections from ${ip} (limit ${this.limits.perIp})` };
    let bucket = this.rates.get(ip);
    if (!bucket) {
      // Keep the map bounded: buckets of idle addresses are full again and can go.
      if (this.rates.size > 10_000) this.prune();
      bucket = new TokenBucket(this.limits.ratePerIp, this.limits.burstPerIp, this.now);
      this.rates.set(ip, bucket);
    }
    if (!bucket.tryTake(1)) return { refused: `too many new connections from ${ip} (limit ${this.limits.ratePerIp} per second)` };
    this.open.set(ip, current + 1);
    this.total++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const n = (this.open.get(ip) ?? 1) - 1;
        if (n <= 0) this.open.delete(ip);
        else this.open.set(ip, n);
      },
    };
  }

  private prune(): void {
    for (const [ip, bucket] of this.rates) {
      if (!this.open.has(ip) && bucket.full) this.rates.delete(ip);
    }
  }
}
