// Hostile and broken clients, on raw sockets. Each case checks the RFC 6120
// error the server answers with (condition and text), and afterwards that a
// bystander who was logged in all along is still served (afterEach).
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { RawClient, login, randomResource, stanzaError } from '../helpers/raw-client.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { ScramClient } from '../../src/auth/scram-client.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const STREAM_NS = `xmlns='${NS.client}' xmlns:stream='${NS.stream}'`;
const LIMITS = { max_stanza_bytes: 4096, max_depth: 8, max_attributes: 8, max_attribute_bytes: 256, max_name_bytes: 32, header_timeout: 1 };

let ts: TestServer;
let bystander: RawClient;
const mallory = { username: 'mallory', password: '' };

before(async () => {
  // negotiation_timeout is 2 s so that it never races header_timeout (1 s) in the slow-header case.
  ts = await startTestServer({ limits: LIMITS, auth: { negotiation_timeout: 2 } });
  const b = await ts.addUser('bystander');
  mallory.password = (await ts.addUser('mallory')).password;
  bystander = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: b.local, password: b.password, resource: 'watching' });
});

after(async () => {
  await bystander?.close();
  await ts?.stop();
});

afterEach(async () => {
  // Whatever the last case did, the bystander's session is intact and answered.
  assert.ok([...ts.server.sessions.all()].some((s) => s.jid.toString() === 'bystander@localhost/watching'), 'bystander session is gone');
  const pong = await bystander.ping();
  assert.equal(pong.attrs.type, 'result');
  assert.equal(bystander.inbox.length, 0, `bystander received something unexpected: ${bystander.describeInbox()}`);
});

/** A logged-in (bound) client of mallory's. */
function attacker(): Promise<RawClient> {
  return login({ port: ts.starttlsPort, dataDir: ts.dataDir, ...mallory, resource: randomResource() });
}

/** Connected, stream opened, nothing else. */
async function fresh(): Promise<RawClient> {
  const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
  await c.openStream();
  return c;
}

/** Over TLS (STARTTLS), not authenticated. */
async function overTls(): Promise<RawClient> {
  const c = await fresh();
  await c.startTls();
  return c;
}

/** Asserts the stream error (condition and text), the closing </stream:stream>, and that the connection closes. */
async function streamError(c: RawClient, condition: string, text: string | RegExp): Promise<void> {
  const e = await c.expectStreamError(condition);
  if (typeof text === 'string') assert.equal(e.text, text);
  else assert.match(e.text ?? '', text);
  await c.waitClosed();
  assert.ok(c.streamEnded, 'the server did not close its stream with </stream:stream>');
}

const sessionsOf = (local: string) => [...ts.server.sessions.all()].filter((s) => s.jid.local === local).length;

describe('parser limits (policy-violation, RFC 6120 §4.9.3.14)', () => {
  test('a stanza over max_stanza_bytes', async () => {
    const c = await attacker();
    c.sendRaw(`<message to='bystander@localhost/watching'><body>${'a'.repeat(5000)}</body></message>`);
    await streamError(c, 'policy-violation', 'stanza exceeds 4096 bytes');
  });

  test('a stanza that never ends is cut off at max_stanza_bytes, before it is complete', async () => {
    const c = await attacker();
    c.sendRaw(`<message to='bystander@localhost/watching'><body>`);
    for (let i = 0; i < 5; i++) c.sendRaw('b'.repeat(1000));
    await streamError(c, 'policy-violation', 'stanza exceeds 4096 bytes');
  });

  test('a stream header over max_stanza_bytes, before authentication', async () => {
    const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
    // Every attribute is within its own limits; the whitespace between them is not.
    c.sendRaw(`<?xml version='1.0'?><stream:stream ${STREAM_NS}${' '.repeat(4200)} to='localhost' version='1.0'>`);
    await streamError(c, 'policy-violation', 'stream header exceeds 4096 bytes');
  });

  test('nesting deeper than max_depth', async () => {
    const c = await attacker();
    c.sendRaw(`<message><x xmlns='urn:example'>${'<a>'.repeat(8)}${'</a>'.repeat(8)}</x></message>`);
    await streamError(c, 'policy-violation', 'element nesting exceeds depth 8');
  });

  test('nesting exactly max_depth is fine', async () => {
    const c = await attacker();
    c.sendRaw(`<message to='nobody@localhost'><x xmlns='urn:example'>${'<a>'.repeat(6)}${'</a>'.repeat(6)}</x></message>`);
    const reply = await c.next((e) => e.name === 'message');
    assert.equal(stanzaError(reply).condition, 'service-unavailable');
    await c.close();
  });

  test('more attributes than max_attributes', async () => {
    const c = await attacker();
    const attrs = Array.from({ length: 9 }, (_, i) => `a${i}='${i}'`).join(' ');
    c.sendRaw(`<message ${attrs}/>`);
    await streamError(c, 'policy-violation', 'element has more than 8 attributes');
  });

  test('an attribute value over max_attribute_bytes (counted in UTF-8 bytes)', async () => {
    const c = await attacker();
    c.sendRaw(`<message id='${'é'.repeat(129)}'/>`); // 129 characters, 258 bytes
    await streamError(c, 'policy-violation', 'attribute value exceeds 256 bytes');
  });

  test('an element name over max_name_bytes', async () => {
    const c = await attacker();
    c.sendRaw(`<message><${'n'.repeat(33)} xmlns='urn:example'/></message>`);
    await streamError(c, 'policy-violation', 'element name exceeds 32 bytes');
  });

  test('an attribute name over max_name_bytes', async () => {
    const c = await attacker();
    c.sendRaw(`<message ${'n'.repeat(33)}='1'/>`);
    await streamError(c, 'policy-violation', 'attribute name exceeds 32 bytes');
  });
});

