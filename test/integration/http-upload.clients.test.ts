// Must show: a client library others wrote uploads through the service.
// slixmpp 1.8's xep_0363 plugin (Debian python3-slixmpp with python3-aiohttp)
// finds upload.localhost through disco, reads max-file-size from its form,
// requests a slot and PUTs the file with aiohttp, which verifies the server's
// certificate (SSL_CERT_FILE names the test certificate); the file it then
// downloads is byte-identical, and clamd (test/helpers/clamd.ts) scanned it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startClamd, type TestClamd } from '../helpers/clamd.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { assertSlixmppInstalled, PYTHON } from './clients/slixmpp.ts';
import { baseEnv, describeRun, run } from './clients/process.ts';

const SCRIPT = fileURLToPath(new URL('./http-upload-slixmpp.py', import.meta.url));

let ts: TestServer;
let clamd: TestClamd;
let dir: string;

before(async () => {
  await assertSlixmppInstalled();
  clamd = await startClamd();
  dir = mkdtempSync(join(tmpdir(), 'palisade-upload-client-'));
  // slixmpp 1.8 can't do SCRAM-*-PLUS on TLS 1.3 (see slixmpp.clients.test.ts).
  ts = await startTestServer({
    auth: { channel_bindings: [] },
    listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } },
    modules: { disco: {}, roster: {}, presence: {}, message: {}, 'http-upload': { antivirus: { socket: clamd.socket } } },
  });
});
after(async () => {
  await ts?.stop();
  await clamd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('slixmpp xep_0363 uploads a file; the download is byte-identical', async () => {
  const user = await ts.addUser('slix');
  const content = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(200_000)]);
  const file = join(dir, 'minutes 2026.pdf');
  writeFileSync(file, content);
  const ca = join(ts.dataDir, 'tls', 'localhost.crt');
  const r = await run(PYTHON, [SCRIPT], {
    env: baseEnv({
      XMPP_HOST: '127.0.0.1',
      XMPP_PORT: String(ts.starttlsPort),
      XMPP_JID: `${user.jid}/slixmpp`,
      XMPP_PASSWORD: user.password,
      XMPP_CA: ca,
      SSL_CERT_FILE: ca,
      XMPP_FILE: file,
    }),
    timeoutMs: 30_000,
  });
  const why = describeRun(r);
  const result = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  assert.equal(result.error, null, why);
  assert.equal(result.ok, true, why);
  assert.match(String(result.url), new RegExp(`^https://localhost:${ts.httpsPort}/upload/[A-Za-z0-9_-]{24}/minutes%202026\\.pdf$`));
  assert.equal(result.max_file_size, 100 * 1024 * 1024);
  assert.equal(result.status, 200);
  assert.match(String(result.disposition), /^attachment; /);
  assert.equal(result.downloaded, createHash('sha256').update(content).digest('hex'));
});
