// Must show: the message archive (XEP-0313) with stanza ids (XEP-0359) and RSM
// paging (XEP-0059) works for two client libraries others wrote: @xmpp/client
// (xmpp.js 0.14) and Debian's python3-slixmpp 1.8 with its xep_0313 plugin.
//
// alice sends 1,000 messages to bob (and carol a few); bob, online, receives
// each live with the stanza-id of his archive, then pages through the archive
// 100 at a time and gets exactly those messages, in order, under the same ids;
// the 'with', start/end and last-page (<before/>) queries select what they
// should. Forged stanza ids are replaced, messages stored offline are archived
// too, and nobody reads another account's archive.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import type { XmlElement } from '@xmpp/client';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';
import { PYTHON, assertSlixmppInstalled } from './clients/slixmpp.ts';
import { baseEnv, describeRun, run } from './clients/process.ts';

const MAM = 'urn:xmpp:mam:2';
const RSM = 'http://jabber.org/protocol/rsm';
const SID = 'urn:xmpp:sid:0';
const FORWARD = 'urn:xmpp:forward:0';
const TOTAL = 1000;
const PAGE = 100;
const SLIX_SCRIPT = fileURLToPath(new URL('./mam-slixmpp.py', import.meta.url));

type User = { jid: string; local: string; password: string };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const body = (i: number) => `message ${i} — ✓ <&>`;

let ts: TestServer;
const open: ConnectedClient[] = [];
let queries = 0;

interface Page {
  results: XmlElement[];
  fin: XmlElement;
  complete: string | undefined;
  first: string | null;
  last: string | null;
  count: number;
}

function formOf(fields: Record<string, string>): XmlElement {
  return xml(
    'x',
    { xmlns: 'jabber:x:data', type: 'submit' },
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, MAM)),
    ...Object.entries(fields).map(([k, v]) => xml('field', { var: k }, xml('value', {}, v))),
  );
}

/** One archive query through xmpp.js; the results are the messages that arrived before the iq result. */
async function query(c: ConnectedClient, opts: { form?: Record<string, string>; rsm?: XmlElement[]; to?: string } = {}): Promise<Page> {
  const queryid = `q${++queries}`;
  const children = [opts.form && formOf(opts.form), opts.rsm && xml('set', { xmlns: RSM }, ...opts.rsm)].filter((e) => e !== undefined);
  const payload = xml('query', { xmlns: MAM, queryid }, ...children);
  const reply = await c.xmpp.iqCaller.request(xml('iq', { type: 'set', to: opts.to }, payload));
  const fin = reply.getChild('fin', MAM);
  assert.ok(fin, reply.toString());
  const set = fin.getChild('set', RSM)!;
  return {
    results: c.messages.filter((m) => m.getChild('result', MAM)?.attrs.queryid === queryid),
    fin,
    complete: fin.attrs.complete,
    first: set.getChildText('first'),
    last: set.getChildText('last'),
    count: Number(set.getChildText('count')),
  };
}

const forwarded = (r: XmlElement) => r.getChild('result', MAM)!.getChild('forwarded', FORWARD)!.getChild('message', 'jabber:client')!;
const bodies = (p: Page) => p.results.map((r) => forwarded(r).getChildText('body'));
const archiveIds = (p: Page) => p.results.map((r) => r.getChild('result', MAM)!.attrs.id!);
const ownStanzaIds = (m: XmlElement, owner: string) => m.getChildren('stanza-id', SID).filter((s) => s.attrs.by === owner);

