// The password login outside SASL (Logins.check, the 'password-login'
// service): the configured lockout and failure delay, the lock's two answers
// (a wrong guess to the addresses that led to it, told to others), a disabled
// account, a login rule, the audit entries of XMPP logins, and PBKDF2 work
// with auth.scram_iterations for unknown accounts.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { deriveCredential, type ScramHash } from '../auth/credentials.ts';
import { loadConfig } from '../config/load.ts';
import { PolicyEngine } from '../policy/engine.ts';
import { openStorage } from '../storage/index.ts';
import type { AuditEntry } from '../storage/types.ts';
import { Accounts } from './accounts.ts';
import { AuthGuard } from './auth-guard.ts';
import { Authenticator } from './authenticator.ts';
import { Logins } from './password-login.ts';

const DOMAIN = 'example.org';
const SUSPENDED = 'Your account is suspended.';
const POLICY = `version: 1
groups:
  suspended: { members: [frank@${DOMAIN}] }
rules:
  - { name: suspended, action: login, subject: { groups: [suspended] }, decision: deny, text: ${SUSPENDED} }
  - { name: local-accounts, subject: { local: true }, decision: allow }
`;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Logins as the server builds them, on a fresh database with alice and frank. */
async function setup(auth: { lockout_failures?: number; failure_delay_max?: number; scram_iterations?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-password-login-'));
  writeFileSync(join(dir, 'palisade.yaml'), `domain: ${DOMAIN}\ndata_dir: ./data\n`);
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  const loaded = loadConfig({ file: join(dir, 'palisade.yaml'), env: {}, overrides: { auth: { scram_iterations: 4096, failure_delay_max: 0, ...auth } } });
  const cfg = loaded.config;
  const storage = await openStorage({ backend: 'sqlite', path: ':memory:' });
  const log = pino({ level: 'silent' });
  const policy = await PolicyEngine.open({ loaded, storage, log });
  cleanups.push(async () => {
    await policy.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const guard = AuthGuard.fromConfig(storage, cfg);
  const authenticator = new Authenticator({
    guard,
    domain: DOMAIN,
    accounts: storage.accounts,
    hashes: cfg.auth.scram_hashes as ScramHash[],
    channelBindings: [],
    allowPlain: true,
    allowChannelBindingDowngrade: false,
    iterations: cfg.auth.scram_iterations,
    fakeCredentialSecret: Buffer.alloc(32, 7),
    sasl2: false,
    fast: undefined,
  });
  const accounts = Accounts.fromConfig(storage, cfg);
  await accounts.add('alice', 'alice-secret');
  await accounts.add('frank', 'frank-secret');
  const logins = new Logins({ domain: DOMAIN, accounts: storage.accounts, auth: authenticator, guard, policy, log });
  /** The login entries of the audit log once `n` are there (they are appended off the login's path). */
  const audited = async (n: number): Promise<AuditEntry[]> => {
    for (let i = 0; ; i++) {
      const entries = await storage.audit.list({ action: 'login', limit: 1000 });
      if (entries.length >= n || i === 50) return entries;
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { logins, storage, guard, audited };
}

test('the right password logs in (the name prepared like a SASL username); wrong ones and unknown names do not; both audited', async () => {
  const { logins, audited } = await setup();
  assert.deepEqual(await logins.check('ALICE', 'alice-secret', '10.0.0.1'), { account: `alice@${DOMAIN}` });
  assert.deepEqual(await logins.check('alice', 'Alice-secret', '10.0.0.1'), { refused: 'credentials' });
  assert.deepEqual(await logins.check('nobody', 'alice-secret', '10.0.0.1'), { refused: 'credentials' });
  const entries = (await audited(3)).map((e) => [e.actor, e.decision, e.reason, (e.details as { ip: string }).ip]);
  assert.deepEqual(entries, [
    [`alice@${DOMAIN}`, 'allow', 'login succeeded', '10.0.0.1'],
    [`alice@${DOMAIN}`, 'deny', 'wrong password or unknown account', '10.0.0.1'],
    // Guessed names are not kept.
    ['ip:10.0.0.1', 'deny', 'wrong password or unknown account', '10.0.0.1'],
  ]);
});

test('auth.lockout_failures locks the account: the guessing address is refused like a wrong guess, another address with the right password is told', async () => {
  const { logins, storage, guard } = await setup({ lockout_failures: 3 });
  for (let i = 0; i < 3; i++) assert.deepEqual(await logins.check('alice', `guess-${i}`, '10.0.0.1'), { refused: 'credentials' });
  const lockouts = await storage.audit.list({ action: 'auth.lockout' });
  assert.deepEqual(lockouts.map((e) => [e.actor, e.details]), [['ip:10.0.0.1', { account: `alice@${DOMAIN}` }]]);

  assert.deepEqual(await logins.check('alice', 'alice-secret', '10.0.0.1'), { refused: 'credentials' });
  // Elsewhere a wrong password gets the plain failure; the right one learns of the lock.
  assert.deepEqual(await logins.check('alice', 'typo', '10.0.0.2'), { refused: 'credentials' });
  const told = await logins.check('alice', 'alice-secret', '10.0.0.2');
  assert.ok('refused' in told && told.refused === 'locked', JSON.stringify(told));
  assert.ok(told.until.getTime() > Date.now());
  // The same lock SASL logins see (Server.authorize runs admit after a SCRAM proof).
  assert.deepEqual(await logins.admit('alice', '10.0.0.1', undefined), { refused: 'guesser' });
  assert.equal(await guard.unlock('alice'), true);
  assert.deepEqual(await logins.check('alice', 'alice-secret', '10.0.0.1'), { account: `alice@${DOMAIN}` });
});

test('each failure waits the configured delay, doubling up to auth.failure_delay_max', async () => {
  const { logins } = await setup({ failure_delay_max: 0.5 });
  const timed = async (user: string) => {
    const t0 = performance.now();
    assert.deepEqual(await logins.check(user, 'wrong', '10.0.0.3'), { refused: 'credentials' });
    return performance.now() - t0;
  };
  const first = await timed('alice');
  const second = await timed('nobody');
  assert.ok(first >= 240, `the first failure waits the 0.25 s base delay (${first.toFixed(0)} ms)`);
  // Counted per address too: an unknown name right after waits the doubled delay.
  assert.ok(second >= 490, `the second failure from the address waits 0.5 s (${second.toFixed(0)} ms)`);
});

test('a disabled account and a login rule refuse the right password with their reason; a wrong one stays a wrong one', async () => {
  const { logins, storage, audited } = await setup();
  await storage.accounts.setDisabled(DOMAIN, 'alice', true);
  assert.deepEqual(await logins.check('alice', 'alice-secret', '10.0.0.4'), { refused: 'disabled' });
  assert.deepEqual(await logins.check('alice', 'wrong', '10.0.0.4'), { refused: 'credentials' });
  assert.deepEqual(await logins.check('frank', 'frank-secret', '10.0.0.4'), { refused: 'policy', text: SUSPENDED });
  assert.deepEqual(await logins.check('frank', 'wrong', '10.0.0.4'), { refused: 'credentials' });
  // The decision point audits its own refusal, with the rule's text.
  assert.deepEqual(
    (await audited(4)).map((e) => [e.actor, e.reason]),
    [
      [`alice@${DOMAIN}`, 'account disabled'],
      [`alice@${DOMAIN}`, 'wrong password or unknown account'],
      [`frank@${DOMAIN}`, SUSPENDED],
      [`frank@${DOMAIN}`, 'wrong password or unknown account'],
    ],
  );
});

test('an unknown name costs PBKDF2 with auth.scram_iterations', async () => {
  const iterations = 200_000;
  const { logins } = await setup({ scram_iterations: iterations });
  let t0 = performance.now();
  await deriveCredential('x', 'SHA-256', iterations, Buffer.alloc(16));
  const oneDerivation = performance.now() - t0;
  t0 = performance.now();
  assert.deepEqual(await logins.check('nobody', 'whatever', '10.0.0.5'), { refused: 'credentials' });
  const unknown = performance.now() - t0;
  assert.ok(unknown >= oneDerivation / 2, `unknown: ${unknown.toFixed(0)} ms; one derivation: ${oneDerivation.toFixed(0)} ms`);
});
