// A client that authenticates and then never reads (issue #7, "slow reader").
// The server's outbound buffer for it must stay bounded (8 MiB, MAX_OUTBOUND_BYTES
// in src/net/c2s.ts), the client must be cut off, the senders must keep being
// served, and no message sent to it may vanish: with stream management the
// stanzas it never acknowledged are routed again (XEP-0198 §5 "rescue"), to
// offline storage, and what offline storage cannot take is bounced to the sender
// with an error (RFC 6121 §8.5.2.1.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';
import { login, type RawClient } from '../helpers/raw-client.ts';
import type { C2SConnection } from '../../src/net/c2s.ts';
import { NS } from '../../src/xmpp/ns.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const OUTBOUND_LIMIT = 8 * 1024 * 1024;
const BODY = 'x'.repeat(100 * 1024);
const PER_SENDER = 120;

const MODULES = Object.fromEntries(['disco', 'ping', 'roster', 'presence', 'message', 'offline', 'smacks'].map((m) => [m, {}]));

test('a client that never reads is cut off at a bounded outbound buffer; senders are unaffected; every message to it is stored offline or bounced', async (t) => {
  const ts = await startTestServer({
    // Senders may push 100 KiB messages quickly: the byte rate is not what this test is about.
    limits: { bytes_per_second: 67_108_864, bytes_burst: 67_108_864, account_bytes_per_second: 67_108_864, account_bytes_burst: 67_108_864 },
    modules: MODULES,
  });
  const clients: RawClient[] = [];
  try {
    const users = await Promise.all(['alice', 'carol', 'bob', 'sloth'].map((u) => ts.addUser(u)));
    const [alice, carol, bob, sloth] = await Promise.all(
      users.map((u) => login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password, resource: 'r' })),
    );
    clients.push(alice!, carol!, bob!, sloth!);
    sloth!.sendRaw(`<enable xmlns='${NS.sm}'/>`);
    await sloth!.next((e) => e.name === 'enabled');
    // From here on the slow client reads nothing: its socket is paused, the kernel buffers fill, then the server's.
    sloth!.socket.pause();
    const slowSession = [...ts.server.sessions.all()].find((s) => s.jid.local === 'sloth') as C2SConnection;
    let maxBuffered = 0;
    const sampler = setInterval(() => {
      maxBuffered = Math.max(maxBuffered, slowSession.tlsSocket?.writableLength ?? 0);
    }, 5);

    const toSloth: string[] = [];
    const toBob: string[] = [];
    const send = async (from: RawClient, name: string) => {
      for (let i = 0; i < PER_SENDER; i++) {
        const id = `${name}-${i}`;
        toSloth.push(id);
        from.sendRaw(`<message type='chat' id='${id}' to='sloth@localhost/r'><body>${BODY}</body></message>`);
        if (i % 10 === 0) {
          toBob.push(`${id}-bob`);
          from.sendRaw(`<message type='chat' id='${id}-bob' to='bob@localhost/r'><body>hello</body></message>`);
        }
        // Let the socket drain now and then, as a real client would.
        if (i % 20 === 19) await new Promise((r) => (from.socket.writableLength ? from.socket.once('drain', r) : setImmediate(r)));
      }
    };
    const started = Date.now();
    await Promise.all([send(alice!, 'alice'), send(carol!, 'carol')]);

    // The slow client is disconnected and its session is gone.
    while ([...ts.server.sessions.all()].some((s) => s.jid.local === 'sloth') && Date.now() - started < 20_000) await sleep(20);
    clearInterval(sampler);
    const cutOffMs = Date.now() - started;
    assert.ok(![...ts.server.sessions.all()].some((s) => s.jid.local === 'sloth'), 'the slow reader was disconnected');
    t.diagnostic(`slow reader cut off after ${cutOffMs} ms; largest outbound buffer seen ${(maxBuffered / 1048576).toFixed(2)} MiB`);
    assert.ok(maxBuffered > 0, 'the outbound buffer was sampled while it filled');
    assert.ok(maxBuffered <= OUTBOUND_LIMIT + BODY.length + 1024, `outbound buffer bounded (${maxBuffered} bytes)`);

    // Senders are unaffected: they are answered, and their messages to others arrive.
    for (const c of [alice!, carol!]) assert.equal((await c.ping()).attrs.type, 'result');
    for (const id of toBob) await bob!.next((e) => e.name === 'message' && e.attrs.id === id, 5000);

    // Nothing acknowledged is lost: each message to the slow client waits offline or came back as an error.
    const bounced = new Set<string>();
    for (const c of [alice!, carol!]) {
      for (const el of c.inbox.splice(0)) {
        if (el.name === 'message' && el.attrs.type === 'error') bounced.add(el.attrs.id!);
      }
    }
    await sleep(300); // let the last re-routed stanzas settle into offline storage
    const back = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'sloth', password: users[3]!.password, resource: 'again' });
    clients.push(back);
    back.sendRaw('<presence/>');
    const stored = new Set<string>();
    for (;;) {
      const el = await back.next((e) => e.name === 'message' && e.getChildText('body') === BODY, 2000).catch(() => undefined);
      if (!el) break;
      stored.add(el.attrs.id!);
    }
    t.diagnostic(`to the slow reader: ${toSloth.length} sent, ${stored.size} delivered from offline storage, ${bounced.size} bounced`);
    const both = [...stored].filter((id) => bounced.has(id));
    assert.deepEqual(both, [], 'no message is both stored and bounced');
    const missing = toSloth.filter((id) => !stored.has(id) && !bounced.has(id));
    assert.deepEqual(missing, [], 'every message sent to the slow reader was stored or bounced');
    assert.ok(stored.size > 0, 'offline storage took what fit');
  } finally {
    for (const c of clients) c.destroy();
    await ts.stop();
  }
});