describe('message archive through client libraries', () => {
  let alice: User;
  let bob: User;
  let carol: User;
  let a: ConnectedClient;
  let b: ConnectedClient;
  let c: ConnectedClient;
  let middle: Date;
  /** Live stanza-id (by bob) of each of alice's messages, in sending order. */
  let liveIds: string[];

  // With SASL2 and Bind 2 xmpp.js is bound to `<resource>/<id>`: the tests use each client's bound JID.
  const login = async (u: User, resource: string) => {
    const client = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: u.local, password: u.password, resource });
    open.push(client);
    return client;
  };

  before(async () => {
    await assertSlixmppInstalled();
    // slixmpp 1.8 offers channel binding it cannot do on TLS 1.3 (see slixmpp.clients.test.ts).
    ts = await startTestServer({ auth: { channel_bindings: [] } });
    trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
    alice = await ts.addUser('alice');
    bob = await ts.addUser('bob');
    carol = await ts.addUser('carol');
    a = await login(alice, 'desk');
    b = await login(bob, 'phone');
    c = await login(carol, 'laptop');

    // Two halves with a gap between them, for the start/end filters.
    const send = async (from: number, to: number) => {
      for (let i = from; i <= to; i++) await a.xmpp.send(xml('message', { to: bob.jid, type: 'chat', id: `a${i}` }, xml('body', {}, body(i))));
      await a.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), ts.domain);
    };
    await send(1, TOTAL / 2);
    await sleep(20);
    middle = new Date();
    await sleep(20);
    await send(TOTAL / 2 + 1, TOTAL);
    for (let i = 1; i <= 3; i++) await c.xmpp.send(xml('message', { to: bob.jid, type: 'chat', id: `c${i}` }, xml('body', {}, `from carol ${i}`)));
    await b.nextMessage((m) => m.attrs.id === 'c3', 20_000);
    const live = b.messages.filter((m) => m.attrs.type === 'chat' && m.attrs.id?.startsWith('a'));
    assert.equal(live.length, TOTAL);
    liveIds = live.map((m) => {
      const ids = ownStanzaIds(m, bob.jid);
      assert.equal(ids.length, 1, m.toString());
      return ids[0]!.attrs.id!;
    });
  });

  after(async () => {
    await Promise.all(open.splice(0).map((x) => x.stop()));
    await ts?.stop();
  });

  test(`@xmpp/client: ${TOTAL} messages paged ${PAGE} at a time arrive once each, in order, under the ids bob saw live`, async () => {
    const got: string[] = [];
    const ids: string[] = [];
    let after: string | null = null;
    for (let page = 1; page <= TOTAL / PAGE; page++) {
      const rsm = [xml('max', {}, String(PAGE))];
      if (after) rsm.push(xml('after', {}, after));
      const p = await query(b, { form: { with: alice.jid }, rsm });
      assert.equal(p.results.length, PAGE);
      assert.equal(p.count, TOTAL);
      assert.equal(p.complete, page === TOTAL / PAGE ? 'true' : 'false', `page ${page}`);
      assert.equal(p.first, archiveIds(p)[0]);
      assert.equal(p.last, archiveIds(p).at(-1));
      for (const r of p.results) {
        assert.equal(r.attrs.from, bob.jid);
        const m = forwarded(r);
        assert.equal(m.attrs.from, a.jid);
        assert.ok(r.getChild('result', MAM)!.getChild('forwarded', FORWARD)!.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp);
      }
      got.push(...bodies(p).map(String));
      ids.push(...archiveIds(p));
      after = p.last;
    }
    assert.deepEqual(
      got,
      Array.from({ length: TOTAL }, (_, i) => body(i + 1)),
    );
    assert.equal(new Set(ids).size, TOTAL, 'distinct ids');
    assert.deepEqual(ids, liveIds, 'the live stanza-id of each message is its archive id');
    const beyond = await query(b, { form: { with: alice.jid }, rsm: [xml('max', {}, String(PAGE)), xml('after', {}, after!)] });
    assert.deepEqual([beyond.results.length, beyond.complete, beyond.count, beyond.first], [0, 'true', TOTAL, null]);
  });

  test("@xmpp/client: 'with', start/end, and the last page with an empty <before/>", async () => {
    const all = await query(b, { rsm: [xml('max', {}, '5')] });
    assert.equal(all.count, TOTAL + 3);
    const fromCarol = await query(b, { form: { with: carol.jid } });
    assert.deepEqual(bodies(fromCarol), ['from carol 1', 'from carol 2', 'from carol 3']);
    assert.equal(fromCarol.complete, 'true');
    const withFull = await query(b, { form: { with: c.jid } });
    assert.equal(withFull.count, 3);
    assert.equal((await query(b, { form: { with: `${carol.jid}/other` } })).count, 0);

    const secondHalf = await query(b, { form: { with: alice.jid, start: middle.toISOString() }, rsm: [xml('max', {}, '10')] });
    assert.equal(secondHalf.count, TOTAL / 2);
    assert.equal(bodies(secondHalf)[0], body(TOTAL / 2 + 1));
    const firstHalf = await query(b, { form: { with: alice.jid, end: middle.toISOString() }, rsm: [xml('max', {}, '10'), xml('before')] });
    assert.equal(firstHalf.count, TOTAL / 2);
    assert.deepEqual(
      bodies(firstHalf),
      Array.from({ length: 10 }, (_, i) => body(TOTAL / 2 - 9 + i)),
    );

    const last = await query(b, { rsm: [xml('max', {}, '10'), xml('before')] });
    assert.deepEqual(bodies(last), [...Array.from({ length: 7 }, (_, i) => body(TOTAL - 6 + i)), 'from carol 1', 'from carol 2', 'from carol 3']);
    assert.equal(last.complete, 'false', 'earlier pages remain');
    assert.equal(last.count, TOTAL + 3);
  });

  test('slixmpp: xep_0313 pages through the same archive and gets the same messages and ids; its last page too', async () => {
    const r = await run(PYTHON, [SLIX_SCRIPT], {
      env: baseEnv({
        XMPP_HOST: '127.0.0.1',
        XMPP_PORT: String(ts.starttlsPort),
        XMPP_JID: `${bob.jid}/slix`,
        XMPP_PASSWORD: bob.password,
        XMPP_CA: `${ts.dataDir}/tls/localhost.crt`,
        XMPP_WITH: alice.jid,
        XMPP_MAX: String(PAGE),
        XMPP_TIMEOUT: '60',
      }),
      timeoutMs: 75_000,
    });
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    type Summary = { complete: string | null; count: number; first: string; last: string; results: number };
    let result: { ok: boolean; error: string | null; pages: Summary[]; messages: { archive_id: string; id: string; from: string; body: string }[]; last_page: Summary & { bodies: string[] } };
    try {
      result = JSON.parse(line) as typeof result;
    } catch {
      throw new Error(`mam-slixmpp.py printed no JSON\n${describeRun(r)}`);
    }
    const why = `${JSON.stringify({ ...result, messages: result.messages.length })}\n${describeRun(r)}`;
    assert.equal(result.ok, true, why);
    assert.deepEqual(
      result.pages.map((p) => [p.results, p.count, p.complete]),
      Array.from({ length: TOTAL / PAGE }, (_, i) => [PAGE, TOTAL, i === TOTAL / PAGE - 1 ? 'true' : 'false']),
      why,
    );
    assert.deepEqual(
      result.messages.map((m) => m.body),
      Array.from({ length: TOTAL }, (_, i) => body(i + 1)),
    );
    assert.deepEqual(
      result.messages.map((m) => m.id),
      Array.from({ length: TOTAL }, (_, i) => `a${i + 1}`),
    );
    assert.deepEqual(
      result.messages.map((m) => m.archive_id),
      liveIds,
    );
    assert.deepEqual(
      result.last_page.bodies,
      Array.from({ length: PAGE }, (_, i) => body(TOTAL - PAGE + 1 + i)),
      why,
    );
    assert.equal(result.last_page.complete, 'false');
  });

  test('@xmpp/client: a stanza-id forged by the sender is removed; bob gets the real one, which the archive knows', async () => {
    await a.xmpp.send(
      xml(
        'message',
        { to: bob.jid, type: 'chat', id: 'forged' },
        xml('body', {}, 'believe me'),
        xml('stanza-id', { xmlns: SID, by: bob.jid, id: 'chosen-by-alice' }),
        xml('stanza-id', { xmlns: SID, by: bob.jid, id: 'another' }),
      ),
    );
    const live = await b.nextMessage((m) => m.attrs.id === 'forged');
    const ids = ownStanzaIds(live, bob.jid);
    assert.equal(ids.length, 1, live.toString());
    const real = ids[0]!.attrs.id!;
    assert.ok(!['chosen-by-alice', 'another'].includes(real));
    const found = await query(b, { form: { ids: real } });
    assert.deepEqual(bodies(found), ['believe me']);
    assert.deepEqual(forwarded(found.results[0]!).getChildren('stanza-id', SID), [], 'the forgeries are not archived either');
    await assert.rejects(query(b, { form: { ids: 'chosen-by-alice' } }), (err: { condition?: string }) => err.condition === 'item-not-found');
  });

  test('@xmpp/client: messages stored while the recipient was offline are archived and arrive with their archive ids', async () => {
    const dave = await ts.addUser('dave');
    for (let i = 1; i <= 3; i++) await a.xmpp.send(xml('message', { to: dave.jid, type: 'chat', id: `d${i}` }, xml('body', {}, `offline ${i}`)));
    await a.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), ts.domain);
    const d = await login(dave, 'later');
    await d.nextMessage((m) => m.attrs.id === 'd3');
    const delivered = d.messages.filter((m) => m.attrs.id?.startsWith('d'));
    assert.ok(delivered.every((m) => m.getChild('delay', 'urn:xmpp:delay')), 'delivered from offline storage');
    const page = await query(d);
    assert.deepEqual(bodies(page), ['offline 1', 'offline 2', 'offline 3']);
    assert.deepEqual(
      archiveIds(page),
      delivered.map((m) => ownStanzaIds(m, dave.jid)[0]?.attrs.id),
    );
  });

  test("@xmpp/client: carol cannot read bob's archive: service-unavailable, as for an account that does not exist, and no results", async () => {
    const before = c.messages.length;
    const refused = (to: string) => assert.rejects(query(c, { to }), (err: { condition?: string }) => err.condition === 'service-unavailable');
    await refused(bob.jid);
    await refused(`nobody@${ts.domain}`);
    await assert.rejects(
      c.xmpp.iqCaller.request(xml('iq', { type: 'get', to: bob.jid }, xml('prefs', { xmlns: MAM }))),
      (err: { condition?: string }) => err.condition === 'service-unavailable',
    );
    assert.equal(c.messages.slice(before).filter((m) => m.getChild('result', MAM)).length, 0);
  });
});
