// Stream management (XEP-0198) over raw sockets, exact elements: enabling,
// acknowledgements and their counting, resumption after a connection that died
// without </stream:stream> (socket destroyed), what a hibernating session does
// with what is sent to it, and what becomes of unacknowledged stanzas when it
// expires or is replaced.
//
// The servers load every default module except mam and carbons: those add copies
// (archive results, carbons) that these exact-count assertions are not about.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MODULES } from '../../src/config/schema/modules.ts';
import type { Config, DeepPartial } from '../../src/config/schema.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, loginUnbound, stanzaError, streamErrorInfo, type RawClient } from '../helpers/raw-client.ts';

const STANZAS = new Set(['message', 'presence', 'iq']);

function smacksModules(smacks: Record<string, unknown>): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.keys(DEFAULT_MODULES)
      .filter((id) => id !== 'mam' && id !== 'carbons')
      .map((id) => [id, id === 'smacks' ? smacks : {}]),
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const isSm = (name: string) => (e: Element) => e.name === name && e.ns === NS.sm;
const isBody = (e: Element) => e.name === 'message' && e.getChild('body') !== undefined;

/** Enables stream management; returns the <enabled/> (whose place in `received` starts the count). */
async function enable(c: RawClient, resume = true): Promise<Element> {
  c.send(`<enable xmlns='${NS.sm}'${resume ? " resume='true'" : ''}/>`);
  return c.next((e) => e.ns === NS.sm && (e.name === 'enabled' || e.name === 'failed'));
}

/** The client's 'h': stanzas it received after `marker` (<enabled/> or <resumed/>), plus `base`. */
function handled(c: RawClient, marker: Element, base = 0): number {
  const i = c.received.indexOf(marker);
  assert.ok(i >= 0, 'marker element not received');
  return base + c.received.slice(i + 1).filter((e) => STANZAS.has(e.name)).length;
}

/** Bodies of the messages received after `marker`, in order. */
function bodiesAfter(c: RawClient, marker: Element | undefined): string[] {
  const from = marker ? c.received.indexOf(marker) + 1 : 0;
  return c.received.slice(from).filter(isBody).map((e) => e.getChildText('body')!);
}

/** Sends numbered chat messages; a ping round trip afterwards proves the server handled them. */
async function sendNumbered(from: RawClient, to: string, numbers: string[]): Promise<void> {
  for (const i of numbers) from.send(`<message to='${to}' type='chat' id='m${i}'><body>${i}</body></message>`);
  await from.ping();
}

function range(from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => String(from + i));
}

