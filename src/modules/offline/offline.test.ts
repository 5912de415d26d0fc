// Offline storage (XEP-0160): which messages are stored, how they are written
// and read back, the per-account queue, and the module end to end on a real
// server over raw sockets (delivery with delay stamps, order, quotas, restarts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Server } from '../../core/server.ts';
import { x } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';
import { parseElement } from '../../net/xml-stream.ts';
import { startTestServer, type TestServer } from '../../../test/helpers/server.ts';
import { login, stanzaError, type RawClient } from '../../../test/helpers/raw-client.ts';
import { KeyedQueue } from './queue.ts';
import { dispositionOf, fromStoredXml, toStoredXml } from './stanza.ts';
import { NOT_AVAILABLE_TEXT } from './index.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('which messages are stored (XEP-0160 §3, RFC 6121 §8.5.2.2)', () => {
  const msg = (attrs: Record<string, string>, ...children: ReturnType<typeof x>[]) => x('message', attrs, ...children);
  const body = () => x('body').t('hi');

  test('chat, normal and untyped messages are stored; headline, groupchat and error are not', () => {
    assert.equal(dispositionOf(msg({ type: 'chat' }, body())), 'store');
    assert.equal(dispositionOf(msg({ type: 'normal' }, body())), 'store');
    assert.equal(dispositionOf(msg({}, body())), 'store');
    assert.equal(dispositionOf(msg({ type: 'headline' }, body())), 'pass');
    assert.equal(dispositionOf(msg({ type: 'groupchat' }, body())), 'pass');
    assert.equal(dispositionOf(msg({ type: 'error' }, body())), 'pass');
  });

  test('a message with only a chat state (and thread, hints, ids) is dropped; with a body or other payload it is stored', () => {
    const state = () => x('composing', { xmlns: NS.chatStates });
    assert.equal(dispositionOf(msg({ type: 'chat' }, state())), 'drop');
    assert.equal(dispositionOf(msg({ type: 'chat' }, state(), x('thread').t('t1'), x('no-permanent-store', { xmlns: NS.hints }), x('origin-id', { xmlns: NS.stanzaId, id: 'o' }))), 'drop');
    assert.equal(dispositionOf(msg({ type: 'chat' }, x('active', { xmlns: NS.chatStates }), body())), 'store');
    assert.equal(dispositionOf(msg({ type: 'chat' }, x('received', { xmlns: 'urn:xmpp:receipts', id: 'r' }))), 'store');
    assert.equal(dispositionOf(msg({ type: 'chat' })), 'store', 'an empty message is still a message');
  });

  test('XEP-0334 <no-store/> keeps it out of storage (and the sender hears so); <no-permanent-store/> does not', () => {
    assert.equal(dispositionOf(msg({ type: 'chat' }, body(), x('no-store', { xmlns: NS.hints }))), 'pass');
    assert.equal(dispositionOf(msg({ type: 'chat' }, body(), x('no-permanent-store', { xmlns: NS.hints }))), 'store');
  });
});

