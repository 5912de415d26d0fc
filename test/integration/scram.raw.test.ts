// SASL over real sockets with our own SCRAM client: the mechanisms and channel
// bindings offered (RFC 5802, RFC 7677, RFC 5929, RFC 9266, XEP-0440), logins
// with and without channel binding, a simulated man in the middle, the 'y'
// downgrade check, and PLAIN only where configured and only over TLS.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { RawClient, type AuthOptions, type ConnectOptions } from '../helpers/raw-client.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { deriveCredentials } from '../../src/auth/credentials.ts';
import type { Element } from '../../src/xmpp/element.ts';

const ALL_MECHANISMS = [
  'SCRAM-SHA-512-PLUS',
  'SCRAM-SHA-256-PLUS',
  'SCRAM-SHA-1-PLUS',
  'SCRAM-SHA-512',
  'SCRAM-SHA-256',
  'SCRAM-SHA-1',
];

let ts: TestServer;
const alice = { username: 'alice', password: '' };

before(async () => {
  ts = await startTestServer();
  alice.password = (await ts.addUser('alice')).password;
});
after(() => ts?.stop());

const mechanisms = (features: Element) =>
  features.getChild('mechanisms', NS.sasl)?.getChildren('mechanism').map((m) => m.text) ?? [];
const bindings = (features: Element) =>
  features.getChild('sasl-channel-binding', NS.channelBinding)?.getChildren('channel-binding').map((c) => c.attrs.type) ?? [];

/** A TLS connection (STARTTLS or direct) with the stream opened; returns the client and its SASL features. */
async function secured(server: TestServer, opts: Partial<ConnectOptions> = {}): Promise<{ c: RawClient; features: Element }> {
  const directTls = opts.directTls ?? false;
  const c = await RawClient.connect({ port: directTls ? server.directTlsPort : server.starttlsPort, dataDir: server.dataDir, ...opts });
  let features = await c.openStream();
  if (!directTls) features = await c.startTls();
  return { c, features };
}

/** Authenticates, restarts the stream, binds, and returns the server's view of the session's security. */
async function loginWith(auth: Omit<AuthOptions, 'username' | 'password'>, opts: Partial<ConnectOptions> = {}) {
  const { c } = await secured(ts, opts);
  try {
    const r = await c.authenticate({ ...alice, ...auth });
    assert.deepEqual(r.ok ? r : { ok: false, condition: r.condition, text: r.text }, { ok: true });
    const features = await c.openStream();
    assert.ok(features.getChild('bind', NS.bind), 'bind is offered after authentication');
    const jid = await c.bind();
    const session = [...ts.server.sessions.all()].find((s) => s.jid.toString() === jid);
    assert.ok(session, 'the session is registered');
    assert.equal((await c.ping()).attrs.type, 'result');
    return { protocol: c.tls?.getProtocol(), security: session.security };
  } finally {
    await c.close();
  }
}

/** Authenticates and expects a SASL failure; returns it. */
async function failWith(auth: Omit<AuthOptions, 'username' | 'password'> & Partial<AuthOptions>, opts: Partial<ConnectOptions> = {}) {
  const { c } = await secured(ts, opts);
  try {
    const r = await c.authenticate({ ...alice, ...auth });
    assert.equal(r.ok, false, 'authentication should have failed');
    if (r.ok) throw new Error('unreachable');
    assert.equal([...ts.server.sessions.all()].length, 0);
    return { condition: r.condition, text: r.text };
  } finally {
    c.destroy();
  }
}

describe('mechanisms offered', () => {
  test('TLS 1.3 (STARTTLS): every SCRAM mechanism strongest-first, -PLUS first, and both channel bindings', async () => {
    const { c, features } = await secured(ts);
    assert.equal(c.tls?.getProtocol(), 'TLSv1.3');
    assert.deepEqual(mechanisms(features), ALL_MECHANISMS);
    assert.deepEqual(bindings(features).sort(), ['tls-exporter', 'tls-server-end-point']);
    assert.ok(!mechanisms(features).includes('PLAIN'), 'PLAIN is off by default');
    await c.close();
  });

  test('TLS 1.3 (direct TLS): the same offer', async () => {
    const { c, features } = await secured(ts, { directTls: true });
    assert.equal(c.tls?.getProtocol(), 'TLSv1.3');
    assert.equal(c.tls?.alpnProtocol, 'xmpp-client');
    assert.deepEqual(mechanisms(features), ALL_MECHANISMS);
    assert.deepEqual(bindings(features).sort(), ['tls-exporter', 'tls-server-end-point']);
    await c.close();
  });

  test('TLS 1.2: tls-exporter is not offered (RFC 9266 §3), tls-server-end-point is', async () => {
    const { c, features } = await secured(ts, { maxVersion: 'TLSv1.2' });
    assert.equal(c.tls?.getProtocol(), 'TLSv1.2');
    assert.deepEqual(bindings(features), ['tls-server-end-point']);
    assert.deepEqual(mechanisms(features), ALL_MECHANISMS);
    await c.close();
  });

  test('PLAIN is not accepted when it is not offered', async () => {
    const { c } = await secured(ts);
    const r = await c.authenticate({ mechanism: 'PLAIN', ...alice });
    assert.deepEqual(r.ok ? r : [r.condition, r.text], ['invalid-mechanism', 'PLAIN is not offered here.']);
    await c.close();
  });
});