describe('XML that XMPP does not allow (RFC 6120 §11)', () => {
  test('not-well-formed XML', async () => {
    const c = await attacker();
    c.sendRaw(`<message><body>unclosed</message>`);
    await streamError(c, 'not-well-formed', /\S/);
  });

  test('a DOCTYPE with an entity declaration before the stream header (billion laughs)', async () => {
    const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
    c.sendRaw(`<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;'>]>`);
    c.sendRaw(`<stream:stream ${STREAM_NS} to='localhost' version='1.0'>`);
    await streamError(c, 'restricted-xml', 'DTDs are not allowed');
  });

  test('a reference to an undeclared entity in a stanza', async () => {
    const c = await attacker();
    c.sendRaw(`<message to='nobody@localhost'><body>&lol;</body></message>`);
    await streamError(c, 'restricted-xml', 'entity references other than the five predefined ones are not allowed');
  });

  test('a comment', async () => {
    const c = await attacker();
    c.sendRaw(`<message to='nobody@localhost'><!-- hello --><body>x</body></message>`);
    await streamError(c, 'restricted-xml', 'comments are not allowed');
  });

  test('a comment between stanzas', async () => {
    const c = await attacker();
    c.sendRaw(`<!-- hello -->`);
    await streamError(c, 'restricted-xml', 'comments are not allowed');
  });

  test('a processing instruction', async () => {
    const c = await attacker();
    c.sendRaw(`<message to='nobody@localhost'><?evil payload?><body>x</body></message>`);
    await streamError(c, 'restricted-xml', 'processing instructions are not allowed');
  });

  test('invalid UTF-8', async () => {
    const c = await attacker();
    c.sendRaw(Buffer.concat([Buffer.from(`<message to='nobody@localhost'><body>`), Buffer.from([0xc0, 0xaf, 0xff]), Buffer.from('</body></message>')]));
    await streamError(c, 'not-well-formed', 'invalid UTF-8');
  });
});

