import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openStorage } from '../storage/index.ts';
import type { Storage } from '../storage/types.ts';
import { Accounts } from '../core/accounts.ts';
import { GroupStore } from '../policy/groups.ts';
import { hashToken, newToken, sameHash, TOKEN_PATTERN } from './token.ts';
import { MAX_EXPIRY_MS, parseDuration } from './duration.ts';
import { passwordProblem } from './password-rules.ts';
import { InvitationStore } from './store.ts';
import { createInvitation, invitationLinks, lookupInvitation, redeemInvitation } from './index.ts';

describe('invitation tokens', () => {
  it('are 256 random bits in base64url, stored only as their SHA-256', () => {
    const a = newToken();
    const b = newToken();
    assert.match(a, TOKEN_PATTERN);
    assert.notEqual(a, b);
    assert.equal(Buffer.from(a, 'base64url').length, 32);
    assert.match(hashToken(a), /^[0-9a-f]{64}$/);
    assert.equal(hashToken(a), hashToken(a));
    assert.notEqual(hashToken(a), hashToken(b));
  });

  it('hashes are compared in constant time, and never equal when empty or of another length', () => {
    const h = hashToken(newToken());
    assert.equal(sameHash(h, h), true);
    assert.equal(sameHash(h, hashToken(newToken())), false);
    assert.equal(sameHash(h, h.slice(0, 62)), false);
    assert.equal(sameHash('', ''), false);
  });
});

describe('invitation durations', () => {
  it('accept minutes, hours, days and weeks up to 90 days', () => {
    assert.equal(parseDuration('30m'), 30 * 60_000);
    assert.equal(parseDuration('12h'), 12 * 3_600_000);
    assert.equal(parseDuration('7d'), 7 * 86_400_000);
    assert.equal(parseDuration('2w'), 14 * 86_400_000);
    assert.equal(parseDuration('90d'), MAX_EXPIRY_MS);
  });

  it('refuse anything else, with the reason', () => {
    for (const bad of ['', '7', 'd', '0d', '-1d', '1.5d', '7 days', '7D', '1y', '9999999d']) assert.throws(() => parseDuration(bad), /invalid duration|longer than/, bad);
    assert.throws(() => parseDuration('91d'), /longer than the maximum of 90d/);
    assert.throws(() => parseDuration('13w'), /longer than the maximum of 90d/);
  });
});

describe('password rules', () => {
  const rules = { minLength: 12, username: 'alice' };
  it('accept a long, uncommon password', () => {
    assert.equal(passwordProblem('correct horse battery staple', rules), undefined);
    assert.equal(passwordProblem('Tr0ub4dor&3-xyz', rules), undefined);
  });

  it('refuse a short one, counting characters, not bytes', () => {
    assert.match(passwordProblem('short', rules)!, /at least 12 characters \(it has 5\)/);
    assert.match(passwordProblem('ünïcödé', rules)!, /it has 7/);
    assert.equal(passwordProblem('ünïcödé-ünïcödé', rules), undefined);
  });

  it('refuse one that contains the user name', () => {
    assert.match(passwordProblem('my name is ALICE ok', rules)!, /user name/);
  });

  it('refuse common passwords, also with digits or symbols before or after them, in any case', () => {
    assert.match(passwordProblem('winniethepooh', rules)!, /too common/);
    for (const p of ['Password2024!', 'password12345', '!!Sunshine!!2024', '123456789012', '2024-iloveyou!']) {
      assert.match(passwordProblem(p, rules) ?? 'accepted', /too common/, p);
    }
  });

  it('do bounded work on the longest password', () => {
    const started = process.hrtime.bigint();
    assert.equal(passwordProblem('1!'.repeat(511), rules), undefined);
    assert.ok(process.hrtime.bigint() - started < 200_000_000n, 'well under 200 ms');
  });
});

