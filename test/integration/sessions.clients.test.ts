// Client compliance through a real client library: slixmpp (Debian's
// python3-slixmpp) with its XEP-0092 plugin answers the server's software
// version query with its own name and version ("Slixmpp", slixmpp's
// version). A policy that wants a newer Slixmpp closes the session with
// policy-violation and the policy's text; one it satisfies leaves it online;
// warn reaches it as a headline message.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { DEFAULT_MODULES } from '../../src/config/schema/modules.ts';
import { assertSlixmppInstalled, PYTHON } from './clients/slixmpp.ts';
import { baseEnv, describeRun, run } from './clients/process.ts';

const SCRIPT = fileURLToPath(new URL('./sessions-slixmpp.py', import.meta.url));

interface Result {
  ok: boolean;
  error: string | null;
  library: string;
  stream_error: { condition: string; text: string } | null;
  headlines: { from: string; body: string }[];
}

describe('client compliance with slixmpp', () => {
  let ts: TestServer;
  let dir: string;
  let slixVersion: string;

  before(async () => {
    slixVersion = await assertSlixmppInstalled();
    dir = mkdtempSync(join(tmpdir(), 'palisade-clients-slix-'));
    writeFileSync(
      join(dir, 'policy.yaml'),
      `
clients:
  - name: too-old
    users: [old@localhost]
    allow: [{ software: Slixmpp, min_version: "99.0" }]
    action: deny
    text: "Slixmpp 99.0 or newer is required."
  - name: warned
    users: [warned@localhost]
    allow: [{ software: Gajim }]
    action: warn
    text: "Please use Gajim."
  - name: current
    allow: [{ software: Slixmpp, min_version: "1.0" }]
    action: deny
rules:
  - { name: local, subject: { local: true }, decision: allow }
`,
    );
    ts = await startTestServer({
      // slixmpp 1.8 can't do SCRAM-*-PLUS on TLS 1.3 (see slixmpp.clients.test.ts).
      auth: { channel_bindings: [] },
      policy: { file: join(dir, 'policy.yaml') },
      modules: { ...Object.fromEntries(Object.keys(DEFAULT_MODULES).map((id) => [id, {}])), sessions: { version_timeout: 5 } } as never,
    });
    for (const u of ['old', 'warned', 'current']) await ts.addUser(u, 'a long enough password');
  });
  after(async () => {
    await ts?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const slix = async (local: string): Promise<Result> => {
    const r = await run(PYTHON, [SCRIPT], {
      env: baseEnv({
        XMPP_HOST: '127.0.0.1',
        XMPP_PORT: String(ts.starttlsPort),
        XMPP_JID: `${local}@localhost/slix`,
        XMPP_PASSWORD: 'a long enough password',
        XMPP_CA: `${ts.dataDir}/tls/localhost.crt`,
        XMPP_WAIT: '3',
        XMPP_TIMEOUT: '15',
        SLIX_DEBUG: process.env.SLIX_DEBUG,
      }),
      timeoutMs: 25_000,
    });
    if (process.env.SLIX_DEBUG === '1') process.stderr.write(r.stderr);
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    try {
      return JSON.parse(line) as Result;
    } catch {
      throw new Error(`sessions-slixmpp.py printed no JSON result\n${describeRun(r)}`);
    }
  };

  test('a Slixmpp older than required is closed with policy-violation and the text; the refusal is audited', async () => {
    const r = await slix('old');
    assert.equal(r.ok, false, JSON.stringify(r));
    assert.deepEqual(r.stream_error, { condition: 'policy-violation', text: 'Slixmpp 99.0 or newer is required.' });
    const [entry] = (await ts.server.storage.audit.list({ limit: 100, action: 'client.check' })).filter((e) => e.actor === 'old@localhost');
    assert.equal(entry?.decision, 'deny');
    assert.deepEqual(entry?.details.client, { software: 'Slixmpp', version: slixVersion });
  });

  test('a Slixmpp new enough stays online', async () => {
    const r = await slix('current');
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.stream_error, null);
    assert.deepEqual(r.headlines, []);
  });

  test('warn: slixmpp gets the headline and stays online', async () => {
    const r = await slix('warned');
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.deepEqual(r.headlines, [{ from: 'localhost', body: 'Please use Gajim.' }]);
  });
});