describe('stream negotiation', () => {
  test('a stanza before STARTTLS is refused (not-authorized)', async () => {
    const c = await fresh();
    c.sendRaw(`<message to='bystander@localhost/watching'><body>hi</body></message>`);
    await streamError(c, 'not-authorized', 'STARTTLS and authentication are required before sending stanzas.');
  });

  test('a stanza after STARTTLS but before authentication is refused (not-authorized)', async () => {
    const c = await overTls();
    c.sendRaw(`<message to='bystander@localhost/watching'><body>hi</body></message>`);
    await streamError(c, 'not-authorized', 'Authenticate before sending stanzas.');
  });

  test('a stanza after authentication but before resource binding is refused (not-authorized)', async () => {
    const c = await overTls();
    assert.deepEqual(await c.authenticate({ mechanism: 'SCRAM-SHA-256', ...mallory }), { ok: true });
    await c.openStream();
    c.sendRaw(`<message to='bystander@localhost/watching'><body>hi</body></message>`);
    await streamError(c, 'not-authorized', 'Bind a resource before sending stanzas.');
  });

  test('<auth/> before STARTTLS: <encryption-required/> failure, then the stream is closed', async () => {
    const c = await fresh();
    const plain = Buffer.from(`\0mallory\0${mallory.password}`).toString('base64');
    c.sendRaw(`<auth xmlns='${NS.sasl}' mechanism='SCRAM-SHA-256'>${plain}</auth>`);
    const failure = await c.next((e) => e.name === 'failure' && e.ns === NS.sasl);
    assert.ok(failure.getChild('encryption-required'), failure.toString());
    await streamError(c, 'policy-violation', 'STARTTLS is required before authentication.');
  });

  test('the features before TLS offer only STARTTLS, as required', async () => {
    const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
    const features = await c.openStream();
    assert.deepEqual(
      features.elements.map((e) => `${e.name} ${e.ns}`),
      [`starttls ${NS.tls}`],
    );
    assert.ok(features.getChild('starttls', NS.tls)!.getChild('required'));
    await c.close();
  });

  test(
    'STARTTLS injection: plaintext pipelined after <starttls/> is not acted on after the handshake',
    async () => {
      // CVE-2011-0411 class: a man in the middle appends commands to the client's <starttls/>.
      const c = await fresh();
      const first = new ScramClient({ hash: 'SHA-256', ...mallory }).first().toString('base64');
      c.sendRaw(
        `<starttls xmlns='${NS.tls}'/><auth xmlns='${NS.sasl}' mechanism='SCRAM-SHA-256'>${first}</auth>` +
          `<iq type='set' id='inj'><bind xmlns='${NS.bind}'><resource>injected</resource></bind></iq>`,
      );
      const answer = await c.next((e) => e.name === 'proceed' || (e.name === 'error' && e.ns === NS.stream));
      if (answer.name === 'error') return; // refusing the whole stream is a fine answer too
      const raw = c.socket;
      raw.removeAllListeners('data');
      const secure = tlsConnect({ socket: raw, ca: readFileSync(`${ts.dataDir}/tls/localhost.crt`), servername: 'localhost' });
      let received = '';
      secure.on('data', (d: Buffer) => (received += d.toString()));
      secure.on('error', () => undefined);
      await new Promise((r) => secure.once('secureConnect', r));
      await sleep(300);
      // RFC 6120 §5.4.3.3: what arrived before TLS took effect is discarded, so the server says
      // nothing until the client opens the new stream, and then offers a fresh negotiation.
      assert.equal(received, '', `the server acted on injected plaintext: ${received}`);
      secure.write(`<?xml version='1.0'?><stream:stream ${STREAM_NS} to='localhost' version='1.0'>`);
      await sleep(100);
      secure.destroy();
      assert.match(received, /<mechanisms /);
    },
  );

  test(
    'a bind pipelined with the last SASL response, before the stream restart, is not acted on',
    async () => {
      const c = await overTls();
      const scram = new ScramClient({ hash: 'SHA-256', ...mallory });
      c.sendRaw(`<auth xmlns='${NS.sasl}' mechanism='SCRAM-SHA-256'>${scram.first().toString('base64')}</auth>`);
      const challenge = await c.next((e) => e.name === 'challenge');
      const final = await scram.final(Buffer.from(challenge.text, 'base64'));
      c.sendRaw(
        `<response xmlns='${NS.sasl}'>${final.toString('base64')}</response>` +
          `<iq type='set' id='nr'><bind xmlns='${NS.bind}'><resource>norestart</resource></bind></iq>`,
      );
      await c.next((e) => e.name === 'success');
      await sleep(300);
      const bound = [...ts.server.sessions.all()].some((s) => s.jid.resource === 'norestart');
      c.destroy();
      // After <success/> both sides start a new stream; what was sent on the old one is void.
      assert.equal(c.inbox.find((e) => e.attrs.id === 'nr')?.toString(), undefined);
      assert.equal(bound, false);
    },
  );

  test('a client that never finishes its stream header: connection-timeout after header_timeout', async () => {
    const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
    const t0 = Date.now();
    c.sendRaw(`<?xml version='1.0'?><stream:stream ${STREAM_NS} to='localhost'`);
    await streamError(c, 'connection-timeout', 'No stream header received in time.');
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 900 && elapsed < 2000, `closed after ${elapsed} ms`);
    // The server opened its own stream first, so the error is well-formed XMPP.
    assert.equal(c.header?.from, 'localhost');
  });

  test('a client that opens the stream but never authenticates: connection-timeout after negotiation_timeout', async () => {
    const t0 = Date.now();
    const c = await overTls();
    await streamError(c, 'connection-timeout', 'Stream negotiation took too long.');
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 1900 && elapsed < 3000, `closed after ${elapsed} ms`);
  });

  test('wrong content namespace (invalid-namespace)', async () => {
    const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
    c.sendRaw(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='${NS.stream}' to='localhost' version='1.0'>`);
    await streamError(c, 'invalid-namespace', 'The content namespace must be jabber:client.');
  });

  test('wrong stream namespace (invalid-namespace)', async () => {
    const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
    c.sendRaw(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://example.com/streams' to='localhost' version='1.0'>`);
    await streamError(c, 'invalid-namespace', `the root element must be <stream> in namespace ${NS.stream}`);
  });

  test("'to' naming another host (host-unknown)", async () => {
    const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
    c.sendRaw(`<?xml version='1.0'?><stream:stream ${STREAM_NS} to='example.org' version='1.0'>`);
    await streamError(c, 'host-unknown', 'This server does not serve example.org.');
    assert.equal(c.header?.from, 'localhost');
  });

  test('an unsupported version (unsupported-version)', async () => {
    const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
    c.sendRaw(`<?xml version='1.0'?><stream:stream ${STREAM_NS} to='localhost' version='2.0'>`);
    await streamError(c, 'unsupported-version', 'This server speaks XMPP version 1.0 streams only.');
  });
});

