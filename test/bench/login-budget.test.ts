// The bench's reading of issue 9's logins target (bench/login-budget.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loginBudget } from '../../bench/login-budget.ts';

// Figures of a same-run comparison on a 2-core machine (2026-11-27, 18:30).
const ejabberd = { loginsPerSecond: 268, logins: 300, serverCpuSeconds: 1.19, loadgenCpuSeconds: 0.954 };
const palisade = { loginsPerSecond: 236, logins: 300, serverCpuSeconds: 1.47, loadgenCpuSeconds: 0.727 };

test('the target rate leaves the server the cores minus the load generator, per login', () => {
  const b = loginBudget(palisade, ejabberd, 2);
  assert.equal(b.wantedPerSecond, 402);
  assert.ok(Math.abs(b.loadgenMsPerLogin - 3.18) < 1e-9);
  // 2 cores at 402 logins/s: 4.975 ms of CPU per login in all, 3.18 of it the load generator's.
  assert.ok(Math.abs(b.serverBudgetMs - (2000 / 402 - 3.18)) < 1e-9);
  assert.ok(Math.abs(b.ourServerMsPerLogin - 4.9) < 1e-9);
  assert.ok(Math.abs(b.theirServerMsPerLogin - 1190 / 300) < 1e-9);
  assert.equal(b.met, false);
});

test('more cores leave more; a rate the load generator alone cannot reach leaves none', () => {
  assert.ok(loginBudget(palisade, ejabberd, 8).serverBudgetMs > loginBudget(palisade, ejabberd, 2).serverBudgetMs);
  const busyGenerator = { ...ejabberd, loadgenCpuSeconds: 3 };
  assert.ok(loginBudget(palisade, busyGenerator, 2).serverBudgetMs <= 0);
});

test('met once Palisade reaches 1.5× the reference rate, not before', () => {
  assert.equal(loginBudget({ ...palisade, loginsPerSecond: 402 }, ejabberd, 2).met, true);
  assert.equal(loginBudget({ ...palisade, loginsPerSecond: 401.9 }, ejabberd, 2).met, false);
});
