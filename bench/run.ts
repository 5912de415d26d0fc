// `npm run bench [-- options]`: runs each scenario against a fresh instance of
// each target server and prints absolute figures and Palisade/Prosody ratios.
// Progress goes to stderr; JSON lines and the table to stdout.
import { rmSync } from 'node:fs';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { XmppConnection, type LoginOptions, type TlsMode } from './loadgen/connection.ts';
import { SCRAM_MECHANISMS, ScramKeyCache, type ScramMechanism } from './loadgen/scram.ts';
import { loginsScenario } from './scenarios/logins.ts';
import { messagesScenario } from './scenarios/messages.ts';
import { inParallel, LOGIN_TIMEOUT_MS, type Scenario, type ScenarioResult } from './scenarios/scenario.ts';
import { CERTIFICATE_KIND, makeCertificate } from './targets/certificate.ts';
import { palisade } from './targets/palisade.ts';
import { prosody } from './targets/prosody.ts';
import { freePort, RunningServer } from './targets/server.ts';
import type { ServerSetup, Target } from './targets/target.ts';

const DOMAIN = 'bench.test';
const PASSWORD = 'bench-password-0123';

const USAGE = `Usage: npm run bench [-- options]
  --compare            also run Prosody (installed with apt-get if missing)
  --users N            logins: accounts that log in (default 300, 1..5000)
  --parallel K         parallel connectors while logging in (default 50, 1..500)
  --pairs P            messages: sender/receiver pairs (default 200, 1..2000)
  --window W           messages: in-flight messages per sender (default 10, 1..1000)
  --duration D         messages: seconds of sending (default 10, 1..120)
  --iterations I       SCRAM PBKDF2 iterations for every account (default 10000, 4096..100000)
  --tls MODE           starttls (default) or direct
  --mechanism M        force SCRAM-SHA-1 or SCRAM-SHA-256 (default: strongest offered)
  --json FILE          also append each result as a JSON line to FILE
  --help`;

interface Options {
  compare: boolean;
  users: number;
  parallel: number;
  pairs: number;
  window: number;
  duration: number;
  iterations: number;
  tls: TlsMode;
  mechanism: ScramMechanism | undefined;
  json: string | undefined;
}

interface BenchRecord {
  time: string;
  scenario: string;
  target: string;
  version: string;
  params: Record<string, unknown>;
  machine: { cpus: number; model: string; node: string };
  result: ScenarioResult | null;
  error: string | null;
}

