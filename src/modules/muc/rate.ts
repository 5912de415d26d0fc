// Join rate per user: a token bucket per bare JID (a burst of `burst` joins,
// refilled at `perMinute`). Buckets that are full again are forgotten, so the
// map holds only users who joined recently.
export class JoinRate {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly burst: number;
  private readonly perMs: number;

  constructor(perMinute: number, burst: number) {
    this.burst = burst;
    this.perMs = perMinute / 60_000;
  }

  /** Takes one token for the user; false when none is left. */
  take(user: string, now = Date.now()): boolean {
    const b = this.buckets.get(user) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + (now - b.at) * this.perMs);
    b.at = now;
    if (b.tokens < 1) {
      this.buckets.set(user, b);
      return false;
    }
    b.tokens -= 1;
    this.buckets.set(user, b);
    return true;
  }

  /** Drops the buckets that have refilled (called now and then). */
  sweep(now = Date.now()): void {
    for (const [user, b] of this.buckets) if (b.tokens + (now - b.at) * this.perMs >= this.burst) this.buckets.delete(user);
  }
}
