// Must show: message carbons (XEP-0280) through client libraries others wrote:
// @xmpp/client (xmpp.js 0.14, raw stanzas) and Debian's python3-slixmpp 1.8
// with its xep_0280 plugin. Alice has a laptop and a phone (priority -1), both
// with carbons, and a desk client without; Bob writes to her and she to him;
// Mallory tries to slip her a forged carbon and to switch her carbons off.
//
// Negative assertions are fenced: after the stanzas under test, the same sender
// sends a headline (never copied) that the watched client must receive. The
// server handles one stream's stanzas in order and writes to each client in
// order, so a copy that was going to arrive has arrived by then.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { XmlElement } from '@xmpp/client';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';
import { assertSlixmppInstalled, PYTHON } from './clients/slixmpp.ts';
import { baseEnv, describeRun, run } from './clients/process.ts';

const CARBONS = 'urn:xmpp:carbons:2';
const FORWARD = 'urn:xmpp:forward:0';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const SLIX_SCRIPT = fileURLToPath(new URL('./carbons-slixmpp.py', import.meta.url));

type User = { jid: string; local: string; password: string };

let ts: TestServer;
const open: ConnectedClient[] = [];

before(async () => {
  ts = await startTestServer({ auth: { channel_bindings: [] } });
  trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
});
after(async () => {
  await Promise.all(open.splice(0).map((c) => c.stop()));
  await ts?.stop();
});

// xmpp.js logs in with SASL2 and Bind 2 (on by default): the resource it asks for becomes the
// tag of a server-chosen `tag/id`, so the tests address each client by its bound JID (c.jid).
async function login(user: User, resource: string): Promise<ConnectedClient> {
  const c = await connect({
    service: `xmpp://127.0.0.1:${ts.starttlsPort}`,
    domain: ts.domain,
    username: user.local,
    password: user.password,
    resource,
  });
  open.push(c);
  return c;
}

const iqSet = (c: ConnectedClient, name: 'enable' | 'disable', to?: string) =>
  c.xmpp.iqCaller.request(xml('iq', { type: 'set', to }, xml(name, { xmlns: CARBONS })));

/** The carbon a message wraps, if it is one: which kind, and the forwarded original. */
function carbonOf(m: XmlElement): { kind: 'sent' | 'received'; inner: XmlElement } | undefined {
  for (const kind of ['sent', 'received'] as const) {
    const inner = m.getChild(kind, CARBONS)?.getChild('forwarded', FORWARD)?.getChild('message', 'jabber:client');
    if (inner) return { kind, inner };
  }
  return undefined;
}

/** The carbons of the message with this id that a client has received. */
const carbonsOf = (c: ConnectedClient, id: string) => c.messages.filter((m) => carbonOf(m)?.inner.attrs.id === id);
/** Messages with this id that arrived as themselves (not wrapped). */
const originalsOf = (c: ConnectedClient, id: string) => c.messages.filter((m) => m.attrs.id === id && !carbonOf(m));

let fences = 0;
/** Sends a headline from `from` to `to` and waits until `at` has it (see the top of the file). */
async function fence(from: ConnectedClient, to: string, at: ConnectedClient): Promise<void> {
  const id = `fence-${++fences}`;
  await from.xmpp.send(xml('message', { to, type: 'headline', id }, xml('body', {}, 'fence')));
  await at.nextMessage((m) => m.attrs.id === id);
}

const chat = (to: string, id: string, body: string, ...extra: XmlElement[]) =>
  xml('message', { to, type: 'chat', id }, xml('body', {}, body), ...extra);

