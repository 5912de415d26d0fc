// Blocking Command (XEP-0191) on raw sockets: the exact stanzas of blocking and
// unblocking, the pushes, the presence the XEP sends on a change, the verdicts
// in both directions, bad input (each with the XEP's error and nothing changed),
// bystanders unaffected, nothing in the audit log, and block lists surviving a
// restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';
import { loadConfig } from '../../src/config/load.ts';
import { DEFAULT_MODULES } from '../../src/config/schema/modules.ts';
import { Server } from '../../src/core/server.ts';
import { Accounts } from '../../src/core/accounts.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';

const MAX_ITEMS = 5;
const withBlocking = (opts: Record<string, unknown>) => ({
  modules: { ...Object.fromEntries(Object.keys(DEFAULT_MODULES).map((id) => [id, {}])), blocking: opts },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const BLOCKING = `xmlns='${NS.blocking}'`;
const items = (...jids: string[]) => jids.map((j) => `<item jid='${j}'/>`).join('');

let ts: TestServer;
let n = 0;
const open: RawClient[] = [];

before(async () => {
  ts = await startTestServer(withBlocking({ max_items: MAX_ITEMS }));
});
after(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
  await ts?.stop();
});

/** A new account per test, so that the tests share a server but no state. */
async function account(name: string): Promise<{ jid: string; local: string; password: string }> {
  return ts.addUser(`${name}${++n}`);
}

async function connect(user: { local: string; password: string }, resource: string, opts: { available?: boolean; wantsList?: boolean } = {}) {
  const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: user.local, password: user.password, resource });
  open.push(c);
  if (opts.available ?? true) {
    c.send('<presence/>');
    await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid);
  }
  if (opts.wantsList) assert.equal((await blocklist(c)).length, 0);
  return c;
}

/**
 * `contact` subscribes to `user`'s presence and `user` approves (RFC 6121 §3.1):
 * the user's roster then has the contact with subscription 'from'. Waits for the
 * presence of the user's available resources that follows the approval.
 */
async function subscribe(contact: RawClient, user: RawClient, available: number): Promise<void> {
  const bare = (c: RawClient) => c.jid!.split('/')[0]!;
  contact.send(`<presence to='${bare(user)}' type='subscribe'/>`);
  await user.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe' && e.attrs.from === bare(contact));
  user.send(`<presence to='${bare(contact)}' type='subscribed'/>`);
  await contact.next((e) => e.name === 'presence' && e.attrs.type === 'subscribed');
  for (let i = 0; i < available; i++) await contact.next((e) => e.name === 'presence' && e.attrs.type === undefined && e.attrs.from?.startsWith(`${bare(user)}/`) === true);
}

async function blocklist(c: RawClient): Promise<string[]> {
  const r = await c.iq('get', `<blocklist ${BLOCKING}/>`);
  assert.equal(r.attrs.type, 'result', r.toString());
  const list = r.getChild('blocklist', NS.blocking);
  assert.ok(list, 'the result carries <blocklist/>');
  return list.getChildren('item', NS.blocking).map((i) => i.attrs.jid!);
}

const isPush = (kind: 'block' | 'unblock') => (e: Element) => e.name === 'iq' && e.attrs.type === 'set' && !!e.getChild(kind, NS.blocking);
const pushItems = (e: Element, kind: 'block' | 'unblock') => e.getChild(kind, NS.blocking)!.getChildren('item', NS.blocking).map((i) => i.attrs.jid);
const isMessage = (id: string) => (e: Element) => e.name === 'message' && e.attrs.id === id;

/** Nothing matching arrives (after a round trip that every earlier stanza was processed before). */
async function nothing(c: RawClient, what: (e: Element) => boolean = () => true, ms = 150): Promise<void> {
  await sleep(ms);
  await c.ping();
  const got = c.inbox.filter(what);
  assert.equal(got.length, 0, `${c.jid} received ${got.map(String).join(' ')}`);
}

/** Forgets what the clients received so far (after a round trip each). */
async function drain(...clients: RawClient[]): Promise<void> {
  for (const c of clients) {
    await c.ping();
    c.inbox.splice(0);
  }
}

function chat(from: RawClient, to: string, id: string, body = 'hello'): void {
  from.send(`<message to='${to}' type='chat' id='${id}'><body>${body}</body></message>`);
}