describe('SCRAM without channel binding', () => {
  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512', 'SCRAM-SHA-1']) {
    test(`${mechanism} logs in (and the server proves it knows the password)`, async () => {
      const { security } = await loginWith({ mechanism });
      assert.equal(security.mechanism, mechanism);
      assert.equal(security.channelBinding, undefined);
      assert.equal(security.tls, true);
    });
  }

  test("the 'y' flag while -PLUS is offered is a downgrade and is refused (RFC 5802 §6)", async () => {
    const r = await failWith({ mechanism: 'SCRAM-SHA-256', clientSupportsPlus: true });
    assert.deepEqual(r, { condition: 'not-authorized', text: 'channel binding downgrade detected' });
  });
});

describe('SCRAM-*-PLUS', () => {
  test('tls-exporter over TLS 1.3 (STARTTLS)', async () => {
    const { protocol, security } = await loginWith({ mechanism: 'SCRAM-SHA-256-PLUS', channelBinding: 'tls-exporter' });
    assert.equal(protocol, 'TLSv1.3');
    assert.deepEqual([security.mechanism, security.channelBinding], ['SCRAM-SHA-256-PLUS', 'tls-exporter']);
  });

  test('tls-exporter over direct TLS, with SHA-512', async () => {
    const { security } = await loginWith({ mechanism: 'SCRAM-SHA-512-PLUS', channelBinding: 'tls-exporter' }, { directTls: true });
    assert.deepEqual([security.mechanism, security.channelBinding], ['SCRAM-SHA-512-PLUS', 'tls-exporter']);
  });

  test('tls-exporter altered by a man in the middle (another TLS connection\'s binding) fails', async () => {
    // The MITM terminates the client's TLS and opens its own to the server: the client's
    // exporter value is not the server's. Modelled as the client's real value with one bit flipped.
    const r = await failWith({
      mechanism: 'SCRAM-SHA-256-PLUS',
      channelBinding: 'tls-exporter',
      tamper: (real) => Buffer.from(real.map((b, i) => (i === 0 ? b ^ 1 : b))),
    });
    assert.deepEqual(r, { condition: 'not-authorized', text: 'channel binding mismatch' });
  });

  test('tls-server-end-point over STARTTLS', async () => {
    const { security } = await loginWith({ mechanism: 'SCRAM-SHA-256-PLUS', channelBinding: 'tls-server-end-point' });
    assert.deepEqual([security.mechanism, security.channelBinding], ['SCRAM-SHA-256-PLUS', 'tls-server-end-point']);
  });

  test('tls-server-end-point over direct TLS', async () => {
    const { security } = await loginWith({ mechanism: 'SCRAM-SHA-256-PLUS', channelBinding: 'tls-server-end-point' }, { directTls: true });
    assert.deepEqual([security.mechanism, security.channelBinding], ['SCRAM-SHA-256-PLUS', 'tls-server-end-point']);
  });

  test('tls-server-end-point over TLS 1.2', async () => {
    const { protocol, security } = await loginWith(
      { mechanism: 'SCRAM-SHA-256-PLUS', channelBinding: 'tls-server-end-point' },
      { maxVersion: 'TLSv1.2' },
    );
    assert.equal(protocol, 'TLSv1.2');
    assert.equal(security.channelBinding, 'tls-server-end-point');
  });

  test("tls-server-end-point of another certificate (a MITM's) fails", async () => {
    const r = await failWith({
      mechanism: 'SCRAM-SHA-256-PLUS',
      channelBinding: 'tls-server-end-point',
      tamper: createHash('sha256').update(randomBytes(300)).digest(),
    });
    assert.deepEqual(r, { condition: 'not-authorized', text: 'channel binding mismatch' });
  });

  test('tls-exporter on a TLS 1.2 connection is refused', async () => {
    const r = await failWith({ mechanism: 'SCRAM-SHA-256-PLUS', channelBinding: 'tls-exporter' }, { maxVersion: 'TLSv1.2' });
    assert.deepEqual(r, { condition: 'not-authorized', text: 'unsupported channel binding type tls-exporter' });
  });

  test('a channel binding type the server does not know (tls-unique) is refused', async () => {
    const { c } = await secured(ts);
    const first = Buffer.from(`p=tls-unique,,n=alice,r=${randomBytes(12).toString('base64')}`).toString('base64');
    c.sendRaw(`<auth xmlns='${NS.sasl}' mechanism='SCRAM-SHA-256-PLUS'>${first}</auth>`);
    const failure = await c.next((e) => e.name === 'failure');
    assert.ok(failure.getChild('not-authorized'), failure.toString());
    assert.equal(failure.getChildText('text'), 'unsupported channel binding type tls-unique');
    c.destroy();
  });

  test('a wrong password fails with the same answer as for an unknown user', async () => {
    const wrong = await failWith({ mechanism: 'SCRAM-SHA-256-PLUS', channelBinding: 'tls-exporter', password: 'wrong' });
    const unknown = await failWith({ mechanism: 'SCRAM-SHA-256-PLUS', channelBinding: 'tls-exporter', username: 'nobody', password: 'x' });
    assert.deepEqual(wrong, { condition: 'not-authorized', text: 'Authentication failed' });
    assert.deepEqual(unknown, wrong);
  });
});

