// Palisade, driven through its own CLI from this checkout, as an admin would.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import YAML from 'yaml';
import type { ServerSetup, Target } from './target.ts';

const execFileAsync = promisify(execFile);
const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The installed `palisade` command: it runs the server with the runtime settings documented in docs/performance.md. */
const LAUNCHER = join(REPO, 'bin', 'palisade');

/** PALISADE_BENCH_CPU_PROF=DIR: the server writes a V8 CPU profile there when it stops (measure before optimising). */
function serverEnv(): NodeJS.ProcessEnv {
  const dir = process.env.PALISADE_BENCH_CPU_PROF;
  if (!dir) return process.env;
  // V8 samples every 1000 µs by default: too coarse for a presence fan-out of a few milliseconds.
  const interval = process.env.PALISADE_BENCH_CPU_PROF_INTERVAL;
  const flags = ['--cpu-prof', `--cpu-prof-dir=${dir}`, ...(interval ? [`--cpu-prof-interval=${interval}`] : [])];
  return { ...process.env, PALISADE_NODE_ARGS: flags.join(' ') };
}

const CLI_TIMEOUT_MS = 120_000;
/**
 * `user import` derives SCRAM keys for each hash of each account: allowed 10 µs
 * per PBKDF2 iteration and account on top, a few times what that takes on a
 * quiet machine, so that thousands of accounts (the idle scenario) fit.
 */
const IMPORT_MS_PER_ITERATION = 0.01;

async function cli(timeoutMs: number, ...args: string[]): Promise<void> {
  try {
    await execFileAsync(LAUNCHER, args, { cwd: REPO, timeout: timeoutMs, maxBuffer: 16 << 20 });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string; killed?: boolean };
    const why = e.killed ? `no result within ${timeoutMs / 1000} s` : (e.stderr || e.stdout || e.message).trim().slice(-2000);
    throw new Error(`palisade ${args[0]} failed: ${why}`);
  }
}

export const palisade = palisadeTarget(true);
/** The same without the message archive, to measure what archiving costs on the 1:1 path. */
export const palisadeNoMam = palisadeTarget(false);

function palisadeTarget(archiving: boolean): Target {
  return {
    name: archiving ? 'palisade' : 'palisade-no-mam',
    archive: archiving ? 'mam module, in its database' : undefined,
    scenarios: archiving ? undefined : ['messages', 'websocket', 'latency'],

    async availability() {
      return existsSync(LAUNCHER) ? undefined : `its launcher (${LAUNCHER}) does not exist`;
    },

    async version() {
      const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
      try {
        const { stdout } = await execFileAsync('git', ['-C', REPO, 'describe', '--always', '--dirty'], { timeout: 10_000 });
        return `${pkg.version} (${stdout.trim()})`;
      } catch {
        return pkg.version;
      }
    },

    async prepare(setup) {
      await cli(CLI_TIMEOUT_MS, 'init', '--domain', setup.domain, '--dir', setup.dir);
      const file = configFile(setup);
      const doc = YAML.parseDocument(await readFile(file, 'utf8'));
      doc.setIn(['listeners', 'c2s', 'address'], '127.0.0.1');
      doc.setIn(['listeners', 'c2s', 'port'], setup.ports.starttls);
      doc.setIn(['listeners', 'c2s_direct_tls', 'address'], '127.0.0.1');
      doc.setIn(['listeners', 'c2s_direct_tls', 'port'], setup.ports.directTls);
      doc.setIn(['listeners', 'https', 'enabled'], true);
      doc.setIn(['listeners', 'https', 'address'], '127.0.0.1');
      doc.setIn(['listeners', 'https', 'port'], setup.ports.https);
      if (!archiving) {
        if (!doc.hasIn(['modules', 'mam'])) throw new Error("palisade init's configuration loads no 'mam' module to leave out");
        doc.deleteIn(['modules', 'mam']);
      }
      doc.setIn(['auth', 'scram_iterations'], setup.iterations);
      // Optional keys are set only where the template has them: an unknown key stops start-up.
      // The same certificate and log level as the other targets keep the comparison fair.
      if (doc.hasIn(['tls', 'cert_file']) && doc.hasIn(['tls', 'key_file'])) {
        doc.setIn(['tls', 'cert_file'], setup.certificate.cert);
        doc.setIn(['tls', 'key_file'], setup.certificate.key);
      }
      if (doc.hasIn(['logging', 'level'])) doc.setIn(['logging', 'level'], 'warn');
      // The reference servers run without rate limits (no mod_limits, shaper: none)
      // and do not ping idle clients; so does Palisade here. Every connection comes from 127.0.0.1.
      for (const [key, value] of Object.entries(BENCH_LIMITS)) {
        if (doc.hasIn(['limits', key])) doc.setIn(['limits', key], value);
      }
      // So do their rooms (mucnet): the default of 200 occupants per room would refuse the rest.
      if (doc.hasIn(['modules', 'muc'])) doc.setIn(['modules', 'muc', 'max_users'], MUC_MAX_USERS);
      await writeFile(file, doc.toString());

      const users = join(setup.dir, 'bench-users.csv');
      await writeFile(users, setup.usernames.map((u) => `${u}@${setup.domain},${setup.password}\n`).join(''));
      const importMs = CLI_TIMEOUT_MS + setup.usernames.length * setup.iterations * IMPORT_MS_PER_ITERATION;
      await cli(importMs, 'user', 'import', users, '--config', file);
    },

    spawn(setup): ChildProcess {
      return spawn(LAUNCHER, ['start', '--config', configFile(setup)], {
        cwd: REPO,
        env: serverEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    },
  };
}

const BENCH_LIMITS: Record<string, number> = {
  connections_per_ip: 1_000_000,
  connection_rate_per_ip: 100_000,
  connection_burst_per_ip: 1_000_000,
  max_connections: 10_000_000,
  bytes_per_second: 1_073_741_824,
  bytes_burst: 1_073_741_824,
  stanzas_per_second: 1_000_000,
  stanzas_burst: 1_000_000,
  account_stanzas_per_second: 1_000_000,
  account_stanzas_burst: 1_000_000,
  account_bytes_per_second: 1_073_741_824,
  account_bytes_burst: 1_073_741_824,
  unauthenticated_bytes_per_second: 1_073_741_824,
  // The idle scenario's sessions send nothing and answer no ping.
  idle_timeout: 86_400,
};

/** The muc module's largest room size (its max_users), far above the bench's 1,000 occupants; rooms take it as their default. */
const MUC_MAX_USERS = 100_000;

function configFile(setup: ServerSetup): string {
  return join(setup.dir, 'palisade.yaml');
}