describe('redeeming an invitation', () => {
  let storage: Storage;
  let accounts: Accounts;
  const domain = 'example.test';
  const opts = () => ({ storage, accounts, domain, passwordMinLength: 12 });
  const strong = 'a long and unusual passphrase';

  before(async () => {
    storage = await openStorage({ backend: 'sqlite', path: ':memory:' });
    accounts = new Accounts(storage, { domain, hashes: ['SHA-256'], iterations: 4096 });
  });
  after(async () => storage.close());

  it('links: the page under the public origin and an XEP-0379 URI', () => {
    const links = invitationLinks(new URL('https://chat.example.test:8443'), domain, 'T0K', null);
    assert.equal(links.url, 'https://chat.example.test:8443/invite/T0K');
    assert.equal(links.uri, 'xmpp:example.test?register;preauth=T0K');
    assert.equal(invitationLinks(new URL('https://x'), domain, 'T', 'bob').uri, 'xmpp:bob@example.test?register;preauth=T');
  });

  it('creates the account with SCRAM keys only, joins the group, and works once', async () => {
    await new GroupStore(storage.db).add('staff');
    const inv = await createInvitation(storage, domain, { createdBy: 'test', validForMs: 60_000, group: 'staff', localpart: null });
    const row = (await storage.db.withTables<{ invitations: { token_hash: string } }>().selectFrom('invitations').select('token_hash').execute())[0]!;
    assert.equal(row.token_hash, hashToken(inv.token), 'only the hash is stored');
    const r = await redeemInvitation(opts(), inv.token, { username: 'Carol', password: strong, confirm: strong });
    assert.equal(r.ok, true);
    assert.equal(r.ok && r.jid, 'carol@example.test');
    const account = await accounts.get('carol');
    assert.ok(account && account.credentials.length === 1 && account.credentials[0]!.hash === 'SHA-256');
    assert.ok(!JSON.stringify(account).includes(strong), 'no plaintext stored');
    assert.deepEqual(await new GroupStore(storage.db).members('staff'), ['carol@example.test']);
    assert.deepEqual(await redeemInvitation(opts(), inv.token, { username: 'dave', password: strong, confirm: strong }), { ok: false, status: 'gone' });
    assert.equal(await accounts.get('dave'), undefined);
    const stored = await new InvitationStore(storage.db, domain).get(inv.id);
    assert.equal(stored?.usedBy, 'carol@example.test');
  });

  it('refusals create nothing and leave the invitation open', async () => {
    const inv = await createInvitation(storage, domain, { createdBy: 'test', validForMs: 60_000, group: null, localpart: null });
    const cases: [string, string, string, RegExp][] = [
      ['', strong, strong, /Choose a user name/],
      ['erin@example.test', strong, strong, /user name only/],
      ['er in', strong, strong, /can't be used/],
      ['erin', strong, `${strong}!`, /not the same/],
      ['erin', 'short', 'short', /at least 12/],
      ['erin', 'Password2024!', 'Password2024!', /too common/],
      ['carol', strong, strong, /taken/],
    ];
    for (const [username, password, confirm, message] of cases) {
      const r = await redeemInvitation(opts(), inv.token, { username, password, confirm });
      assert.ok(!r.ok && r.status === 'refused', username);
      assert.match(r.status === 'refused' ? r.message : '', message, username);
    }
    assert.equal(await accounts.get('erin'), undefined);
    assert.equal((await lookupInvitation(storage, domain, inv.token)).status, 'open');
  });

  it('a fixed user name wins over the form', async () => {
    const inv = await createInvitation(storage, domain, { createdBy: 'test', validForMs: 60_000, group: null, localpart: 'frank' });
    const r = await redeemInvitation(opts(), inv.token, { username: 'mallory', password: strong, confirm: strong });
    assert.equal(r.ok && r.jid, 'frank@example.test');
    assert.equal(await accounts.get('mallory'), undefined);
  });

  it('unknown, malformed, expired and revoked tokens', async () => {
    assert.equal((await lookupInvitation(storage, domain, newToken())).status, 'unknown');
    assert.equal((await lookupInvitation(storage, domain, '../../etc')).status, 'unknown');
    const old = await createInvitation(storage, domain, { createdBy: 'test', validForMs: 60_000, group: null, localpart: null, now: new Date(Date.now() - 120_000) });
    assert.equal((await lookupInvitation(storage, domain, old.token)).status, 'gone');
    const revoked = await createInvitation(storage, domain, { createdBy: 'test', validForMs: 60_000, group: null, localpart: null });
    const store = new InvitationStore(storage.db, domain);
    assert.equal(await store.revoke(revoked.id), true);
    assert.equal(await store.revoke(revoked.id), false);
    assert.deepEqual(await redeemInvitation(opts(), revoked.token, { username: 'gina', password: strong, confirm: strong }), { ok: false, status: 'gone' });
  });

  it('of concurrent redemptions exactly one wins', async () => {
    const inv = await createInvitation(storage, domain, { createdBy: 'test', validForMs: 60_000, group: null, localpart: null });
    const results = await Promise.all(['h1', 'h2', 'h3', 'h4'].map((u) => redeemInvitation(opts(), inv.token, { username: u, password: strong, confirm: strong })));
    assert.equal(results.filter((r) => r.ok).length, 1);
    assert.equal(results.filter((r) => !r.ok && r.status === 'gone').length, 3);
    const created = await Promise.all(['h1', 'h2', 'h3', 'h4'].map((u) => accounts.get(u)));
    assert.equal(created.filter(Boolean).length, 1);
  });
});