function parseOptions(): Options | undefined {
  const { values } = parseArgs({
    options: {
      compare: { type: 'boolean', default: false },
      users: { type: 'string' },
      parallel: { type: 'string' },
      pairs: { type: 'string' },
      window: { type: 'string' },
      duration: { type: 'string' },
      iterations: { type: 'string' },
      tls: { type: 'string', default: 'starttls' },
      mechanism: { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  // Out of range is an error, never clamped: a figure must mean what was asked for.
  const int = (name: string, value: string | undefined, fallback: number, min: number, max: number): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got '${value}'`);
    return n;
  };
  if (values.tls !== 'starttls' && values.tls !== 'direct') throw new Error(`--tls must be starttls or direct, got '${values.tls}'`);
  const mechanism = values.mechanism;
  if (mechanism !== undefined && !SCRAM_MECHANISMS.includes(mechanism as ScramMechanism)) {
    throw new Error(`--mechanism must be one of ${SCRAM_MECHANISMS.join(', ')}, got '${mechanism}'`);
  }
  return {
    compare: values.compare,
    users: int('users', values.users, 300, 1, 5000),
    parallel: int('parallel', values.parallel, 50, 1, 500),
    pairs: int('pairs', values.pairs, 200, 1, 2000),
    window: int('window', values.window, 10, 1, 1000),
    duration: int('duration', values.duration, 10, 1, 120),
    iterations: int('iterations', values.iterations, 10_000, 4096, 100_000),
    tls: values.tls,
    mechanism: mechanism as ScramMechanism | undefined,
    json: values.json,
  };
}

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** Fresh server, keys primed, restarted fresh again, then the scenario; always stopped and removed. */
async function runOne(root: string, target: Target, scenario: Scenario, options: Options, certificate: ServerSetup['certificate']): Promise<ScenarioResult> {
  const dir = await mkdtemp(join(root, `${target.name}-${scenario.name}-`));
  try {
    const starttls = await freePort();
    let directTls = await freePort();
    while (directTls === starttls) directTls = await freePort();
    const setup: ServerSetup = {
      dir,
      domain: DOMAIN,
      ports: { starttls, directTls },
      usernames: Array.from({ length: scenario.accountsNeeded() }, (_, i) => `bench${i + 1}`),
      password: PASSWORD,
      iterations: options.iterations,
      mechanism: options.mechanism,
      certificate,
    };
    progress(`${target.name}/${scenario.name}: preparing ${setup.usernames.length} accounts`);
    await target.prepare(setup);

    const keyCache = new ScramKeyCache();
    const loginOptions = (username: string): LoginOptions => ({
      port: options.tls === 'direct' ? setup.ports.directTls : setup.ports.starttls,
      tls: options.tls,
      domain: DOMAIN,
      username,
      password: PASSWORD,
      mechanism: options.mechanism,
      keyCache,
      timeoutMs: LOGIN_TIMEOUT_MS,
    });

    // The salts are per account and only the server knows them: ask once, derive
    // the keys, then restart so the measured instance has seen no load at all.
    let server = await RunningServer.start(target, setup);
    try {
      progress(`${target.name}/${scenario.name}: deriving client keys`);
      const primed = await inParallel(setup.usernames.length, options.parallel, (i) =>
        XmppConnection.primeKeys(loginOptions(setup.usernames[i]!)),
      );
      if (primed.failures > 0) progress(`  ${primed.failures} key derivations failed (${primed.firstError}); those logins derive keys while timed`);
    } finally {
      await server.stop();
    }

    server = await RunningServer.start(target, setup);
    try {
      progress(`${target.name}/${scenario.name}: running (server pid ${server.pid})`);
      return await scenario.run({ server, usernames: setup.usernames, loginOptions, parallel: options.parallel });
    } finally {
      await server.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Figures shown in the table, by scenario: [key, label, whether a ratio means something].
const ROWS: Record<string, [string, string, boolean][]> = {
  logins: [
    ['loginsPerSecond', 'logins/s', true],
    ['latencyP50Ms', 'login latency p50 (ms)', true],
    ['latencyP99Ms', 'login latency p99 (ms)', true],
    ['loginsPerServerCpuSecond', 'logins per server CPU-s', true],
    ['serverCpuSeconds', 'server CPU (s)', false],
    ['loadgenCpuSeconds', 'load generator CPU (s)', false],
    ['otherCpuSeconds', 'other processes CPU (s)', false],
    ['seconds', 'wall time (s)', false],
    ['logins', 'logins completed', false],
  ],
  messages: [
    ['deliveredPerSecond', 'delivered messages/s', true],
    ['latencyP50Ms', 'delivery latency p50 (ms)', true],
    ['latencyP99Ms', 'delivery latency p99 (ms)', true],
    ['messagesPerServerCpuSecond', 'messages per server CPU-s', true],
    ['serverCpuSeconds', 'server CPU (s)', false],
    ['loadgenCpuSeconds', 'load generator CPU (s)', false],
    ['otherCpuSeconds', 'other processes CPU (s)', false],
    ['seconds', 'wall time (s)', false],
    ['pairs', 'pairs connected', false],
    ['bounced', 'bounced (error) messages', false],
  ],
};

function format(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  if (Number.isInteger(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function table(records: BenchRecord[], targets: string[]): string {
  const out: string[] = [];
  const ours = targets.indexOf('palisade');
  const theirs = targets.indexOf('prosody');
  const compare = ours >= 0 && theirs >= 0;
  const header = ['', ...targets, ...(compare ? ['palisade/prosody'] : [])];
  const notes: string[] = [];
  for (const scenario of Object.keys(ROWS)) {
    const byTarget = new Map(records.filter((r) => r.scenario === scenario).map((r) => [r.target, r]));
    if (byTarget.size === 0) continue;
    const rows: string[][] = [];
    for (const [key, label, ratioed] of ROWS[scenario]!) {
      const values = targets.map((t) => byTarget.get(t)?.result?.figures[key]);
      const [a, b] = [values[ours], values[theirs]];
      const ratio = ratioed && a !== undefined && b !== undefined && Number.isFinite(a / b) ? `${format(a / b)}×` : '';
      rows.push([label, ...values.map(format), ...(compare ? [ratio] : [])]);
    }
    const text = (pick: (r: BenchRecord) => string): string[] => targets.map((t) => { const r = byTarget.get(t); return r ? pick(r) : '—'; });
    rows.push(['failures', ...text((r) => (r.error ? 'did not run' : String(r.result?.failures ?? '—'))), ...(compare ? [''] : [])]);
    rows.push(['SASL mechanism', ...text((r) => r.result?.negotiated?.mechanism ?? '—'), ...(compare ? [''] : [])]);
    rows.push(['TLS', ...text((r) => r.result?.negotiated?.tls ?? '—'), ...(compare ? [''] : [])]);
    out.push(`\n${scenario}\n${render([header, ...rows])}`);

    for (const [target, r] of byTarget) {
      if (r.error) notes.push(`${target}/${scenario} did not run: ${r.error}`);
      else if (r.result?.firstError) notes.push(`${target}/${scenario} first failure: ${r.result.firstError}`);
      const f = r.result?.figures;
      // A load generator near one full core caps what it can measure.
      if (f?.loadgenCpuSeconds && f.seconds && f.loadgenCpuSeconds / f.seconds > 0.9) {
        notes.push(`${target}/${scenario}: the load generator used ${format((100 * f.loadgenCpuSeconds) / f.seconds)}% of a core; the figure may be its limit, not the server's`);
      }
      if (f?.otherCpuSeconds && f.seconds && f.otherCpuSeconds / f.seconds > 0.2) {
        notes.push(`${target}/${scenario}: other processes used ${format((100 * f.otherCpuSeconds) / f.seconds)}% of a core meanwhile; figures are disturbed, run again on a quiet machine`);
      }
    }
    const mechanisms = new Set([...byTarget.values()].map((r) => r.result?.negotiated?.mechanism).filter(Boolean));
    if (mechanisms.size > 1) notes.push(`${scenario}: targets used different SASL mechanisms; force one with --mechanism`);
  }
  if (compare) notes.push('a ratio above 1 favours Palisade for rates and per-CPU figures, and Prosody for latencies');
  return out.join('\n') + (notes.length > 0 ? `\n\n${notes.map((n) => `note: ${n}`).join('\n')}` : '') + '\n';
}

function render(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => `| ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<number> {
  let options: Options | undefined;
  try {
    options = parseOptions();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!options) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  const targets: { target: Target; version: string }[] = [];
  for (const target of options.compare ? [palisade, prosody] : [palisade]) {
    const reason = await target.availability();
    if (reason) progress(`skipping ${target.name}: ${reason}`);
    else targets.push({ target, version: await target.version() });
  }
  if (targets.length === 0) {
    progress('no target can run');
    return 1;
  }

  const scenarios = [loginsScenario(options.users), messagesScenario(options.pairs, options.window, options.duration)];
  const machine = { cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', node: process.version };
  const params = {
    users: options.users,
    parallel: options.parallel,
    pairs: options.pairs,
    window: options.window,
    duration: options.duration,
    iterations: options.iterations,
    tls: options.tls,
    mechanism: options.mechanism ?? 'strongest offered',
    certificate: CERTIFICATE_KIND,
  };
  const root = await mkdtemp(join(tmpdir(), 'palisade-bench-'));
  // On every exit, Ctrl-C included; server.ts's exit handler has killed the servers by then.
  process.on('exit', () => rmSync(root, { recursive: true, force: true }));
  const certificate = await makeCertificate(root, DOMAIN);
  const records: BenchRecord[] = [];
  // Scenario by scenario, so the targets of one comparison run close together in time.
  for (const scenario of scenarios) {
    for (const { target, version } of targets) {
      const record: BenchRecord = { time: new Date().toISOString(), scenario: scenario.name, target: target.name, version, params, machine, result: null, error: null };
      try {
        record.result = await runOne(root, target, scenario, options, certificate);
      } catch (error) {
        record.error = (error as Error).message;
        progress(`${target.name}/${scenario.name} failed: ${record.error}`);
      }
      records.push(record);
      const line = JSON.stringify(record);
      process.stdout.write(`${line}\n`);
      if (options.json) await appendFile(options.json, `${line}\n`);
    }
  }

  process.stdout.write(
    `\nmachine: ${machine.cpus} CPUs (${machine.model}), Node ${machine.node}; ` +
      `${targets.map((t) => `${t.target.name} ${t.version}`).join(', ')}\n` +
      `params: ${Object.entries(params).map(([k, v]) => `${k}=${v}`).join(' ')}\n`,
  );
  process.stdout.write(table(records, targets.map((t) => t.target.name)));
  return records.some((r) => r.error) ? 1 : 0;
}

// Ctrl-C must not leave a server running: exit runs server.ts's cleanup.
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
process.exitCode = await main();