describe('authentication failures', () => {
  test('a wrong password and an unknown user get the same <not-authorized/> failure and text', async () => {
    const c = await overTls();
    const wrong = await c.authenticate({ mechanism: 'SCRAM-SHA-256', username: 'mallory', password: 'not-the-password' });
    const unknown = await c.authenticate({ mechanism: 'SCRAM-SHA-256', username: 'no-such-user', password: 'whatever' });
    assert.equal(wrong.ok, false);
    assert.equal(unknown.ok, false);
    if (wrong.ok || unknown.ok) return;
    assert.equal(wrong.condition, 'not-authorized');
    assert.deepEqual([unknown.condition, unknown.text], [wrong.condition, wrong.text]);
    assert.equal(wrong.element.toString(), unknown.element.toString());
    await c.close();
  });

  test('the third failed attempt closes the stream (policy-violation, RFC 6120 §6.4.5)', async () => {
    const c = await overTls();
    for (let i = 1; i <= 3; i++) {
      const r = await c.authenticate({ mechanism: 'SCRAM-SHA-256', username: 'mallory', password: `guess-${i}` });
      assert.equal(r.ok, false);
      if (i < 3) assert.equal(c.closed, false);
    }
    await streamError(c, 'policy-violation', 'Too many failed authentication attempts.');
  });
});

describe('stanzas from a logged-in client', () => {
  test("a forged 'from' ends the stream (invalid-from) and is not delivered", async () => {
    const c = await attacker();
    c.sendRaw(`<message from='bystander@localhost/watching' to='bystander@localhost/watching'><body>I am you</body></message>`);
    await streamError(c, 'invalid-from', /^'from' must be your own address \(mallory@localhost\/[0-9a-f]+\)$/);
  });

  test('an iq without an id gets <bad-request/>, and the stream stays open', async () => {
    const c = await attacker();
    c.sendRaw(`<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`);
    const reply = await c.next((e) => e.name === 'iq');
    assert.equal(reply.attrs.type, 'error');
    assert.deepEqual(stanzaError(reply), { type: 'modify', condition: 'bad-request', text: "An iq stanza needs an 'id' attribute." });
    assert.equal((await c.ping()).attrs.type, 'result');
    await c.close();
  });

  test('an iq get with two children gets <bad-request/>', async () => {
    const c = await attacker();
    const reply = await c.iq('get', `<ping xmlns='urn:xmpp:ping'/><query xmlns='jabber:iq:version'/>`, { to: 'localhost' });
    assert.deepEqual(stanzaError(reply), {
      type: 'modify',
      condition: 'bad-request',
      text: 'An iq of type get must contain exactly one child element.',
    });
    assert.equal((await c.ping()).attrs.type, 'result');
    await c.close();
  });

  test('presence of an unknown type gets <bad-request/>', async () => {
    const c = await attacker();
    c.sendRaw(`<presence type='invisible' id='p1'/>`);
    const reply = await c.next((e) => e.name === 'presence');
    assert.equal(reply.attrs.type, 'error');
    assert.equal(reply.attrs.id, 'p1');
    assert.deepEqual(stanzaError(reply), { type: 'modify', condition: 'bad-request', text: "'invisible' is not a presence type." });
    assert.equal((await c.ping()).attrs.type, 'result');
    await c.close();
  });

  test("a message with a malformed 'to' gets <jid-malformed/>", async () => {
    const c = await attacker();
    c.sendRaw(`<message to='bystander@@localhost' id='m1'><body>x</body></message>`);
    const reply = await c.next((e) => e.name === 'message');
    assert.equal(reply.attrs.type, 'error');
    assert.equal(reply.attrs.id, 'm1');
    const err = stanzaError(reply);
    assert.equal(err.condition, 'jid-malformed');
    assert.equal(err.type, 'modify');
    assert.match(err.text ?? '', /^invalid 'to' address: /);
    assert.equal((await c.ping()).attrs.type, 'result');
    await c.close();
  });

  test('an element that is not a stanza ends the stream (unsupported-stanza-type)', async () => {
    const c = await attacker();
    c.sendRaw(`<foo xmlns='urn:example'/>`);
    await streamError(c, 'unsupported-stanza-type', '<foo/> in urn:example is not a stanza this server accepts');
  });

  test('the attacker can close and reconnect; nothing leaks between its sessions', async () => {
    const c = await attacker();
    await c.close();
    assert.equal(sessionsOf('mallory'), 0);
  });
});
