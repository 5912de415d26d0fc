// Abuse limits over real sockets: each refusal with its error, and a bystander
// who keeps being served. (Issue "Hardening against abuse", first slice.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { RawClient, login, stanzaError } from '../helpers/raw-client.ts';
import { XmlStreamParser } from '../../src/net/xml-stream.ts';
import type { Element } from '../../src/xmpp/element.ts';

/** Reads what the server sends on a plain socket until it closes. */
function plainConnect(port: number): Promise<{ elements: Element[]; closed: boolean }> {
  return new Promise((resolve) => {
    const elements: Element[] = [];
    const parser = new XmlStreamParser({ streamStart: () => undefined, stanza: (el) => elements.push(el), streamEnd: () => undefined, error: () => undefined });
    const s = tcpConnect(port, '127.0.0.1');
    s.on('data', (d: Buffer) => parser.write(d));
    s.on('error', () => undefined);
    s.on('close', () => resolve({ elements, closed: true }));
    setTimeout(() => {
      s.destroy();
      resolve({ elements, closed: false });
    }, 3000).unref();
  });
}

async function stillServed(bystander: RawClient): Promise<void> {
  const pong = await bystander.ping();
  assert.equal(pong.attrs.type, 'result', 'the bystander is still served');
}

describe('connection limits', () => {
  let ts: TestServer;
  let bystander: RawClient;
  const held: RawClient[] = [];

  before(async () => {
    ts = await startTestServer({ limits: { connections_per_ip: 3, connection_rate_per_ip: 1000, connection_burst_per_ip: 1000 } });
    const u = await ts.addUser('bystander');
    bystander = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password });
  });
  after(async () => {
    for (const c of held) c.destroy();
    bystander?.destroy();
    await ts?.stop();
  });

  test('past connections_per_ip, a STARTTLS connection gets a policy-violation stream error before any TLS', async () => {
    held.push(await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir }));
    held.push(await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir }));
    const refused = await plainConnect(ts.starttlsPort);
    assert.equal(refused.closed, true, 'the server closes the connection');
    const error = refused.elements.find((e) => e.name === 'error');
    assert.ok(error, 'a stream error is sent');
    assert.ok(error.getChild('policy-violation'));
    assert.match(error.getChildText('text') ?? '', /too many connections from 127\.0\.0\.1 \(limit 3\)/);
    await stillServed(bystander);
  });

  test('a direct-TLS connection past the limit is closed before the handshake', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const s = tlsConnect({ port: ts.directTlsPort, host: '127.0.0.1', rejectUnauthorized: false });
      s.on('secureConnect', () => resolve('handshake completed'));
      s.on('error', (err) => resolve(`error: ${err.message}`));
      s.on('close', () => resolve('closed'));
    });
    assert.notEqual(outcome, 'handshake completed');
    await stillServed(bystander);
  });

  test('closing a connection frees its place', async () => {
    held.pop()!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
    const header = await c.openStream();
    assert.equal(header.name, 'features');
    held.push(c);
  });
});

describe('connection rate per IP', () => {
  test('new connections past the burst are refused until the bucket refills', async () => {
    const ts = await startTestServer({ limits: { connections_per_ip: 100, connection_rate_per_ip: 1, connection_burst_per_ip: 2 } });
    try {
      // Three at once: the first two fit the burst and stay open (the server waits for their headers).
      const [a, b, third] = await Promise.all([plainConnect(ts.starttlsPort), plainConnect(ts.starttlsPort), plainConnect(ts.starttlsPort)]);
      assert.deepEqual([a.closed, b.closed], [false, false], 'the first two are admitted');
      const error = third.elements.find((e) => e.name === 'error');
      assert.ok(error?.getChild('policy-violation'), 'the third connection in a burst of two is refused');
      assert.match(error!.getChildText('text') ?? '', /too many new connections from 127\.0\.0\.1 \(limit 1 per second\)/);
    } finally {
      await ts.stop();
    }
  });
});