describe('stream management (XEP-0198), raw sockets', () => {
  let ts: TestServer;
  const open: RawClient[] = [];
  let n = 0;

  const user = async (prefix: string) => ts.addUser(`${prefix}${++n}`);
  const where = () => ({ port: ts.starttlsPort, dataDir: ts.dataDir, domain: ts.domain });
  const connect = async (u: { local: string; password: string }, resource?: string) => {
    const c = await login({ ...where(), username: u.local, password: u.password, resource });
    open.push(c);
    return c;
  };
  const reconnect = async (u: { local: string; password: string }) => {
    const r = await loginUnbound({ ...where(), username: u.local, password: u.password });
    open.push(r.client);
    return r;
  };

  before(async () => {
    ts = await startTestServer({ modules: smacksModules({ resume_timeout: 60 }) });
  });
  after(async () => {
    for (const c of open) c.destroy();
    await ts?.stop();
  });

  test('<sm/> is offered after SASL; enabling needs a bound resource; <enabled/> carries id, resume and max', async () => {
    const b = await user('feat');
    const { client: c, features } = await reconnect(b);
    assert.ok(features.getChild('sm', NS.sm), features.toString());
    const early = await enable(c);
    assert.equal(early.name, 'failed', early.toString());
    assert.ok(early.getChild('unexpected-request', NS.stanzas), early.toString());
    await c.bind('r');
    const enabled = await enable(c);
    assert.equal(enabled.name, 'enabled', enabled.toString());
    assert.equal(enabled.attrs.resume, 'true');
    assert.equal(enabled.attrs.max, '60');
    assert.ok(enabled.attrs.id && enabled.attrs.id.length >= 16, enabled.toString());
    const again = await enable(c);
    assert.equal(again.name, 'failed');
    assert.ok(again.getChild('unexpected-request', NS.stanzas), again.toString());
    // <resume/> on a stream that already has a session is refused, not fatal.
    c.send(`<resume xmlns='${NS.sm}' previd='${enabled.attrs.id!}' h='0'/>`);
    const refused = await c.next(isSm('failed'));
    assert.ok(refused.getChild('unexpected-request', NS.stanzas), refused.toString());
    assert.equal((await c.ping()).attrs.type, 'result');
    // Without resume='true' there is no token and no promise to keep the session.
    const d = await connect(await user('feat'));
    const plain = await enable(d, false);
    assert.equal(plain.name, 'enabled');
    assert.equal(plain.attrs.id, undefined);
    assert.equal(plain.attrs.resume, undefined);
  });

  test('<r/> is answered with the stanzas handled; the server asks for acks after sending; acks are checked against what was sent', async () => {
    const [ua, ub] = [await user('acka'), await user('ackb')];
    const a = await connect(ua, 'a');
    const b = await connect(ub, 'b');
    const enabled = await enable(b, false);
    b.send(`<r xmlns='${NS.sm}'/>`);
    assert.equal((await b.next(isSm('a'))).attrs.h, '0', 'nothing handled yet');
    for (let i = 0; i < 3; i++) await b.ping();
    // A stanza the server cannot deliver is handled all the same.
    b.send(`<message to='nobody-here@${ts.domain}' type='chat' id='lost'><body>x</body></message>`);
    await b.next((e) => e.name === 'message' && e.attrs.type === 'error' && e.attrs.id === 'lost');
    b.send(`<r xmlns='${NS.sm}'/>`);
    assert.equal((await b.next(isSm('a'))).attrs.h, '4');
    // The server sent stanzas (ping results, the bounce), so it asked for an acknowledgement.
    const r = b.received.findIndex(isSm('r'));
    const firstResult = b.received.findIndex((e) => e.name === 'iq');
    assert.ok(r > firstResult && firstResult >= 0, b.received.map(String).join(' '));

    await sendNumbered(a, b.jid!, ['1', '2']);
    await b.next((e) => isBody(e) && e.getChildText('body') === '2');
    const h = handled(b, enabled);
    assert.equal(h, 6, '3 ping results, 1 bounce, 2 messages');
    b.send(`<a xmlns='${NS.sm}' h='${h}'/>`);
    // Acknowledged in full: the queue is empty, so even one more is too many.
    b.send(`<a xmlns='${NS.sm}' h='${h + 1}'/>`);
    const err = await b.next((e) => e.name === 'error' && e.ns === NS.stream);
    assert.equal(streamErrorInfo(err).condition, 'undefined-condition', err.toString());
    const detail = err.getChild('handled-count-too-high', NS.sm);
    assert.ok(detail, err.toString());
    assert.deepEqual({ h: detail.attrs.h, sent: detail.attrs['send-count'] }, { h: String(h + 1), sent: String(h) });
    await b.waitClosed();
  });

  test('a malformed h is a stream error', async () => {
    const b = await connect(await user('badh'));
    await enable(b);
    b.send(`<a xmlns='${NS.sm}' h='-1'/>`);
    await b.expectStreamError('invalid-xml');
    await b.waitClosed();
  });

  test('resumption after the socket was destroyed: the unacknowledged messages come again, once each and in order; h counts what the client sent', async () => {
    const [ua, ub] = [await user('resa'), await user('resb')];
    const a = await connect(ua, 'a');
    const b = await connect(ub, 'phone');
    const bJid = b.jid!;
    const enabled = await enable(b);
    const token = enabled.attrs.id!;
    // Two stanzas from B that the server handles: a ping and a message to A.
    await b.ping();
    b.send(`<message to='${a.jid!}' type='chat' id='from-b'><body>hello from b</body></message>`);
    await a.next((e) => e.attrs.id === 'from-b');
    b.send(`<r xmlns='${NS.sm}'/>`);
    assert.equal((await b.next(isSm('a'))).attrs.h, '2');

    await sendNumbered(a, bJid, range(1, 5));
    await b.next((e) => isBody(e) && e.getChildText('body') === '5');
    const beforeDeath = handled(b, enabled); // ping result + 5 messages
    assert.equal(beforeDeath, 6);
    // B acknowledges the ping result and messages 1..2 only, then its connection dies.
    b.send(`<a xmlns='${NS.sm}' h='3'/>`);
    await b.ping();
    b.destroy();
    await sleep(100);

    await sendNumbered(a, bJid, range(6, 8));
    const { client: b2, features } = await reconnect(ub);
    assert.ok(features.getChild('sm', NS.sm));
    b2.send(`<resume xmlns='${NS.sm}' previd='${token}' h='3'/>`);
    const resumed = await b2.next((e) => e.ns === NS.sm && (e.name === 'resumed' || e.name === 'failed'));
    assert.equal(resumed.name, 'resumed', resumed.toString());
    assert.equal(resumed.attrs.previd, token);
    // ping, message to A, and the ping after the ack: 3 handled by the server.
    assert.equal(resumed.attrs.h, '3');
    await b2.next((e) => isBody(e) && e.getChildText('body') === '8');
    await sleep(200);
    assert.deepEqual(bodiesAfter(b2, resumed), range(3, 8), b2.received.map(String).join(' '));
    for (const m of b2.received.filter(isBody)) assert.equal(m.attrs.from, a.jid);

    // The session is the old one, live: new messages arrive at once, B's address is unchanged.
    await sendNumbered(a, bJid, ['9']);
    await b2.next((e) => isBody(e) && e.getChildText('body') === '9');
    assert.deepEqual(bodiesAfter(b2, resumed), range(3, 9));
    // Counting goes on from the h B resumed with: 3 + messages 3..9 and the ping result resent among them.
    const h = handled(b2, resumed, 3);
    assert.equal(h, 11);
    b2.send(`<a xmlns='${NS.sm}' h='${h}'/>`);
    b2.send(`<r xmlns='${NS.sm}'/>`);
    assert.equal((await b2.next(isSm('a'))).attrs.h, '3');
    const pong = await b2.ping();
    assert.equal(pong.attrs.to, bJid);
    // Resuming a live session is allowed (its connection may be dead without the server knowing yet): b2 is cut off.
    const { client: b3 } = await reconnect(ub);
    b3.send(`<resume xmlns='${NS.sm}' previd='${token}' h='${h}'/>`);
    const second = await b3.next((e) => e.ns === NS.sm && (e.name === 'resumed' || e.name === 'failed'));
    assert.equal(second.name, 'resumed', second.toString());
    await b2.waitClosed();
    assert.equal((await b3.ping()).attrs.to, bJid);
  });

  test('messages sent while the client reconnects and resumes arrive exactly once', async () => {
    const [ua, ub] = [await user('wina'), await user('winb')];
    const a = await connect(ua, 'a');
    const b = await connect(ub, 'phone');
    const bJid = b.jid!;
    const enabled = await enable(b);
    // A sends one message every few ms for the whole test.
    let next = 1;
    let sending = true;
    const sender = (async () => {
      while (sending) {
        const i = next++;
        a.send(`<message to='${bJid}' type='chat' id='w${i}'><body>${i}</body></message>`);
        // Below the default stanza rate (100/s), so the sender is never throttled.
        await sleep(15);
      }
      await a.ping();
    })();
    await sleep(200);
    const h = handled(b, enabled);
    b.destroy();
    await sleep(50);
    const { client: b2 } = await reconnect(ub);
    b2.send(`<resume xmlns='${NS.sm}' previd='${enabled.attrs.id!}' h='${h}'/>`);
    const resumed = await b2.next(isSm('resumed'));
    await sleep(100);
    sending = false;
    await sender;
    const last = next - 1;
    await b2.next((e) => isBody(e) && e.getChildText('body') === String(last));
    await sleep(200);
    const seenBefore = b.received.filter(isBody).map((e) => e.getChildText('body')!).slice(0, h);
    const all = [...seenBefore, ...bodiesAfter(b2, resumed)];
    assert.ok(seenBefore.length > 5 && last > seenBefore.length + 5, `enough traffic on both sides (${seenBefore.length}, ${last})`);
    assert.deepEqual(all, range(1, last));
  });

  test('stanzas sent right after <resume/>, before <resumed/> arrives, are handled by the resumed session', async () => {
    const [ua, ub] = [await user('pipa'), await user('pipb')];
    const a = await connect(ua, 'a');
    const b = await connect(ub, 'phone');
    const enabled = await enable(b);
    b.destroy();
    await sleep(50);
    const { client: b2 } = await reconnect(ub);
    // One write: <resume/> and two stanzas behind it.
    b2.send(
      `<resume xmlns='${NS.sm}' previd='${enabled.attrs.id!}' h='0'/>` +
        `<message to='${a.jid!}' type='chat' id='piped'><body>right behind resume</body></message>` +
        `<iq type='get' id='piped-ping' to='${ts.domain}'><ping xmlns='urn:xmpp:ping'/></iq>`,
    );
    const resumed = await b2.next(isSm('resumed'));
    assert.equal(resumed.attrs.h, '0');
    const msg = await a.next((e) => e.attrs.id === 'piped');
    assert.equal(msg.attrs.from, b.jid);
    assert.equal((await b2.next((e) => e.attrs.id === 'piped-ping')).attrs.type, 'result');
    b2.send(`<r xmlns='${NS.sm}'/>`);
    assert.equal((await b2.next(isSm('a'))).attrs.h, '2');
  });

  test('resuming with another account\'s token or a bogus one fails with item-not-found; the stream can still bind; the owner still resumes', async () => {
    const [uo, ut] = [await user('owner'), await user('other')];
    const owner = await connect(uo, 'phone');
    const enabled = await enable(owner);
    owner.destroy();
    await sleep(50);

    const { client: t } = await reconnect(ut);
    for (const previd of [enabled.attrs.id!, 'bogus-token', '']) {
      t.send(`<resume xmlns='${NS.sm}' previd='${previd}' h='0'/>`);
      const failed = await t.next(isSm('failed'));
      const cond = previd ? 'item-not-found' : 'bad-request';
      assert.ok(failed.getChild(cond, NS.stanzas), `${previd}: ${failed.toString()}`);
    }
    const jid = await t.bind('after-failure');
    assert.equal(jid, `${ut.jid}/after-failure`);
    assert.equal((await t.ping()).attrs.type, 'result');

    const { client: o2 } = await reconnect(uo);
    o2.send(`<resume xmlns='${NS.sm}' previd='${enabled.attrs.id!}' h='0'/>`);
    assert.equal((await o2.next(isSm('resumed'))).attrs.previd, enabled.attrs.id);
  });

  test('an acknowledgement above what was sent, in <resume/>, is refused and the session stays resumable', async () => {
    const ub = await user('overres');
    const b = await connect(ub, 'phone');
    const enabled = await enable(b);
    b.destroy();
    await sleep(50);
    const { client: b2 } = await reconnect(ub);
    b2.send(`<resume xmlns='${NS.sm}' previd='${enabled.attrs.id!}' h='5'/>`);
    const failed = await b2.next(isSm('failed'));
    assert.ok(failed.getChild('unexpected-request', NS.stanzas), failed.toString());
    b2.send(`<resume xmlns='${NS.sm}' previd='${enabled.attrs.id!}' h='0'/>`);
    await b2.next(isSm('resumed'));
  });

  test('a graceful </stream:stream> ends the session at once: contacts see it go, and it cannot be resumed', async () => {
    const [ua, ub] = [await user('gra'), await user('grb')];
    const a = await connect(ua, 'a');
    const b = await connect(ub, 'b');
    await befriend(a, b);
    const enabled = await enable(b);
    await b.close();
    const gone = await a.next((e) => e.name === 'presence' && e.attrs.from === b.jid && e.attrs.type === 'unavailable', 1000);
    assert.ok(gone);
    const { client: b2 } = await reconnect(ub);
    b2.send(`<resume xmlns='${NS.sm}' previd='${enabled.attrs.id!}' h='0'/>`);
    assert.ok((await b2.next(isSm('failed'))).getChild('item-not-found', NS.stanzas));

    // By contrast, a connection that just dies leaves the session hibernating: no unavailable presence.
    const b3 = await connect(ub, 'b3');
    b3.send('<presence/>');
    await a.next((e) => e.name === 'presence' && e.attrs.from === b3.jid && e.attrs.type === undefined);
    await enable(b3);
    b3.destroy();
    await sleep(500);
    assert.equal(a.inbox.filter((e) => e.name === 'presence' && e.attrs.from === b3.jid).length, 0, a.describeInbox());
  });

  test('binding the same resource while a session hibernates replaces it: its unacknowledged messages go to the new session, its token is void', async () => {
    const [ua, ub] = [await user('cfa'), await user('cfb')];
    const a = await connect(ua, 'a');
    const b = await connect(ub, 'phone');
    const enabled = await enable(b);
    await sendNumbered(a, b.jid!, ['1', '2']);
    await b.next((e) => isBody(e) && e.getChildText('body') === '2');
    b.send(`<a xmlns='${NS.sm}' h='1'/>`);
    await b.ping();
    b.destroy();
    await sleep(50);
    const b2 = await connect(ub, 'phone');
    assert.equal(b2.jid, b.jid);
    await b2.next((e) => isBody(e) && e.getChildText('body') === '2');
    await sendNumbered(a, b.jid!, ['3']);
    await b2.next((e) => isBody(e) && e.getChildText('body') === '3');
    await sleep(200);
    assert.deepEqual(bodiesAfter(b2, undefined), ['2', '3']);
    const { client: b3 } = await reconnect(ub);
    b3.send(`<resume xmlns='${NS.sm}' previd='${enabled.attrs.id!}' h='1'/>`);
    assert.ok((await b3.next(isSm('failed'))).getChild('item-not-found', NS.stanzas));
    assert.equal((await b2.ping()).attrs.type, 'result');
  });

  /** Makes a and b subscribed both ways (as in roster.raw.test.ts), then clears their inboxes. */
  async function befriend(a: RawClient, b: RawClient): Promise<void> {
    const [an, bn] = [a.jid!.split('/')[0]!, b.jid!.split('/')[0]!];
    for (const c of [a, b]) {
      c.send('<presence/>');
      await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid);
    }
    for (const [x, y, yn, xn] of [
      [a, b, bn, an],
      [b, a, an, bn],
    ] as const) {
      x.send(`<presence to='${yn}' type='subscribe'/>`);
      await y.next((e) => e.attrs.type === 'subscribe' && e.attrs.from === xn);
      y.send(`<presence to='${xn}' type='subscribed'/>`);
      await x.next((e) => e.name === 'presence' && e.attrs.type === undefined && e.attrs.from === y.jid);
    }
    await sleep(150);
    a.inbox.length = 0;
    b.inbox.length = 0;
  }
});