async function expectError(c: RawClient, id: string, condition: string, text: string | undefined): Promise<Element> {
  const e = await c.next((x) => x.attrs.id === id);
  assert.equal(e.attrs.type, 'error', e.toString());
  const err = stanzaError(e);
  assert.equal(err.condition, condition, e.toString());
  assert.equal(err.text, text, e.toString());
  return e;
}

async function audits(): Promise<unknown[]> {
  return (await ts.server.storage.audit.list({ limit: 1000 })).filter((e) => e.action.startsWith('stanza.'));
}

describe('blocking (XEP-0191), raw sockets', () => {
  test('the server advertises urn:xmpp:blocking', async () => {
    const a = await connect(await account('disco'), 'r', { available: false });
    const r = await a.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: ts.domain });
    const features = r.getChild('query', NS.discoInfo)!.getChildren('feature').map((f) => f.attrs.var);
    assert.ok(features.includes(NS.blocking), features.join(' '));
  });

  test('block: result, pushes to interested resources, unavailable to the contact, every verdict; unblock restores it all', async () => {
    const auditsBefore = (await audits()).length;
    const alice = await account('alice');
    const bob = await account('bob');
    const carol = await account('carol');
    const desk = await connect(alice, 'desk', { wantsList: true });
    const phone = await connect(alice, 'phone', { wantsList: true });
    const tablet = await connect(alice, 'tablet'); // never asked for the list: no pushes
    const pc = await connect(bob, 'pc');
    const cc = await connect(carol, 'c');
    await subscribe(pc, desk, 3);
    await drain(desk, phone, tablet, pc); // the subscription request reached every resource of alice's

    // Block (XEP-0191 §3.3): the result, then a push to each resource that asked for the list.
    const r = await desk.iq('set', `<block ${BLOCKING}>${items(bob.jid)}</block>`);
    assert.equal(r.attrs.type, 'result', r.toString());
    assert.equal(r.elements.length, 0);
    for (const c of [desk, phone]) {
      const push = await c.next(isPush('block'));
      assert.deepEqual(pushItems(push, 'block'), [bob.jid]);
      assert.equal(push.attrs.to, c.jid);
      assert.equal(push.attrs.from, undefined, 'a push comes from the account itself');
    }
    await nothing(tablet, isPush('block'));
    assert.deepEqual(await blocklist(tablet), [bob.jid]);

    // The contact (subscribed to alice's presence) sees each of her available resources go offline.
    const gone = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const p = await pc.next((e) => e.name === 'presence' && e.attrs.type === 'unavailable' && e.attrs.from?.startsWith(`${alice.jid}/`) === true);
      gone.add(p.attrs.from!);
    }
    assert.deepEqual([...gone].sort(), [desk.jid, phone.jid, tablet.jid].sort());

    // Inbound (bob → alice): message and iq get service-unavailable, as from an offline account; presence vanishes.
    chat(pc, alice.jid, 'in1');
    const e1 = await expectError(pc, 'in1', 'service-unavailable', 'The recipient is not available.');
    assert.equal(e1.attrs.from, alice.jid);
    chat(pc, desk.jid!, 'in2');
    await expectError(pc, 'in2', 'service-unavailable', 'The recipient is not available.');
    pc.send(`<iq type='get' id='in3' to='${desk.jid}'><query xmlns='jabber:iq:version'/></iq>`);
    await expectError(pc, 'in3', 'service-unavailable', undefined);
    pc.send(`<presence to='${alice.jid}'/>`);
    pc.send(`<presence to='${alice.jid}' type='subscribe'/>`);
    pc.send(`<iq type='result' id='in4' to='${desk.jid}'/>`);
    pc.send(`<message type='headline' id='in5' to='${alice.jid}'><body>news</body></message>`);
    for (const c of [desk, phone, tablet]) await nothing(c, (e) => e.attrs.from?.startsWith(bob.jid) === true);
    await nothing(pc, (e) => e.attrs.type === 'error');

    // Outbound (alice → bob): not-acceptable with <blocked/>; presence is dropped without an answer.
    chat(desk, bob.jid, 'out1');
    const e2 = await expectError(desk, 'out1', 'not-acceptable', 'You have blocked this address; unblock it to communicate with it.');
    assert.ok(e2.getChild('error')!.getChild('blocked', NS.blockingErrors), e2.toString());
    assert.equal(e2.attrs.from, bob.jid);
    desk.send(`<iq type='get' id='out2' to='${pc.jid}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    const e3 = await expectError(desk, 'out2', 'not-acceptable', 'You have blocked this address; unblock it to communicate with it.');
    assert.ok(e3.getChild('error')!.getChild('blocked', NS.blockingErrors));
    desk.send(`<presence to='${pc.jid}'/>`);
    await nothing(desk, (e) => e.attrs.type === 'error');
    await nothing(pc, (e) => e.attrs.from?.startsWith(alice.jid) === true);

    // One's own account and the server are never blocked; bystanders are unaffected.
    chat(desk, phone.jid!, 'self');
    assert.equal((await phone.next(isMessage('self'))).attrs.from, desk.jid);
    assert.equal((await desk.ping()).attrs.type, 'result');
    for (const [from, to] of [
      [cc, alice.jid],
      [desk, carol.jid],
      [cc, bob.jid],
      [pc, carol.jid],
    ] as const) {
      chat(from, to, `by-${from.jid}-${to}`);
    }
    await desk.next(isMessage(`by-${cc.jid}-${alice.jid}`));
    await cc.next(isMessage(`by-${desk.jid}-${carol.jid}`));
    await pc.next(isMessage(`by-${cc.jid}-${bob.jid}`));
    await cc.next(isMessage(`by-${pc.jid}-${carol.jid}`));

    // A user's own block is not an organisational refusal: nothing was audited.
    assert.equal((await audits()).length, auditsBefore);

    // Unblock (§3.4): result, pushes, and alice's current presence goes back to bob.
    const u = await phone.iq('set', `<unblock ${BLOCKING}>${items(bob.jid)}</unblock>`);
    assert.equal(u.attrs.type, 'result', u.toString());
    for (const c of [desk, phone]) assert.deepEqual(pushItems(await c.next(isPush('unblock')), 'unblock'), [bob.jid]);
    const back = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const p = await pc.next((e) => e.name === 'presence' && e.attrs.type === undefined && e.attrs.from?.startsWith(`${alice.jid}/`) === true);
      back.add(p.attrs.from!);
    }
    assert.equal(back.size, 3);
    assert.deepEqual(await blocklist(desk), []);
    chat(pc, alice.jid, 'after1', 'hi again');
    for (const c of [desk, phone, tablet]) assert.equal((await c.next(isMessage('after1'))).getChildText('body'), 'hi again');
    chat(desk, bob.jid, 'after2');
    await pc.next(isMessage('after2'));
  });

  test('bad input gets the XEP’s error and changes nothing (no push either)', async () => {
    const alice = await account('alice');
    const a = await connect(alice, 'a', { wantsList: true });
    const other = await connect(alice, 'b', { wantsList: true });
    const base = ['x@example.net', 'example.org'];
    await a.iq('set', `<block ${BLOCKING}>${items(...base)}</block>`);
    await other.next(isPush('block'));
    const unchanged = async () => {
      assert.deepEqual(await blocklist(a), ['example.org', 'x@example.net']);
      await nothing(other, isPush('block'));
      await nothing(other, isPush('unblock'));
    };

    const cases: [string, string, string, string][] = [
      ['empty block', `<block ${BLOCKING}/>`, 'bad-request', 'A <block/> needs at least one <item/> (XEP-0191 §3.3).'],
      ['item without jid', `<block ${BLOCKING}>${items('y@example.net')}<item/></block>`, 'bad-request', "Item 2 has no 'jid' attribute."],
      ['invalid JID', `<block ${BLOCKING}>${items('y@example.net', 'a@b@c')}</block>`, 'jid-malformed', 'Item 2 is not a valid address: domainpart contains a disallowed character U+0040 (\'@\').'],
      ['empty JID', `<block ${BLOCKING}>${items('')}</block>`, 'jid-malformed', 'Item 1 is not a valid address: domainpart is empty.'],
      ['invalid JID in unblock', `<unblock ${BLOCKING}>${items('x@example.net', 'bad@')}</unblock>`, 'jid-malformed', 'Item 2 is not a valid address: domainpart is empty.'],
      [
        'too many',
        `<block ${BLOCKING}>${items('example.org', 'p@q.test', 'r@q.test', 's@q.test', 't@q.test')}</block>`,
        'policy-violation',
        `A block list holds at most ${MAX_ITEMS} addresses; this request would make it 6.`,
      ],
    ];
    for (const [what, payload, condition, text] of cases) {
      const r = await a.iq('set', payload);
      assert.equal(r.attrs.type, 'error', `${what}: ${r.toString()}`);
      const err = stanzaError(r);
      assert.deepEqual([err.condition, err.text], [condition, text], what);
      await unchanged();
    }

    // Unblocking what is not blocked is not an error (the XEP defines none); it changes nothing.
    const r = await a.iq('set', `<unblock ${BLOCKING}>${items('nobody@example.net')}</unblock>`);
    assert.equal(r.attrs.type, 'result');
    await unchanged();
    // Blocking what is blocked already: the same.
    assert.equal((await a.iq('set', `<block ${BLOCKING}>${items('X@Example.NET')}</block>`)).attrs.type, 'result');
    await unchanged();

    // Up to the limit is fine (duplicates count once); the list is exactly full.
    const fill = await a.iq('set', `<block ${BLOCKING}>${items('example.org', 'p@q.test', 'r@q.test', 'r@q.test', 's@q.test')}</block>`);
    assert.equal(fill.attrs.type, 'result');
    assert.deepEqual(pushItems(await other.next(isPush('block')), 'block'), ['p@q.test', 'r@q.test', 's@q.test']);
    assert.equal((await blocklist(a)).length, MAX_ITEMS);

    // Unblock all (§3.5): an empty <unblock/>, pushed as such.
    assert.equal((await a.iq('set', `<unblock ${BLOCKING}/>`)).attrs.type, 'result');
    const all = await other.next(isPush('unblock'));
    assert.equal(all.getChild('unblock', NS.blocking)!.elements.length, 0);
    assert.deepEqual(await blocklist(a), []);
  });

  test('another account’s block list is out of reach: service-unavailable, as for an account that does not exist', async () => {
    const alice = await account('alice');
    const bob = await account('bob');
    const a = await connect(alice, 'a');
    const b = await connect(bob, 'b', { wantsList: true });
    for (const [type, payload] of [
      ['get', `<blocklist ${BLOCKING}/>`],
      ['set', `<block ${BLOCKING}>${items(alice.jid)}</block>`],
      ['set', `<unblock ${BLOCKING}/>`],
    ] as const) {
      for (const to of [bob.jid, `nobody@${ts.domain}`]) {
        const r = await a.iq(type, payload, { to });
        assert.equal(stanzaError(r).condition, 'service-unavailable', r.toString());
        assert.equal(stanzaError(r).text, undefined);
      }
    }
    assert.deepEqual(await blocklist(b), []);
    await nothing(b, isPush('block'));
  });

  test('a blocked contact who may not see the user’s presence gets none on block or unblock (XEP-0191 §3.3, §3.4)', async () => {
    const alice = await account('alice');
    const carol = await account('carol');
    const dave = await account('dave');
    const a = await connect(alice, 'a');
    const c = await connect(carol, 'c');
    const d = await connect(dave, 'd');
    await subscribe(d, a, 1);
    // dave is subscribed; carol is not. Block and unblock both.
    await a.iq('set', `<block ${BLOCKING}>${items(carol.jid, dave.jid)}</block>`);
    await d.next((e) => e.name === 'presence' && e.attrs.type === 'unavailable' && e.attrs.from === a.jid);
    await a.iq('set', `<unblock ${BLOCKING}/>`);
    await d.next((e) => e.name === 'presence' && e.attrs.type === undefined && e.attrs.from === a.jid);
    await nothing(c, (e) => e.name === 'presence' && e.attrs.from?.startsWith(alice.jid) === true);
  });

  test('a quick block and unblock: the contact gets unavailable, then available, in that order', async () => {
    const alice = await account('alice');
    const dave = await account('dave');
    const a = await connect(alice, 'a');
    const d = await connect(dave, 'd');
    await subscribe(d, a, 1);
    a.send(`<iq type='set' id='q1'><block ${BLOCKING}>${items(dave.jid)}</block></iq><iq type='set' id='q2'><unblock ${BLOCKING}/></iq>`);
    await a.next((e) => e.attrs.id === 'q2');
    const first = await d.next((e) => e.name === 'presence' && e.attrs.from === a.jid);
    const second = await d.next((e) => e.name === 'presence' && e.attrs.from === a.jid);
    assert.deepEqual([first.attrs.type, second.attrs.type], ['unavailable', undefined]);
  });

  test('matching through the server: a full-JID item blocks one resource, a domain item everyone there but the server and oneself', async () => {
    const alice = await account('alice');
    const bob = await account('bob');
    const a = await connect(alice, 'a');
    const a2 = await connect(alice, 'a2');
    const bPc = await connect(bob, 'pc');
    const bPhone = await connect(bob, 'phone');

    await a.iq('set', `<block ${BLOCKING}>${items(bPc.jid!)}</block>`);
    chat(bPc, alice.jid, 'f1');
    await expectError(bPc, 'f1', 'service-unavailable', 'The recipient is not available.');
    chat(bPhone, alice.jid, 'f2');
    await a.next(isMessage('f2'));
    // To bob's bare JID: the full-JID item does not match it (XEP-0016 matching of 'to' as addressed).
    chat(a, bob.jid, 'f3');
    await bPhone.next(isMessage('f3'));
    chat(a, bPc.jid!, 'f4');
    await expectError(a, 'f4', 'not-acceptable', 'You have blocked this address; unblock it to communicate with it.');

    await a.iq('set', `<unblock ${BLOCKING}/>`);
    await a.iq('set', `<block ${BLOCKING}>${items(ts.domain)}</block>`);
    chat(bPhone, alice.jid, 'd1');
    await expectError(bPhone, 'd1', 'service-unavailable', 'The recipient is not available.');
    chat(a, bob.jid, 'd2');
    await expectError(a, 'd2', 'not-acceptable', 'You have blocked this address; unblock it to communicate with it.');
    assert.equal((await a.ping()).attrs.type, 'result', 'the server itself is not blocked');
    const v = await a.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: ts.domain });
    assert.equal(v.attrs.type, 'result');
    chat(a, a2.jid!, 'd3');
    await a2.next(isMessage('d3'));
    assert.deepEqual(await blocklist(a), [ts.domain]);
  });
});

describe('blocking (XEP-0191): block lists survive a restart', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'palisade-blocking-restart-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  async function start(): Promise<Server> {
    const loaded = loadConfig({
      env: {},
      overrides: {
        data_dir: dataDir,
        listeners: { c2s: { address: '127.0.0.1', port: 0 }, c2s_direct_tls: { enabled: false }, https: { enabled: false } },
        auth: { scram_iterations: 4096 },
        logging: { level: 'silent' },
      },
    });
    const server = new Server(loaded);
    await server.start();
    return server;
  }

  test('what alice blocked before the restart is blocked after it', async () => {
    let server = await start();
    const accounts = new Accounts(server.storage, { domain: server.domain, hashes: ['SHA-256'], iterations: 4096 });
    await accounts.add('alice', 'pw-alice-secret');
    await accounts.add('bob', 'pw-bob-secret');
    const as = (s: Server, username: string) =>
      login({ port: s.addresses.c2s!.port, dataDir, username, password: `pw-${username}-secret`, resource: 'r' });
    try {
      const a = await as(server, 'alice');
      assert.equal((await a.iq('set', `<block ${BLOCKING}>${items('bob@localhost', 'spam.example')}</block>`)).attrs.type, 'result');
      await a.close();
    } finally {
      await server.stop();
    }

    server = await start();
    try {
      // Bob first, while alice is offline: her list is read from storage for the check.
      const b = await as(server, 'bob');
      b.send(`<iq type='get' id='q1' to='alice@localhost'><query xmlns='jabber:iq:version'/></iq>`);
      assert.equal(stanzaError(await b.next((e) => e.attrs.id === 'q1')).condition, 'service-unavailable');
      const a = await as(server, 'alice');
      const r = await a.iq('get', `<blocklist ${BLOCKING}/>`);
      assert.deepEqual(
        r.getChild('blocklist', NS.blocking)!.getChildren('item').map((i) => i.attrs.jid),
        ['bob@localhost', 'spam.example'],
      );
      a.send(`<presence/>`);
      chat(b, 'alice@localhost', 'm1');
      assert.equal(stanzaError(await b.next((e) => e.attrs.id === 'm1')).condition, 'service-unavailable');
      chat(a, 'bob@localhost', 'm2');
      assert.equal(stanzaError(await a.next((e) => e.attrs.id === 'm2')).condition, 'not-acceptable');
      await Promise.all([a.close(), b.close()]);
    } finally {
      await server.stop();
    }
  });
});
