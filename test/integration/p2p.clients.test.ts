// Must show (issue #8): two clients of a library others wrote transfer a file
// peer-to-peer through the server's SOCKS5 proxy, byte-identical, when their
// group is allowed p2p-file-transfer. slixmpp 1.8's xep_0065 plugin (Debian
// python3-slixmpp) finds proxy.localhost through disco, offers the bytestream,
// both ends connect to the proxy, the sender activates it and writes the file;
// the receiver was offered the proxy only and no one's address.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseJID } from '../../src/xmpp/jid.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { assertSlixmppInstalled, PYTHON } from './clients/slixmpp.ts';
import { baseEnv, describeRun, run } from './clients/process.ts';

const SCRIPT = fileURLToPath(new URL('./p2p-slixmpp.py', import.meta.url));

const POLICY = `
version: 1
groups:
  engineers: { members: [alice@localhost, bob@localhost] }
rules:
  - name: engineers-p2p
    subject: { groups: [engineers] }
    peer: [{ groups: [engineers] }, services]
    feature: p2p-file-transfer
    decision: allow
  - name: local-accounts
    subject: { local: true }
    decision: allow
`;

let ts: TestServer;
let dir: string;

before(async () => {
  await assertSlixmppInstalled();
  dir = mkdtempSync(join(tmpdir(), 'palisade-p2p-client-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  // slixmpp 1.8 can't do SCRAM-*-PLUS on TLS 1.3 (see slixmpp.clients.test.ts).
  ts = await startTestServer({
    auth: { channel_bindings: [] },
    policy: { file: join(dir, 'policy.yaml') },
    modules: { disco: {}, roster: {}, presence: {}, message: {}, proxy65: { address: '127.0.0.1', port: 0, public_host: '127.0.0.1' } },
  } as never);
});
after(async () => {
  await ts?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('slixmpp xep_0065: a file sent through proxy.localhost arrives byte-identical; the receiver saw only the proxy', async () => {
  const [alice, bob] = await Promise.all([ts.addUser('alice'), ts.addUser('bob')]);
  const content = randomBytes(3 * 1024 * 1024 + 123);
  const file = join(dir, 'plan.bin');
  writeFileSync(file, content);
  const env = (user: { jid: string; password: string }, extra: Record<string, string>) =>
    baseEnv({
      XMPP_HOST: '127.0.0.1',
      XMPP_PORT: String(ts.starttlsPort),
      XMPP_JID: `${user.jid}/slixmpp`,
      XMPP_PASSWORD: user.password,
      XMPP_CA: join(ts.dataDir, 'tls', 'localhost.crt'),
      ...extra,
    });
  const receiving = run(PYTHON, [SCRIPT], { env: env(bob, { XMPP_ROLE: 'receive' }), timeoutMs: 40_000 });
  // The offer must find the receiver online.
  const bobJid = parseJID(`${bob.jid}/slixmpp`);
  for (let i = 0; i < 200 && !ts.server.sessions.get(bobJid)?.available; i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(ts.server.sessions.get(bobJid)?.available, 'the receiver came online');

  const sent = await run(PYTHON, [SCRIPT], { env: env(alice, { XMPP_ROLE: 'send', XMPP_PEER: bobJid.toString(), XMPP_FILE: file }), timeoutMs: 40_000 });
  const received = await receiving;
  const parse = (r: typeof sent) => JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  const s = parse(sent);
  const r = parse(received);
  assert.equal(s.error, null, describeRun(sent));
  assert.equal(s.ok, true, describeRun(sent));
  assert.deepEqual(s.proxies, ['proxy.localhost']);
  assert.equal(r.error, null, describeRun(received));
  assert.equal(r.size, content.length);
  assert.equal(r.sha256, createHash('sha256').update(content).digest('hex'));
  const hosts = r.streamhosts as { jid: string; host: string; port: string }[];
  assert.deepEqual(hosts.map((h) => [h.jid, h.host]), [['proxy.localhost', '127.0.0.1']]);
  assert.match(hosts[0]!.port, /^[1-9][0-9]*$/);
});