describe('stored form', () => {
  test('round trip: the stanza comes back as routed, with one delay stamp from the server', () => {
    const original = parseElement(
      `<message xmlns='jabber:client' xmlns:e='urn:example:attr' from='a@d/r' to='b@d' type='chat' id='m1' xml:lang='fr'>` +
        `<body>l&apos;été &lt;3 &amp; ☃</body><x xmlns='urn:example' e:flag='1'><y>z</y></x></message>`,
    );
    delete original.attrs.xmlns;
    const stored = toStoredXml(original, 'd');
    const stamp = new Date('2024-05-06T07:08:09.123Z');
    const back = fromStoredXml(stored, stamp, 'd');
    assert.equal(back.attrs.xmlns, undefined, 'the stream content namespace is not repeated');
    assert.equal(back.attrs.id, 'm1');
    assert.equal(back.attrs['xml:lang'], 'fr');
    assert.equal(back.getChildText('body'), "l'été <3 & ☃");
    assert.equal(back.getChild('x', 'urn:example')?.attrs['e:flag'], '1');
    const delays = back.getChildren('delay', NS.delay);
    assert.equal(delays.length, 1);
    assert.deepEqual(delays[0]!.attrs, { xmlns: NS.delay, from: 'd', stamp: '2024-05-06T07:08:09.123Z' });
  });

  test("a client's own delay element claiming to be the server's is not kept; others' are", () => {
    const m = x(
      'message',
      { from: 'a@d/r', to: 'b@d' },
      x('body').t('hi'),
      x('delay', { xmlns: NS.delay, from: 'd', stamp: '1999-01-01T00:00:00Z' }),
      x('delay', { xmlns: NS.delay, from: 'elsewhere.example', stamp: '2000-01-01T00:00:00Z' }),
    );
    const back = fromStoredXml(toStoredXml(m, 'd'), new Date(0), 'd');
    assert.deepEqual(
      back.getChildren('delay', NS.delay).map((d) => d.attrs.from),
      ['elsewhere.example', 'd'],
    );
    assert.equal(back.getChildren('delay', NS.delay)[1]!.attrs.stamp, '1970-01-01T00:00:00.000Z');
  });

  test('a row that is not a jabber:client message is refused on reading', () => {
    assert.throws(() => fromStoredXml("<iq xmlns='jabber:client'/>", new Date(), 'd'));
    assert.throws(() => fromStoredXml('<message/>', new Date(), 'd'));
    assert.throws(() => fromStoredXml('<message', new Date(), 'd'));
  });
});

describe('KeyedQueue', () => {
  test('runs one key in order, other keys independently, and survives a failure', async () => {
    const q = new KeyedQueue();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a1 = q.run('a', async () => {
      await gate;
      log.push('a1');
    });
    const a2 = q.run('a', async () => {
      log.push('a2');
      throw new Error('boom');
    });
    const a3 = q.run('a', async () => log.push('a3'));
    await q.run('b', async () => log.push('b1'));
    assert.deepEqual(log, ['b1']);
    assert.ok(q.idle('a'));
    release();
    await a1;
    await assert.rejects(a2, /boom/);
    await a3;
    assert.deepEqual(log, ['b1', 'a1', 'a2', 'a3']);
    await q.idle('a');
    await sleep(0);
    assert.equal(q.idle('a'), undefined);
    assert.equal(q.size, 0);
  });
});

// ---------------------------------------------------------------------------
// End to end, over raw sockets

interface User {
  local: string;
  jid: string;
  password: string;
}

function connectAs(ts: TestServer, u: User, resource: string): Promise<RawClient> {
  return login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password, resource });
}

/** Sends initial presence and takes the echo of it (RFC 6121 §4.2.2). */
async function goOnline(c: RawClient, presence = '<presence/>'): Promise<void> {
  c.send(presence);
  await c.next((el) => el.name === 'presence' && el.attrs.from === c.jid);
}

/** Waits until the server has handled everything c sent before (one stream is processed in order). */
async function sync(c: RawClient): Promise<void> {
  const r = await c.ping();
  assert.equal(r.attrs.type, 'result');
}

const chat = (to: string, id: string, text: string, type = 'chat') => `<message to='${to}' type='${type}' id='${id}'><body>${text}</body></message>`;
const isMessage = (el: { name: string; attrs: Record<string, string> }) => el.name === 'message' && el.attrs.type !== 'error';

async function takeMessages(c: RawClient, n: number, timeoutMs = 3000) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await c.next(isMessage, timeoutMs));
  return out;
}

async function quiet(c: RawClient, ms = 150): Promise<void> {
  await sleep(ms);
  assert.equal(c.inbox.filter(isMessage).length, 0, `unexpected: ${c.describeInbox()}`);
}

