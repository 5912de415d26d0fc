// Must show: blocking (XEP-0191) through client libraries others wrote —
// @xmpp/client (xmpp.js 0.14, raw iq payloads) and slixmpp 1.8 (Debian's
// python3-slixmpp, its xep_0191 plugin). Alice blocks Bob: Bob's messages get
// service-unavailable, Alice's get not-acceptable with <blocked/>, Alice's other
// resource receives the push; after unblocking, messages flow again. The server
// offers no channel binding (slixmpp 1.8 cannot do SCRAM-*-PLUS on TLS 1.3; see
// slixmpp.clients.test.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import type { XmlElement } from '@xmpp/client';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';
import { assertSlixmppInstalled, PYTHON } from './clients/slixmpp.ts';
import { baseEnv, describeRun, run } from './clients/process.ts';

const BLOCKING = 'urn:xmpp:blocking';
const BLOCKING_ERRORS = 'urn:xmpp:blocking:errors';
const SLIX_SCRIPT = fileURLToPath(new URL('./blocking-slixmpp.py', import.meta.url));

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

async function login(user: { local: string; password: string }, resource: string): Promise<ConnectedClient> {
  const c = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: user.local, password: user.password, resource });
  open.push(c);
  return c;
}

/** Block-list pushes a client receives (iq set with <block/> or <unblock/>). */
function collectPushes(c: ConnectedClient): { kind: string; items: string[] }[] {
  const pushes: { kind: string; items: string[] }[] = [];
  c.xmpp.on('stanza', (st: XmlElement) => {
    if (st.name !== 'iq' || st.attrs.type !== 'set') return;
    for (const kind of ['block', 'unblock']) {
      const el = st.getChild(kind, BLOCKING);
      if (el) pushes.push({ kind, items: el.getChildren('item').map((i) => i.attrs.jid ?? '') });
    }
  });
  return pushes;
}

