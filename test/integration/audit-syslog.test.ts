// Must show (issue #6, syslog forwarding of the audit log): a real server
// forwards every audit entry it appends to a real collector in this test —
// a UDP socket (one RFC 5424 message per datagram), a TCP and a TLS listener
// (RFC 6587 octet counting) — each message carrying the entry's sequence
// number, actor, decision and hash as structured data, and never a message
// body. With the collector down the server keeps working, the entries are in
// the local (verified) log, the queue keeps only the newest queue_max entries,
// and once the collector listens the forwarder reconnects and delivers them.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { createSelfSigned } from '../../src/net/x509.ts';
import { verifyAuditLog } from '../../src/policy/audit-log.ts';
import { SD_ID } from '../../src/policy/syslog.ts';
import type { AuditEntry } from '../../src/storage/types.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';

const SECRET = 'SECRET-BODY-7f3a';
const DENY_TEXT = 'No messages to bob in this test.';
const POLICY = `
version: 1
rules:
  - name: not-to-bob
    peer: { users: [bob@localhost] }
    action: stanza.message
    decision: deny
    text: ${DENY_TEXT}
  - name: local
    subject: { local: true }
    decision: allow
`;

interface Parsed {
  pri: number;
  ts: string;
  host: string;
  app: string;
  procid: string;
  msgid: string;
  sdId: string;
  params: Record<string, string>;
  msg: string;
}

/** Parses one RFC 5424 message as a collector would (one SD element, as Palisade writes). */
function parse5424(text: string): Parsed {
  const m = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[(\S+)((?: [^=\s\]"]+="(?:[^"\\\]]|\\["\\\]])*")*)\] \uFEFF(.*)$/su.exec(text);
  assert.ok(m, `not an RFC 5424 message with structured data: ${text}`);
  const params: Record<string, string> = {};
  for (const p of m[8]!.matchAll(/ ([^=\s\]"]+)="((?:[^"\\\]]|\\["\\\]])*)"/gu)) params[p[1]!] = p[2]!.replace(/\\(["\\\]])/g, '$1');
  return { pri: Number(m[1]), ts: m[2]!, host: m[3]!, app: m[4]!, procid: m[5]!, msgid: m[6]!, sdId: m[7]!, params, msg: m[9]! };
}

/** Splits a TCP byte stream into RFC 6587 octet-counted frames. */
function octetDeframer(onFrame: (text: string) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const space = buf.indexOf(0x20);
      if (space < 0) return;
      const len = Number(buf.subarray(0, space).toString('ascii'));
      assert.ok(Number.isInteger(len) && len > 0, `bad frame length ${buf.subarray(0, space).toString()}`);
      if (buf.length < space + 1 + len) return;
      onFrame(buf.subarray(space + 1, space + 1 + len).toString('utf8'));
      buf = buf.subarray(space + 1 + len);
    }
  };
}

