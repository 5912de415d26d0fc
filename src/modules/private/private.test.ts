// Private XML storage (XEP-0049) end to end on a real server over raw sockets:
// storage per element name and namespace, owner only, reserved namespaces,
// limits, and bad requests (each with the XEP's error and nothing changed).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NS } from '../../xmpp/ns.ts';
import { startTestServer, type TestServer } from '../../../test/helpers/server.ts';
import { login, stanzaError, type RawClient } from '../../../test/helpers/raw-client.ts';
import { readFileSync } from 'node:fs';
import { connect, trustCertificates, xml } from '../../../test/integration/clients/xmpp-js.ts';
import { isReservedNamespace } from './index.ts';

const Q = `xmlns='${NS.privateXml}'`;

test('reserved namespaces (XEP-0049 §2.3)', () => {
  for (const ns of ['jabber:iq:roster', 'jabber:x:data', 'http://jabber.org/protocol/disco#info', 'vcard-temp', '']) assert.ok(isReservedNamespace(ns), ns);
  for (const ns of ['storage:bookmarks', 'storage:rosternotes', 'exodus:prefs', 'http://psi-im.org/options', 'vcard-temp:x:update']) {
    assert.ok(!isReservedNamespace(ns), ns);
  }
});

describe('private module, end to end', () => {
  let ts: TestServer;
  let a: RawClient;
  let b: RawClient;
  let aliceJid: string;

  /** What is stored for an account, as rows "name ns → xml". */
  const rows = async (local: string) => {
    const r = (await ts.server.storage.db
      .selectFrom('private_xml' as never)
      .selectAll()
      .where('localpart' as never, '=', local as never)
      .execute()) as { ns: string; name: string; xml: string }[];
    return r.map((x) => `${x.name} ${x.ns} → ${x.xml}`).sort();
  };
  const set = (c: RawClient, inner: string, attrs: Record<string, string> = {}) => c.iq('set', `<query ${Q}>${inner}</query>`, attrs);
  const get = (c: RawClient, inner: string, attrs: Record<string, string> = {}) => c.iq('get', `<query ${Q}>${inner}</query>`, attrs);

  before(async () => {
    ts = await startTestServer({ modules: { ...defaultModules(), private: { max_bytes: 1024, max_items: 3 } } });
    const alice = await ts.addUser('alice');
    const bob = await ts.addUser('bob');
    aliceJid = alice.jid;
    a = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'alice', password: alice.password, resource: 'r' });
    b = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'bob', password: bob.password, resource: 'r' });
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await ts?.stop();
  });

  test('nothing stored: the requested element comes back empty', async () => {
    const r = await get(a, `<storage xmlns='storage:bookmarks'/>`);
    assert.equal(r.attrs.type, 'result');
    const el = r.getChild('query', NS.privateXml)!.elements;
    assert.equal(el.length, 1);
    assert.equal(el[0]!.name, 'storage');
    assert.equal(el[0]!.ns, 'storage:bookmarks');
    assert.equal(el[0]!.children.length, 0);
  });

  test('set then get, keyed by element name and namespace; a second set replaces; without to or at the own bare JID', async () => {
    const bookmarks = `<storage xmlns='storage:bookmarks'><conference jid='room@muc.example' autojoin='true' name='R &amp; D'><nick>al</nick></conference></storage>`;
    assert.equal((await set(a, bookmarks + `<prefs xmlns='storage:bookmarks'><x/></prefs>`)).attrs.type, 'result');
    assert.equal((await set(a, `<exodus xmlns='exodus:prefs' xmlns:p='urn:p' p:v='1'><defaultnick>Hamlet</defaultnick></exodus>`, { to: aliceJid })).attrs.type, 'result');
    const r = await get(a, `<storage xmlns='storage:bookmarks'/>`, { to: aliceJid });
    const storage = r.getChild('query', NS.privateXml)!.getChild('storage', 'storage:bookmarks')!;
    assert.equal(storage.getChild('conference')!.attrs.name, 'R & D');
    assert.equal(storage.getChild('conference')!.getChildText('nick'), 'al');
    const exodus = (await get(a, `<exodus xmlns='exodus:prefs'/>`)).getChild('query', NS.privateXml)!.getChild('exodus', 'exodus:prefs')!;
    assert.equal(exodus.attrs['p:v'], '1');
    assert.equal(exodus.getChildText('defaultnick'), 'Hamlet');
    // Same namespace, other name: its own item.
    assert.equal((await get(a, `<prefs xmlns='storage:bookmarks'/>`)).getChild('query', NS.privateXml)!.elements[0]!.elements.length, 1);

    await set(a, `<exodus xmlns='exodus:prefs'><defaultnick>Ophelia</defaultnick></exodus>`);
    const again = (await get(a, `<exodus xmlns='exodus:prefs'/>`)).getChild('query', NS.privateXml)!.elements[0]!;
    assert.equal(again.getChildText('defaultnick'), 'Ophelia');
    assert.equal(again.attrs['p:v'], undefined, 'replaced, not merged');
    assert.equal((await rows('alice')).length, 3);
  });

  test('an empty element deletes what is stored under its name', async () => {
    await set(a, `<prefs xmlns='storage:bookmarks'/>`);
    assert.equal((await rows('alice')).length, 2);
    assert.equal((await get(a, `<prefs xmlns='storage:bookmarks'/>`)).getChild('query', NS.privateXml)!.elements[0]!.children.length, 0);
  });

  test("someone else's private data: forbidden for get and set, whether or not the account exists; nothing changes", async () => {
    const before = await rows('alice');
    const answers = [
      await get(b, `<storage xmlns='storage:bookmarks'/>`, { to: aliceJid }),
      await set(b, `<storage xmlns='storage:bookmarks'/>`, { to: aliceJid }),
      await get(b, `<storage xmlns='storage:bookmarks'/>`, { to: `nobody@${ts.domain}` }),
      await set(b, `<storage xmlns='storage:bookmarks'/>`, { to: `nobody@${ts.domain}` }),
    ];
    for (const r of answers) {
      assert.equal(r.attrs.type, 'error');
      assert.deepEqual(stanzaError(r), { type: 'auth', condition: 'forbidden', text: 'Private XML storage is readable and writable by its owner only.' });
    }
    assert.deepEqual(await rows('alice'), before);
    assert.deepEqual(await rows('bob'), []);
  });

  test('reserved namespaces are not-acceptable for get and set; a set with one reserved element stores none of it', async () => {
    const before = await rows('alice');
    for (const inner of [
      `<query xmlns='jabber:iq:roster'/>`,
      `<vCard xmlns='vcard-temp'><FN>Hamlet</FN></vCard>`,
      `<x xmlns='http://jabber.org/protocol/muc'/>`,
      `<unqualified/>`,
    ]) {
      const s = await set(a, `<ok xmlns='urn:ok'>1</ok>${inner}`);
      assert.equal(stanzaError(s).condition, 'not-acceptable', inner);
      assert.match(stanzaError(s).text ?? '', /reserved|own namespace/);
      const g = await get(a, inner);
      assert.equal(stanzaError(g).condition, 'not-acceptable', inner);
    }
    assert.deepEqual(await rows('alice'), before);
  });

  test('bad requests: empty query, a get for two elements, the same element twice in a set, text only', async () => {
    const before = await rows('alice');
    assert.equal(stanzaError(await set(a, '')).condition, 'not-acceptable');
    assert.equal(stanzaError(await get(a, '')).condition, 'not-acceptable');
    assert.equal(stanzaError(await set(a, 'just text')).condition, 'not-acceptable');
    assert.equal(stanzaError(await get(a, `<a xmlns='urn:a'/><b xmlns='urn:b'/>`)).condition, 'bad-request');
    assert.equal(stanzaError(await set(a, `<a xmlns='urn:a'>1</a><a xmlns='urn:a'>2</a>`)).condition, 'bad-request');
    // Wrong element name in the namespace: no handler, service-unavailable.
    const wrong = await a.iq('get', `<quarry ${Q}/>`);
    assert.equal(stanzaError(wrong).condition, 'service-unavailable');
    assert.deepEqual(await rows('alice'), before);
  });

  test('XML that is not well-formed ends the stream (RFC 6120 §4.9.3.13) and stores nothing', async () => {
    const before = await rows('alice');
    const alice = { username: 'alice', password: 'pw-alice-secret' };
    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, ...alice, resource: 'broken' });
    c.sendRaw(`<iq type='set' id='bad'><query ${Q}><a xmlns='urn:a'><b></a></query></iq>`);
    await c.expectStreamError('not-well-formed');
    await c.waitClosed();
    assert.deepEqual(await rows('alice'), before);
  });

  test('limits: an element over max_bytes, or more than max_items, is not-acceptable and nothing of that set is stored', async () => {
    const before = await rows('alice'); // 2 items
    const big = await set(a, `<ok2 xmlns='urn:ok'>1</ok2><big xmlns='urn:big'>${'x'.repeat(1100)}</big>`);
    assert.equal(stanzaError(big).condition, 'not-acceptable');
    assert.match(stanzaError(big).text ?? '', /^<big xmlns='urn:big'\/> is \d+ bytes; this server keeps private elements of up to 1024 bytes\.$/);
    const many = await set(a, `<n1 xmlns='urn:n'>1</n1><n2 xmlns='urn:n'>2</n2>`);
    assert.deepEqual(stanzaError(many), { type: 'modify', condition: 'not-acceptable', text: 'This server keeps up to 3 private elements per account; nothing was stored.' });
    assert.deepEqual(await rows('alice'), before);
    // Replacing an existing item never counts against the limit; one more fits.
    assert.equal((await set(a, `<n1 xmlns='urn:n'>1</n1><storage xmlns='storage:bookmarks'/>`)).attrs.type, 'result');
    assert.equal((await rows('alice')).length, 2, 'bookmarks deleted, n1 added');
  });
});

