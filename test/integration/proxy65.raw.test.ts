// The SOCKS5 bytestream proxy (XEP-0065, src/modules/proxy65) over raw
// sockets: discovery, an offer whose direct streamhost is stripped, a relay
// between the two parties byte for byte, and the refusals: a hash no allowed
// offer named (SOCKS5 reply 2, connection closed), an activation by someone
// other than the initiator (forbidden), an unknown sid (item-not-found),
// activation before both parties connected (not-allowed), too many waiting
// connections (closed at once), too many active streams (resource-constraint),
// a stream over its byte limit (both connections closed), and the timeouts of
// a connection never activated and of an idle stream (5 s, the least allowed).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { streamHash } from '../../src/modules/proxy65/relay.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';

const BS = 'http://jabber.org/protocol/bytestreams';
const PROXY = 'proxy.localhost';
const MAX_STREAM_BYTES = 256 * 1024;

const POLICY = `
version: 1
rules:
  - name: p2p-for-everyone-here
    subject: { local: true }
    feature: p2p-file-transfer
    decision: allow
  - name: local-accounts
    subject: { local: true }
    decision: allow
`;

/** A SOCKS5 client connection that collects what it receives. */
class SocksConn {
  data = Buffer.alloc(0);
  readonly closed: Promise<void>;
  private wake: (() => void) | undefined;
  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
      this.wake?.();
    });
    socket.on('error', () => {});
    this.closed = new Promise((r) => socket.once('close', () => r()));
    void this.closed.then(() => this.wake?.());
  }

  static async open(port: number): Promise<SocksConn> {
    const s = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
    return new SocksConn(s);
  }

  /** Takes exactly n bytes (waits up to 3 s); fewer only when the proxy closed the connection. */
  async take(n: number): Promise<Buffer> {
    const deadline = Date.now() + 3000;
    while (this.data.length < n && !this.socket.destroyed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 50);
      });
    }
    const out = this.data.subarray(0, n);
    this.data = this.data.subarray(out.length);
    return out;
  }

  /** Greeting and CONNECT to the hash; resolves to the reply code (RFC 1928 §6). */
  async handshake(hash: string): Promise<number> {
    this.socket.write(Buffer.from([5, 1, 0]));
    assert.deepEqual([...(await this.take(2))], [5, 0], 'method "no authentication" selected');
    this.socket.write(Buffer.concat([Buffer.from([5, 1, 0, 3, hash.length]), Buffer.from(hash), Buffer.from([0, 0])]));
    const head = await this.take(2);
    assert.equal(head[0], 5);
    if (head[1] === 0) {
      const rest = await this.take(3 + hash.length + 2);
      assert.equal(rest.subarray(3, 3 + hash.length).toString(), hash, 'the reply names the same address');
    }
    return head[1]!;
  }
}

