// antivirus.mode: managed — the server starts its own clamd (the real
// /usr/sbin/clamd, with an EICAR-only signature database), refuses EICAR and
// stores a clean file, restarts clamd after a SIGKILL (audited) so uploads
// work again, stops it with the server; a missing binary or database is a
// configuration error at start-up, naming the key.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ConfigError } from '../../src/config/errors.ts';
import { clamdConfig, ManagedClamd } from '../../src/modules/http-upload/clamd-managed.ts';
import { openStorage } from '../../src/storage/index.ts';
import { eicar, writeEicarDatabase } from '../helpers/clamd.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const UP = 'urn:xmpp:http:upload:0';
const ROOT = new URL('../..', import.meta.url).pathname;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until fn returns a value; clamd's start takes about a second, a restart a little longer. */
async function eventually<T>(what: string, fn: () => Promise<T | undefined>, tries = 150): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('managed clamd (antivirus.mode: managed)', () => {
  let ts: TestServer;
  let dbDir: string;
  let ca: Buffer;
  let alice: RawClient;
  let password: string;

  before(async () => {
    dbDir = mkdtempSync(join(tmpdir(), 'palisade-clamdb-'));
    writeEicarDatabase(dbDir);
    ts = await startTestServer({
      listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } },
      modules: {
        disco: {},
        roster: {},
        presence: {},
        'http-upload': { max_file_size: 1024 * 1024, antivirus: { mode: 'managed', managed: { database_dir: dbDir }, timeout_ms: 10_000 } },
      },
    });
    ca = readFileSync(join(ts.dataDir, 'tls', 'localhost.crt'));
    password = (await ts.addUser('alice')).password;
    alice = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'alice', password });
  });
  after(async () => {
    await alice?.close();
    await ts?.stop();
    rmSync(dbDir, { recursive: true, force: true });
  });

  const slot = async (filename: string, size: number): Promise<{ put: string; get: string } | { refused: string }> => {
    const r = await alice.iq('get', `<request xmlns='${UP}' filename='${filename}' size='${size}'/>`, { to: 'upload.localhost' });
    if (r.attrs.type !== 'result') return { refused: `${stanzaError(r).condition}: ${stanzaError(r).text}` };
    const s = r.getChild('slot', UP)!;
    return { put: s.getChild('put')!.attrs.url!, get: s.getChild('get')!.attrs.url! };
  };

  /** A slot, once the scanner is up: until then slot requests are refused (service-unavailable, "virus scanner is unavailable"). */
  const readySlot = (filename: string, size: number) =>
    eventually('the managed clamd to accept uploads', async () => {
      const s = await slot(filename, size);
      if ('put' in s) return s;
      assert.match(s.refused, /^service-unavailable: The virus scanner is unavailable/);
      return undefined;
    });

  const http = (method: string, url: string, body?: Buffer): Promise<{ status: number; body: Buffer }> => {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const headers = body ? { 'content-type': 'application/octet-stream', 'content-length': String(body.length) } : {};
      const req = request({ method, host: '127.0.0.1', port: u.port, path: u.pathname, servername: 'localhost', ca, headers, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  };

  const cleanRoundTrip = async () => {
    const data = randomBytes(200_000);
    const s = await readySlot('notes.bin', data.length);
    const stored = await http('PUT', s.put, data);
    assert.equal(stored.status, 201, stored.body.toString());
    const got = await http('GET', s.get);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(data), 'byte-identical');
  };

  const clamdPid = () => Number(readFileSync(join(ts.dataDir, 'clamd', 'clamd.pid'), 'utf8').trim());

  test('writes its own clamd.conf: a socket in <data_dir>/clamd, no TCP, the configured database, limits above max_file_size', () => {
    const conf = readFileSync(join(ts.dataDir, 'clamd', 'clamd.conf'), 'utf8');
    assert.match(conf, new RegExp(`^LocalSocket ${join(ts.dataDir, 'clamd', 'clamd.sock')}$`, 'm'));
    assert.match(conf, /^Foreground yes$/m);
    assert.match(conf, new RegExp(`^DatabaseDirectory ${dbDir}$`, 'm'));
    assert.match(conf, /^StreamMaxLength 2M$/m);
    assert.match(conf, /^AlertExceedsMax yes$/m);
    assert.doesNotMatch(conf, /TCP/);
  });

  test('refuses EICAR (quarantined) and stores a clean file', async () => {
    const s = await readySlot('eicar.txt', eicar().length);
    const r = await http('PUT', s.put, eicar());
    assert.equal(r.status, 403, r.body.toString());
    assert.match(r.body.toString(), /virus scanner found Eicar-Test-Signature.*quarantined/);
    assert.equal((await http('GET', s.get)).status, 404);
    await cleanRoundTrip();
  });

  test('a clamd killed with SIGKILL is restarted (logged in the audit) and uploads work again', async () => {
    await readySlot('warm.bin', 1);
    const before = clamdPid();
    process.kill(before, 'SIGKILL');
    const entry = await eventually('the audit entry for the exit', async () =>
      (await ts.server.storage.audit.list({ afterSeq: 0, limit: 1000, action: 'http-upload.clamd' })).find((e) => e.details['pid'] === before),
    );
    assert.equal(entry.decision, 'info');
    assert.match(entry.reason, /managed clamd exited \(SIGKILL\); restarting in \d+ ms/);
    await cleanRoundTrip();
    assert.notEqual(clamdPid(), before, 'a new clamd process');
    assert.ok(alive(clamdPid()));
  });

  test('stopping the server stops clamd', async () => {
    const stopped = await startTestServer({
      modules: { 'http-upload': { antivirus: { mode: 'managed', managed: { database_dir: dbDir } } } },
    });
    const pidFile = join(stopped.dataDir, 'clamd', 'clamd.pid');
    const pid = await eventually('clamd to write its pid file', async () => {
      try {
        return Number(readFileSync(pidFile, 'utf8').trim()) || undefined;
      } catch {
        return undefined;
      }
    });
    assert.ok(alive(pid));
    await stopped.stop();
    await eventually('clamd to exit', async () => (alive(pid) ? undefined : true));
  });
});

