// Must show: xmpp.js (@xmpp/client 0.14), a client library others wrote, logs in
// over STARTTLS and over direct TLS (XEP-0368), exchanges messages, queries the
// server and fails cleanly with a wrong password.
//
// xmpp.js knows SCRAM-SHA-1 (no -PLUS), PLAIN and ANONYMOUS; with TLS it takes its
// first supported mechanism the server offers, so SCRAM-SHA-1 is expected. The
// server offers SASL2 by default, so xmpp.js logs in with it and Bind 2: its
// resource is sent as the tag and the server binds `tag/id` (id from the user-agent).
// TLS: the test server's self-signed certificate is trusted (see clients/xmpp-js.ts);
// verification is not disabled.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, makeClient, stopQuietly, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';

describe('@xmpp/client (xmpp.js 0.14)', () => {
  let ts: TestServer;
  let alice: { jid: string; local: string; password: string };
  let bob: { jid: string; local: string; password: string };
  const open: ConnectedClient[] = [];

  before(async () => {
    ts = await startTestServer();
    trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
    alice = await ts.addUser('alice');
    bob = await ts.addUser('bob');
  });

  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.stop()));
    await ts?.stop();
  });

  const starttls = () => `xmpp://127.0.0.1:${ts.starttlsPort}`;
  const directTls = () => `xmpps://127.0.0.1:${ts.directTlsPort}`;

  async function login(user: { local: string; password: string }, service: string, resource?: string): Promise<ConnectedClient> {
    const c = await connect({ service, domain: ts.domain, username: user.local, password: user.password, resource });
    open.push(c);
    return c;
  }

  function serverSession(fullJid: string) {
    return [...ts.server.sessions.all()].find((s) => s.jid.toString() === fullJid);
  }

  test('logs in over STARTTLS with SCRAM-SHA-1 and binds a resource made from the requested one', async () => {
    const c = await login(alice, starttls(), 'laptop');
    assert.match(c.jid, /^alice@localhost\/laptop\/[A-Za-z0-9_-]{12}$/);
    assert.equal(c.secure, true);
    assert.equal(c.mechanism, 'SCRAM-SHA-1');
    const s = serverSession(c.jid);
    assert.ok(s, 'the server has the bound session');
    assert.equal(s.security.tls, true);
    assert.equal(s.security.mechanism, 'SCRAM-SHA-1');
    assert.equal(s.security.channelBinding, undefined);
    await c.stop();
  });

  test('logs in over direct TLS (xmpps://) with SCRAM-SHA-1', async () => {
    const c = await login(bob, directTls(), 'phone');
    assert.match(c.jid, /^bob@localhost\/phone\/[A-Za-z0-9_-]{12}$/);
    assert.equal(c.secure, true);
    assert.equal(c.mechanism, 'SCRAM-SHA-1');
    const s = serverSession(c.jid);
    assert.ok(s);
    assert.equal(s.security.tls, true);
    assert.equal(s.security.tlsVersion, 'TLSv1.3');
    assert.equal(s.security.mechanism, 'SCRAM-SHA-1');
    await c.stop();
  });

  test('exchanges chat messages both ways (to the bare JID), STARTTLS ↔ direct TLS', async () => {
    const a = await login(alice, starttls(), 'chat-a');
    const b = await login(bob, directTls(), 'chat-b');

    await a.xmpp.send(xml('message', { to: bob.jid, type: 'chat', id: 'm1' }, xml('body', {}, 'Hello Bob, from xmpp.js')));
    const gotB = await b.nextMessage((m) => m.attrs.id === 'm1');
    assert.equal(gotB.getChildText('body'), 'Hello Bob, from xmpp.js');
    assert.equal(gotB.attrs.from, a.jid);
    assert.equal(gotB.attrs.type, 'chat');

    await b.xmpp.send(xml('message', { to: alice.jid, type: 'chat', id: 'm2' }, xml('body', {}, 'Hi Alice — ünïcödé ✓')));
    const gotA = await a.nextMessage((m) => m.attrs.id === 'm2');
    assert.equal(gotA.getChildText('body'), 'Hi Alice — ünïcödé ✓');
    assert.equal(gotA.attrs.from, b.jid);
    assert.equal(gotA.attrs.type, 'chat');

    // A reply to the full JID it came from also arrives.
    await a.xmpp.send(xml('message', { to: gotA.attrs.from, type: 'chat', id: 'm3' }, xml('body', {}, 'to your full JID')));
    const gotB2 = await b.nextMessage((m) => m.attrs.id === 'm3');
    assert.equal(gotB2.getChildText('body'), 'to your full JID');
    assert.equal(gotB2.attrs.from, a.jid);
    await Promise.all([a.stop(), b.stop()]);
  });

  test('queries the server: software version (XEP-0092), disco#info (XEP-0030), ping (XEP-0199)', async () => {
    const c = await login(alice, starttls(), 'queries');
    const version = await c.xmpp.iqCaller.get(xml('query', { xmlns: 'jabber:iq:version' }), ts.domain);
    assert.equal(version.getChildText('name'), 'Palisade');
    assert.match(version.getChildText('version') ?? '', /^\d+\.\d+\.\d+/);
    assert.equal(version.getChild('os'), undefined, 'the OS is not told by default');

    const info = await c.xmpp.iqCaller.get(xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }), ts.domain);
    const features = info.getChildren('feature').map((f) => f.attrs.var);
    for (const f of ['urn:xmpp:ping', 'jabber:iq:version', 'http://jabber.org/protocol/disco#info']) {
      assert.ok(features.includes(f), `disco#info lists ${f} (got ${features.join(', ')})`);
    }
    const identity = info.getChild('identity');
    assert.equal(identity?.attrs.category, 'server');
    assert.equal(identity?.attrs.type, 'im');

    const pong = await c.xmpp.iqCaller.request(xml('iq', { type: 'get', to: ts.domain, id: 'ping-1' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
    assert.equal(pong.attrs.type, 'result');
    assert.equal(pong.attrs.from, ts.domain);
    assert.equal(pong.attrs.id, 'ping-1');
    assert.equal(pong.children.length, 0);
    await c.stop();
  });

  for (const [name, service] of [
    ['STARTTLS', starttls],
    ['direct TLS', directTls],
  ] as const) {
    test(`a wrong password, or an unknown account, fails with not-authorized (${name})`, async () => {
      const before = ts.server.sessions.ofAccount(alice.jid).length;
      const attempts: [username: string, password: string][] = [
        [alice.local, 'not-the-password'],
        ['nobody', 'whatever'],
      ];
      for (const [username, password] of attempts) {
        const { xmpp, mechanisms } = makeClient({ service: service(), domain: ts.domain, username, password });
        try {
          await assert.rejects(xmpp.start(), (err: Error & { condition?: string; text?: string; name: string }) => {
            assert.equal(err.name, 'SASLError');
            assert.equal(err.condition, 'not-authorized');
            // The same words whether or not the account exists.
            assert.equal(err.text, 'Authentication failed');
            return true;
          });
          assert.deepEqual(mechanisms, ['SCRAM-SHA-1']);
        } finally {
          await stopQuietly(xmpp);
        }
      }
      assert.equal(ts.server.sessions.ofAccount(alice.jid).length, before, 'no session was bound');
    });
  }
});