async function until(what: string, ok: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const blocklistOf = async (c: ConnectedClient) =>
  (await c.xmpp.iqCaller.request(xml('iq', { type: 'get' }, xml('blocklist', { xmlns: BLOCKING }))))
    .getChild('blocklist', BLOCKING)!
    .getChildren('item')
    .map((i) => i.attrs.jid);
const command = (c: ConnectedClient, kind: 'block' | 'unblock', ...jids: string[]) =>
  c.xmpp.iqCaller.request(xml('iq', { type: 'set' }, xml(kind, { xmlns: BLOCKING }, ...jids.map((jid) => xml('item', { jid })))));
const errorOf = (m: XmlElement) => {
  const e = m.getChild('error')!;
  return { condition: e.getChildElements()[0]!.name, blocked: !!e.getChild('blocked', BLOCKING_ERRORS), text: e.getChildText('text') };
};

describe('blocking with @xmpp/client (xmpp.js 0.14)', () => {
  test('alice blocks bob, her other resource gets the push, both directions refused; unblock and messages flow', async () => {
    const alice = await ts.addUser('alice-js');
    const bob = await ts.addUser('bob-js');
    const desk = await login(alice, 'desk');
    const phone = await login(alice, 'phone');
    const b = await login(bob, 'pc');
    const pushes = collectPushes(phone);
    assert.deepEqual(await blocklistOf(desk), []);
    assert.deepEqual(await blocklistOf(phone), []);

    // Bad input first: nothing changes.
    await assert.rejects(command(desk, 'block'), (err: Error & { condition?: string }) => err.condition === 'bad-request');
    await assert.rejects(command(desk, 'block', 'not a@valid@jid'), (err: Error & { condition?: string }) => err.condition === 'jid-malformed');
    assert.deepEqual(await blocklistOf(desk), []);

    const result = await command(desk, 'block', bob.jid);
    assert.equal(result.attrs.type, 'result');
    await until('the push on phone', () => pushes.length === 1);
    assert.deepEqual(pushes, [{ kind: 'block', items: [bob.jid] }]);

    await b.xmpp.send(xml('message', { to: alice.jid, type: 'chat', id: 'js-in' }, xml('body', {}, 'Hello?')));
    const inbound = errorOf(await b.nextMessage((m) => m.attrs.id === 'js-in' && m.attrs.type === 'error'));
    assert.deepEqual(inbound, { condition: 'service-unavailable', blocked: false, text: 'The recipient is not available.' });

    await desk.xmpp.send(xml('message', { to: bob.jid, type: 'chat', id: 'js-out' }, xml('body', {}, 'Bob?')));
    const outbound = errorOf(await desk.nextMessage((m) => m.attrs.id === 'js-out' && m.attrs.type === 'error'));
    assert.equal(outbound.condition, 'not-acceptable');
    assert.equal(outbound.blocked, true);

    assert.equal(desk.messages.filter((m) => m.attrs.type !== 'error').length + phone.messages.length, 0, 'nothing of bob reached alice');
    assert.equal(b.messages.filter((m) => m.attrs.type !== 'error').length, 0, 'nothing of alice reached bob');

    await command(phone, 'unblock', bob.jid);
    await until('the unblock push on phone', () => pushes.length === 2);
    assert.deepEqual(pushes[1], { kind: 'unblock', items: [bob.jid] });
    await b.xmpp.send(xml('message', { to: alice.jid, type: 'chat', id: 'js-again' }, xml('body', {}, 'Hello again')));
    assert.equal((await desk.nextMessage((m) => m.attrs.id === 'js-again')).getChildText('body'), 'Hello again');
    await desk.xmpp.send(xml('message', { to: bob.jid, type: 'chat', id: 'js-back' }, xml('body', {}, 'Hi Bob')));
    assert.equal((await b.nextMessage((m) => m.attrs.id === 'js-back')).attrs.type, 'chat');
  });
});

describe('blocking with slixmpp (xep_0191 plugin)', () => {
  before(async () => {
    await assertSlixmppInstalled();
  });

  async function slix(action: 'block' | 'unblock', user: { jid: string; password: string }, peer: string) {
    const r = await run(PYTHON, [SLIX_SCRIPT], {
      env: baseEnv({
        XMPP_HOST: '127.0.0.1',
        XMPP_PORT: String(ts.starttlsPort),
        XMPP_JID: `${user.jid}/slix`,
        XMPP_PASSWORD: user.password,
        XMPP_CA: `${ts.dataDir}/tls/localhost.crt`,
        XMPP_PEER: peer,
        XMPP_ACTION: action,
        XMPP_TIMEOUT: '15',
      }),
      timeoutMs: 25_000,
    });
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    try {
      return { result: JSON.parse(line) as Record<string, unknown>, why: describeRun(r) };
    } catch {
      throw new Error(`blocking-slixmpp.py printed no JSON\n${describeRun(r)}`);
    }
  }

  test('slixmpp blocks an xmpp.js user and unblocks it; the block holds while slixmpp is offline', async () => {
    const sam = await ts.addUser('sam-slix');
    const bob = await ts.addUser('bob-slix');
    const b = await login(bob, 'pc');

    const blocked = await slix('block', sam, bob.jid);
    assert.equal(blocked.result.ok, true, blocked.why);
    assert.deepEqual(blocked.result.initial, []);
    assert.equal(blocked.result.empty_block, 'bad-request', 'an empty <block/> is refused');
    assert.deepEqual(blocked.result.push, ['block', [bob.jid]]);
    assert.deepEqual(blocked.result.reply, { type: 'error', condition: 'not-acceptable', blocked: true });
    assert.deepEqual(blocked.result.final, [bob.jid]);

    // slixmpp has gone; its block is in force all the same.
    await b.xmpp.send(xml('message', { to: sam.jid, type: 'chat', id: 'to-sam' }, xml('body', {}, 'Sam?')));
    assert.equal(errorOf(await b.nextMessage((m) => m.attrs.id === 'to-sam')).condition, 'service-unavailable');

    // Bob answers whatever reaches him, so slixmpp sees messages flow after unblocking.
    b.xmpp.on('stanza', (st: XmlElement) => {
      if (st.name === 'message' && st.attrs.type === 'chat' && st.attrs.from?.startsWith(`${sam.jid}/`)) {
        void b.xmpp.send(xml('message', { to: st.attrs.from, type: 'chat' }, xml('body', {}, `echo: ${st.getChildText('body') ?? ''}`)));
      }
    });
    const unblocked = await slix('unblock', sam, bob.jid);
    assert.equal(unblocked.result.ok, true, unblocked.why);
    assert.deepEqual(unblocked.result.initial, [bob.jid]);
    assert.deepEqual(unblocked.result.push, ['unblock', [bob.jid]]);
    assert.deepEqual(unblocked.result.reply, { type: 'chat', body: 'echo: Hello again' });
    assert.deepEqual(unblocked.result.final, []);
  });
});
