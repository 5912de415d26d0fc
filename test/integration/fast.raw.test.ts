// FAST (XEP-0484) over real sockets: a token asked for at a password login,
// logins with it (HT-SHA-256-NONE, and -ENDP/-EXPR bound to the TLS channel),
// rotation with the earlier token valid until the new one is used, logout with
// invalidate, revocation on a password change, replayed counts, tokens bound
// to their mechanism and client, and wrong tokens counted like wrong passwords.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { newAgentId, sasl2, type Sasl2Options, type Sasl2Result } from '../helpers/sasl2-client.ts';
import { NS_FAST } from '../../src/auth/sasl2.ts';

let ts: TestServer;
const alice = { username: 'alice', password: '' };

before(async () => {
  ts = await startTestServer({ auth: { sasl2: true } });
  alice.password = (await ts.addUser('alice')).password;
});
after(() => ts?.stop());

async function attempt(o: Partial<Sasl2Options>, server = ts): Promise<Sasl2Result> {
  const c = await RawClient.connect({ port: server.starttlsPort, dataDir: server.dataDir });
  try {
    await c.openStream();
    await c.startTls();
    return await sasl2(c, { mechanism: 'SCRAM-SHA-256', ...alice, ...o });
  } finally {
    c.destroy();
  }
}

/** A password login that asks for a token; returns it. */
async function tokenFor(agentId: string, mechanism = 'HT-SHA-256-NONE', user = alice, server = ts): Promise<string> {
  const r = await attempt({ ...user, userAgent: { id: agentId }, requestToken: mechanism }, server);
  assert.ok(r.ok, 'password login');
  assert.ok(r.token, 'a token was issued');
  return r.token.token;
}

const withToken = (agentId: string, token: string, o: Partial<Sasl2Options> = {}) =>
  attempt({ mechanism: 'HT-SHA-256-NONE', token, userAgent: { id: agentId }, fast: {}, ...o });

function refused(r: Sasl2Result): { condition: string; text: string | undefined } {
  if (r.ok || !('condition' in r)) assert.fail(`expected a failure, got ${r.ok ? r.success.toString() : r.clientError}`);
  return { condition: r.condition, text: r.text };
}