describe('proxy65: SOCKS5 bytestream proxy (raw sockets)', () => {
  let ts: TestServer;
  let policyDir: string;
  let port: number;
  let alice: RawClient;
  let bob: RawClient;
  let carol: RawClient;
  const conns: SocksConn[] = [];
  let sids = 0;

  const open = async () => {
    const c = await SocksConn.open(port);
    conns.push(c);
    return c;
  };

  /** Alice offers Bob a bytestream through the proxy (and a direct streamhost); returns the sid and what Bob received. */
  const offer = async (from = alice, to = bob) => {
    const sid = `s${++sids}-${randomBytes(4).toString('hex')}`;
    const id = from.newId();
    from.send(
      `<iq type='set' id='${id}' to='${to.jid}'><query xmlns='${BS}' sid='${sid}' mode='tcp'>` +
        `<streamhost jid='${from.jid}' host='192.0.2.7' port='5086'/>` +
        `<streamhost jid='${PROXY}' host='198.51.100.9' port='1'/></query></iq>`,
    );
    const got = await to.next((e) => e.name === 'iq' && e.attrs.id === id);
    to.send(`<iq type='result' id='${id}' to='${from.jid}'><query xmlns='${BS}' sid='${sid}'><streamhost-used jid='${PROXY}'/></query></iq>`);
    await from.next((e) => e.name === 'iq' && e.attrs.id === id && e.attrs.type === 'result');
    return { sid, got, hash: streamHash(sid, from.jid!, to.jid!) };
  };

  const activate = (by: RawClient, sid: string, target: string) =>
    by.iq('set', `<query xmlns='${BS}' sid='${sid}'><activate>${target}</activate></query>`, { to: PROXY });

  before(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-proxy65-'));
    writeFileSync(join(policyDir, 'policy.yaml'), POLICY);
    ts = await startTestServer({
      policy: { file: join(policyDir, 'policy.yaml') },
      modules: {
        disco: {},
        roster: {},
        presence: {},
        message: {},
        proxy65: { address: '127.0.0.1', port: 0, public_host: '127.0.0.1', max_stream_bytes: MAX_STREAM_BYTES, max_pending: 6, max_active: 1, pending_timeout_seconds: 5, idle_timeout_seconds: 5 },
      },
    });
    const users = await Promise.all(['alice', 'bob', 'carol'].map((n) => ts.addUser(n)));
    [alice, bob, carol] = (await Promise.all(
      users.map((u) => login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password, resource: 'desk' })),
    )) as [RawClient, RawClient, RawClient];
    const q = await alice.iq('get', `<query xmlns='${BS}'/>`, { to: PROXY });
    port = Number(q.getChild('query', BS)!.getChild('streamhost')!.attrs.port);
  });

  after(async () => {
    for (const c of conns) c.socket.destroy();
    await Promise.all([alice, bob, carol].map((c) => c?.close()));
    await ts?.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  test('the server lists the proxy; it says what it is and where it listens', async () => {
    const items = await alice.iq('get', `<query xmlns='http://jabber.org/protocol/disco#items'/>`, { to: ts.domain });
    assert.ok(items.getChild('query')!.getChildren('item').some((i) => i.attrs.jid === PROXY));
    const info = await alice.iq('get', `<query xmlns='http://jabber.org/protocol/disco#info'/>`, { to: PROXY });
    const identity = info.getChild('query')!.getChild('identity')!;
    assert.deepEqual([identity.attrs.category, identity.attrs.type], ['proxy', 'bytestreams']);
    assert.ok(info.getChild('query')!.getChildren('feature').some((f) => f.attrs.var === BS));
    const q = await alice.iq('get', `<query xmlns='${BS}'/>`, { to: PROXY });
    const h = q.getChild('query', BS)!.getChild('streamhost')!;
    assert.deepEqual({ ...h.attrs }, { jid: PROXY, host: '127.0.0.1', port: String(port) });
    assert.ok(port > 0);
  });

  test('an offer reaches the target with only the proxy, at the proxy\'s real address; the bytes pass both ways unchanged', async () => {
    const { sid, got, hash } = await offer();
    const hosts = got.getChild('query', BS)!.getChildren('streamhost').map((h) => ({ ...h.attrs }));
    assert.deepEqual(hosts, [{ jid: PROXY, host: '127.0.0.1', port: String(port) }], 'the direct streamhost and the forged address are gone');

    const target = await open();
    assert.equal(await target.handshake(hash), 0);
    const initiator = await open();
    assert.equal(await initiator.handshake(hash), 0);
    // Sent before activation: held, not dropped (XEP-0065 §8.1).
    initiator.socket.write('early:');
    assert.equal((await activate(alice, sid, bob.jid!)).attrs.type, 'result');

    const payload = randomBytes(200 * 1024);
    initiator.socket.write(payload);
    const received = await target.take(6 + payload.length);
    assert.equal(received.subarray(0, 6).toString(), 'early:');
    assert.ok(received.subarray(6).equals(payload), 'byte-identical');
    target.socket.write('thanks');
    assert.equal((await initiator.take(6)).toString(), 'thanks');
    initiator.socket.end();
    await Promise.all([initiator.closed, target.closed]);
  });

  test('a hash no allowed offer named: SOCKS5 reply 2 (not allowed), connection closed', async () => {
    const c = await open();
    assert.equal(await c.handshake(streamHash('made-up', alice.jid!, bob.jid!)), 2);
    await c.closed;
  });

  test('activation by someone other than the initiator is forbidden; an unknown sid is item-not-found; a half-connected stream is not-allowed', async () => {
    const { sid, hash } = await offer();
    const target = await open();
    assert.equal(await target.handshake(hash), 0);

    const early = await activate(alice, sid, bob.jid!);
    assert.equal(early.attrs.type, 'error');
    assert.equal(stanzaError(early).condition, 'not-allowed');
    assert.match(stanzaError(early).text ?? '', /Both parties must be connected/);

    const initiator = await open();
    assert.equal(await initiator.handshake(hash), 0);
    for (const [who, tgt] of [[bob, bob.jid!], [carol, bob.jid!], [bob, alice.jid!]] as const) {
      const e = await activate(who, sid, tgt);
      assert.equal(e.attrs.type, 'error');
      assert.deepEqual(stanzaError(e), { type: 'auth', condition: 'forbidden', text: 'Only the initiator of the bytestream may activate it, for the target it was offered to.' });
    }
    const unknown = await activate(alice, 'no-such-sid', bob.jid!);
    assert.deepEqual(stanzaError(unknown), { type: 'cancel', condition: 'item-not-found', text: 'No bytestream with this sid was offered through this proxy.' });

    // The refusals took nothing away: the initiator still activates its stream.
    assert.equal((await activate(alice, sid, bob.jid!)).attrs.type, 'result');
    initiator.socket.write('ok');
    assert.equal((await target.take(2)).toString(), 'ok');
    initiator.socket.destroy();
    await target.closed;
  });

  test('limits: a second active stream (max_active 1) is resource-constraint; a stream over max_stream_bytes is closed', async () => {
    const first = await offer();
    const t1 = await open();
    const i1 = await open();
    assert.equal(await t1.handshake(first.hash), 0);
    assert.equal(await i1.handshake(first.hash), 0);
    assert.equal((await activate(alice, first.sid, bob.jid!)).attrs.type, 'result');

    const second = await offer(carol, bob);
    const t2 = await open();
    const i2 = await open();
    assert.equal(await t2.handshake(second.hash), 0);
    assert.equal(await i2.handshake(second.hash), 0);
    const busy = await activate(carol, second.sid, bob.jid!);
    assert.deepEqual(stanzaError(busy), { type: 'wait', condition: 'resource-constraint', text: 'The proxy relays as many transfers as it may; try again later.' });

    // Over the byte limit: both ends are closed, and what arrived stays under the limit.
    i1.socket.write(randomBytes(MAX_STREAM_BYTES + 64 * 1024));
    await Promise.all([i1.closed, t1.closed]);
    assert.ok(t1.data.length <= MAX_STREAM_BYTES, `${t1.data.length} bytes relayed`);

    // The slot is free again: the waiting pair is activated now.
    let activated: string | undefined;
    for (let i = 0; i < 50 && activated !== 'result'; i++) {
      activated = (await activate(carol, second.sid, bob.jid!)).attrs.type;
      if (activated !== 'result') await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(activated, 'result');
    i2.socket.destroy();
    await t2.closed;
  });

  test('limits: connections beyond max_pending (6) are closed before any SOCKS5 exchange', async () => {
    const held = await Promise.all(Array.from({ length: 6 }, () => open()));
    // The proxy counts a connection when it accepts it: make sure all six were accepted.
    for (const c of held) {
      c.socket.write(Buffer.from([5, 1, 0]));
      assert.deepEqual([...(await c.take(2))], [5, 0]);
    }
    const extra = await open();
    await extra.closed;
    assert.equal(extra.data.length, 0, 'nothing was answered');
    for (const c of held) c.socket.destroy();
    await Promise.all(held.map((c) => c.closed));
    // Room again once they are gone.
    await new Promise((r) => setTimeout(r, 50));
    const again = await open();
    again.socket.write(Buffer.from([5, 1, 0]));
    assert.deepEqual([...(await again.take(2))], [5, 0]);
    again.socket.destroy();
  });

  test('timeouts: a connection never activated, and an active stream that moves nothing, are closed', async () => {
    const idle = await offer();
    const t = await open();
    const i = await open();
    assert.equal(await t.handshake(idle.hash), 0);
    assert.equal(await i.handshake(idle.hash), 0);
    assert.equal((await activate(alice, idle.sid, bob.jid!)).attrs.type, 'result');
    const waiting = await offer();
    const lone = await open();
    assert.equal(await lone.handshake(waiting.hash), 0);
    const started = Date.now();
    await Promise.all([t.closed, i.closed, lone.closed]);
    assert.ok(Date.now() - started < 9000);
  });
});