describe('offline module, end to end', () => {
  let ts: TestServer;
  let alice: User;
  let sender: RawClient;
  let n = 0;
  const newUser = async () => {
    const u = await ts.addUser(`user${++n}`);
    return { ...u };
  };

  before(async () => {
    ts = await startTestServer();
    alice = await ts.addUser('alice');
    sender = await connectAs(ts, alice, 'desk');
    await goOnline(sender);
  });
  after(async () => {
    await sender?.close();
    await ts?.stop();
  });

  test('stored messages arrive on the next initial presence, in order, each with a delay stamp, and only once', async () => {
    const bob = await newUser();
    const before = Date.now();
    for (let i = 1; i <= 5; i++) sender.send(chat(bob.jid, `m${i}`, `message ${i}`, i === 3 ? 'normal' : 'chat'));
    sender.send(`<message to='${bob.jid}' id='m6'><body>untyped</body></message>`);
    await sync(sender);
    assert.equal(sender.inbox.length, 0, `no error for stored messages: ${sender.describeInbox()}`);

    const c = await connectAs(ts, bob, 'phone');
    await quiet(c); // nothing before presence
    await goOnline(c);
    const got = await takeMessages(c, 6);
    assert.deepEqual(
      got.map((m) => m.attrs.id),
      ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'],
    );
    for (const m of got) {
      assert.equal(m.attrs.from, `${alice.jid}/desk`);
      const delay = m.getChild('delay', NS.delay);
      assert.ok(delay, m.toString());
      assert.equal(delay.attrs.from, ts.domain);
      assert.match(delay.attrs.stamp!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      const t = Date.parse(delay.attrs.stamp!);
      assert.ok(t >= before - 1000 && t <= Date.now(), delay.attrs.stamp);
    }
    assert.equal(got[2]!.attrs.type, 'normal');
    assert.equal(got[5]!.attrs.type, undefined);
    await c.close();

    // Delivered means deleted: the next session gets nothing.
    const again = await connectAs(ts, bob, 'phone2');
    await goOnline(again);
    await quiet(again);
    await again.close();
  });

  test('delivery goes only to the session that sent initial presence; a later one gets nothing', async () => {
    const bob = await newUser();
    const bound = await connectAs(ts, bob, 'bound-only'); // bound but never available
    sender.send(chat(bob.jid, 'x1', 'one'));
    await sync(sender);
    const first = await connectAs(ts, bob, 'first');
    await goOnline(first);
    assert.equal((await takeMessages(first, 1))[0]!.attrs.id, 'x1');
    const second = await connectAs(ts, bob, 'second');
    await goOnline(second);
    await quiet(second);
    await quiet(bound);
    await Promise.all([first.close(), second.close(), bound.close()]);
  });

  test('a session with negative priority gets nothing; raising it to non-negative delivers', async () => {
    const bob = await newUser();
    sender.send(chat(bob.jid, 'p1', 'prio'));
    await sync(sender);
    const c = await connectAs(ts, bob, 'low');
    await goOnline(c, '<presence><priority>-1</priority></presence>');
    await quiet(c);
    // Still not deliverable: a new message is stored too (RFC 6121 §8.5.2.2.1).
    sender.send(chat(bob.jid, 'p2', 'prio 2'));
    await sync(sender);
    await quiet(c);
    c.send('<presence><priority>5</priority></presence>');
    const got = await takeMessages(c, 2);
    assert.deepEqual(
      got.map((m) => m.attrs.id),
      ['p1', 'p2'],
    );
    await c.close();
  });

  test('a message to an offline full JID is stored like one to the bare JID (RFC 6121 §8.5.3.2.1)', async () => {
    const bob = await newUser();
    sender.send(chat(`${bob.jid}/gone`, 'f1', 'to a resource'));
    await sync(sender);
    const c = await connectAs(ts, bob, 'other');
    await goOnline(c);
    const [m] = await takeMessages(c, 1);
    assert.equal(m!.attrs.id, 'f1');
    assert.ok(m!.getChild('delay', NS.delay));
    await c.close();
  });

  test('headline and chat-state-only messages are dropped silently; groupchat is refused; nothing is stored', async () => {
    const bob = await newUser();
    sender.send(chat(bob.jid, 'h1', 'news', 'headline'));
    sender.send(`<message to='${bob.jid}' type='chat' id='cs1'><composing xmlns='${NS.chatStates}'/></message>`);
    sender.send(chat(bob.jid, 'g1', 'room?', 'groupchat'));
    sender.send(`<message to='${bob.jid}' type='chat' id='ns1'><body>secret</body><no-store xmlns='${NS.hints}'/></message>`);
    await sync(sender);
    const errors = sender.inbox.splice(0);
    assert.deepEqual(
      errors.map((e) => [e.attrs.id, e.attrs.type, stanzaError(e).condition]),
      [
        ['g1', 'error', 'service-unavailable'],
        ['ns1', 'error', 'service-unavailable'],
      ],
    );
    const c = await connectAs(ts, bob, 'r');
    await goOnline(c);
    await quiet(c);
    await c.close();
  });

  test('a nonexistent account: service-unavailable with the message module words', async () => {
    sender.send(chat(`nobody@${ts.domain}`, 'n1', 'anyone?'));
    const reply = await sender.next((el) => el.attrs.id === 'n1');
    assert.deepEqual(stanzaError(reply), { type: 'cancel', condition: 'service-unavailable', text: NOT_AVAILABLE_TEXT });
  });

  test('a disabled account stores nothing and answers like a missing one', async () => {
    const bob = await newUser();
    await ts.server.storage.accounts.setDisabled(ts.domain, bob.local, true);
    sender.send(chat(bob.jid, 'd1', 'hello?'));
    const reply = await sender.next((el) => el.attrs.id === 'd1');
    assert.deepEqual(stanzaError(reply), { type: 'cancel', condition: 'service-unavailable', text: NOT_AVAILABLE_TEXT });
    assert.equal((await ts.server.storage.db.selectFrom('offline_messages' as never).selectAll().execute()).filter((r) => (r as { localpart: string }).localpart === bob.local).length, 0);
  });

  test('messages sent while stored ones are being delivered come after them', async () => {
    const bob = await newUser();
    for (let i = 1; i <= 150; i++) sender.send(chat(bob.jid, `o${i}`, `old ${i}`));
    await sync(sender);
    const c = await connectAs(ts, bob, 'r');
    c.send('<presence/>');
    // Right behind the presence, live messages to the bare and the full JID.
    sender.send(chat(bob.jid, 'live1', 'new'));
    sender.send(chat(`${bob.jid}/r`, 'live2', 'new'));
    const got = await takeMessages(c, 152, 5000);
    const ids = got.map((m) => m.attrs.id);
    assert.deepEqual(ids, [...Array.from({ length: 150 }, (_, i) => `o${i + 1}`), 'live1', 'live2']);
    assert.equal(got[150]!.getChild('delay', NS.delay), undefined, 'a live message has no delay stamp');
    await c.close();
  });

  test('msgoffline is advertised in the server disco#info', async () => {
    const r = await sender.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: ts.domain });
    const features = r.getChild('query', NS.discoInfo)!.getChildren('feature').map((f) => f.attrs.var);
    assert.ok(features.includes('msgoffline'), features.join(' '));
  });
});