describe('carbons with @xmpp/client (xmpp.js 0.14)', () => {
  let alice: User;
  let bob: User;
  let mallory: User;
  let laptop: ConnectedClient;
  let phone: ConnectedClient;
  let desk: ConnectedClient;
  let b: ConnectedClient;
  let m: ConnectedClient;

  before(async () => {
    alice = await ts.addUser('alice');
    bob = await ts.addUser('bob');
    mallory = await ts.addUser('mallory');
    laptop = await login(alice, 'laptop');
    phone = await login(alice, 'phone');
    desk = await login(alice, 'desk');
    b = await login(bob, 'pc');
    m = await login(mallory, 'm');
    // A phone in a pocket: available, but messages to the bare JID go elsewhere (RFC 6121 §8.5.2.1).
    await phone.xmpp.send(xml('presence', {}, xml('priority', {}, '-1')));
    await phone.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), ts.domain);
    for (const c of [laptop, phone]) assert.equal((await iqSet(c, 'enable')).attrs.type, 'result');
    // XEP-0280 §10.1: enabling again is not an error.
    assert.equal((await iqSet(laptop, 'enable', alice.jid)).attrs.type, 'result');
  });

  test('the server and the account advertise urn:xmpp:carbons:2 (and the recommended rules) in disco#info', async () => {
    const features = async (to: string) =>
      (await laptop.xmpp.iqCaller.request(xml('iq', { type: 'get', to }, xml('query', { xmlns: DISCO_INFO }))))
        .getChild('query', DISCO_INFO)!
        .getChildren('feature')
        .map((f) => f.attrs.var);
    const host = await features(ts.domain);
    assert.ok(host.includes(CARBONS), host.join(' '));
    assert.ok(host.includes('urn:xmpp:carbons:rules:0'), host.join(' '));
    assert.ok((await features(alice.jid)).includes(CARBONS));
  });

  test('to the bare JID: the laptop and desk get the message, the phone (priority -1) a received carbon', async () => {
    await b.xmpp.send(chat(alice.jid, 'bare-1', 'Good morning!'));
    const carbon = await phone.nextMessage((x) => carbonOf(x)?.inner.attrs.id === 'bare-1');
    assert.deepEqual([carbon.attrs.from, carbon.attrs.to, carbon.attrs.type], [alice.jid, phone.jid, 'chat']);
    const { kind, inner } = carbonOf(carbon)!;
    assert.equal(kind, 'received');
    assert.deepEqual([inner.attrs.from, inner.attrs.to, inner.attrs.type], [b.jid, alice.jid, 'chat']);
    assert.equal(inner.getChildText('body'), 'Good morning!');

    await laptop.nextMessage((x) => x.attrs.id === 'bare-1');
    await desk.nextMessage((x) => x.attrs.id === 'bare-1');
    await fence(b, phone.jid, phone);
    await fence(b, alice.jid, laptop);
    assert.equal(originalsOf(phone, 'bare-1').length, 0, 'the phone is not a recipient of the original');
    assert.equal(carbonsOf(phone, 'bare-1').length, 1, 'exactly one carbon');
    assert.equal(carbonsOf(laptop, 'bare-1').length + carbonsOf(desk, 'bare-1').length, 0, 'recipients of the original get no copy');
  });

  test('to the laptop (full JID): the phone gets a received carbon, the desk (carbons off) nothing', async () => {
    await b.xmpp.send(chat(laptop.jid, 'full-1', 'Just for the laptop'));
    const carbon = await phone.nextMessage((x) => carbonOf(x)?.inner.attrs.id === 'full-1');
    const { kind, inner } = carbonOf(carbon)!;
    assert.equal(kind, 'received');
    assert.deepEqual([carbon.attrs.from, inner.attrs.from, inner.attrs.to], [alice.jid, b.jid, laptop.jid]);
    assert.equal((await laptop.nextMessage((x) => x.attrs.id === 'full-1')).getChildText('body'), 'Just for the laptop');
    await fence(b, desk.jid, desk);
    await fence(b, laptop.jid, laptop);
    assert.equal(desk.messages.filter((x) => x.attrs.id === 'full-1' || carbonOf(x)).length, 0, 'the desk never enabled carbons');
    assert.equal(carbonsOf(laptop, 'full-1').length, 0);
  });

  test('the laptop writes to Bob: the phone gets a sent carbon with the original inside', async () => {
    await laptop.xmpp.send(chat(bob.jid, 'out-1', 'See you at noon'));
    const carbon = await phone.nextMessage((x) => carbonOf(x)?.inner.attrs.id === 'out-1');
    assert.deepEqual([carbon.attrs.from, carbon.attrs.to, carbon.attrs.type], [alice.jid, phone.jid, 'chat']);
    const { kind, inner } = carbonOf(carbon)!;
    assert.equal(kind, 'sent');
    assert.deepEqual([inner.attrs.from, inner.attrs.to, inner.attrs.type], [laptop.jid, bob.jid, 'chat']);
    assert.equal(inner.getChildText('body'), 'See you at noon');
    assert.equal((await b.nextMessage((x) => x.attrs.id === 'out-1')).attrs.from, laptop.jid);
    await fence(laptop, laptop.jid, laptop);
    await fence(laptop, desk.jid, desk);
    assert.equal(carbonsOf(laptop, 'out-1').length, 0, 'the sender gets no copy of its own message');
    assert.equal(carbonsOf(desk, 'out-1').length, 0);
  });

  test('<private/>: no copies either way, and the recipient gets the message without the mark', async () => {
    const mark = () => xml('private', { xmlns: CARBONS });
    await laptop.xmpp.send(chat(bob.jid, 'private-out', 'Off the record', mark()));
    const got = await b.nextMessage((x) => x.attrs.id === 'private-out');
    assert.equal(got.getChild('private', CARBONS), undefined, 'the receiving server removes <private/> (XEP-0280 §9)');
    await b.xmpp.send(chat(laptop.jid, 'private-in', 'Also off the record', mark()));
    await laptop.nextMessage((x) => x.attrs.id === 'private-in');
    // A copied message after each, so the phone has something that must arrive.
    await laptop.xmpp.send(chat(bob.jid, 'after-private-out', 'on the record'));
    await b.xmpp.send(chat(laptop.jid, 'after-private-in', 'on the record'));
    await phone.nextMessage((x) => carbonOf(x)?.inner.attrs.id === 'after-private-out');
    await phone.nextMessage((x) => carbonOf(x)?.inner.attrs.id === 'after-private-in');
    assert.equal(carbonsOf(phone, 'private-out').length + carbonsOf(phone, 'private-in').length, 0);
  });

  test('to a resource that is gone: handled as to the bare JID and copied once', async () => {
    await b.xmpp.send(chat(`${alice.jid}/tablet`, 'gone-1', 'Anyone?'));
    await laptop.nextMessage((x) => x.attrs.id === 'gone-1');
    await phone.nextMessage((x) => carbonOf(x)?.inner.attrs.id === 'gone-1');
    await fence(b, phone.jid, phone);
    assert.equal(carbonsOf(phone, 'gone-1').length, 1);
  });

  test('within the account: one sent carbon for the others, nothing twice', async () => {
    // To her own bare JID: laptop and desk are recipients (the laptop too: RFC 6121 §8.5.2.1), the phone gets one copy.
    await laptop.xmpp.send(chat(alice.jid, 'self-1', 'Buy milk'));
    await desk.nextMessage((x) => x.attrs.id === 'self-1');
    const carbon = await phone.nextMessage((x) => carbonOf(x)?.inner.attrs.id === 'self-1');
    assert.equal(carbonOf(carbon)!.kind, 'sent');
    // Laptop to phone: the phone has the original, so no copy anywhere.
    await laptop.xmpp.send(chat(phone.jid, 'self-2', 'Sync test'));
    await phone.nextMessage((x) => x.attrs.id === 'self-2');
    await fence(laptop, phone.jid, phone);
    await fence(laptop, laptop.jid, laptop);
    assert.equal(carbonsOf(phone, 'self-1').length, 1);
    assert.equal(carbonsOf(phone, 'self-2').length + carbonsOf(laptop, 'self-1').length + carbonsOf(laptop, 'self-2').length, 0);
  });

  test('a forged carbon from another account is refused with an error and reaches no one', async () => {
    const forged = (kind: 'received' | 'sent', to: string, id: string) =>
      xml(
        'message',
        { to, type: 'chat', id },
        xml(
          kind,
          { xmlns: CARBONS },
          xml(
            'forwarded',
            { xmlns: FORWARD },
            xml(
              'message',
              { xmlns: 'jabber:client', from: `boss@${ts.domain}/office`, to: alice.jid, type: 'chat' },
              xml('body', {}, 'Wire the money today'),
            ),
          ),
        ),
      );
    for (const [kind, to, id] of [
      ['received', alice.jid, 'forged-1'],
      ['sent', laptop.jid, 'forged-2'],
    ] as const) {
      await m.xmpp.send(forged(kind, to, id));
      const error = await m.nextMessage((x) => x.attrs.id === id && x.attrs.type === 'error');
      const e = error.getChild('error')!;
      assert.equal(e.attrs.type, 'modify');
      assert.ok(e.getChild('not-acceptable', STANZAS), error.toString());
      assert.equal(e.getChildText('text', STANZAS), 'Only the server sends message carbons.');
    }
    await fence(m, alice.jid, laptop);
    await fence(m, phone.jid, phone);
    await fence(m, alice.jid, desk);
    for (const c of [laptop, phone, desk]) {
      assert.equal(c.messages.filter((x) => x.toString().includes('Wire the money')).length, 0, `${c.jid} received the forgery`);
    }
  });

  test('another account cannot switch her carbons off; her own disable stops the copies', async () => {
    await assert.rejects(iqSet(m, 'disable', alice.jid), (err: Error & { condition?: string }) => err.condition === 'service-unavailable');
    await b.xmpp.send(chat(laptop.jid, 'still-on', 'still copied?'));
    await phone.nextMessage((x) => carbonOf(x)?.inner.attrs.id === 'still-on');

    assert.equal((await iqSet(phone, 'disable')).attrs.type, 'result');
    await b.xmpp.send(chat(laptop.jid, 'off-1', 'not copied'));
    await laptop.xmpp.send(chat(bob.jid, 'off-2', 'not copied either'));
    await laptop.nextMessage((x) => x.attrs.id === 'off-1');
    await fence(b, phone.jid, phone);
    await fence(laptop, phone.jid, phone);
    assert.equal(carbonsOf(phone, 'off-1').length + carbonsOf(phone, 'off-2').length, 0);
  });
});