describe('with auth.allow_plain and no channel bindings', () => {
  let plainTs: TestServer;
  let password = '';
  before(async () => {
    plainTs = await startTestServer({ auth: { allow_plain: true, channel_bindings: [], scram_iterations: 5000 } });
    password = (await plainTs.addUser('alice')).password;
  });
  after(() => plainTs?.stop());

  test('before TLS: only STARTTLS is offered, and PLAIN is refused with <encryption-required/>', async () => {
    const c = await RawClient.connect({ port: plainTs.starttlsPort, dataDir: plainTs.dataDir });
    const features = await c.openStream();
    assert.deepEqual(mechanisms(features), []);
    assert.ok(features.getChild('starttls', NS.tls));
    const initial = Buffer.from(`\0alice\0${password}`).toString('base64');
    c.sendRaw(`<auth xmlns='${NS.sasl}' mechanism='PLAIN'>${initial}</auth>`);
    const failure = await c.next((e) => e.name === 'failure');
    assert.ok(failure.getChild('encryption-required'), failure.toString());
    await c.expectStreamError('policy-violation');
    await c.waitClosed();
    assert.equal([...plainTs.server.sessions.all()].length, 0);
  });

  test('over TLS: PLAIN is offered last, no -PLUS and no channel bindings', async () => {
    const { c, features } = await secured(plainTs);
    assert.deepEqual(mechanisms(features), ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN']);
    assert.equal(features.getChild('sasl-channel-binding', NS.channelBinding), undefined);
    await c.close();
  });

  test('over TLS: PLAIN logs in; a wrong password gets the same failure as SCRAM', async () => {
    const { c } = await secured(plainTs);
    const bad = await c.authenticate({ mechanism: 'PLAIN', username: 'alice', password: 'wrong' });
    assert.deepEqual(bad.ok ? bad : [bad.condition, bad.text], ['not-authorized', 'Authentication failed']);
    assert.deepEqual(await c.authenticate({ mechanism: 'PLAIN', username: 'alice', password }), { ok: true });
    await c.openStream();
    assert.equal(await c.bind('plain'), 'alice@localhost/plain');
    const session = [...plainTs.server.sessions.all()][0]!;
    assert.equal(session.security.mechanism, 'PLAIN');
    await c.close();
  });

  test('a PLAIN login re-derives credentials weaker than configured (fewer iterations, missing hashes)', async () => {
    const weak = 'carol-old-password-1';
    await plainTs.server.storage.accounts.createMany([
      { domain: 'localhost', localpart: 'carol', disabled: false, isAdmin: false, credentials: await deriveCredentials(weak, ['SHA-1'], 4096) },
    ]);
    const { c } = await secured(plainTs);
    assert.deepEqual(await c.authenticate({ mechanism: 'PLAIN', username: 'carol', password: weak }), { ok: true });
    await c.close();
    // The upgrade runs after the answer, off the login's path.
    let creds = (await plainTs.server.storage.accounts.get('localhost', 'carol'))?.credentials ?? [];
    for (let i = 0; i < 100 && creds.some((cr) => cr.iterations !== 5000); i++) {
      await new Promise((r) => setTimeout(r, 50));
      creds = (await plainTs.server.storage.accounts.get('localhost', 'carol'))?.credentials ?? [];
    }
    assert.deepEqual(creds.map((cr) => [cr.hash, cr.iterations]).sort(), [['SHA-1', 5000], ['SHA-256', 5000], ['SHA-512', 5000]]);
    // The same password still works, now through SCRAM with the new keys.
    const again = await secured(plainTs);
    assert.deepEqual(await again.c.authenticate({ mechanism: 'SCRAM-SHA-512', username: 'carol', password: weak }), { ok: true });
    await again.c.close();
  });

  test("the 'y' flag is accepted when the server offers no -PLUS", async () => {
    const { c } = await secured(plainTs);
    assert.deepEqual(await c.authenticate({ mechanism: 'SCRAM-SHA-256', username: 'alice', password, clientSupportsPlus: true }), { ok: true });
    await c.close();
  });

  test('-PLUS is refused when it is not offered', async () => {
    const { c } = await secured(plainTs);
    const r = await c.authenticate({ mechanism: 'SCRAM-SHA-256-PLUS', channelBinding: 'tls-exporter', username: 'alice', password });
    assert.deepEqual(r.ok ? r : [r.condition, r.text], ['invalid-mechanism', 'SCRAM-SHA-256-PLUS is not offered here.']);
    await c.close();
  });
});
