// HTTP upload (XEP-0363) over raw XMPP and Node's https client, against a
// real clamd with an EICAR-only signature database (test/helpers/clamd.ts):
// slots decided by the policy and bounded by size and quota, PUTs checked
// for size, type and viruses, clean files served byte-identical and stored
// encrypted, infected ones quarantined, and fail-closed when clamd is gone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { startClamd, eicar, type TestClamd } from '../helpers/clamd.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const UP = 'urn:xmpp:http:upload:0';
const SERVICE = 'upload.localhost';
const MAX = 1024 * 1024;
const QUOTA = 3 * MAX;
const POLICY_TEXT = 'Your group may not transfer files.';
const POLICY = `
version: 1
groups:
  no-files: { members: [nofiles@localhost] }
rules:
  - name: no-file-transfer
    subject: { groups: [no-files] }
    feature: file-transfer
    decision: deny
    text: ${POLICY_TEXT}
  - name: local-accounts
    subject: { local: true }
    decision: allow
`;

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A stored zip (no compression) holding one file: enough for clamd to unpack. */
function storedZip(name: string, data: Buffer): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let crc = 0xffffffff;
  for (const b of data) crc = crcTable[(crc ^ b) & 0xff]! ^ (crc >>> 8);
  crc = (crc ^ 0xffffffff) >>> 0;
  const fname = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(10, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(fname.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(10, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(fname.length, 28);
  const centralOffset = local.length + fname.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + fname.length, 12);
  end.writeUInt32LE(centralOffset, 16);
  return Buffer.concat([local, fname, data, central, fname, end]);
}

/** The start of a 64-bit ELF executable and of a PE (MZ … PE\0\0) file, padded with zeros. */
function elf(size = 8192): Buffer {
  const b = Buffer.alloc(size);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(b);
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(0x3e, 18); // x86-64
  return b;
}
function pe(): Buffer {
  const b = Buffer.alloc(8192);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('PE\0\0', 0x80, 'latin1');
  return b;
}

describe('HTTP upload (XEP-0363) over raw XMPP and HTTPS, with a real clamd', () => {
  let ts: TestServer;
  let clamd: TestClamd;
  let policyDir: string;
  let ca: Buffer;
  const open: RawClient[] = [];
  const passwords = new Map<string, string>();

  before(async () => {
    clamd = await startClamd();
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-upload-policy-'));
    writeFileSync(join(policyDir, 'policy.yaml'), POLICY);
    ts = await startTestServer({
      listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } },
      policy: { file: join(policyDir, 'policy.yaml') },
      modules: {
        disco: {},
        ping: {},
        roster: {},
        presence: {},
        message: {},
        'http-upload': { max_file_size: MAX, daily_quota: QUOTA, idle_timeout_seconds: 5, antivirus: { socket: clamd.socket, timeout_ms: 10_000 } },
      },
    });
    ca = readFileSync(join(ts.dataDir, 'tls', 'localhost.crt'));
    for (const name of ['alice', 'quota', 'nofiles']) passwords.set(name, (await ts.addUser(name)).password);
  });
  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
    await ts?.stop();
    await clamd?.stop();
    if (policyDir) rmSync(policyDir, { recursive: true, force: true });
  });

  const connect = async (name: string): Promise<RawClient> => {
    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: name, password: passwords.get(name)! });
    open.push(c);
    return c;
  };

  const slotRequest = (c: RawClient, attrs: Record<string, string>): Promise<Element> => {
    const a = Object.entries(attrs)
      .map(([k, v]) => ` ${k}='${v.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;')}'`)
      .join('');
    return c.iq('get', `<request xmlns='${UP}'${a}/>`, { to: SERVICE });
  };

  const slot = async (c: RawClient, filename: string, size: number, type?: string): Promise<{ put: string; get: string }> => {
    const r = await slotRequest(c, { filename, size: String(size), ...(type ? { 'content-type': type } : {}) });
    assert.equal(r.attrs.type, 'result', r.toString());
    const s = r.getChild('slot', UP)!;
    return { put: s.getChild('put')!.attrs.url!, get: s.getChild('get')!.attrs.url! };
  };

  const http = (method: string, url: string, body?: Buffer, headers: Record<string, string> = {}): Promise<HttpAnswer> => {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const req = request(
        { method, host: '127.0.0.1', port: u.port, path: u.pathname, servername: 'localhost', ca, headers, agent: false },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };

  const put = (url: string, body: Buffer, type = 'application/octet-stream', length = body.length) =>
    http('PUT', url, body, { 'content-type': type, 'content-length': String(length) });

  const rowOf = async (getUrl: string) => {
    const token = new URL(getUrl).pathname.split('/')[2]!;
    return (ts.server.storage.db as any).selectFrom('http_upload_files').selectAll().where('get_token', '=', token).executeTakeFirst();
  };

  test('the service is found through disco and announces its size limit', async () => {
    const alice = await connect('alice');
    const items = await alice.iq('get', `<query xmlns='${NS.discoItems}'/>`, { to: 'localhost' });
    assert.ok(items.getChild('query')!.getChildren('item').some((i) => i.attrs.jid === SERVICE));
    const info = (await alice.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: SERVICE })).getChild('query')!;
    assert.deepEqual(info.getChild('identity')!.attrs, { category: 'store', type: 'file', name: 'File upload' });
    assert.ok(info.getChildren('feature').some((f) => f.attrs.var === UP));
    const fields = info.getChild('x', 'jabber:x:data')!.getChildren('field');
    assert.equal(fields.find((f) => f.attrs.var === 'FORM_TYPE')!.getChildText('value'), UP);
    assert.equal(fields.find((f) => f.attrs.var === 'max-file-size')!.getChildText('value'), String(MAX));
  });

  test('a clean file uploads once, downloads byte-identical, and is stored encrypted', async () => {
    const alice = await connect('alice');
    const data = randomBytes(300_000);
    const s = await slot(alice, 'report.bin', data.length, 'application/octet-stream');
    assert.match(s.put, /^https:\/\/localhost:\d+\/upload\/[A-Za-z0-9_-]{24}\/report\.bin$/);
    assert.notEqual(s.put, s.get);
    assert.equal((await http('GET', s.get)).status, 404, 'not downloadable before the PUT');
    const stored = await put(s.put, data);
    assert.equal(stored.status, 201, stored.body.toString());
    const got = await http('GET', s.get);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(data), 'byte-identical');
    assert.equal(got.headers['content-type'], 'application/octet-stream');
    assert.match(String(got.headers['content-disposition']), /^attachment; filename="report\.bin"/);
    assert.equal(got.headers['x-content-type-options'], 'nosniff');
    assert.equal(got.headers['accept-ranges'], 'bytes');
    const part = await http('GET', s.get, undefined, { range: 'bytes=1000-1999' });
    assert.equal(part.status, 206, 'ranges without credentials too: the URL is the capability');
    assert.ok(part.body.equals(data.subarray(1000, 2000)));
    const head = await http('HEAD', s.get);
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(data.length));
    assert.equal(head.body.length, 0);
    // The token is spent: the same PUT again is refused, and the file stays as it was.
    const again = await put(s.put, randomBytes(data.length));
    assert.equal(again.status, 403);
    assert.ok((await http('GET', s.get)).body.equals(data));
    // On disk: ciphertext (plus the tag) only, in a folder only the server reads.
    const dir = join(ts.dataDir, 'uploads');
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(ts.dataDir, 'http-upload.key')).mode & 0o777, 0o600);
    const row = await rowOf(s.get);
    const blob = readFileSync(join(dir, row.blob));
    assert.equal(blob.length, data.length);
    assert.ok(!blob.equals(data));
    assert.equal(blob.indexOf(data.subarray(1000, 1032)), -1);
    // No listing of the folder over HTTP.
    assert.equal((await http('GET', new URL('/upload/', s.get).toString())).status, 404);
  });

  test('CORS: a web client on another origin gets the preflight, and may read the answers of its PUT and GET', async () => {
    const alice = await connect('alice');
    const data = randomBytes(2000);
    const s = await slot(alice, 'cors.bin', data.length, 'application/octet-stream');
    // The HTTP part needs no session (and alice may hold only sessions_per_account of them).
    open.splice(open.indexOf(alice), 1);
    await alice.close();
    const origin = { origin: 'https://chat.example.org' };
    const preflight = await http('OPTIONS', s.put, undefined, { ...origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], '*');
    assert.match(String(preflight.headers['access-control-allow-methods']), /\bPUT\b/);
    assert.match(String(preflight.headers['access-control-allow-headers']), /\bContent-Type\b/);
    assert.match(String(preflight.headers['access-control-allow-headers']), /\bAuthorization\b/);
    const stored = await http('PUT', s.put, data, { ...origin, 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
    assert.equal(stored.status, 201);
    assert.equal(stored.headers['access-control-allow-origin'], '*');
    const got = await http('GET', s.get, undefined, { ...origin, range: 'bytes=0-99' });
    assert.equal(got.status, 206);
    assert.equal(got.headers['access-control-allow-origin'], '*');
    assert.match(String(got.headers['access-control-expose-headers']), /\bContent-Range\b/);
    // A refusal is readable too (the page can show why), and the preflight grants nothing: the token is still needed.
    const refused = await http('PUT', s.put, data, { ...origin, 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers['access-control-allow-origin'], '*');
    assert.equal((await http('OPTIONS', new URL('/upload/', s.get).toString())).status, 404);
  });

  test('an image is served inline with its type; a lying name does not make it one', async () => {
    const alice = await connect('alice');
    const png = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex'), Buffer.alloc(64)]);
    const s = await slot(alice, 'pic.png', png.length, 'image/png');
    assert.equal((await put(s.put, png, 'image/png')).status, 201);
    const got = await http('GET', s.get);
    assert.equal(got.headers['content-type'], 'image/png');
    assert.match(String(got.headers['content-disposition']), /^inline;/);
    const fake = Buffer.from('<html><script>alert(1)</script></html>');
    const f = await slot(alice, 'fake.png', fake.length, 'image/png');
    assert.equal((await put(f.put, fake, 'image/png')).status, 201);
    assert.match(String((await http('GET', f.get)).headers['content-disposition']), /^attachment;/);
  });

  test('EICAR, alone or inside a zip, is refused, quarantined and audited', async () => {
    const alice = await connect('alice');
    for (const [name, body] of [
      ['eicar.txt', eicar()],
      ['eicar.zip', storedZip('eicar.com', eicar())],
    ] as const) {
      const s = await slot(alice, name, body.length);
      const r = await put(s.put, body);
      assert.equal(r.status, 403, r.body.toString());
      assert.match(r.body.toString(), /virus scanner found Eicar-Test-Signature.*quarantined/);
      assert.equal((await http('GET', s.get)).status, 404);
      const row = await rowOf(s.get);
      assert.equal(row.status, 'quarantined');
      assert.match(row.threat, /^Eicar-Test-Signature/);
      // Kept, but encrypted: the file on disk does not contain the signature.
      const blob = readFileSync(join(ts.dataDir, 'uploads', row.blob));
      assert.equal(blob.indexOf(eicar().subarray(0, 20)), -1);
    }
    let found = false;
    for (let i = 0; i < 50 && !found; i++) {
      const entries = await ts.server.storage.audit.list({ afterSeq: 0, limit: 1000 });
      found = entries.filter((e) => e.action === 'http-upload.scan' && e.actor === 'alice@localhost' && e.decision === 'deny').length === 2;
      if (!found) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(found, 'both quarantines audited');
  });

  test('a password-protected zip (zip -P) is refused with a clear text and audited; an open one and a damaged one are told apart', async () => {
    const alice = await connect('alice');
    const dir = mkdtempSync(join(tmpdir(), 'palisade-zip-'));
    try {
      writeFileSync(join(dir, 'secret.txt'), 'the combination is 1234\n'.repeat(100));
      execFileSync('zip', ['-q', '-P', 'password', 'locked.zip', 'secret.txt'], { cwd: dir });
      execFileSync('zip', ['-q', 'open.zip', 'secret.txt'], { cwd: dir });
      const locked = readFileSync(join(dir, 'locked.zip'));
      const s = await slot(alice, 'locked.zip', locked.length);
      const r = await put(s.put, locked);
      assert.equal(r.status, 415, r.body.toString());
      assert.match(r.body.toString(), /^Password-protected archives are not accepted: the virus scanner cannot look inside them/);
      assert.equal((await http('GET', s.get)).status, 404);
      const row = await rowOf(s.get);
      assert.equal(row.status, 'failed');
      assert.deepEqual(readdirSync(join(ts.dataDir, 'uploads')).includes(row.blob), false, 'nothing kept');
      let audited = false;
      for (let i = 0; i < 50 && !audited; i++) {
        const entries = await ts.server.storage.audit.list({ afterSeq: 0, limit: 1000 });
        audited = entries.some((e) => e.action === 'http-upload.archive' && e.actor === 'alice@localhost' && e.decision === 'deny' && e.details.blob === row.blob);
        if (!audited) await new Promise((res) => setTimeout(res, 20));
      }
      assert.ok(audited, 'the refusal is audited');

      const open = readFileSync(join(dir, 'open.zip'));
      const o = await slot(alice, 'open.zip', open.length);
      assert.equal((await put(o.put, open)).status, 201);
      assert.ok((await http('GET', o.get)).body.equals(open));

      const damaged = open.subarray(0, open.length - 30);
      const d = await slot(alice, 'damaged.zip', damaged.length);
      const refused = await put(d.put, damaged);
      assert.equal(refused.status, 415);
      assert.match(refused.body.toString(), /damaged or incomplete/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('executables are refused by their content whatever they are called', async () => {
    const alice = await connect('alice');
    // The large one is refused as soon as its start is in, with the answer delivered before the rest is read.
    for (const [body, mime] of [
      [elf(), 'application/x-elf'],
      [pe(), 'application/x-msdownload'],
      [elf(MAX), 'application/x-elf'],
    ] as const) {
      const s = await slot(alice, 'holiday.jpg', body.length, 'image/jpeg');
      const r = await put(s.put, body, 'image/jpeg');
      assert.equal(r.status, 415, r.body.toString());
      assert.match(r.body.toString(), new RegExp(`type ${mime} are not accepted`));
      assert.equal((await http('GET', s.get)).status, 404);
    }
    // Announcing an executable type is refused at the slot already.
    const r = await slotRequest(alice, { filename: 'a.exe', size: '100', 'content-type': 'application/x-msdownload' });
    assert.deepEqual([r.attrs.type, stanzaError(r).condition], ['error', 'not-acceptable']);
  });

  test('a PUT must match the slot: size, type and token', async () => {
    const alice = await connect('alice');
    const data = randomBytes(5000);
    let s = await slot(alice, 'a.bin', data.length);
    const big = await put(s.put, Buffer.concat([data, data]));
    assert.equal(big.status, 413, big.body.toString());
    assert.equal(big.headers.connection, 'close');
    assert.equal((await put(s.put, data)).status, 403, 'the slot is spent');
    s = await slot(alice, 'a.bin', data.length);
    assert.equal((await put(s.put, data.subarray(0, 100))).status, 400);
    s = await slot(alice, 'a.bin', data.length, 'text/plain');
    const wrongType = await put(s.put, data, 'image/png');
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.body.toString(), /must be the announced one: text\/plain/);
    s = await slot(alice, 'a.bin', data.length);
    const forged = s.put.replace(/\/upload\/[^/]+\//, `/upload/${randomBytes(18).toString('base64url')}/`);
    assert.equal((await put(forged, data)).status, 403);
    assert.equal((await put(s.put.replace(/\/upload\/[^/]+\//, '/upload/short/'), data)).status, 403);
    assert.equal((await put(s.put, data)).status, 201, 'the real token still works');
  });

  test('an upload that stalls is cut off after the idle timeout and not stored', async () => {
    const alice = await connect('alice');
    const s = await slot(alice, 'slow.bin', 5000);
    const u = new URL(s.put);
    const started = Date.now();
    const outcome = await new Promise<string>((resolve) => {
      const req = request(
        { method: 'PUT', host: '127.0.0.1', port: u.port, path: u.pathname, servername: 'localhost', ca, agent: false, headers: { 'content-length': '5000' } },
        (res) => resolve(`status ${res.statusCode}`),
      );
      req.on('error', (err) => resolve(`closed: ${(err as NodeJS.ErrnoException).code}`));
      req.write(randomBytes(100));
    });
    assert.match(outcome, /^(closed|status 400)/, outcome);
    assert.ok(Date.now() - started >= 4500, 'not before the idle timeout');
    assert.equal((await http('GET', s.get)).status, 404);
    // The server marks the slot failed after it cut the connection: the client may see the cut first.
    let status = (await rowOf(s.get)).status;
    for (let i = 0; i < 100 && status === 'receiving'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      status = (await rowOf(s.get)).status;
    }
    assert.equal(status, 'failed');
  });

  test('slot requests are bounded: size, file name, quota', async () => {
    const alice = await connect('alice');
    const tooBig = await slotRequest(alice, { filename: 'big.bin', size: String(MAX + 1) });
    assert.equal(stanzaError(tooBig).condition, 'not-acceptable');
    const app = tooBig.getChild('error')!.getChild('file-too-large', UP)!;
    assert.equal(app.getChildText('max-file-size'), String(MAX));
    for (const size of ['0', '-1', '1e3', 'x', '99999999999999999999']) {
      assert.equal(stanzaError(await slotRequest(alice, { filename: 'a', size })).condition, 'bad-request', size);
    }
    assert.equal(stanzaError(await slotRequest(alice, { filename: 'é'.repeat(128), size: '10' })).condition, 'bad-request');
    assert.equal(stanzaError(await slotRequest(alice, { size: '10' })).condition, 'bad-request');
    assert.equal(stanzaError(await slotRequest(alice, { filename: 'a', size: '10', 'content-type': 'text/html\nx: y' })).condition, 'bad-request');
    // Path parts, direction overrides and leading dots are taken out of the name.
    const s = await slot(alice, '../../.evil\u202egpj.exe', 10);
    assert.match(s.get, /\/evilgpj\.exe$/);

    const quota = await connect('quota');
    for (let i = 0; i < 3; i++) await slot(quota, `q${i}.bin`, MAX);
    const over = await slotRequest(quota, { filename: 'q3.bin', size: '1' });
    assert.deepEqual([stanzaError(over).type, stanzaError(over).condition], ['wait', 'resource-constraint']);
    assert.match(stanzaError(over).text!, /quota/);
  });

  test('the policy decides: a group denied file-transfer gets the rule text', async () => {
    const c = await connect('nofiles');
    const r = await slotRequest(c, { filename: 'a.txt', size: '10' });
    assert.equal(r.attrs.type, 'error');
    assert.equal(stanzaError(r).text, POLICY_TEXT);
  });

  // Last: it stops the scanner.
  test('without the scanner, uploads are refused with a clear text (fail closed)', async () => {
    const alice = await connect('alice');
    const data = randomBytes(1000);
    const s = await slot(alice, 'late.bin', data.length);
    await clamd.stop();
    const r = await put(s.put, data);
    assert.equal(r.status, 503);
    assert.match(r.body.toString(), /virus scanner is unavailable/);
    assert.equal((await http('GET', s.get)).status, 404);
    const refused = await slotRequest(alice, { filename: 'b.bin', size: '10' });
    assert.deepEqual([stanzaError(refused).condition, stanzaError(refused).type], ['service-unavailable', 'wait']);
    assert.match(stanzaError(refused).text!, /virus scanner is unavailable/);
    assert.deepEqual(readdirSync(join(ts.dataDir, 'uploads')).length > 0, true);
  });
});
