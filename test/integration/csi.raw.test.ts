// Client state indication (XEP-0352) over raw sockets: what an inactive client
// is spared (contacts' presence updates and chat states, collapsed to the
// latest), and that it gets them, in order, as soon as something that matters
// arrives or it says it is active again.
//
// The server loads every default module except mam and carbons (their extra
// copies are not what these exact-order assertions are about).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MODULES } from '../../src/config/schema/modules.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, loginUnbound, type RawClient } from '../helpers/raw-client.ts';

const QUIET_MS = 300;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A compact picture of a stanza for order assertions. */
function describeStanza(e: Element): string {
  if (e.name === 'presence') return `presence ${e.attrs.from ?? ''} ${e.attrs.type ?? e.getChildText('show') ?? 'available'}`;
  if (e.name === 'message') {
    const body = e.getChildText('body');
    const state = e.elements.find((c) => c.ns === NS.chatStates)?.name;
    return body !== undefined ? `message ${body}` : `state ${state ?? '?'}`;
  }
  return `${e.name} ${e.attrs.type ?? ''} ${e.attrs.id ?? ''}`;
}

describe('client state indication (XEP-0352), raw sockets', () => {
  let ts: TestServer;
  const open: RawClient[] = [];
  let n = 0;
  const where = () => ({ port: ts.starttlsPort, dataDir: ts.dataDir, domain: ts.domain });

  const connect = async (u: { local: string; password: string }, resource: string) => {
    const c = await login({ ...where(), username: u.local, password: u.password, resource });
    open.push(c);
    return c;
  };

  /** Two accounts subscribed to each other, both available, inboxes cleared. */
  const contacts = async (): Promise<{ a: RawClient; b: RawClient; ua: { local: string; password: string; jid: string }; ub: { local: string; password: string; jid: string } }> => {
    const ua = await ts.addUser(`ca${++n}`);
    const ub = await ts.addUser(`cb${n}`);
    const a = await connect(ua, 'desk');
    const b = await connect(ub, 'phone');
    for (const c of [a, b]) {
      c.send('<presence/>');
      await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid);
    }
    for (const [x, y, yn, xn] of [
      [a, b, ub.jid, ua.jid],
      [b, a, ua.jid, ub.jid],
    ] as const) {
      x.send(`<presence to='${yn}' type='subscribe'/>`);
      await y.next((e) => e.attrs.type === 'subscribe' && e.attrs.from === xn);
      y.send(`<presence to='${xn}' type='subscribed'/>`);
      await x.next((e) => e.name === 'presence' && e.attrs.type === undefined && e.attrs.from === y.jid);
    }
    await sleep(150);
    a.inbox.length = 0;
    b.inbox.length = 0;
    return { a, b, ua, ub };
  };

  /** Stanzas b received after `mark` (an index into b.received), described. */
  const since = (c: RawClient, mark: number) =>
    c.received
      .slice(mark)
      .filter((e) => e.name === 'presence' || e.name === 'message' || e.name === 'iq')
      .map(describeStanza);

  before(async () => {
    const modules = Object.fromEntries(Object.keys(DEFAULT_MODULES).filter((id) => id !== 'mam' && id !== 'carbons').map((id) => [id, {}]));
    ts = await startTestServer({ modules });
  });
  after(async () => {
    for (const c of open) c.destroy();
    await ts?.stop();
  });

  test('<csi/> is advertised after SASL', async () => {
    const u = await ts.addUser('feat');
    const { client, features } = await loginUnbound({ ...where(), username: u.local, password: u.password });
    open.push(client);
    assert.ok(features.getChild('csi', NS.csi), features.toString());
  });

  test('inactive: presence updates wait and collapse to the latest; a message with a body brings them first, then itself', async () => {
    const { a, b } = await contacts();
    b.send(`<inactive xmlns='${NS.csi}'/>`);
    await b.ping(); // handled in order: from here on b is inactive
    const mark = b.received.length;
    for (const show of ['away', 'dnd', 'xa']) a.send(`<presence><show>${show}</show></presence>`);
    a.send(`<message to='${b.jid!}' type='chat'><composing xmlns='${NS.chatStates}'/></message>`);
    a.send(`<message to='${b.jid!}' type='chat'><paused xmlns='${NS.chatStates}'/></message>`);
    await a.ping();
    await sleep(QUIET_MS);
    assert.deepEqual(since(b, mark), [], 'nothing reaches an inactive client');

    a.send(`<message to='${b.jid!}' type='chat' id='hello'><body>hello</body></message>`);
    await b.next((e) => e.attrs.id === 'hello');
    await sleep(QUIET_MS);
    assert.deepEqual(since(b, mark), [`presence ${a.jid!} xa`, 'state paused', 'message hello']);
  });

  test('inactive, then <active/>: what was held arrives at once, in order, and later updates pass straight through', async () => {
    const { a, b } = await contacts();
    const ua2 = await ts.addUser(`cc${++n}`);
    b.send(`<inactive xmlns='${NS.csi}'/>`);
    await b.ping();
    const mark = b.received.length;
    a.send('<presence><show>away</show></presence>');
    a.send('<presence><show>dnd</show></presence>');
    // An iq cannot wait: it brings the held presence with it.
    a.send(`<iq type='get' id='ver' to='${b.jid!}'><query xmlns='jabber:iq:version'/></iq>`);
    await b.next((e) => e.attrs.id === 'ver');
    assert.deepEqual(since(b, mark), [`presence ${a.jid!} dnd`, 'iq get ver']);
    b.send(`<iq type='error' id='ver' to='${a.jid!}'><error type='cancel'><service-unavailable xmlns='${NS.stanzas}'/></error></iq>`);

    const mark2 = b.received.length;
    a.send('<presence/>');
    a.send('<presence type="unavailable"/>');
    await a.ping();
    await sleep(QUIET_MS);
    assert.deepEqual(since(b, mark2), []);
    b.send(`<active xmlns='${NS.csi}'/>`);
    await b.next((e) => e.name === 'presence' && e.attrs.from === a.jid && e.attrs.type === 'unavailable');
    await sleep(QUIET_MS);
    assert.deepEqual(since(b, mark2), [`presence ${a.jid!} unavailable`]);

    const mark3 = b.received.length;
    const a2 = await connect(ua2, 'second'); // a different account, not a contact: no presence for b
    a2.send(`<message to='${b.jid!}' type='chat'><composing xmlns='${NS.chatStates}'/></message>`);
    await b.next((e) => e.name === 'message' && e.attrs.from === a2.jid);
    assert.deepEqual(since(b, mark3), ['state composing']);
  });

  test('a subscription request cannot wait', async () => {
    const { b } = await contacts();
    const stranger = await connect(await ts.addUser(`cs${++n}`), 'r');
    b.send(`<inactive xmlns='${NS.csi}'/>`);
    await b.ping();
    const mark = b.received.length;
    stranger.send(`<presence to='${b.jid!.split('/')[0]!}' type='subscribe'/>`);
    await b.next((e) => e.attrs.type === 'subscribe');
    assert.deepEqual(since(b, mark), [`presence ${stranger.jid!.split('/')[0]!} subscribe`]);
  });

  test('a resumed session (XEP-0198) is active again: what was held while it hibernated arrives after <resumed/>', async () => {
    const { a, b, ub } = await contacts();
    b.send(`<enable xmlns='${NS.sm}' resume='true'/>`);
    const enabled = await b.next((e) => e.name === 'enabled' && e.ns === NS.sm);
    b.send(`<inactive xmlns='${NS.csi}'/>`);
    await b.ping();
    const handled = b.received.slice(b.received.indexOf(enabled) + 1).filter((e) => e.name === 'iq' || e.name === 'message' || e.name === 'presence').length;
    b.destroy();
    await sleep(50);
    a.send('<presence><show>away</show></presence>');
    a.send('<presence><show>chat</show></presence>');
    await a.ping();
    const { client: b2 } = await loginUnbound({ ...where(), username: ub.local, password: ub.password });
    open.push(b2);
    b2.send(`<resume xmlns='${NS.sm}' previd='${enabled.attrs.id!}' h='${handled}'/>`);
    await b2.next((e) => e.name === 'resumed' && e.ns === NS.sm);
    await b2.next((e) => e.name === 'presence' && e.attrs.from === a.jid);
    await sleep(QUIET_MS);
    assert.deepEqual(since(b2, 0), [`presence ${a.jid!} chat`]);
  });
});
