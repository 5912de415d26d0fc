// The HTTPS listener over real sockets: XMPP over WebSocket (RFC 7395) frame by
// frame, connection discovery (XEP-0156), the web client's files and headers,
// and what it does with bad input (each refusal, then someone else still served).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, type RawClient } from '../helpers/raw-client.ts';
import { WsClient, trustTestServer, wsLogin } from '../helpers/ws-client.ts';
import { NS } from '../../src/xmpp/ns.ts';

interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function fetchFrom(ts: TestServer, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: ts.httpsPort, path, method: opts.method ?? 'GET', headers: opts.headers, ...trustTestServer(ts.dataDir) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Opens a WebSocket with the given subprotocols and reports the HTTP status the server refused it with. */
function refusedUpgrade(ts: TestServer, protocols: string[], path = '/xmpp-websocket'): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${ts.httpsPort}${path}`, protocols, trustTestServer(ts.dataDir));
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', () => undefined);
  });
}

const httpsOn = { listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } } };

describe('XMPP over WebSocket (RFC 7395)', () => {
  let ts: TestServer;
  let alice: { local: string; password: string; jid: string };
  let bob: { local: string; password: string; jid: string };
  let bystander: RawClient;
  /** Ends what a test left open. */
  const cleanup: (() => void)[] = [];

  before(async () => {
    ts = await startTestServer(httpsOn);
    alice = await ts.addUser('alice');
    bob = await ts.addUser('bob');
    const carol = await ts.addUser('carol');
    bystander = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: carol.local, password: carol.password, resource: 'tcp' });
  });

  after(async () => {
    for (const end of cleanup) end();
    bystander?.destroy();
    await ts?.stop();
  });

  async function wsClient(): Promise<WsClient> {
    const c = await WsClient.connect({ port: ts.httpsPort, dataDir: ts.dataDir });
    cleanup.push(() => c.terminate());
    return c;
  }

  async function stillServed(): Promise<void> {
    assert.equal((await bystander.ping()).attrs.type, 'result', 'a TCP client is still served');
    const c = await wsClient();
    const { features } = await c.open();
    assert.ok(features.getChild('mechanisms', NS.sasl), 'a new WebSocket client is still served');
    c.terminate();
  }

  test('<open/> is answered with <open/> and <stream:features/> (SASL, no STARTTLS), each frame a complete element', async () => {
    const c = await wsClient();
    assert.equal(c.ws.protocol, 'xmpp', "the server selected the 'xmpp' subprotocol");
    const { open: header, features } = await c.open();
    assert.equal(header.attrs.xmlns, NS.framing);
    assert.equal(header.attrs.from, ts.domain);
    assert.equal(header.attrs.version, '1.0');
    assert.ok(header.attrs.id && header.attrs.id.length >= 16, 'a stream id');
    assert.match(c.frames[0]!, /^<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" /);
    assert.match(c.frames[1]!, /^<stream:features xmlns:stream="http:\/\/etherx\.jabber\.org\/streams">/, 'the features frame declares its stream prefix');
    const mechanisms = features.getChild('mechanisms', NS.sasl)?.getChildren('mechanism').map((m) => m.text) ?? [];
    for (const m of ['SCRAM-SHA-1', 'SCRAM-SHA-256', 'SCRAM-SHA-512']) assert.ok(mechanisms.includes(m), `${m} offered (got ${mechanisms.join(', ')})`);
    assert.ok(!mechanisms.includes('PLAIN'), 'PLAIN is off by default');
    assert.equal(features.getChild('starttls', NS.tls), undefined, 'no STARTTLS inside TLS');
    c.terminate();
  });

  test('SCRAM login, new <open/>, bind; messages both ways with a TCP client, jabber:client on every stanza frame', async () => {
    const w = await wsLogin({ port: ts.httpsPort, dataDir: ts.dataDir, username: alice.local, password: alice.password, resource: 'browser' });
    cleanup.push(() => w.terminate());
    assert.equal(w.jid, `${alice.jid}/browser`);
    const session = [...ts.server.sessions.all()].find((s) => s.jid.toString() === w.jid);
    assert.ok(session, 'the server has the bound session');
    assert.equal(session.security.tls, true);
    assert.equal(session.security.mechanism, 'SCRAM-SHA-256');

    const b = await login({ port: ts.directTlsPort, directTls: true, dataDir: ts.dataDir, username: bob.local, password: bob.password, resource: 'desk' });
    cleanup.push(() => b.destroy());
    // Available, so that a message to the bare JID is delivered rather than stored offline.
    w.send(`<presence xmlns='jabber:client'/>`);
    b.send('<presence/>');
    await w.next((el) => el.name === 'presence' && el.attrs.from === w.jid);
    await b.next((el) => el.name === 'presence' && el.attrs.from === b.jid);

    w.send(`<message xmlns='jabber:client' to='${bob.jid}' type='chat' id='ws1'><body>Hello Bob, over WebSocket</body></message>`);
    const atBob = await b.next((el) => el.name === 'message' && el.attrs.id === 'ws1');
    assert.equal(atBob.getChildText('body'), 'Hello Bob, over WebSocket');
    assert.equal(atBob.attrs.from, w.jid, 'stamped with the WebSocket session’s full JID');

    b.send(`<message to='${w.jid}' type='chat' id='tcp1'><body>Hi Alice — ünïcödé ✓</body></message>`);
    const atAlice = await w.next((el) => el.name === 'message' && el.attrs.id === 'tcp1');
    assert.equal(atAlice.getChildText('body'), 'Hi Alice — ünïcödé ✓');
    assert.equal(atAlice.attrs.from, b.jid);
    assert.equal(atAlice.attrs.xmlns, NS.client);

    // RFC 7395 §3.3.3: every stanza frame carries its own namespace.
    const stanzaFrames = w.frames.filter((f) => /^<(message|presence|iq)[ >]/.test(f));
    assert.ok(stanzaFrames.length >= 2, 'bind result and message seen');
    for (const f of stanzaFrames) assert.match(f, /^<(message|presence|iq) xmlns="jabber:client"/, f);
    b.destroy();
  });

  test('<close/> ends the stream: the server answers <close/>, closes the WebSocket and ends the session', async () => {
    const w = await wsLogin({ port: ts.httpsPort, dataDir: ts.dataDir, username: alice.local, password: alice.password, resource: 'closing' });
    cleanup.push(() => w.terminate());
    w.send(`<close xmlns='${NS.framing}'/>`);
    const close = await w.next((el) => el.name === 'close');
    assert.equal(close.attrs.xmlns, NS.framing);
    assert.equal(await w.waitClosed(), 1000);
    assert.equal(ts.server.sessions.ofAccount(alice.jid).filter((s) => s.jid.resource === 'closing').length, 0, 'the session is gone');
  });

  for (const [what, frame] of [
    ['an unclosed element', `<message xmlns='jabber:client'><body>`],
    ['mismatched tags', `<message xmlns='jabber:client'></presence>`],
    ['text that is not XML', 'hello'],
  ] as const) {
    test(`malformed XML (${what}): stream error not-well-formed, <close/>, connection closed; others still served`, async () => {
      const c = await wsClient();
      await c.open();
      c.send(frame);
      const err = await c.next((el) => el.name === 'error' && el.ns === NS.stream);
      assert.ok(err.getChild('not-well-formed', NS.streams), err.toString());
      await c.next((el) => el.name === 'close' && el.ns === NS.framing);
      await c.waitClosed();
      await stillServed();
    });
  }

  test('a DTD or an entity reference: stream error restricted-xml', async () => {
    for (const frame of [`<!DOCTYPE message><message xmlns='jabber:client'/>`, `<message xmlns='jabber:client'><body>&lol;</body></message>`]) {
      const c = await wsClient();
      await c.open();
      c.send(frame);
      const err = await c.next((el) => el.name === 'error' && el.ns === NS.stream);
      assert.ok(err.getChild('restricted-xml', NS.streams), err.toString());
      await c.waitClosed();
    }
  });

  test('a binary frame: stream error bad-format, then the connection is closed', async () => {
    const c = await wsClient();
    await c.open();
    c.ws.send(Buffer.from(`<message xmlns='jabber:client'/>`), { binary: true });
    const err = await c.next((el) => el.name === 'error' && el.ns === NS.stream);
    assert.ok(err.getChild('bad-format', NS.streams), err.toString());
    await c.next((el) => el.name === 'close');
    await c.waitClosed();
    await stillServed();
  });

  test('a frame larger than limits.max_stanza_bytes closes the WebSocket (1009, message too big)', async () => {
    const c = await wsClient();
    await c.open();
    const max = ts.server.loaded.config.limits.max_stanza_bytes;
    c.send(`<message xmlns='jabber:client'><body>${'x'.repeat(max)}</body></message>`);
    assert.equal(await c.waitClosed(), 1009);
    await stillServed();
  });

  test('<open/> to another domain: stream error host-unknown', async () => {
    const c = await wsClient();
    c.send(`<open xmlns='${NS.framing}' to='elsewhere.example' version='1.0'/>`);
    const err = await c.next((el) => el.name === 'error' && el.ns === NS.stream);
    assert.ok(err.getChild('host-unknown', NS.streams), err.toString());
    await c.waitClosed();
  });

  test("an upgrade without the 'xmpp' subprotocol is refused (HTTP 400), whatever else is offered", async () => {
    assert.equal(await refusedUpgrade(ts, []), 400);
    assert.equal(await refusedUpgrade(ts, ['chat', 'xmpp-ish']), 400);
    await stillServed();
  });

  test('a WebSocket upgrade anywhere else is refused (404)', async () => {
    for (const path of ['/', '/converse/converse.min.js', '/nope']) assert.equal(await refusedUpgrade(ts, ['xmpp'], path), 404, path);
    await stillServed();
  });

  test('a plain GET of the endpoint is answered 426 (Upgrade Required)', async () => {
    const r = await fetchFrom(ts, '/xmpp-websocket');
    assert.equal(r.status, 426);
    assert.equal(r.headers.upgrade, 'websocket');
  });
});

describe('HTTPS listener: discovery, web client files, headers, bad input', () => {
  let ts: TestServer;

  before(async () => {
    ts = await startTestServer(httpsOn);
  });

  after(async () => {
    await ts?.stop();
  });

  const wsUrl = () => `wss://${ts.domain}:${ts.httpsPort}/xmpp-websocket`;

  test('host-meta (XEP-0156, XRD) announces the WebSocket endpoint, readable from any origin', async () => {
    const r = await fetchFrom(ts, '/.well-known/host-meta');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/xrd+xml; charset=utf-8');
    assert.equal(r.headers['access-control-allow-origin'], '*');
    const body = r.body.toString('utf8');
    assert.match(body, /^<\?xml version='1\.0' encoding='utf-8'\?>\n<XRD xmlns="http:\/\/docs\.oasis-open\.org\/ns\/xri\/xrd-1\.0">/);
    assert.ok(body.includes(`<Link rel="urn:xmpp:alt-connections:websocket" href="${wsUrl()}"/>`), body);
  });

  test('host-meta.json (JRD) says the same', async () => {
    const r = await fetchFrom(ts, '/.well-known/host-meta.json');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.deepEqual(JSON.parse(r.body.toString('utf8')), { links: [{ rel: 'urn:xmpp:alt-connections:websocket', href: wsUrl() }] });
  });

  test('a forged Host header changes nothing that is announced', async () => {
    const r = await fetchFrom(ts, '/.well-known/host-meta.json', { headers: { host: 'evil.example:443' } });
    assert.ok(!r.body.toString('utf8').includes('evil'), r.body.toString('utf8'));
    assert.ok(!String(r.headers['content-security-policy']).includes('evil'));
  });

  test('the page at / loads Converse.js as a module and the settings from /palisade-init.js, with strict security headers', async () => {
    const r = await fetchFrom(ts, '/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    const html = r.body.toString('utf8');
    assert.ok(html.includes('<script type="module" src="/converse/converse.min.js"></script>'), html);
    assert.ok(html.includes('<script type="module" src="/palisade-init.js"></script>'), html);
    assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/.test(html), 'no inline script');

    const csp = String(r.headers['content-security-policy']);
    const directives = new Map(csp.split(/;\s*/).map((d) => [d.split(' ')[0]!, d.split(' ').slice(1).join(' ')]));
    assert.equal(directives.get('default-src'), "'none'");
    assert.equal(directives.get('script-src'), "'self' 'wasm-unsafe-eval'");
    assert.equal(directives.get('connect-src'), `'self' wss://${ts.domain}:${ts.httpsPort}`);
    assert.equal(directives.get('img-src'), "'self' data: blob:");
    assert.equal(directives.get('frame-ancestors'), "'none'");
    assert.equal(directives.get('base-uri'), "'none'");
    for (const [name, sources] of directives) assert.ok(!/https?:|\*|'unsafe-eval'/.test(sources), `${name} allows only this origin: ${sources}`);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    assert.equal(r.headers['x-frame-options'], 'DENY');
    assert.equal(r.headers['strict-transport-security'], 'max-age=31536000');
  });

  test('/palisade-init.js: same-origin WebSocket, domain locked, nothing fetched from elsewhere', async () => {
    const r = await fetchFrom(ts, '/palisade-init.js');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/javascript; charset=utf-8');
    const js = r.body.toString('utf8');
    assert.ok(js.includes(`'wss://' + location.host + "/xmpp-websocket"`), js);
    const settings = JSON.parse(/converse\.initialize\(\{ \.\.\.(\{.*\}), websocket_url/.exec(js)?.[1] ?? 'null') as Record<string, unknown>;
    assert.deepEqual(settings, {
      assets_path: '/converse/',
      locked_domain: ts.domain,
      auto_login: false,
      allow_non_roster_messaging: true,
      view_mode: 'fullscreen',
      discover_connection_methods: false,
      allow_registration: false,
      xmpp_providers_url: '',
      use_system_emojis: true,
    });
  });

  test('Converse.js dist files are served with the types browsers require', async () => {
    for (const [path, type] of [
      ['/converse/converse.min.js', 'text/javascript; charset=utf-8'],
      ['/converse/libomemo.esm.min.js', 'text/javascript; charset=utf-8'],
      ['/converse/curve25519_compiled.wasm', 'application/wasm'],
      ['/converse/converse.min.css', 'text/css; charset=utf-8'],
    ]) {
      const r = await fetchFrom(ts, path!);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], type, path);
      assert.ok(r.body.length > 1000, path);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
    }
    const wasm = await fetchFrom(ts, '/converse/curve25519_compiled.wasm');
    assert.deepEqual([...wasm.body.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d], 'a WebAssembly module');
  });

  test('unknown paths: 404 with a short text and the same headers; nothing outside dist is reachable', async () => {
    for (const path of ['/nope', '/converse/nope.js', '/admin', '/.well-known/other']) {
      const r = await fetchFrom(ts, path);
      assert.equal(r.status, 404, path);
      assert.equal(r.body.toString('utf8'), 'Not found.\n', path);
      assert.equal(r.headers['x-frame-options'], 'DENY', path);
    }
    for (const path of ['/converse/../package.json', '/converse/%2e%2e/package.json', '/converse/..%2fpackage.json', '/converse/images/', '/converse/.hidden']) {
      const r = await fetchFrom(ts, path);
      assert.ok(r.status === 403 || r.status === 404, `${path}: ${r.status}`);
      assert.ok(!r.body.toString('utf8').includes('"name"'), path);
    }
  });

  test('methods other than GET and HEAD: 405 with Allow; a request body is never read (415)', async () => {
    for (const path of ['/', '/palisade-init.js', '/converse/converse.min.js', '/.well-known/host-meta', '/.well-known/host-meta.json', '/xmpp-websocket']) {
      for (const method of ['POST', 'PUT', 'DELETE']) {
        const r = await fetchFrom(ts, path, { method });
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.equal(r.headers.allow, 'GET, HEAD', `${method} ${path}`);
      }
    }
    const withBody = await fetchFrom(ts, '/', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    assert.equal(withBody.status, 415);
    const head = await fetchFrom(ts, '/converse/converse.min.js', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  test('oversized request lines and headers are refused (431)', async () => {
    const longUrl = await fetchFrom(ts, `/converse/${'a'.repeat(10_000)}.js`);
    assert.equal(longUrl.status, 431);
    const longHeader = await fetchFrom(ts, '/', { headers: { 'x-filler': 'b'.repeat(10_000) } });
    assert.equal(longHeader.status, 431);
    const ok = await fetchFrom(ts, '/');
    assert.equal(ok.status, 200, 'and others are still served');
  });
});

describe('HTTPS listener with listeners.https.public_url (behind a reverse proxy)', () => {
  let ts: TestServer;

  before(async () => {
    ts = await startTestServer({ listeners: { https: { enabled: true, address: '127.0.0.1', port: 0, public_url: 'https://chat.example.org' } } });
  });

  after(async () => {
    await ts?.stop();
  });

  test('host-meta and the CSP name the public address, not the bound port or the Host header', async () => {
    const r = await fetchFrom(ts, '/.well-known/host-meta.json', { headers: { host: `127.0.0.1:${ts.httpsPort}` } });
    assert.deepEqual(JSON.parse(r.body.toString('utf8')), { links: [{ rel: 'urn:xmpp:alt-connections:websocket', href: 'wss://chat.example.org/xmpp-websocket' }] });
    assert.match(String(r.headers['content-security-policy']), /connect-src 'self' wss:\/\/chat\.example\.org;/);
  });
});

describe('HTTPS listener: connection admission', () => {
  let ts: TestServer;

  before(async () => {
    ts = await startTestServer({ ...httpsOn, limits: { connections_per_ip: 1, connection_rate_per_ip: 1000, connection_burst_per_ip: 1000 } });
  });

  after(async () => {
    await ts?.stop();
  });

  test('the per-IP connection limit applies to WebSocket connections, before TLS', async () => {
    const first = await WsClient.connect({ port: ts.httpsPort, dataDir: ts.dataDir });
    await first.open();
    await assert.rejects(WsClient.connect({ port: ts.httpsPort, dataDir: ts.dataDir }), /socket hang up|ECONNRESET|disconnected/);
    first.terminate();
    await first.waitClosed();
    // The slot is released when the connection closes.
    let second: WsClient | undefined;
    for (let i = 0; i < 20 && !second; i++) {
      second = await WsClient.connect({ port: ts.httpsPort, dataDir: ts.dataDir }).catch(() => undefined);
      if (!second) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(second, 'a new connection is admitted once the first is gone');
    second.terminate();
  });
});