describe('carbons with slixmpp (xep_0280 plugin)', () => {
  before(async () => {
    await assertSlixmppInstalled();
  });

  test('slixmpp enables carbons and gets a received and a sent carbon of its xmpp.js sibling; the sibling gets slixmpp’s sent carbon', async () => {
    const sam = await ts.addUser('sam');
    const pat = await ts.addUser('pat');
    const sibling = await login(sam, 'js');
    assert.equal((await iqSet(sibling, 'enable')).attrs.type, 'result');
    const p = await login(pat, 'pc');

    const slix = run(PYTHON, [SLIX_SCRIPT], {
      env: baseEnv({
        XMPP_HOST: '127.0.0.1',
        XMPP_PORT: String(ts.starttlsPort),
        XMPP_JID: `${sam.jid}/slix`,
        XMPP_PASSWORD: sam.password,
        XMPP_CA: `${ts.dataDir}/tls/localhost.crt`,
        XMPP_PEER: pat.jid,
        XMPP_TIMEOUT: '15',
      }),
      timeoutMs: 25_000,
    });
    // slixmpp says it is ready (carbons on) by writing to pat; then each side of a conversation on the sibling.
    const ready = await p.nextMessage((x) => x.getChildText('body') === 'slix ready', 20_000);
    assert.equal(ready.attrs.from, `${sam.jid}/slix`);
    const mine = await sibling.nextMessage((x) => carbonOf(x)?.inner.getChildText('body') === 'slix ready');
    assert.equal(carbonOf(mine)!.kind, 'sent');
    await p.xmpp.send(chat(sibling.jid, 'to-sibling', 'Hello sibling'));
    await sibling.xmpp.send(chat(pat.jid, 'from-sibling', 'Hello Pat'));

    const r = await slix;
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    let result: { ok: boolean; error: string | null; features: string[]; received: Record<string, string>; sent: Record<string, string> };
    try {
      result = JSON.parse(line) as typeof result;
    } catch {
      throw new Error(`carbons-slixmpp.py printed no JSON\n${describeRun(r)}`);
    }
    const why = `${JSON.stringify(result)}\n${describeRun(r)}`;
    assert.equal(result.ok, true, why);
    assert.ok(result.features.includes(CARBONS), why);
    assert.deepEqual(result.received, { wrapper_from: sam.jid, from: p.jid, to: sibling.jid, body: 'Hello sibling' }, why);
    assert.deepEqual(result.sent, { wrapper_from: sam.jid, from: sibling.jid, to: pat.jid, body: 'Hello Pat' }, why);
  });
});