describe('offline quotas', () => {
  let ts: TestServer;
  let alice: User;
  let sender: RawClient;
  before(async () => {
    ts = await startTestServer({ modules: { ...defaultModules(), offline: { max_messages: 3, max_bytes: 2048 } } });
    alice = await ts.addUser('alice');
    sender = await connectAs(ts, alice, 'desk');
    await goOnline(sender);
  });
  after(async () => {
    await sender?.close();
    await ts?.stop();
  });

  test('past max_messages the sender gets service-unavailable, the same as for a missing account; one audit entry; delivery frees the space', async () => {
    const bob = await ts.addUser('bob');
    for (let i = 1; i <= 5; i++) sender.send(chat(bob.jid, `q${i}`, `quota ${i}`));
    await sync(sender);
    const errors = sender.inbox.splice(0);
    assert.deepEqual(
      errors.map((e) => [e.attrs.id, e.attrs.from, stanzaError(e)]),
      [
        ['q4', bob.jid, { type: 'cancel', condition: 'service-unavailable', text: NOT_AVAILABLE_TEXT }],
        ['q5', bob.jid, { type: 'cancel', condition: 'service-unavailable', text: NOT_AVAILABLE_TEXT }],
      ],
    );
    // Indistinguishable from an account that does not exist.
    sender.send(chat(`ghost@${ts.domain}`, 'g', 'x'));
    const ghost = await sender.next((el) => el.attrs.id === 'g');
    assert.deepEqual(stanzaError(ghost), stanzaError(errors[0]!));

    await sleep(50);
    const audit = (await ts.server.storage.audit.list({ action: 'offline.store' })).filter((e) => e.details.recipient === bob.jid);
    assert.equal(audit.length, 1, 'one entry per filling-up, not one per refused message');
    assert.equal(audit[0]!.decision, 'deny');
    assert.equal(audit[0]!.actor, alice.jid);
    assert.deepEqual(audit[0]!.details, { recipient: bob.jid, messages: 3, bytes: audit[0]!.details.bytes, max_messages: 3, max_bytes: 2048 });

    const c = await connectAs(ts, bob, 'r');
    await goOnline(c);
    assert.deepEqual(
      (await takeMessages(c, 3)).map((m) => m.attrs.id),
      ['q1', 'q2', 'q3'],
    );
    await c.close();
    sender.send(chat(bob.jid, 'q6', 'room again'));
    await sync(sender);
    assert.equal(sender.inbox.length, 0, sender.describeInbox());
  });

  test('past max_bytes likewise; a message bigger than the whole quota is refused at once', async () => {
    const carol = await ts.addUser('carol');
    const big = 'x'.repeat(1000); // about 1.1 KB stored: two don't fit in 2048 bytes
    sender.send(chat(carol.jid, 'b1', big));
    sender.send(chat(carol.jid, 'b2', big));
    sender.send(chat(carol.jid, 'b3', big));
    sender.send(chat(carol.jid, 'b4', 'small')); // still fits
    await sync(sender);
    const errors = sender.inbox.splice(0);
    assert.deepEqual(
      errors.map((e) => [e.attrs.id, stanzaError(e).condition]),
      [
        ['b2', 'service-unavailable'],
        ['b3', 'service-unavailable'],
      ],
    );
    const dave = await ts.addUser('dave');
    sender.send(chat(dave.jid, 'huge', 'y'.repeat(3000)));
    const r = await sender.next((el) => el.attrs.id === 'huge');
    assert.equal(stanzaError(r).condition, 'service-unavailable');
    // Another recipient is unaffected by carol's full store.
    const erin = await ts.addUser('erin');
    sender.send(chat(erin.jid, 'e1', 'fine'));
    await sync(sender);
    assert.equal(sender.inbox.length, 0, sender.describeInbox());
  });
});