class Collector {
  readonly lines: string[] = [];
  private waiters: (() => void)[] = [];
  add(text: string): void {
    this.lines.push(text);
    for (const w of this.waiters.splice(0)) w();
  }
  async until(pred: (lines: Parsed[]) => boolean, timeoutMs = 15_000): Promise<Parsed[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const parsed = this.lines.map(parse5424);
      if (pred(parsed)) return parsed;
      const left = end - Date.now();
      if (left <= 0) assert.fail(`collector: condition not met; got ${this.lines.length} messages`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}

function streamCollector(server: NetServer, c: Collector, sockets: Set<Socket>): void {
  server.on('connection', (s) => track(s, c, sockets));
  server.on('secureConnection', (s) => track(s, c, sockets));
}

function track(s: Socket, c: Collector, sockets: Set<Socket>): void {
  sockets.add(s);
  s.on('data', octetDeframer((t) => c.add(t)));
  s.on('close', () => sockets.delete(s));
  s.on('error', () => undefined);
}

const listen = (server: NetServer, port = 0) => new Promise<number>((r) => server.listen(port, '127.0.0.1', () => r((server.address() as AddressInfo).port)));

async function allEntries(ts: TestServer): Promise<AuditEntry[]> {
  return ts.server.storage.audit.list({ afterSeq: 0, limit: 1000 });
}

describe('syslog forwarding of the audit log', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  const policyFile = () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-syslog-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const f = join(dir, 'policy.yaml');
    writeFileSync(f, POLICY);
    return { dir, file: f };
  };

  /** A login, a failed login, and a refused message with a body: three kinds of entries. */
  const traffic = async (ts: TestServer): Promise<void> => {
    const alice = await ts.addUser('alice');
    await ts.addUser('bob');
    const c: RawClient = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'alice', password: alice.password, resource: 'desk' });
    try {
      await assert.rejects(login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'alice', password: 'wrong-password', resource: 'x' }));
      c.send(`<message type='chat' to='bob@localhost' id='m1'><body>${SECRET}</body></message>`);
      const err = await c.next((e) => e.name === 'message' && e.attrs.id === 'm1' && e.attrs.type === 'error');
      assert.equal(stanzaError(err).text, DENY_TEXT);
    } finally {
      await c.close();
    }
  };

  /** Every forwarded message matches the local entry of its sequence number, and none carries the body. */
  const assertMatchesLog = async (ts: TestServer, got: Parsed[], facility: number, app: string) => {
    const local = new Map((await allEntries(ts)).map((e) => [e.seq, e]));
    for (const p of got) {
      const e = local.get(Number(p.params.seq));
      assert.ok(e, `forwarded seq ${p.params.seq} is in the local log`);
      assert.equal(p.sdId, SD_ID);
      assert.equal(p.params.hash, e.hash);
      assert.equal(p.params.actor, e.actor);
      assert.equal(p.params.decision, e.decision);
      assert.equal(p.msgid, e.action);
      assert.equal(p.msg, e.reason);
      assert.equal(p.ts, e.ts.toISOString());
      assert.equal(p.host, hostname().replace(/[^\x21-\x7e]/g, '_'));
      assert.equal(p.app, app);
      assert.equal(p.procid, String(process.pid));
      assert.equal(p.pri, facility * 8 + (e.decision === 'deny' ? 4 : 6));
    }
  };

  test('UDP: one datagram per entry, RFC 5424 with the entry as structured data; no message body', async () => {
    const collector = new Collector();
    const udp = createSocket('udp4');
    udp.on('message', (b) => collector.add(b.toString('utf8')));
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => udp.close(() => r())));
    const { file } = policyFile();
    const ts = await startTestServer({
      policy: { file, audit_syslog: { host: '127.0.0.1', port: udp.address().port, protocol: 'udp', facility: 'local3', app_name: 'palisade-test' } },
    });
    cleanups.push(() => ts.stop());
    await traffic(ts);
    const got = await collector.until((ls) => ls.some((l) => l.params.rule === 'not-to-bob') && ls.filter((l) => l.msgid === 'login').length >= 2);
    await assertMatchesLog(ts, got, 19, 'palisade-test');
    const refusal = got.find((l) => l.params.rule === 'not-to-bob')!;
    assert.equal(refusal.params.actor, 'alice@localhost');
    assert.equal(refusal.params.decision, 'deny');
    assert.equal(refusal.params.target, 'bob@localhost');
    assert.equal(refusal.msg, DENY_TEXT);
    assert.deepEqual(got.filter((l) => l.msgid === 'login').map((l) => l.params.decision).sort(), ['allow', 'deny']);
    assert.ok(!collector.lines.some((l) => l.includes(SECRET)), 'no message body is forwarded');
  });

  test('TCP: octet-counted frames, one per entry, every entry of the local log', async () => {
    const collector = new Collector();
    const sockets = new Set<Socket>();
    const server = createNetServer();
    streamCollector(server, collector, sockets);
    const port = await listen(server);
    cleanups.push(() => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))));
    const { file } = policyFile();
    const ts = await startTestServer({ policy: { file, audit_syslog: { host: '127.0.0.1', port, protocol: 'tcp', facility: 'authpriv' } } });
    cleanups.push(() => ts.stop());
    await traffic(ts);
    const local = await allEntries(ts);
    const got = await collector.until((ls) => ls.length >= local.length);
    assert.deepEqual(got.map((l) => Number(l.params.seq)), local.map((e) => e.seq), 'every entry, in order');
    await assertMatchesLog(ts, got, 10, 'palisade');
    assert.ok(!collector.lines.some((l) => l.includes(SECRET)));
  });

  test('TLS: the collector certificate is checked against ca_file; frames as over TCP', async () => {
    const { certPem, keyPem } = createSelfSigned('localhost');
    const { dir, file } = policyFile();
    writeFileSync(join(dir, 'collector-ca.pem'), certPem);
    const collector = new Collector();
    const sockets = new Set<Socket>();
    const server = createTlsServer({ cert: certPem, key: keyPem });
    streamCollector(server, collector, sockets);
    const port = await listen(server);
    cleanups.push(() => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))));
    const ts = await startTestServer({
      policy: { file, audit_syslog: { host: '127.0.0.1', port, protocol: 'tls', facility: 'local0', ca_file: join(dir, 'collector-ca.pem') } },
    });
    cleanups.push(() => ts.stop());
    await traffic(ts);
    const got = await collector.until((ls) => ls.some((l) => l.params.rule === 'not-to-bob'));
    await assertMatchesLog(ts, got, 16, 'palisade');
  });

  test('collector down: the server keeps working, the local log has every entry, the newest queue_max are delivered once it is back', async () => {
    // A port with nothing listening on it (taken and released).
    const probe = createNetServer();
    const port = await listen(probe);
    await new Promise<void>((r) => probe.close(() => r()));

    const { file } = policyFile();
    const ts = await startTestServer({ policy: { file, audit_syslog: { host: '127.0.0.1', port, protocol: 'tcp', facility: 'local1', queue_max: 3 } } });
    cleanups.push(() => ts.stop());
    await traffic(ts);
    // Still serving: another login and a delivered message.
    const bob = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'bob', password: 'pw-bob-secret', resource: 'desk' });
    assert.equal((await bob.ping()).attrs.type, 'result');
    await bob.close();

    // alice's login, the failed one, the refusal, bob's login (appended off the login path: wait for it).
    let local = await allEntries(ts);
    for (let i = 0; i < 100 && local.length < 4; i++) {
      await new Promise((r) => setTimeout(r, 20));
      local = await allEntries(ts);
    }
    assert.equal(local.length, 4);
    const report = await verifyAuditLog(ts.server.storage, ts.dataDir);
    assert.equal(report.ok, true);
    const stats = ts.server.policyEngine.audit.syslogStats()!;
    assert.equal(stats.connected, false);
    assert.equal(stats.queued, 3);
    assert.equal(stats.dropped, local.length - 3);

    // The collector comes up on that port: the forwarder reconnects (backoff) and sends what it kept.
    const collector = new Collector();
    const sockets = new Set<Socket>();
    const server = createNetServer();
    streamCollector(server, collector, sockets);
    await listen(server, port);
    cleanups.push(() => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))));
    const got = await collector.until((ls) => ls.length >= 3, 20_000);
    assert.deepEqual(got.map((l) => Number(l.params.seq)), local.slice(-3).map((e) => e.seq), 'the newest three, the oldest dropped');
    await assertMatchesLog(ts, got, 17, 'palisade');
    assert.equal(ts.server.policyEngine.audit.syslogStats()!.connected, true);
  });
});
