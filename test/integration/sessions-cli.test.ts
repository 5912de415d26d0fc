// `palisade sessions list|kill` and `palisade user passwd`, run as real
// processes against a running server on the same data_dir: the listing (table
// and JSON), closing one session or all of an account with the stream error
// and text the user sees, a password change ending every session of the
// account (and only of that account), each audited; and a clear refusal when
// no server is running.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, type RawClient } from '../helpers/raw-client.ts';
import { NS_VERSION } from '../../src/modules/version/index.ts';
import { KILL_TEXT, PASSWORD_CHANGED_TEXT } from '../../src/modules/sessions/index.ts';
import type { SessionInfo } from '../../src/modules/sessions/inventory.ts';
import { DEFAULT_MODULES } from '../../src/config/schema/modules.ts';

const MODULES = { ...Object.fromEntries(Object.keys(DEFAULT_MODULES).map((id) => [id, {}])), sessions: { control_poll_ms: 100 } };

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'palisade.js');

function palisade(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, PALISADE_CONFIG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

describe('palisade sessions and user passwd against a running server', () => {
  let dir: string;
  let config: string;
  let ts: TestServer | undefined;
  let dataDir: string;
  const clients: RawClient[] = [];
  const pw = 'the first password';

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-sessions-cli-'));
    config = join(dir, 'palisade.yaml');
    writeFileSync(config, 'domain: example.test\ndata_dir: ./data\nlogging: { level: warn }\nmodules: { sessions: {} }\n');
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await ts?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const connect = async (local: string, resource: string, password = pw) => {
    const c = await login({ port: ts!.starttlsPort, dataDir, domain: 'example.test', username: local, password, resource });
    c.answerVersion = false; // answered below, as Gajim
    clients.push(c);
    c.send('<presence/>');
    const q = await c.next((el) => el.name === 'iq' && el.getChild('query', NS_VERSION) !== undefined, 5000);
    c.send(`<iq type='result' id='${q.attrs.id}' to='example.test'><query xmlns='${NS_VERSION}'><name>Gajim</name><version>1.9.1</version></query></iq>`);
    return c;
  };

  const list = async (): Promise<SessionInfo[]> => {
    const r = await palisade(['sessions', 'list', '--json', '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as SessionInfo[];
  };

  test('with no server running: a clear error at once', async () => {
    const r = await palisade(['sessions', 'list', '--config', config]);
    assert.equal(r.code, 1);
    // Told from the missing heartbeat, not after waiting out --timeout ("no running server answered within …").
    assert.match(r.stderr, /no running server answers session requests \(is a server running with data_dir .*data and the sessions module loaded/);
    const k = await palisade(['sessions', 'kill', 'alice@example.test', '--config', config]);
    assert.equal(k.code, 1);
    assert.match(k.stderr, /no running server/);
  });

  test('list, kill one session, kill an account, passwd closes every session of the account', async () => {
    dataDir = loadConfig({ file: config, env: {} }).dataDir;
    ts = await startTestServer({ domain: 'example.test', data_dir: dataDir, modules: MODULES as never });
    await ts.addUser('alice', pw);
    await ts.addUser('bob', pw);
    const phone = await connect('alice', 'phone');
    const laptop = await connect('alice', 'laptop');
    const bob = await connect('bob', 'desk');

    let sessions = await list();
    for (let i = 0; i < 50 && sessions.some((s) => s.client_status === 'pending'); i++) sessions = await list();
    assert.deepEqual(sessions.map((s) => `${s.account}/${s.resource}`).sort(), ['alice@example.test/laptop', 'alice@example.test/phone', 'bob@example.test/desk']);
    const p = sessions.find((s) => s.resource === 'phone')!;
    assert.equal(p.ip, '127.0.0.1');
    assert.equal(p.tls_version, 'TLSv1.3');
    assert.equal(p.sasl_mechanism, 'SCRAM-SHA-256');
    assert.deepEqual(p.client, { software: 'Gajim', version: '1.9.1' });

    const table = await palisade(['sessions', 'list', '--account', 'alice@example.test', '--config', config]);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0]!, /^SESSION\s+IP\s+TLS\s+SASL\s+CLIENT\s+STARTED$/);
    assert.equal(lines.length, 3);
    assert.match(lines[1]!, /^alice@example\.test\/(phone|laptop)\s+127\.0\.0\.1\s+TLSv1\.3\s+SCRAM-SHA-256\s+Gajim 1\.9\.1\s+\d{4}-/);

    // One session, with a reason.
    const kill = await palisade(['sessions', 'kill', 'alice@example.test/phone', '--reason', 'The phone was reported lost.', '--config', config]);
    assert.equal(kill.code, 0, kill.stderr);
    assert.equal(kill.stdout, 'closed 1 session of alice@example.test/phone\n');
    const err = await phone.expectStreamError('policy-violation');
    assert.equal(err.text, `${KILL_TEXT} The phone was reported lost.`);
    assert.equal((await laptop.ping()).attrs.type, 'result', 'the other session of the account stays');

    // No such session: nothing closed, still answered.
    const none = await palisade(['sessions', 'kill', 'alice@example.test/tablet', '--config', config]);
    assert.equal(none.stdout, 'closed 0 sessions of alice@example.test/tablet\n');
    const bad = await palisade(['sessions', 'kill', 'alice@elsewhere.test', '--config', config]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /is not an address of an account on example\.test/);

    // A password change: every session of alice ends with <reset/>; bob's stays.
    const tablet = await connect('alice', 'tablet');
    const pwd = await palisade(['user', 'passwd', 'alice@example.test', '--password-stdin', '--config', config], 'the second password\n');
    assert.equal(pwd.code, 0, pwd.stderr);
    assert.equal(pwd.stdout, 'password changed for alice@example.test\nclosed 2 sessions of alice@example.test\n');
    for (const c of [laptop, tablet]) {
      const e = await c.expectStreamError('reset');
      assert.equal(e.text, PASSWORD_CHANGED_TEXT);
    }
    assert.equal((await bob.ping()).attrs.type, 'result', "another account's session stays");
    await assert.rejects(login({ port: ts.starttlsPort, dataDir, domain: 'example.test', username: 'alice', password: pw }), /not-authorized/);
    const back = await connect('alice', 'laptop', 'the second password');
    assert.equal((await back.ping()).attrs.type, 'result');

    // A whole account.
    const all = await palisade(['sessions', 'kill', 'bob@example.test', '--config', config]);
    assert.equal(all.stdout, 'closed 1 session of bob@example.test\n');
    assert.equal((await bob.expectStreamError('policy-violation')).text, KILL_TEXT);

    const audit = await ts.server.storage.audit.list({ limit: 1000 });
    const kills = audit.filter((e) => e.action === 'sessions.kill');
    assert.deepEqual(
      kills.map((e) => [e.decision, e.details.target, e.details.closed]),
      [
        ['info', 'alice@example.test/phone', ['alice@example.test/phone']],
        ['info', 'alice@example.test/tablet', []],
        ['info', 'bob@example.test', ['bob@example.test/desk']],
      ],
    );
    assert.equal(kills[0]!.details.reason, 'The phone was reported lost.');
    assert.match(kills[0]!.actor, /^cli/);
    const passwd = audit.find((e) => e.action === 'user.passwd');
    assert.equal(passwd?.details.sessions_closed, 2);
    assert.ok(audit.filter((e) => e.action === 'sessions.list').length >= 2);
  });

  test('after the server stopped: passwd still changes the password and says the sessions were not closed', async () => {
    await ts?.stop();
    ts = undefined;
    const r = await palisade(['user', 'passwd', 'alice', '--password-stdin', '--config', config], 'the third password\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'password changed for alice@example.test\n');
    assert.match(r.stderr, /note: sessions not closed: no running server answers session requests/);
  });
});
