// Fuzzing a running server over real sockets: mutated WebSocket upgrades and
// frames (RFC 6455 framing, RFC 7395 XMPP over WebSocket) on the HTTPS port, and
// mutated XML streams on the STARTTLS port. Properties: every connection gets a
// defined answer (an HTTP status, a close frame with an RFC 6455 code, or a
// stream error) or is closed, none makes the server hang or crash, and a
// bystander logged in all along is still served, as is a new client afterwards.
// Seeded (printed) and bounded; see docs/fuzzing.md.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import fc from 'fast-check';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { trustTestServer, wsLogin, type WsClient } from '../helpers/ws-client.ts';
import { login } from '../helpers/raw-client.ts';
import { fuzzSettings } from './fuzz-config.ts';

const WAIT_MS = 150;
/** Close codes a server may send (RFC 6455 §7.4.1). */
const CLOSE_CODES = new Set([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011]);

let ts: TestServer;
let bystander: WsClient;

before(async () => {
  ts = await startTestServer({ listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } }, limits: { max_stanza_bytes: 4096 } });
  const u = await ts.addUser('bystander');
  bystander = await wsLogin({ port: ts.httpsPort, dataDir: ts.dataDir, username: u.local, password: u.password, resource: 'watching' });
});
after(async () => {
  bystander?.terminate();
  await ts?.stop();
});

async function bystanderServed(): Promise<void> {
  const id = bystander.newId();
  bystander.send(`<iq xmlns='jabber:client' type='get' id='${id}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`);
  const pong = await bystander.next((e) => e.attrs.id === id);
  assert.equal(pong.attrs.type, 'result', 'the bystander is still served');
}

/** A client frame (masked, as RFC 6455 §5.3 requires of clients). */
function frame(opcode: number, payload: Buffer, fin = true, rsv = 0): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0, 0x80 | len]) : Buffer.from([0, 0x80 | 126, len >> 8, len & 0xff]);
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  const mask = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, body]);
}