describe('FAST tokens', () => {
  test('issued at a password login with an expiry 14 days ahead, then logs in in one round trip with the server proving it knows the token', async () => {
    const agent = newAgentId();
    const before = Date.now();
    const r = await attempt({ userAgent: { id: agent }, requestToken: 'HT-SHA-256-NONE', bind: { tag: 'T' } });
    assert.ok(r.ok && r.token);
    assert.match(r.token.expiry, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const expiry = Date.parse(r.token.expiry);
    assert.ok(Math.abs(expiry - (before + 14 * 86_400_000)) < 60_000);
    assert.ok(Buffer.from(r.token.token, 'base64url').length >= 32);
    const again = await withToken(agent, r.token.token, { bind: { tag: 'T' } });
    assert.ok(again.ok, 'token login (the helper verified the responder MAC)');
    assert.equal(again.jid, r.jid, 'same device, same resource');
    assert.equal(again.token, undefined, 'a young token is not rotated');
  });

  test('no token is stored: the table holds a seed, not the token or its plain hash', async () => {
    const agent = newAgentId();
    const token = await tokenFor(agent);
    const rows = await ts.server.storage.db.selectFrom('fast_tokens' as never).selectAll().execute();
    const dump = JSON.stringify(rows);
    assert.ok(dump.includes(agent));
    assert.ok(!dump.includes(token));
  });

  test('rotation: a new token leaves the old one valid until the new one is used once; then the old one is refused', async () => {
    const agent = newAgentId();
    const t1 = await tokenFor(agent);
    const r = await withToken(agent, t1, { requestToken: 'HT-SHA-256-NONE' });
    assert.ok(r.ok && r.token);
    const t2 = r.token.token;
    assert.notEqual(t2, t1);
    // The new token may never have arrived: the old one still works.
    assert.ok((await withToken(agent, t1)).ok);
    assert.ok((await withToken(agent, t2)).ok);
    assert.deepEqual(refused(await withToken(agent, t1)), { condition: 'not-authorized', text: 'Authentication failed' });
    assert.ok((await withToken(agent, t2)).ok);
  });

  test("invalidate='true' logs the client out: the token works this once and never again", async () => {
    const agent = newAgentId();
    const t = await tokenFor(agent);
    const r = await withToken(agent, t, { fast: { invalidate: true } });
    assert.ok(r.ok);
    assert.equal(r.token, undefined);
    assert.equal(refused(await withToken(agent, t)).condition, 'not-authorized');
  });

  test('a password change revokes every token of the account', async () => {
    const u = await ts.addUser('dave');
    const dave = { username: 'dave', password: u.password };
    const a1 = newAgentId();
    const a2 = newAgentId();
    const t1 = await tokenFor(a1, 'HT-SHA-256-NONE', dave);
    const t2 = await tokenFor(a2, 'HT-SHA-256-NONE', dave);
    assert.ok((await withToken(a1, t1, { username: 'dave' })).ok);
    await ts.accounts.setPassword('dave@localhost', 'a brand new password 42');
    assert.equal(refused(await withToken(a1, t1, { username: 'dave' })).condition, 'not-authorized');
    assert.equal(refused(await withToken(a2, t2, { username: 'dave' })).condition, 'not-authorized');
  });

  test('a replayed count is refused; a higher one is accepted', async () => {
    const agent = newAgentId();
    const t = await tokenFor(agent);
    assert.ok((await withToken(agent, t, { fast: { count: 5 } })).ok);
    assert.deepEqual(refused(await withToken(agent, t, { fast: { count: 5 } })), { condition: 'not-authorized', text: 'This token count was used before (replay).' });
    assert.equal(refused(await withToken(agent, t, { fast: { count: 3 } })).condition, 'not-authorized');
    assert.ok((await withToken(agent, t, { fast: { count: 6 } })).ok);
    const bad = await withToken(agent, t, { fast: { count: 0 } });
    assert.deepEqual(refused(bad), { condition: 'malformed-request', text: "The FAST 'count' must be a positive integer." });
  });

  test('a token is bound to its mechanism and its client', async () => {
    const agent = newAgentId();
    const t = await tokenFor(agent);
    assert.equal(refused(await withToken(agent, t, { mechanism: 'HT-SHA-256-ENDP' })).condition, 'not-authorized');
    assert.equal(refused(await withToken(newAgentId(), t)).condition, 'not-authorized');
    assert.equal(refused(await withToken(agent, t, { username: 'dave' })).condition, 'not-authorized');
    assert.ok((await withToken(agent, t)).ok);
  });

  test('channel-bound tokens: HT-SHA-256-EXPR and -ENDP log in on a new TLS connection (binding data of that connection)', async () => {
    for (const mechanism of ['HT-SHA-256-EXPR', 'HT-SHA-256-ENDP']) {
      const agent = newAgentId();
      const t = await tokenFor(agent, mechanism);
      const r = await withToken(agent, t, { mechanism });
      assert.ok(r.ok, mechanism);
    }
  });

  test('malformed HT messages are refused with the reason', async () => {
    const agent = newAgentId();
    const noNul = await attempt({ mechanism: 'HT-SHA-256-NONE', userAgent: { id: agent }, fast: {}, rawInitialResponse: Buffer.from('alice').toString('base64') });
    assert.deepEqual(refused(noNul), { condition: 'malformed-request', text: 'The HT message must be a username, a NUL byte and the token MAC.' });
    const shortMac = await attempt({ mechanism: 'HT-SHA-256-NONE', userAgent: { id: agent }, fast: {}, rawInitialResponse: Buffer.from('alice\0abc').toString('base64') });
    assert.deepEqual(refused(shortMac), { condition: 'malformed-request', text: 'The HT token MAC must be 32 bytes.' });
    const noAgent = await attempt({ mechanism: 'HT-SHA-256-NONE', token: 'x', userAgent: false, fast: {} });
    assert.match(refused(noAgent).text ?? '', /user-agent id/);
  });

  test('wrong tokens count toward the lockout like wrong passwords; the locked account refuses even its right token', async () => {
    const strict = await startTestServer({ auth: { sasl2: true, lockout_failures: 2 } });
    try {
      const u = await strict.addUser('erin');
      const erin = { username: 'erin', password: u.password };
      const agent = newAgentId();
      const t = await tokenFor(agent, 'HT-SHA-256-NONE', erin, strict);
      for (let i = 0; i < 2; i++) {
        const r = await attempt({ ...erin, mechanism: 'HT-SHA-256-NONE', token: `${t}x`, userAgent: { id: agent }, fast: {} }, strict);
        assert.deepEqual(refused(r), { condition: 'not-authorized', text: 'Authentication failed' });
      }
      const locked = await attempt({ ...erin, mechanism: 'HT-SHA-256-NONE', token: t, userAgent: { id: agent }, fast: {} }, strict);
      assert.deepEqual(refused(locked), { condition: 'not-authorized', text: 'Authentication failed' });
      await strict.server.guard.unlock('erin');
      assert.ok((await attempt({ ...erin, mechanism: 'HT-SHA-256-NONE', token: t, userAgent: { id: agent }, fast: {} }, strict)).ok);
    } finally {
      await strict.stop();
    }
  });

  test('with auth.fast.enabled false no <fast/> is offered and token mechanisms are refused', async () => {
    const off = await startTestServer({ auth: { sasl2: true, fast: { enabled: false } } });
    try {
      const u = await off.addUser('finn');
      const c = await RawClient.connect({ port: off.starttlsPort, dataDir: off.dataDir });
      await c.openStream();
      const features = await c.startTls();
      assert.equal(features.getChild('authentication')?.getChild('inline')?.getChild('fast', NS_FAST), undefined);
      const r = await sasl2(c, { mechanism: 'SCRAM-SHA-256', username: 'finn', password: u.password, userAgent: { id: newAgentId() }, requestToken: 'HT-SHA-256-NONE' });
      assert.equal(refused(r).condition, 'invalid-mechanism');
      c.destroy();
    } finally {
      await off.stop();
    }
  });
});