describe('managed clamd left over from a Palisade that was killed', () => {
  test('the next start kills the old clamd (same clamd.conf) and starts its own', async () => {
    const root = mkdtempSync(join(tmpdir(), 'palisade-orphan-'));
    const dir = join(root, 'clamd');
    const db = join(root, 'db');
    writeEicarDatabase(db);
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    // What a killed Palisade leaves behind: its clamd, still running with the generated configuration.
    writeFileSync(
      join(dir, 'clamd.conf'),
      clamdConfig({ socket: join(dir, 'clamd.sock'), pidFile: join(dir, 'clamd.pid'), databaseDir: db, tmpDir: join(dir, 'tmp'), maxFileSize: 1024 * 1024 }),
    );
    const orphan = spawn('/usr/sbin/clamd', [`--config-file=${join(dir, 'clamd.conf')}`], { stdio: 'ignore', detached: true });
    // If the new clamd exits once (the old one may still hold the socket), it is restarted, and that exit is audited.
    const storage = await openStorage({ backend: 'sqlite', path: ':memory:' });
    const managed = new ManagedClamd({ clamdPath: '/usr/sbin/clamd', databaseDir: db, dir, maxFileSize: 1024 * 1024, timeoutMs: 5000, log: pino({ level: 'silent' }), audit: storage.audit });
    await eventually('the old clamd to write its pid file', async () => {
      try {
        return Number(readFileSync(join(dir, 'clamd.pid'), 'utf8')) === orphan.pid || undefined;
      } catch {
        return undefined;
      }
    });
    try {
      managed.start();
      await eventually('the old clamd to be gone', async () => (alive(orphan.pid!) ? undefined : true));
      await eventually('the new clamd to be ready', async () => (managed.status === 'ready' ? true : undefined));
      assert.notEqual(managed.pid, orphan.pid);
      assert.equal(await managed.client.ping(), true);
    } finally {
      await managed.stop();
      await storage.close();
      if (alive(orphan.pid!)) orphan.kill('SIGKILL');
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('managed clamd: what is missing is a start-up error', () => {
  test('a missing clamd binary or an empty database folder stops start-up, naming the key', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'palisade-nodb-'));
    try {
      await assert.rejects(
        startTestServer({
          modules: { 'http-upload': { antivirus: { mode: 'managed', managed: { clamd_path: '/nonexistent/clamd', database_dir: empty } } } },
        }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          const byPath = new Map(err.issues.map((i) => [i.path, i.message]));
          assert.match(byPath.get('modules.http-upload.antivirus.managed.clamd_path') ?? '', /no clamd executable there/);
          assert.match(byPath.get('modules.http-upload.antivirus.managed.database_dir') ?? '', /no ClamAV signature database there/);
          return true;
        },
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test('`palisade start` exits with the configuration error and starts nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-managed-cli-'));
    try {
      mkdirSync(join(dir, 'db'));
      writeFileSync(
        join(dir, 'palisade.yaml'),
        `domain: localhost\ndata_dir: ${join(dir, 'data')}\nmodules:\n  http-upload:\n    antivirus:\n      mode: managed\n      managed: { clamd_path: /nonexistent/clamd, database_dir: ${join(dir, 'db')} }\n`,
      );
      const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [join(ROOT, 'bin', 'palisade.js'), 'start', '--config', join(dir, 'palisade.yaml')], {
          cwd: ROOT,
          env: { ...process.env, PALISADE_CONFIG: '' },
        });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => resolve({ code, stderr }));
      });
      assert.equal(out.code, 2, out.stderr);
      assert.match(out.stderr, /^configuration error:/);
      assert.match(out.stderr, /modules\.http-upload\.antivirus\.managed\.clamd_path: no clamd executable there/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