describe('stream management: hibernation expiry and limits', () => {
  let ts: TestServer;
  const open: RawClient[] = [];
  let n = 0;
  const user = async (prefix: string) => ts.addUser(`${prefix}${++n}`);
  const where = () => ({ port: ts.starttlsPort, dataDir: ts.dataDir, domain: ts.domain });
  const connect = async (u: { local: string; password: string }, resource?: string) => {
    const c = await login({ ...where(), username: u.local, password: u.password, resource });
    open.push(c);
    return c;
  };

  before(async () => {
    ts = await startTestServer({ modules: smacksModules({ resume_timeout: 1, max_unacked: 10 }) });
  });
  after(async () => {
    for (const c of open) c.destroy();
    await ts?.stop();
  });

  test('after the resumption timeout: unacknowledged messages go to offline storage, acknowledged ones nowhere; a pending iq is answered with an error', async () => {
    const [ua, ub] = [await user('exa'), await user('exb')];
    const a = await connect(ua, 'a');
    const b = await connect(ub, 'phone');
    const bJid = b.jid!;
    // Available, so that a message to the bare JID goes to this session too.
    b.send('<presence/>');
    await b.next((e) => e.name === 'presence' && e.attrs.from === bJid);
    const enabled = await enable(b);
    assert.equal(enabled.attrs.max, '1');
    for (const i of ['1', '2', '3']) a.send(`<message to='${bJid}' type='chat' id='e${i}'><body>${i}</body></message>`);
    await b.next((e) => isBody(e) && e.getChildText('body') === '3');
    b.send(`<a xmlns='${NS.sm}' h='1'/>`);
    await b.ping();
    b.destroy();
    await sleep(50);
    // While it hibernates: one more message, to the bare JID, and a request to the full JID.
    a.send(`<message to='${ub.jid}' type='chat' id='e4'><body>4</body></message>`);
    a.send(`<iq type='get' id='ask-b' to='${bJid}'><query xmlns='jabber:iq:version'/></iq>`);
    await a.ping();
    assert.equal(a.inbox.filter((e) => e.attrs.id === 'ask-b').length, 0, 'no answer while the session may come back');
    const reply = await a.next((e) => e.attrs.id === 'ask-b', 3000);
    assert.equal(reply.attrs.type, 'error');
    assert.equal(reply.attrs.from, bJid);
    assert.equal(stanzaError(reply).condition, 'recipient-unavailable');

    const b2 = await connect(ub, 'later');
    b2.send('<presence/>');
    await b2.next((e) => isBody(e) && e.getChildText('body') === '4');
    await sleep(200);
    const got = b2.received.filter(isBody);
    assert.deepEqual(
      got.map((m) => m.getChildText('body')),
      ['2', '3', '4'],
    );
    for (const m of got) {
      assert.equal(m.attrs.from, a.jid);
      const delay = m.getChild('delay', NS.delay);
      assert.ok(delay, m.toString());
      assert.equal(delay.attrs.from, ts.domain);
    }
  });

  test('after the resumption timeout with another resource online: it gets the unacknowledged messages to the full JID once, and no second copy of those to the bare JID', async () => {
    const [ua, ub] = [await user('ora'), await user('orb')];
    const a = await connect(ua, 'a');
    const desk = await connect(ub, 'desk');
    desk.send('<presence/>');
    await desk.next((e) => e.name === 'presence' && e.attrs.from === desk.jid);
    const phone = await connect(ub, 'phone');
    phone.send('<presence/>');
    await phone.next((e) => e.name === 'presence' && e.attrs.from === phone.jid);
    const enabled = await enable(phone);
    await sleep(150);
    const h0 = handled(phone, enabled);
    a.send(`<message to='${phone.jid!}' type='chat'><body>full 1</body></message>`);
    a.send(`<message to='${ub.jid}' type='chat'><body>bare 1</body></message>`);
    await phone.next((e) => isBody(e) && e.getChildText('body') === 'bare 1');
    phone.send(`<a xmlns='${NS.sm}' h='${h0}'/>`);
    phone.destroy();
    await sleep(50);
    a.send(`<message to='${phone.jid!}' type='chat'><body>full 2</body></message>`);
    a.send(`<message to='${ub.jid}' type='chat'><body>bare 2</body></message>`);
    await a.ping();
    await desk.next((e) => isBody(e) && e.getChildText('body') === 'full 2', 3000);
    await sleep(300);
    // desk had the bare-JID messages live; the phone's unacknowledged ones come after its session expired.
    assert.deepEqual(bodiesAfter(desk, undefined), ['bare 1', 'bare 2', 'full 1', 'full 2']);
  });

});