describe('through @xmpp/client (xmpp.js 0.14)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts?.stop());

  test('XEP-0048 bookmarks in private storage: stored, read back in another session; a reserved namespace is refused', async () => {
    trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
    const u = await ts.addUser('jsuser');
    const opts = { service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: u.local, password: u.password, presence: false };
    const one = await connect({ ...opts, resource: 'one' });
    try {
      const bookmarks = xml('storage', { xmlns: 'storage:bookmarks' }, xml('conference', { jid: 'team@conference.example', autojoin: 'true', name: 'Team' }, xml('nick', {}, 'js')));
      await one.xmpp.iqCaller.request(iqSet(xml('query', { xmlns: NS.privateXml }, bookmarks)));
      await assert.rejects(one.xmpp.iqCaller.request(iqSet(xml('query', { xmlns: NS.privateXml }, xml('query', { xmlns: 'jabber:iq:roster' })))), (err: Error & { condition?: string }) => {
        assert.equal(err.condition, 'not-acceptable');
        return true;
      });
    } finally {
      await one.stop();
    }
    const two = await connect({ ...opts, resource: 'two' });
    try {
      const q = await two.xmpp.iqCaller.get(xml('query', { xmlns: NS.privateXml }, xml('storage', { xmlns: 'storage:bookmarks' })));
      const conf = q.getChild('storage', 'storage:bookmarks')!.getChild('conference')!;
      assert.deepEqual(conf.attrs, { jid: 'team@conference.example', autojoin: 'true', name: 'Team' });
      assert.equal(conf.getChildText('nick'), 'js');
    } finally {
      await two.stop();
    }
  });
});

/** An iq set for xmpp.js's iqCaller.request (its set() is not in the test type declarations). */
function iqSet(payload: ReturnType<typeof xml>) {
  return xml('iq', { type: 'set' }, payload);
}

function defaultModules(): Record<string, object> {
  return Object.fromEntries(['disco', 'ping', 'version', 'roster', 'presence', 'message', 'offline', 'vcard', 'private', 'blocking', 'last-activity'].map((m) => [m, {}]));
}
