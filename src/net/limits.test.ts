// The rate limiters with an injected clock: one account's streams share its
// buckets, an account's debt is capped at one burst, refilled accounts are forgotten.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AccountLimits, TokenBucket } from './limits.ts';

const clock = () => {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
};

test('a token bucket: the burst at once, then the rate; a debt is waited off', () => {
  const c = clock();
  const b = new TokenBucket(10, 5, c.now);
  assert.equal(b.take(5), 0);
  assert.equal(b.take(1), 100, 'one token owed at 10/s: 100 ms');
  c.advance(100);
  assert.equal(b.take(0), 0);
  assert.equal(b.take(20), 2000, 'unbounded debt by default');
});

test('a capped bucket owes at most maxDebt, so a later taker waits at most (maxDebt + its own) / rate', () => {
  const c = clock();
  const b = new TokenBucket(10, 5, c.now, 5);
  assert.equal(b.take(100), 500, 'the debt stops at 5 tokens');
  c.advance(500);
  assert.equal(b.take(1), 100);
});

test("an account's streams draw on one pair of buckets; other accounts have their own", () => {
  const c = clock();
  const limits = new AccountLimits({ stanzasPerSecond: 10, stanzasBurst: 10, bytesPerSecond: 1000, bytesBurst: 1000 }, c.now);
  const a1 = limits.of('alice');
  const a2 = limits.of('alice');
  assert.equal(a1, a2);
  assert.equal(a1.stanzas.take(10), 0);
  assert.ok(a2.stanzas.take(1) > 0, 'the second stream finds the burst spent');
  assert.equal(limits.of('bob').stanzas.take(10), 0);
  assert.equal(a1.stanzas.take(1000), 1000, 'the debt is capped at one burst: 10 tokens at 10 per second');
});

test('accounts whose buckets have refilled are forgotten (at most once a minute); one in debt is kept', () => {
  const c = clock();
  const limits = new AccountLimits({ stanzasPerSecond: 10, stanzasBurst: 10, bytesPerSecond: 1000, bytesBurst: 1000 }, c.now);
  const idle = limits.of('idle');
  c.advance(59_900);
  const busy = limits.of('busy');
  busy.stanzas.take(1000); // in debt when the sweep comes
  c.advance(100);
  limits.of('other'); // a minute after the last sweep: this call sweeps
  assert.equal(limits.size, 2, "'busy' and 'other'");
  assert.equal(limits.of('busy'), busy, 'kept while it owes');
  assert.notEqual(limits.of('idle'), idle, 'forgotten once full: a new pair, also full');
});