describe('stream management: max_unacked', () => {
  let ts: TestServer;
  const open: RawClient[] = [];
  let n = 0;
  const user = async (prefix: string) => ts.addUser(`${prefix}${++n}`);
  const where = () => ({ port: ts.starttlsPort, dataDir: ts.dataDir, domain: ts.domain });
  const connect = async (u: { local: string; password: string }, resource?: string) => {
    const c = await login({ ...where(), username: u.local, password: u.password, resource });
    open.push(c);
    return c;
  };

  before(async () => {
    ts = await startTestServer({ modules: smacksModules({ resume_timeout: 60, max_unacked: 10 }) });
  });
  after(async () => {
    for (const c of open) c.destroy();
    await ts?.stop();
  });

  test('a hibernating session whose queue passes max_unacked ends at once; the messages wait in offline storage', async () => {
    const [ua, ub] = [await user('qa'), await user('qb')];
    const a = await connect(ua, 'a');
    const b = await connect(ub, 'phone');
    const enabled = await enable(b);
    b.destroy();
    await sleep(50);
    await sendNumbered(a, b.jid!, range(1, 11));
    const { client: b2 } = await loginUnbound({ ...where(), username: ub.local, password: ub.password });
    open.push(b2);
    b2.send(`<resume xmlns='${NS.sm}' previd='${enabled.attrs.id!}' h='0'/>`);
    assert.ok((await b2.next(isSm('failed'))).getChild('item-not-found', NS.stanzas));
    await b2.bind('again');
    b2.send('<presence/>');
    await b2.next((e) => isBody(e) && e.getChildText('body') === '11');
    assert.deepEqual(bodiesAfter(b2, undefined), range(1, 11));
  });

  test('a live client that leaves more than max_unacked unacknowledged is disconnected with resource-constraint', async () => {
    const [ua, ub] = [await user('lma'), await user('lmb')];
    const a = await connect(ua, 'a');
    const b = await connect(ub, 'phone');
    await enable(b);
    await sendNumbered(a, b.jid!, range(1, 11));
    await b.expectStreamError('resource-constraint');
    await b.waitClosed();
    const b2 = await connect(ub, 'again');
    b2.send('<presence/>');
    await b2.next((e) => isBody(e) && e.getChildText('body') === '11');
    assert.deepEqual(bodiesAfter(b2, undefined), range(1, 11));
  });
});