describe('sessions per account', () => {
  test('binding more resources than sessions_per_account gets resource-constraint; replacing one is allowed', async () => {
    const ts = await startTestServer({ limits: { sessions_per_account: 2 } });
    const clients: RawClient[] = [];
    try {
      const u = await ts.addUser('many');
      const opts = { port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password };
      clients.push(await login({ ...opts, resource: 'one' }), await login({ ...opts, resource: 'two' }));
      await assert.rejects(login({ ...opts, resource: 'three' }), /resource-constraint|bind/);
      const c = await RawClient.connect(opts);
      clients.push(c);
      await c.openStream();
      await c.startTls();
      assert.deepEqual(await c.authenticate({ mechanism: 'SCRAM-SHA-256', username: u.local, password: u.password }), { ok: true });
      await c.openStream();
      c.send(`<iq type='set' id='b3'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>three</resource></bind></iq>`);
      const reply = await c.next((e) => e.attrs.id === 'b3');
      assert.deepEqual(stanzaError(reply), { type: 'wait', condition: 'resource-constraint', text: 'This account already has 2 sessions, the most allowed.' });
      assert.equal(ts.server.sessions.ofAccount(`many@${ts.domain}`).length, 2);
      // The same resource again replaces the old session (conflict) rather than counting as a third.
      const again = await login({ ...opts, resource: 'one' });
      clients.push(again);
      assert.equal(ts.server.sessions.ofAccount(`many@${ts.domain}`).length, 2);
      await stillServed(clients[1]!);
    } finally {
      for (const c of clients) c.destroy();
      await ts.stop();
    }
  });
});

describe('traffic limits', () => {
  test('a stream that keeps sending faster than allowed is slowed, then closed with policy-violation; others are unaffected', async () => {
    const ts = await startTestServer({ limits: { bytes_per_second: 2048, bytes_burst: 4096, throttle_tolerance: 1 } });
    try {
      const a = await ts.addUser('flooder');
      const b = await ts.addUser('calm');
      const flooder = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: a.local, password: a.password });
      const calm = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: b.local, password: b.password });
      const chunk = `<message to='nobody@${ts.domain}' type='headline'><body>${'x'.repeat(900)}</body></message>`;
      const started = Date.now();
      const flood = setInterval(() => {
        if (!flooder.socket.destroyed) flooder.sendRaw(chunk.repeat(4));
      }, 50);
      try {
        const error = await flooder.expectStreamError('policy-violation', 10_000);
        assert.equal(error.text, 'You are sending too fast for too long.');
        assert.ok(Date.now() - started >= 1000, 'not before the tolerance has passed');
      } finally {
        clearInterval(flood);
      }
      await stillServed(calm);
      calm.destroy();
    } finally {
      await ts.stop();
    }
  });

  test('the account limit: three sessions each within their own rate but together above the account rate are held back, then closed; another account is not', async () => {
    // Each stream may send 100 stanzas/s; the account 50/s in all. Three sessions at 50/s each: 150/s for the account.
    const ts = await startTestServer({
      limits: { stanzas_per_second: 100, stanzas_burst: 100, account_stanzas_per_second: 50, account_stanzas_burst: 50, throttle_tolerance: 1 },
    });
    const clients: RawClient[] = [];
    try {
      const busy = await ts.addUser('busy');
      const other = await ts.addUser('other');
      const opts = { port: ts.starttlsPort, dataDir: ts.dataDir };
      for (const resource of ['one', 'two', 'three']) clients.push(await login({ ...opts, username: busy.local, password: busy.password, resource }));
      const solo = await login({ ...opts, username: other.local, password: other.password });
      clients.push(solo);
      let n = 0;
      const ping = (c: RawClient) => {
        if (!c.socket.destroyed) c.sendRaw(`<iq type='get' id='p${++n}'><ping xmlns='urn:xmpp:ping'/></iq>`);
      };
      // 50 stanzas/s from each busy session; 25/s from the other account, within both of its limits.
      let tick = 0;
      const sending = setInterval(() => {
        for (const c of clients.slice(0, 3)) ping(c);
        if (++tick % 2 === 0) ping(solo);
      }, 20);
      const started = Date.now();
      try {
        for (const c of clients.slice(0, 3)) {
          const error = await c.expectStreamError('policy-violation', 10_000);
          assert.equal(error.text, 'You are sending too fast for too long.');
        }
        assert.ok(Date.now() - started >= 1000, 'not before the tolerance has passed');
        assert.equal(solo.closed, false, 'the other account, at 25 stanzas/s, is still connected');
      } finally {
        clearInterval(sending);
      }
      await stillServed(solo);
      // Once the account's debt is paid (at most one burst: 1 s at 50/s) and its burst back, a new session of it is served.
      await new Promise((r) => setTimeout(r, 2500));
      const back = await login({ ...opts, username: busy.local, password: busy.password, resource: 'four' });
      clients.push(back);
      await stillServed(back);
    } finally {
      for (const c of clients) c.destroy();
      await ts.stop();
    }
  });

  test('the account byte limit: two sessions each within their own byte rate but together above the account rate are closed; another account is not', async () => {
    // Each stream may send 64 KiB/s; the account 32 KiB/s in all. Two sessions at 20 KiB/s each: 40 KiB/s for the account.
    const ts = await startTestServer({
      limits: { bytes_per_second: 65_536, bytes_burst: 65_536, account_bytes_per_second: 32_768, account_bytes_burst: 32_768, throttle_tolerance: 1 },
    });
    const clients: RawClient[] = [];
    try {
      const heavy = await ts.addUser('heavy');
      const light = await ts.addUser('light');
      const opts = { port: ts.starttlsPort, dataDir: ts.dataDir };
      for (const resource of ['one', 'two']) clients.push(await login({ ...opts, username: heavy.local, password: heavy.password, resource }));
      const other = await login({ ...opts, username: light.local, password: light.password });
      clients.push(other);
      // A 1 KiB headline to nobody: nothing comes back, only bytes count.
      const kib = `<message to='nobody@${ts.domain}' type='headline'><body>${'x'.repeat(950)}</body></message>`;
      let tick = 0;
      const sending = setInterval(() => {
        for (const c of clients.slice(0, 2)) if (!c.socket.destroyed) c.sendRaw(kib);
        // 10 KiB/s from the other account: within both of its limits.
        if (++tick % 2 === 0 && !other.socket.destroyed) other.sendRaw(kib);
      }, 50);
      const started = Date.now();
      try {
        for (const c of clients.slice(0, 2)) {
          const error = await c.expectStreamError('policy-violation', 15_000);
          assert.equal(error.text, 'You are sending too fast for too long.');
        }
        assert.ok(Date.now() - started >= 1000, 'not before the tolerance has passed');
        assert.equal(other.closed, false, 'the other account is still connected');
      } finally {
        clearInterval(sending);
      }
      await stillServed(other);
    } finally {
      for (const c of clients) c.destroy();
      await ts.stop();
    }
  });

  test('an idle bound client is pinged, and disconnected when it does not answer', async () => {
    const ts = await startTestServer({ limits: { idle_timeout: 10, ping_timeout: 1 } });
    try {
      const u = await ts.addUser('sleepy');
      const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password });
      c.answerVersion = false; // it answers nothing, not even the sessions module's version query
      const ping = await c.next((e) => e.name === 'iq' && e.getChild('ping') !== undefined, 12_000);
      assert.equal(ping.attrs.type, 'get');
      assert.equal(ping.attrs.from, ts.domain);
      const error = await c.expectStreamError('connection-timeout', 3000);
      assert.equal(error.text, 'No answer to the server ping.');
    } finally {
      await ts.stop();
    }
  });
});

