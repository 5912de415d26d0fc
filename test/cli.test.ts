// The operator contract of the `palisade` command, run as a real process.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';

const ROOT = new URL('..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'palisade.js');
/** What `npm start` and an installed `palisade` run: bin/palisade.js under the measured runtime settings. */
const LAUNCHER = join(ROOT, 'bin', 'palisade');

function palisade(args: string[], opts: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? ROOT,
    input: opts.input ?? '',
    encoding: 'utf8',
    env: { ...process.env, PALISADE_CONFIG: '', ...opts.env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A config in its own folder, on free loopback ports, quick to hash. */
function initDir(): { dir: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-cli-'));
  const r = palisade(['init', '--domain', 'example.test', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  const config = join(dir, 'palisade.yaml');
  const text = readFileSync(config, 'utf8')
    .replace(/port: 5222/, 'port: 0')
    .replace(/port: 5223/, 'port: 0')
    .replace(/port: 5443/, 'port: 0')
    .replace(/address: 0\.0\.0\.0/g, 'address: 127.0.0.1')
    .replace(/scram_iterations: 10000/, 'scram_iterations: 4096')
    .replace(/level: info/, 'level: warn');
  writeFileSync(config, text);
  return { dir, config };
}

describe('palisade init', () => {
  test('writes a commented palisade.yaml for the domain, with data under the folder, and refuses to overwrite it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-cli-'));
    try {
      const r = palisade(['init', '--domain', 'Chat.Example.ORG', '--dir', dir]);
      assert.equal(r.code, 0, r.stderr);
      const text = readFileSync(join(dir, 'palisade.yaml'), 'utf8');
      assert.match(text, /^domain: chat\.example\.org$/m);
      assert.match(text, /^data_dir: \.\/data$/m);
      assert.match(text, /^# /m, 'the file is commented');
      assert.equal(statSync(join(dir, 'palisade.yaml')).mode & 0o077, 0, 'not readable by others');
      const again = palisade(['init', '--domain', 'x.test', '--dir', dir]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /already exists/);
      assert.match(readFileSync(join(dir, 'palisade.yaml'), 'utf8'), /^domain: chat\.example\.org$/m, 'unchanged');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refuses an invalid domain', () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-cli-'));
    try {
      const r = palisade(['init', '--domain', 'bad domain!', '--dir', dir]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /domain/);
      assert.equal(existsSync(join(dir, 'palisade.yaml')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('palisade check-config', () => {
  test('accepts a fresh config and names the key of each problem in a bad one', () => {
    const { dir, config } = initDir();
    try {
      const ok = palisade(['check-config', '--config', config]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /OK/);
      writeFileSync(config, readFileSync(config, 'utf8').replace('max_stanza_bytes:', 'max_stanza_byte:'));
      const bad = palisade(['check-config', '--config', config]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /limits\.max_stanza_byte: .*did you mean 'max_stanza_bytes'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('validates module options and module names', () => {
    const { dir, config } = initDir();
    try {
      const text = readFileSync(config, 'utf8').replace(/^  version: \{\}$/m, '  version: { show_os: "yes" }').replace(/^  ping: \{\}$/m, '  pong: {}');
      writeFileSync(config, text);
      const bad = palisade(['check-config', '--config', config]);
      assert.equal(bad.code, 2, bad.stdout + bad.stderr);
      assert.match(bad.stderr, /modules\.version\.show_os/);
      assert.match(bad.stderr, /modules\.pong: unknown module.*did you mean 'ping'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('palisade user', () => {
  let dir: string;
  let config: string;
  before(() => ({ dir, config } = initDir()));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('add (password on stdin), list, passwd, remove', () => {
    const add = palisade(['user', 'add', 'Alice@example.test', '--password-stdin', '--config', config], { input: 'correct horse battery\n' });
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /created alice@example\.test/);
    const dup = palisade(['user', 'add', 'alice', '--password-stdin', '--config', config], { input: 'another password\n' });
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already exists/);
    const list = palisade(['user', 'list', '--config', config]);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(list.stdout.trim().split('\n'), ['alice@example.test']);
    const pw = palisade(['user', 'passwd', 'alice', '--password-stdin', '--config', config], { input: 'a new long password\n' });
    assert.equal(pw.code, 0, pw.stderr);
    const rm = palisade(['user', 'remove', 'alice@example.test', '--config', config]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(palisade(['user', 'list', '--config', config]).stdout.trim(), '');
    const rmAgain = palisade(['user', 'remove', 'alice', '--config', config]);
    assert.equal(rmAgain.code, 1);
    assert.match(rmAgain.stderr, /No account alice@example\.test/);
  });

  test('unlock lifts a lock left by failed logins and is audited', async () => {
    const add = palisade(['user', 'add', 'locked', '--password-stdin', '--config', config], { input: 'correct horse battery\n' });
    assert.equal(add.code, 0, add.stderr);
    const { openStorage } = await import('../src/storage/index.ts');
    const storage = await openStorage({ backend: 'sqlite', path: join(dir, 'data', 'palisade.db') });
    try {
      await storage.db
        .insertInto('auth_lockouts' as never)
        .values({ domain: 'example.test', localpart: 'locked', failures: 10, window_start: Date.now(), locked_until: Date.now() + 600_000 } as never)
        .execute();
    } finally {
      await storage.close();
    }
    const r = palisade(['user', 'unlock', 'locked', '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /unlocked locked@example\.test/);
    const again = palisade(['user', 'unlock', 'locked', '--config', config]);
    assert.match(again.stdout, /was not locked/);
    const check = await openStorage({ backend: 'sqlite', path: join(dir, 'data', 'palisade.db') });
    try {
      const entries = await check.audit.list({ action: 'auth.unlock' });
      assert.deepEqual(entries.map((e) => e.reason), ['lock lifted', 'no lock']);
    } finally {
      await check.close();
    }
    assert.equal(palisade(['user', 'remove', 'locked', '--config', config]).code, 0);
  });

  test('refuses bad input with a clear message and creates nothing', () => {
    const cases: [string[], string, RegExp][] = [
      [['user', 'add', 'bob@other.test', '--password-stdin'], 'long enough password\n', /not on this server's domain/],
      [['user', 'add', 'bo b', '--password-stdin'], 'long enough password\n', /Invalid address/],
      [['user', 'add', 'bob', '--password-stdin'], 'short\n', /at least 8 characters/],
      [['user', 'add', 'bob', '--password-stdin'], '', /no password on standard input/],
      [['user', 'add', 'bob'], '', /not a terminal/],
      [['user', 'add', '\u0430dmin', '--password-stdin'], 'long enough password\n', /mixes scripts/],
    ];
    for (const [args, input, message] of cases) {
      const r = palisade([...args, '--config', config], { input });
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.equal(palisade(['user', 'list', '--config', config]).stdout.trim(), '');
  });

  test('import: CSV with given and generated passwords; generated ones printed once; existing accounts reported', () => {
    const csv = join(dir, 'users.csv');
    writeFileSync(csv, '# onboarding\ncarol@example.test,pass,with,commas\n\ndave@example.test\nerin\n');
    const r = palisade(['user', 'import', csv, '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    const printed = r.stdout.trim().split('\n');
    assert.equal(printed.length, 2, 'only generated passwords are printed');
    assert.match(printed[0]!, /^dave@example\.test,[A-Za-z0-9]{20}$/);
    assert.match(printed[1]!, /^erin@example\.test,[A-Za-z0-9]{20}$/);
    assert.match(r.stderr, /imported 3 accounts/);
    const again = palisade(['user', 'import', csv, '--config', config]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /imported 0 accounts in [\d.]+ s; 3 already existed/);
    assert.equal(again.stdout.trim(), '', 'no password printed for accounts that were not created');
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'frank@example.test,\n');
    const refused = palisade(['user', 'import', bad, '--config', config]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /bad\.csv:1: empty password/);
  });
});

describe('palisade start', () => {
  test('first run with no config: creates data, database, certificate and a one-time admin password; SIGTERM stops it', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'palisade-first-'));
    try {
      // The default ports may be taken on a developer machine: run on free ones through an env-free minimal config.
      const first = await runUntilReady(cwd, ['start']);
      assert.match(first.stdout, /created the administrator account admin@localhost/);
      const password = /one-time password: (\S+)/.exec(first.stdout)?.[1];
      assert.ok(password && password.length >= 20, 'a strong password is printed');
      assert.ok(existsSync(join(cwd, 'data', 'palisade.db')));
      assert.ok(existsSync(join(cwd, 'data', 'tls', 'localhost.crt')));
      assert.equal(statSync(join(cwd, 'data', 'tls', 'localhost.key')).mode & 0o077, 0);
      assert.equal(first.exitCode, 0, 'graceful stop on SIGTERM');
      const logs = first.stdout + first.stderr;
      assert.ok(!logs.includes(`"${password}"`) && logs.split(password!).length === 2, 'the password appears exactly once');
      const second = await runUntilReady(cwd, ['start']);
      assert.doesNotMatch(second.stdout, /one-time password/);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  test('the launcher runs the server itself (one process) under the measured runtime settings', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'palisade-launcher-'));
    try {
      const env = { ...process.env };
      delete env.GLIBC_TUNABLES;
      const run = await runUntilReady(cwd, ['start'], {
        command: [LAUNCHER],
        env,
        whileReady: (pid) => ({
          argv: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'),
          environ: readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0'),
        }),
      });
      // The pid spawned is node's, not a shell's: exec replaced the launcher, so SIGTERM reached the server.
      assert.match(run.ready.argv[0]!, /node/);
      assert.ok(run.ready.argv.includes('--max-semi-space-size=64'), run.ready.argv.join(' '));
      assert.ok(run.ready.argv.some((a) => a.endsWith('palisade.js')));
      assert.ok(run.ready.environ.includes('GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536'));
      assert.equal(run.exitCode, 0, 'graceful stop on SIGTERM');
      // An administrator's own glibc settings are kept.
      const own = await runUntilReady(cwd, ['start'], {
        command: [LAUNCHER],
        env: { ...env, GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' },
        whileReady: (pid) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0'),
      });
      assert.ok(own.ready.includes('GLIBC_TUNABLES=glibc.malloc.arena_max=2'));
      assert.ok(!own.ready.includes('GLIBC_TUNABLES=glibc.malloc.mmap_threshold=65536'));
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

/**
 * Starts `palisade start` in cwd (with node, or with the given command), waits until
 * port 5222 (or the printed one) answers, calls whileReady with the process id, then sends SIGTERM.
 */
async function runUntilReady<T = undefined>(
  cwd: string,
  args: string[],
  opts: { command?: string[]; env?: NodeJS.ProcessEnv; whileReady?: (pid: number) => T } = {},
): Promise<{ stdout: string; stderr: string; exitCode: number | null; ready: T }> {
  const [file, ...pre] = opts.command ?? [process.execPath, BIN];
  const child = spawn(file!, [...pre, ...args], { cwd, env: { ...(opts.env ?? process.env), PALISADE_CONFIG: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const deadline = Date.now() + 30_000;
  while (!/STARTTLS\): \S+ port (\d+)/.test(stdout)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`server did not start:\n${stdout}\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const port = Number(/STARTTLS\): \S+ port (\d+)/.exec(stdout)![1]);
  await new Promise<void>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve();
    });
    s.on('error', reject);
  });
  const ready = opts.whileReady?.(child.pid!) as T;
  child.kill('SIGTERM');
  return { stdout, stderr, exitCode: await exited, ready };
}