describe('stream management: resume_timeout 0 and unanswered pings', () => {
  test('with resume_timeout 0, <enable resume/> gets no token', async () => {
    const ts = await startTestServer({ modules: smacksModules({ resume_timeout: 0 }) });
    try {
      const u = await ts.addUser('zero');
      const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password });
      const enabled = await enable(c);
      assert.equal(enabled.name, 'enabled');
      assert.equal(enabled.attrs.resume, undefined);
      assert.equal(enabled.attrs.id, undefined);
      c.destroy();
    } finally {
      await ts.stop();
    }
  });

  test('a client that stops answering is cut off after the idle ping, and its session can be resumed', async () => {
    const overrides: DeepPartial<Config> = { modules: smacksModules({ resume_timeout: 60 }), limits: { idle_timeout: 10, ping_timeout: 1 } };
    const ts = await startTestServer(overrides);
    try {
      const u = await ts.addUser('silent');
      const where = { port: ts.starttlsPort, dataDir: ts.dataDir };
      const c = await login({ ...where, username: u.local, password: u.password, resource: 'phone' });
      c.answerVersion = false; // it answers nothing, not even the sessions module's version query
      const enabled = await enable(c);
      const ping = await c.next((e) => e.name === 'iq' && e.attrs.from === ts.domain && e.getChild('ping', NS.ping) !== undefined, 12_000);
      await c.expectStreamError('connection-timeout', 3000);
      await c.waitClosed(4000);
      const { client: c2 } = await loginUnbound({ ...where, username: u.local, password: u.password });
      try {
        c2.send(`<resume xmlns='${NS.sm}' previd='${enabled.attrs.id!}' h='0'/>`);
        await c2.next(isSm('resumed'));
        // The unanswered ping is sent again; answering it is fine.
        const again = await c2.next((e) => e.attrs.id === ping.attrs.id);
        c2.send(`<iq type='result' id='${again.attrs.id!}' to='${ts.domain}'/>`);
        assert.equal((await c2.ping()).attrs.to, `${u.jid}/phone`);
      } finally {
        c2.destroy();
      }
    } finally {
      await ts.stop();
    }
  });
});
