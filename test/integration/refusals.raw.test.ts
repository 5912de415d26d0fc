// Refusal tests for the limits that had none of their own (issue #7): old TLS
// versions, the total connection limit, the stanza rate and the byte rate
// before authentication. Each asserts the documented behaviour over real
// sockets (delay, then a stream error with its text) and that a bystander who
// was logged in all along is still served.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { readFileSync } from 'node:fs';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { RawClient, login } from '../helpers/raw-client.ts';
import { XmlStreamParser } from '../../src/net/xml-stream.ts';
import type { Element } from '../../src/xmpp/element.ts';
import type { Config, DeepPartial } from '../../src/config/schema.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A server with one logged-in bystander; fn gets both; everything is torn down after. */
async function withServer(overrides: DeepPartial<Config>, fn: (ts: TestServer, bystander: RawClient) => Promise<void>): Promise<void> {
  const ts = await startTestServer(overrides);
  let bystander: RawClient | undefined;
  try {
    const u = await ts.addUser('bystander');
    bystander = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password });
    await fn(ts, bystander);
    const pong = await bystander.ping();
    assert.equal(pong.attrs.type, 'result', 'the bystander is still served');
  } finally {
    bystander?.destroy();
    await ts.stop();
  }
}

/** Outcome of a TLS handshake: the negotiated protocol, or the error code. */
function handshake(opts: ConnectionOptions): Promise<{ protocol?: string; code?: string; message?: string }> {
  return new Promise((resolve) => {
    const s = tlsConnect(opts);
    s.on('secureConnect', () => {
      resolve({ protocol: s.getProtocol() ?? undefined });
      s.destroy();
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve({ code: err.code, message: err.message }));
  });
}

/** TLS 1.0 and 1.1 only, with the cipher suites they need (OpenSSL hides them at the default security level). */
const OLD_TLS = { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;

describe('TLS versions below tls.min_version are refused with a protocol_version alert', () => {
  test('direct TLS (XEP-0368): a TLS 1.0/1.1-only client fails the handshake; a TLS 1.2 client succeeds', async () => {
    await withServer({}, async (ts) => {
      const base = { port: ts.directTlsPort, host: '127.0.0.1', servername: 'localhost', ca: readFileSync(`${ts.dataDir}/tls/localhost.crt`) };
      for (const version of ['TLSv1', 'TLSv1.1'] as const) {
        const old = await handshake({ ...base, ...OLD_TLS, maxVersion: version });
        assert.equal(old.protocol, undefined, `${version} must not be negotiated`);
        assert.equal(old.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', `${version}: ${old.message}`);
      }
      // The same client, allowed TLS 1.2, gets in: the refusal above is the version, not the client.
      const ok = await handshake({ ...base, ...OLD_TLS, maxVersion: 'TLSv1.2' });
      assert.equal(ok.protocol, 'TLSv1.2');
    });
  });

  test('STARTTLS: a TLS 1.1 handshake after <proceed/> fails with a protocol_version alert and the connection ends', async () => {
    await withServer({}, async (ts) => {
      const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
      await c.openStream();
      c.sendRaw(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`);
      await c.next((e) => e.name === 'proceed');
      c.socket.removeAllListeners('data');
      const outcome = await handshake({ socket: c.socket, servername: 'localhost', rejectUnauthorized: false, ...OLD_TLS });
      assert.equal(outcome.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', outcome.message);
      await c.waitClosed();
    });
  });

  test('with tls.min_version TLSv1.3, a TLS 1.2-only client is refused the same way', async () => {
    await withServer({ tls: { min_version: 'TLSv1.3' } }, async (ts) => {
      const r = await handshake({ port: ts.directTlsPort, host: '127.0.0.1', rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
      assert.equal(r.code, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', r.message);
      const ok = await handshake({ port: ts.directTlsPort, host: '127.0.0.1', rejectUnauthorized: false });
      assert.equal(ok.protocol, 'TLSv1.3');
    });
  });
});

/** Reads what the server sends on a plain socket until it closes (or 3 s pass). */
function plainConnect(port: number, host = '127.0.0.1', localAddress?: string): Promise<{ elements: Element[]; closed: boolean }> {
  return new Promise((resolve) => {
    const elements: Element[] = [];
    const parser = new XmlStreamParser({ streamStart: () => undefined, stanza: (el) => elements.push(el), streamEnd: () => undefined, error: () => undefined });
    const s = tcpConnect({ port, host, localAddress });
    s.on('data', (d: Buffer) => parser.write(d));
    s.on('error', () => undefined);
    s.on('close', () => resolve({ elements, closed: true }));
    setTimeout(() => {
      s.destroy();
      resolve({ elements, closed: false });
    }, 3000).unref();
  });
}

describe('limits.max_connections', () => {
  test('past the total, a connection from any address gets policy-violation before TLS; a freed place is usable again', async () => {
    // The bystander holds one of the three places.
    await withServer({ limits: { max_connections: 3 } }, async (ts) => {
      const a = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
      const b = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir, localAddress: '127.0.0.2' });
      await Promise.all([a.openStream(), b.openStream()]);
      for (const from of ['127.0.0.3', '127.0.0.1']) {
        const refused = await plainConnect(ts.starttlsPort, '127.0.0.1', from);
        assert.equal(refused.closed, true, `the connection from ${from} is closed`);
        const error = refused.elements.find((e) => e.name === 'error');
        assert.ok(error?.getChild('policy-violation'), `a policy-violation stream error for ${from}`);
        assert.equal(error!.getChildText('text'), 'the server has reached its connection limit');
      }
      // Direct TLS: closed before the handshake completes.
      const direct = await handshake({ port: ts.directTlsPort, host: '127.0.0.1', rejectUnauthorized: false });
      assert.equal(direct.protocol, undefined, 'no TLS session past max_connections');
      b.destroy();
      await b.waitClosed();
      await sleep(100);
      const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir, localAddress: '127.0.0.3' });
      assert.equal((await c.openStream()).name, 'features', 'the freed place is given to the next connection');
      a.destroy();
      c.destroy();
    });
  });
});

describe('limits.stanzas_per_second', () => {
  test('a stream sending small stanzas faster than allowed is delayed, then closed with policy-violation after throttle_tolerance', async () => {
    const limits = { stanzas_per_second: 50, stanzas_burst: 10, bytes_per_second: 1_048_576, bytes_burst: 1_048_576, throttle_tolerance: 2 };
    await withServer({ limits }, async (ts, bystander) => {
      const u = await ts.addUser('chatty');
      const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password });
      // The limit is enforced by backpressure: stanzas already read are handled, then the
      // socket is not read until the debt is paid. 60 pings (50 past the burst of 10, at
      // 50/s) hold the stream back for about a second; a ping sent right after waits for that.
      const pings = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `<iq type='get' id='${prefix}${i}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`).join('');
      const started = Date.now();
      c.sendRaw(pings('a', 60));
      await c.next((e) => e.attrs.id === 'a59');
      c.sendRaw(pings('b', 1));
      await c.next((e) => e.attrs.id === 'b0', 5000);
      const delayedMs = Date.now() - started;
      assert.ok(delayedMs >= 800, `the stanza after the burst waits for the rate (≈ 1 s; was ${delayedMs} ms)`);
      const batch = pings('f', 20);
      await bystander.ping();
      // Keep going without a break: held back longer than 2 s, the stream is closed.
      const flood = setInterval(() => {
        if (!c.socket.destroyed) c.sendRaw(batch);
      }, 100);
      try {
        const error = await c.expectStreamError('policy-violation', 15_000);
        assert.equal(error.text, 'You are sending too fast for too long.');
        await c.waitClosed();
      } finally {
        clearInterval(flood);
      }
    });
  });
});

describe('limits.unauthenticated_bytes_per_second', () => {
  test('a client that streams bytes before authenticating is slowed to the rate, then closed with policy-violation', async () => {
    await withServer({ limits: { unauthenticated_bytes_per_second: 1024, throttle_tolerance: 1 } }, async (ts) => {
      const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
      await c.openStream();
      // Whitespace between elements is allowed (keepalives), so only the byte rate can stop this.
      const started = Date.now();
      const junk = ' '.repeat(4096);
      const flood = setInterval(() => {
        if (!c.socket.destroyed) c.sendRaw(junk);
      }, 50);
      try {
        const error = await c.expectStreamError('policy-violation', 10_000);
        assert.equal(error.text, 'You are sending too fast for too long.');
        assert.ok(Date.now() - started >= 1000, 'closed only after throttle_tolerance');
        await c.waitClosed();
      } finally {
        clearInterval(flood);
      }
    });
  });

  test('the same bytes after authentication are within bytes_per_second and not refused', async () => {
    await withServer({ limits: { unauthenticated_bytes_per_second: 1024, throttle_tolerance: 1 } }, async (ts) => {
      const u = await ts.addUser('fine');
      const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password });
      const junk = ' '.repeat(4096);
      for (let i = 0; i < 30; i++) {
        c.sendRaw(junk);
        await sleep(50);
      }
      assert.equal((await c.ping()).attrs.type, 'result', 'the authenticated stream is still open and served');
      c.destroy();
    });
  });
});
