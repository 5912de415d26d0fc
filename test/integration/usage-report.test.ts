// Must show (issue #6, usage reports): traffic through a real server — one-to-
// one messages (one with two bodies, a chat state that is no message), a
// message to an offline account, a refused message, a Jingle call and a call
// proposal, an upload through HTTPS scanned by a real clamd, logins and a
// failed one — then the server stops (the usage counters are flushed on stop)
// and `palisade report usage` runs as a child process: the JSON figures per
// account and per group are exactly what was sent, and the table shows them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MODULES } from '../../src/config/schema/modules.ts';
import type { UsageReport } from '../../src/cli/report.ts';
import type { Kysely } from 'kysely';
import { startClamd, type TestClamd } from '../helpers/clamd.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'palisade.js');
const UP = 'urn:xmpp:http:upload:0';
const UPLOAD_BYTES = 1000;

const POLICY = `
version: 1
groups:
  staff: { members: [alice@localhost, bob@localhost] }
rules:
  - name: no-carol
    subject: { users: [alice@localhost] }
    peer: { users: [carol@localhost] }
    action: stanza.message
    decision: deny
    text: Not to carol.
  - name: local
    subject: { local: true }
    decision: allow
`;

/** The name test/helpers/raw-client.ts answers the version query with, as known clients keep it (lower case). */
const RAW = 'palisade-raw-test-client';

/** Waits until the sessions module has recorded `n` clients (it does after each session's version answer). */
async function knownClients(ts: TestServer, n: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const rows = await (ts.server.storage.db as Kysely<any>).selectFrom('known_clients').select('value').where('kind', '=', 'client').execute();
    if (rows.length >= n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`the sessions module did not record ${n} clients`);
}