const OPEN = Buffer.from(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`);
const upgrade = (key: string) =>
  `GET /xmpp-websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n`;

const edits = fc.array(fc.tuple(fc.constantFrom('flip', 'delete', 'insert', 'cut'), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 5 });
function mutate(b: Buffer, list: [string, number, number][]): Buffer {
  let out = Buffer.from(b);
  for (const [op, at, v] of list) {
    const i = out.length ? at % out.length : 0;
    if (op === 'flip' && out.length) out[i] = out[i]! ^ (v || 1);
    else if (op === 'delete') out = Buffer.concat([out.subarray(0, i), out.subarray(i + 1)]);
    else if (op === 'insert') out = Buffer.concat([out.subarray(0, i), Buffer.from([v]), out.subarray(i)]);
    else if (op === 'cut') out = out.subarray(0, i);
  }
  return out;
}

/** Frames made of valid pieces with odd opcodes, reserved bits, fragmentation, binary and control frames. */
const frameSpec = fc.record({
  opcode: fc.constantFrom(0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xa, 0xb, 0xf),
  fin: fc.boolean(),
  rsv: fc.constantFrom(0, 0, 0, 1, 4),
  payload: fc.oneof(
    fc.constant(OPEN),
    fc.constantFrom(`<iq type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>`, '<message>', '</open>', `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`, '\u00e9\ud800').map((s) => Buffer.from(s)),
    fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  ),
});

/** Sends bytes on a new TLS connection to the HTTPS port; resolves with what came back once the server closed or WAIT_MS passed. */
function exchange(parts: Buffer[]): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = tlsConnect({ host: '127.0.0.1', port: ts.httpsPort, ...trustTestServer(ts.dataDir) }, () => {
      for (const p of parts) s.write(p);
    });
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ data: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(() => finish(false), WAIT_MS + 1000);
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      clearTimeout(timer);
      setTimeout(() => finish(false), WAIT_MS);
    });
    s.on('error', () => undefined);
    s.on('close', () => finish(true));
  });
}

/** Close codes in the server's frames after the HTTP response (unmasked server frames). */
function closeCodes(data: Buffer): number[] {
  const end = data.indexOf('\r\n\r\n');
  let i = end < 0 ? data.length : end + 4;
  const codes: number[] = [];
  while (i + 2 <= data.length) {
    const opcode = data[i]! & 0x0f;
    let len = data[i + 1]! & 0x7f;
    let at = i + 2;
    if (len === 126) {
      len = data.readUInt16BE(at);
      at += 2;
    } else if (len === 127) break;
    if (opcode === 0x8 && len >= 2 && at + 2 <= data.length) codes.push(data.readUInt16BE(at));
    i = at + len;
  }
  return codes;
}

test('WebSocket: mutated upgrades and frames get an HTTP status or a defined close code; the server keeps serving', async (t) => {
  const settings = fuzzSettings();
  t.diagnostic(settings.describe());
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(edits, fc.array(frameSpec, { maxLength: 6 }), edits, async (upgradeEdits, frames, frameEdits) => {
      cases++;
      const request = mutate(Buffer.from(upgrade(randomBytes(16).toString('base64'))), upgradeEdits);
      const wire = mutate(Buffer.concat(frames.map((f) => frame(f.opcode, f.payload, f.fin, f.rsv))), frameEdits);
      const { data, closed } = await exchange([request, wire]);
      const head = data.subarray(0, 12).toString('latin1');
      // Every request is answered with an HTTP status, unless the mutation left it unfinished (then the server waits, within its timeouts).
      if (data.length) assert.match(head, /^HTTP\/1\.1 \d{3}/, `not an HTTP answer: ${JSON.stringify(head)}`);
      else assert.ok(!closed || upgradeEdits.length > 0, 'an intact upgrade was closed without an answer');
      for (const code of closeCodes(data)) assert.ok(CLOSE_CODES.has(code), `undefined close code ${code}`);
      if (cases % 25 === 0) await bystanderServed();
    }),
    settings.params(80),
  );
  t.diagnostic(`${cases} connections`);
  await bystanderServed();
  const u = await ts.addUser(`after${Date.now()}`);
  (await wsLogin({ port: ts.httpsPort, dataDir: ts.dataDir, username: u.local, password: u.password, resource: 'r' })).terminate();
});

const HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`;
const streamPiece = fc.constantFrom(
  HEADER,
  `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`,
  `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>`,
  `<message to='a@localhost'><body>x</body></message>`,
  '<!DOCTYPE x [<!ENTITY a "b">]>',
  '<?pi x?>',
  '<!-- c -->',
  '&amp;&#0;&#x110000;',
  '</stream:stream>',
  '<a'.repeat(20),
  ' ',
);

test('XML stream over TCP: mutated streams get a stream error or are closed; the server keeps serving', async (t) => {
  const settings = fuzzSettings();
  t.diagnostic(settings.describe());
  await fc.assert(
    fc.asyncProperty(fc.array(streamPiece, { minLength: 1, maxLength: 8 }), edits, async (pieces, streamEdits) => {
      const bytes = mutate(Buffer.from(pieces.join('')), streamEdits);
      const reply = await new Promise<string>((resolve) => {
        let data = '';
        const s = tcpConnect({ host: '127.0.0.1', port: ts.starttlsPort }, () => s.write(bytes));
        const timer = setTimeout(() => {
          s.destroy();
          resolve(data);
        }, WAIT_MS);
        s.on('data', (d: Buffer) => (data += d.toString('latin1')));
        s.on('error', () => undefined);
        s.on('close', () => {
          clearTimeout(timer);
          resolve(data);
        });
      });
      // What the server says is a stream: its header first, and any error is a defined stream error.
      if (reply) assert.match(reply, /^<\?xml version='1\.0'\?><stream:stream /);
      const error = /<stream:error><([a-z-]+) xmlns=["']urn:ietf:params:xml:ns:xmpp-streams["']/.exec(reply);
      if (reply.includes('<stream:error>')) assert.ok(error, `a stream error without a condition: ${reply.slice(-300)}`);
    }),
    settings.params(200),
  );
  await bystanderServed();
  const u = await ts.addUser(`tcp${Date.now()}`);
  (await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password })).destroy();
});