describe('offline messages survive a restart', () => {
  test('stored, server stopped and started again on the same data, delivered with the original stamp', async () => {
    const ts = await startTestServer();
    let second: Server | undefined;
    try {
      const alice = await ts.addUser('alice');
      const bob = await ts.addUser('bob');
      const a = await connectAs(ts, alice, 'desk');
      await goOnline(a);
      a.send(chat(bob.jid, 'r1', 'before the restart'));
      await sync(a);
      const storedBefore = Date.now();
      a.destroy();
      await ts.server.stop();

      second = new Server(ts.server.loaded);
      await second.start();
      const c = await login({ port: second.addresses.c2s!.port, dataDir: ts.dataDir, username: bob.local, password: bob.password, resource: 'r' });
      await goOnline(c);
      const [m] = await takeMessages(c, 1);
      assert.equal(m!.attrs.id, 'r1');
      assert.equal(m!.getChildText('body'), 'before the restart');
      assert.ok(Date.parse(m!.getChild('delay', NS.delay)!.attrs.stamp!) <= storedBefore);
      await c.close();
    } finally {
      await second?.stop();
      await ts.server.stop();
      rmSync(ts.dataDir, { recursive: true, force: true });
    }
  });
});

/** The modules a default configuration loads, so a test can change one's options. */
function defaultModules(): Record<string, object> {
  return Object.fromEntries(['disco', 'ping', 'version', 'roster', 'presence', 'message', 'offline', 'vcard', 'private', 'blocking', 'last-activity'].map((m) => [m, {}]));
}