function palisade(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, input: '', encoding: 'utf8', env: { ...process.env, PALISADE_CONFIG: '' }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('usage report after real traffic (palisade report usage as a child process)', () => {
  let ts: TestServer;
  let clamd: TestClamd;
  let dir: string;
  let config: string;
  const since = new Date(Date.now() - 60_000);
  let until: Date;

  before(async () => {
    clamd = await startClamd();
    dir = mkdtempSync(join(tmpdir(), 'palisade-usage-'));
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, POLICY);
    ts = await startTestServer({
      listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } },
      policy: { file: policyFile },
      modules: {
        ...Object.fromEntries(Object.keys(DEFAULT_MODULES).map((id) => [id, {}])),
        'http-upload': { antivirus: { socket: clamd.socket, timeout_ms: 10_000 } },
      },
    });
    // The command line reads the same database and policy.
    config = join(dir, 'palisade.yaml');
    writeFileSync(config, `domain: localhost\ndata_dir: ${ts.dataDir}\npolicy: { file: ${policyFile} }\n`);

    const users = new Map<string, string>();
    for (const n of ['alice', 'bob', 'carol', 'dave']) users.set(n, (await ts.addUser(n)).password);
    const connect = async (n: string, answerVersion = true): Promise<RawClient> => {
      const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: n, password: users.get(n)!, resource: 'desk' });
      c.answerVersion = answerVersion;
      c.send('<presence/>');
      await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid);
      return c;
    };
    const alice = await connect('alice');
    const bob = await connect('bob');
    const carol = await connect('carol', false);
    // The sessions module asked each client for its software (XEP-0092): the raw client names itself, carol's refuses.
    const q = await carol.next((e) => e.name === 'iq' && e.getChild('query', 'jabber:iq:version') !== undefined, 5000);
    carol.send(`<iq type='error' id='${q.attrs.id}' to='localhost'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`);
    await knownClients(ts, 3);
    await assert.rejects(login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'bob', password: 'not-the-password' }));

    const chat = (from: RawClient, to: string, id: string, inner: string) => from.send(`<message type='chat' to='${to}' id='${id}'>${inner}</message>`);
    const arrives = (c: RawClient, id: string) => c.next((e) => e.name === 'message' && e.attrs.id === id);
    for (let i = 1; i <= 3; i++) {
      chat(alice, 'bob@localhost', `a${i}`, `<body>hello ${i}</body>`);
      await arrives(bob, `a${i}`);
    }
    chat(alice, 'bob@localhost', 'state', `<composing xmlns='http://jabber.org/protocol/chatstates'/>`);
    await arrives(bob, 'state');
    chat(bob, 'alice@localhost', 'b1', `<body>hi</body>`);
    await arrives(alice, 'b1');
    chat(bob, 'alice@localhost', 'b2', `<body>hi again</body><body xml:lang='de'>hallo nochmal</body>`);
    await arrives(alice, 'b2');
    chat(alice, 'carol@localhost', 'refused', `<body>hello carol</body>`);
    assert.equal(stanzaError(await alice.next((e) => e.attrs.id === 'refused' && e.attrs.type === 'error')).text, 'Not to carol.');
    chat(carol, 'dave@localhost', 'c1', `<body>for later</body>`); // dave is offline: stored
    await carol.ping();

    // A call: a proposal (XEP-0353) to bob's account, then the Jingle session to his client.
    chat(alice, 'bob@localhost', 'call-1', `<propose xmlns='urn:xmpp:jingle-message:0' id='call-1'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></propose>`);
    await arrives(bob, 'call-1');
    alice.send(
      `<iq type='set' to='${bob.jid}' id='j1'><jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='call-1' initiator='${alice.jid}'>` +
        `<content creator='initiator' name='voice'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/></content></jingle></iq>`,
    );
    const initiate = await bob.next((e) => e.name === 'iq' && e.attrs.id === 'j1');
    bob.send(`<iq type='result' to='${initiate.attrs.from}' id='j1'/>`);
    await alice.next((e) => e.name === 'iq' && e.attrs.id === 'j1' && e.attrs.type === 'result');

    // An upload: slot over XMPP, PUT over HTTPS, scanned clean by clamd.
    const slot = await alice.iq('get', `<request xmlns='${UP}' filename='notes.txt' size='${UPLOAD_BYTES}' content-type='text/plain'/>`, { to: 'upload.localhost' });
    assert.equal(slot.attrs.type, 'result', slot.toString());
    const put = new URL(slot.getChild('slot', UP)!.getChild('put')!.attrs.url!);
    const ca = readFileSync(join(ts.dataDir, 'tls', 'localhost.crt'));
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { method: 'PUT', host: '127.0.0.1', port: put.port, path: put.pathname, servername: 'localhost', ca, agent: false, headers: { 'content-type': 'text/plain', 'content-length': String(UPLOAD_BYTES) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.end(Buffer.from(randomBytes(UPLOAD_BYTES / 2).toString('hex')));
    });
    assert.equal(status, 201);

    await Promise.all([alice, bob, carol].map((c) => c.close()));
    until = new Date(Date.now() + 3_600_000);
    // Stop, keeping the data: the counters are flushed on stop.
    await ts.server.stop();
  });

  after(async () => {
    await ts?.server.stop();
    await clamd?.stop();
    if (ts) rmSync(ts.dataDir, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = (by: string, json: boolean) => {
    const r = palisade(['report', 'usage', '--since', since.toISOString(), '--until', until.toISOString(), '--by', by, ...(json ? ['--json'] : []), '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };

  const figures = (sent: number, received: number, uploads: number, bytes: number, sessions: number, proposals: number, refusals: number, logins: number, clients: string[]) => ({
    messages: { sent, received },
    files: { uploads, bytes },
    calls: { sessions, proposals },
    refusals,
    logins,
    clients,
  });

  test('--by user --json: exact figures per account', () => {
    const r = JSON.parse(run('user', true)) as UsageReport;
    assert.equal(r.by, 'user');
    assert.equal(r.since, since.toISOString());
    assert.deepEqual(r.rows, [
      { name: 'alice@localhost', ...figures(3, 2, 1, UPLOAD_BYTES, 1, 1, 1, 1, [RAW]) },
      { name: 'bob@localhost', ...figures(2, 3, 0, 0, 0, 0, 0, 1, [RAW]) },
      { name: 'carol@localhost', ...figures(1, 0, 0, 0, 0, 0, 0, 1, ['unknown']) },
      { name: 'dave@localhost', ...figures(0, 1, 0, 0, 0, 0, 0, 0, []) },
    ]);
    assert.deepEqual(r.total, { users: 4, ...figures(6, 6, 1, UPLOAD_BYTES, 1, 1, 1, 3, [RAW, 'unknown']) });
  });

  test('--by group --json: staff and the accounts in no group', () => {
    const r = JSON.parse(run('group', true)) as UsageReport;
    assert.deepEqual(r.rows, [
      { name: 'staff', users: 2, ...figures(5, 5, 1, UPLOAD_BYTES, 1, 1, 1, 2, [RAW]) },
      { name: '(no group)', users: 2, ...figures(1, 1, 0, 0, 0, 0, 0, 1, ['unknown']) },
    ]);
  });

  test('the table: a header, a line per account, the total', () => {
    const lines = run('user', false).split('\n');
    assert.match(lines[0]!, /^usage from \S+ to \S+, by user$/);
    assert.match(lines[3]!, /^account\s+sent\s+received\s+uploads\s+upload bytes\s+calls\s+call proposals\s+refusals\s+logins\s+clients$/);
    assert.ok(lines.some((l) => /^alice@localhost\s+3\s+2\s+1\s+1000\s+1\s+1\s+1\s+1\s+1$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^dave@localhost\s+0\s+1\s+0\s+0\s+0\s+0\s+0\s+0\s+0$/.test(l)));
    assert.ok(lines.some((l) => /^total\s+6\s+6\s+1\s+1000\s+1\s+1\s+1\s+3\s+2$/.test(l)));
  });

  test('a period before the traffic has none; bad options are refused with a message', () => {
    const r = palisade(['report', 'usage', '--since', '2001-01-01T00:00:00Z', '--until', '2001-01-02T00:00:00Z', '--by', 'user', '--json', '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((JSON.parse(r.stdout) as UsageReport).rows, []);
    const bad = palisade(['report', 'usage', '--since', 'yesterday', '--by', 'user', '--config', config]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--since yesterday is not an ISO 8601 time/);
    const by = palisade(['report', 'usage', '--since', since.toISOString(), '--by', 'team', '--config', config]);
    assert.equal(by.code, 1);
    assert.match(by.stderr, /--by must be user or group/);
  });
});