describe('brute force', () => {
  test('failures are answered ever later, the account locks after lockout_failures, and a locked account refuses even the right password exactly like a wrong one', async () => {
    const ts = await startTestServer({ auth: { failure_delay_max: 0.5, lockout_failures: 3, lockout_window: 60, lockout_duration: 60 } });
    try {
      const u = await ts.addUser('target');
      const attempt = async (password: string) => {
        const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
        await c.openStream();
        await c.startTls();
        const t0 = Date.now();
        const r = await c.authenticate({ mechanism: 'SCRAM-SHA-256', username: u.local, password });
        const ms = Date.now() - t0;
        c.destroy();
        return { r, ms };
      };
      const first = await attempt('wrong-1');
      const second = await attempt('wrong-2');
      const third = await attempt('wrong-3');
      for (const { r } of [first, second, third]) assert.equal(r.ok ? 'ok' : r.condition, 'not-authorized');
      assert.ok(second.ms >= 240 && third.ms >= 450, `delays grow (${first.ms}, ${second.ms}, ${third.ms} ms)`);
      const locked = await attempt(u.password);
      assert.deepEqual(locked.r.ok ? 'ok' : [locked.r.condition, locked.r.text], ['not-authorized', 'Authentication failed']);
      const audit = await ts.server.storage.audit.list({ action: 'auth.lockout' });
      assert.equal(audit.length, 1);
      assert.deepEqual(audit[0]!.details, { account: `target@${ts.domain}` });
      // An unknown account gets the same answers and locks the same way.
      const ghost = async () => {
        const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
        await c.openStream();
        await c.startTls();
        const r = await c.authenticate({ mechanism: 'SCRAM-SHA-256', username: 'ghost', password: 'whatever-1' });
        c.destroy();
        return r.ok ? 'ok' : [r.condition, r.text];
      };
      assert.deepEqual(await ghost(), ['not-authorized', 'Authentication failed']);
      // Unlocking (what `palisade user unlock` does) lets the right password in again.
      assert.equal(await ts.server.guard.unlock('target'), true);
      const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password });
      c.destroy();
    } finally {
      await ts.stop();
    }
  });
});
