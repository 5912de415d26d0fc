// Must show: xmpp.js (@xmpp/client 0.14), a client library others wrote, speaks
// SASL2 (XEP-0388), Bind 2 (XEP-0386) and FAST (XEP-0484) with Palisade: it
// logs in with SCRAM-SHA-1 over SASL2, gets a resource made from its tag, asks
// for a FAST token on its own, and its next login uses the token
// (HT-SHA-256-NONE, its only FAST mechanism) in one round trip. After the
// account's password changes, its token is refused and it falls back to
// password authentication by itself. All of it with the default configuration:
// SASL2 is offered without being switched on.
// TLS: the test server's self-signed certificate is trusted (see clients/xmpp-js.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import type { XmlElement } from '@xmpp/client';
import { makeClient, stopQuietly, trustCertificates, xml } from './clients/xmpp-js.ts';
import type { C2SConnection } from '../../src/net/c2s.ts';

let ts: TestServer;

before(async () => {
  ts = await startTestServer(); // default auth settings: SASL2 must be on without asking
  trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
});
after(() => ts?.stop());

test('the default configuration offers SASL2, and xmpp.js logs in through it with Bind 2', async () => {
  const u = await ts.addUser('dora');
  const { xmpp, mechanisms } = makeClient({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: u.local, password: u.password, resource: 'xmppjs' });
  const features: XmlElement[] = [];
  xmpp.on('nonza', (el: XmlElement) => {
    if (el.is('features', 'http://etherx.jabber.org/streams')) features.push(el);
  });
  const sent: XmlElement[] = [];
  xmpp.on('send', (el: XmlElement) => {
    if (el.name === 'authenticate' || el.name === 'auth') sent.push(el);
  });
  try {
    const jid = (await xmpp.start()).toString();
    // The features after STARTTLS: SASL2 next to SASL, with the same list.
    const preAuth = features.filter((f) => f.getChild('mechanisms', 'urn:ietf:params:xml:ns:xmpp-sasl'));
    assert.equal(preAuth.length, 1, features.map(String).join('\n'));
    const sasl2 = preAuth[0]!.getChild('authentication', 'urn:xmpp:sasl:2');
    assert.ok(sasl2, `no <authentication xmlns='urn:xmpp:sasl:2'/> in ${preAuth[0]!.toString()}`);
    const names = (holder: XmlElement) => holder.getChildren('mechanism').map((m) => m.text());
    assert.deepEqual(names(sasl2), names(preAuth[0]!.getChild('mechanisms', 'urn:ietf:params:xml:ns:xmpp-sasl')!));
    assert.ok(sasl2.getChild('inline')?.getChild('bind', 'urn:xmpp:bind:0'), 'Bind 2 is offered inline');

    assert.deepEqual(
      sent.map((e) => [e.name, e.attrs.xmlns, e.attrs.mechanism]),
      [['authenticate', 'urn:xmpp:sasl:2', 'SCRAM-SHA-1']],
      'one SASL2 <authenticate/>, no SASL <auth/>',
    );
    assert.deepEqual(mechanisms, ['SCRAM-SHA-1'], 'clients/xmpp-js.ts records the mechanism of <authenticate/>');
    // Bind 2: the resource xmpp.js asked for is the tag, the server adds a per-client id.
    assert.match(jid, /^dora@localhost\/xmppjs\/[A-Za-z0-9_-]{12}$/);
    const session = [...ts.server.sessions.all()].find((s) => s.jid.toString() === jid) as C2SConnection | undefined;
    const agentId = sent[0]!.getChild('user-agent')?.attrs.id;
    assert.ok(agentId, 'xmpp.js sent a user-agent id');
    assert.equal(session?.userAgent?.id, agentId, 'the server took the SASL2 user-agent');
    assert.equal(session?.security.mechanism, 'SCRAM-SHA-1');
  } finally {
    await stopQuietly(xmpp);
  }
});

test('xmpp.js logs in over SASL2 with Bind 2, receives a FAST token, and logs in with it next time', async () => {
  const u = await ts.addUser('jsuser');
  const { xmpp } = makeClient({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: u.local, password: u.password, resource: 'xmppjs' });
  const sent: XmlElement[] = [];
  xmpp.on('send', (el: XmlElement) => {
    if (el.name === 'authenticate') sent.push(el);
  });
  // The FAST part of xmpp.js, which the shared type declarations leave out.
  const fast = (xmpp as unknown as { fast: { fetch(): Promise<unknown> } }).fast;
  try {
    const jid = (await xmpp.start()).toString();
    assert.match(jid, /^jsuser@localhost\/xmppjs\/[A-Za-z0-9_-]{12}$/);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.attrs.mechanism, 'SCRAM-SHA-1');
    assert.ok(sent[0]!.getChild('request-token'), 'xmpp.js asked for a token');
    const agentId = sent[0]!.getChild('user-agent')?.attrs.id;
    const session = [...ts.server.sessions.all()].find((s) => s.jid.toString() === jid) as C2SConnection | undefined;
    assert.equal(session?.userAgent?.id, agentId);
    const token = (await fast.fetch()) as { mechanism: string; token: string } | undefined;
    assert.equal(token?.mechanism, 'HT-SHA-256-NONE');
    await xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), ts.domain); // rejects on an error reply
    await xmpp.stop();

    const again = (await xmpp.start()).toString();
    assert.equal(sent.length, 2);
    assert.equal(sent[1]!.attrs.mechanism, 'HT-SHA-256-NONE');
    assert.equal(again, jid, 'same client, same tag: the same resource');
    await xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), ts.domain); // rejects on an error reply
    await xmpp.stop();

    // A new password revokes the token: xmpp.js sees the failure, drops the token and falls back to
    // SCRAM-SHA-1 by itself — with the password it was created with, now the old one, so that fails too.
    await ts.accounts.setPassword(`${u.local}@${ts.domain}`, 'a different password 99');
    const third = await xmpp.start().then(
      (j: unknown) => `bound ${String(j)}`,
      (err: Error) => `failed: ${err.message}`,
    );
    assert.deepEqual(
      sent.slice(2).map((e) => e.attrs.mechanism),
      ['HT-SHA-256-NONE', 'SCRAM-SHA-1'],
    );
    assert.equal(third, 'failed: not-authorized - Authentication failed');
    assert.equal(await fast.fetch(), null, 'xmpp.js discarded the refused token');
  } finally {
    await stopQuietly(xmpp);
  }
});
