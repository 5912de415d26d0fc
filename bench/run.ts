// `npm run bench [-- options]`: runs each scenario against a fresh instance of
// each target server and prints absolute figures and Palisade/Prosody and
// Palisade/ejabberd ratios;
// then the in-process measurements of Palisade alone (presence fan-out, policy
// decision cost); fanoutnet is the fan-out measured over the network on every server,
// mucnet a groupchat message fanned out to a room's occupants.
// Progress goes to stderr; JSON lines and the table to stdout.
import { rmSync } from 'node:fs';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { XmppConnection, type LoginOptions } from './loadgen/connection.ts';
import { ensureOpenFiles } from './loadgen/open-files.ts';
import { SCRAM_MECHANISMS, ScramKeyCache, type ScramMechanism } from './loadgen/scram.ts';
import type { Transport } from './loadgen/wire.ts';
import { loginBudget, type LoginRun } from './login-budget.ts';
import { ARRIVAL_LIMIT_MS, fanoutNetScenario } from './scenarios/fanout.ts';
import { idleScenario } from './scenarios/idle.ts';
import { DRAIN_LIMIT_MS, latencyScenario } from './scenarios/latency.ts';
import { loginsScenario } from './scenarios/logins.ts';
import { reloginsScenario } from './scenarios/relogins.ts';
import { messagesScenario } from './scenarios/messages.ts';
import { mucScenario, ROUND_LIMIT_MS } from './scenarios/muc.ts';
import { inParallel, LOGIN_TIMEOUT_MS, type Scenario, type ScenarioResult } from './scenarios/scenario.ts';
import { CERTIFICATE_KIND, makeCertificate } from './targets/certificate.ts';
import { ejabberd, ejabberdMam } from './targets/ejabberd.ts';
import { palisade, palisadeNoMam } from './targets/palisade.ts';
import { prosody, prosodyMam } from './targets/prosody.ts';
import { freePorts, RunningServer } from './targets/server.ts';
import type { ServerSetup, Target } from './targets/target.ts';

const DOMAIN = 'bench.test';
const PASSWORD = 'bench-password-0123';

/** Scenarios against spawned servers, then in-process measurements of Palisade alone. */
const SERVER_SCENARIOS = ['logins', 'relogins', 'messages', 'websocket', 'latency', 'idle', 'fanoutnet', 'mucnet'] as const;
/** The chat scenarios (throughput over TCP and WebSocket, latency at a fixed rate): the same archiving question. */
const MESSAGE_SCENARIOS = new Set(['messages', 'websocket', 'latency']);
/** The reference servers, each with a ratio column Palisade/reference. */
const REFERENCES = [prosody.name, ejabberd.name];
/** [archiving, not archiving] variants of one server, measured against each other. */
const ARCHIVE_PAIRS: [string, string][] = [
  [palisade.name, palisadeNoMam.name],
  [prosodyMam.name, prosody.name],
  [ejabberdMam.name, ejabberd.name],
];
/** File descriptors beyond one per idle session: listeners, logs, databases, libraries. */
const OPEN_FILES_HEADROOM = 1024;
/** Below this share of the offered rate delivered, a server did not keep up in the latency scenario. */
const KEPT_UP_PERCENT = 99;
const IN_PROCESS = ['fanout', 'policy'] as const;
/** Palisade alone with a configuration of its own (bench/scenarios/upload.ts): upload + scan against clamd alone. */
const UPLOAD = 'upload';
const SCENARIO_NAMES: readonly string[] = [...SERVER_SCENARIOS, ...IN_PROCESS, UPLOAD];
/** Timed 10 MB uploads (and as many clamd scans), after one untimed of each. */
const UPLOAD_RUNS = 5;
/** Issue 6's target for classify+decide (also in bench/policy-decide.ts, which run.ts imports only when needed). */
const TARGET_MEDIAN_US = 5;

const USAGE = `Usage: npm run bench [-- options]
  --compare            also run Prosody and ejabberd, and for messages, websocket and latency each with mod_mam
                       (installed with apt-get if missing)
  --users N            logins, relogins: accounts that log in (default 300, 1..5000)
  --parallel K         parallel connectors while logging in (default 50, 1..500)
  --pairs P            messages, websocket, latency: sender/receiver pairs (default 200, 1..2000)
  --window W           messages, websocket: in-flight messages per sender (default 10, 1..1000)
  --duration D         messages, websocket, latency: seconds of sending timed (default 10, 1..120)
  --rate R             latency: chat messages per second offered, across all pairs (default 2000, 1..50000)
  --idle N             idle: sessions logged in and left idle to measure memory (default 5000, 1..20000)
  --iterations I       SCRAM PBKDF2 iterations for every account (default 10000, 4096..100000)
  --tls MODE           starttls (default) or direct (websocket always uses wss on the HTTPS port)
  --mechanism M        force SCRAM-SHA-1 or SCRAM-SHA-256 (default: strongest offered)
  --fanout N           fanout: online subscribers that receive one presence (default 500, 1..2000)
  --fanout-contacts N  fanoutnet: contacts subscribed over XMPP that receive one presence (default 100, 1..1000)
  --muc-occupants N    mucnet: occupants of one room that receive each groupchat message (default 100, 2..1000)
  --rounds N           fanout, fanoutnet, mucnet: presence updates or groupchat messages timed (default 1000, 10..2000),
                       so that the p99 is the tenth slowest, not one unlucky round
  --only LIST          run only these scenarios, comma-separated: ${SCENARIO_NAMES.join(',')} (default: all)
  --json FILE          also append each result as a JSON line to FILE
  --help`;

interface Options {
  compare: boolean;
  users: number;
  parallel: number;
  pairs: number;
  window: number;
  duration: number;
  rate: number;
  idle: number;
  iterations: number;
  tls: Exclude<Transport, 'websocket'>;
  mechanism: ScramMechanism | undefined;
  json: string | undefined;
  fanout: number;
  fanoutContacts: number;
  mucOccupants: number;
  rounds: number;
  only: Set<string>;
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
  /** What the figures depend on beyond params, e.g. the upload scenario's clamd database. */
  notes?: string[];
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
      rate: { type: 'string' },
      idle: { type: 'string' },
      iterations: { type: 'string' },
      tls: { type: 'string', default: 'starttls' },
      mechanism: { type: 'string' },
      json: { type: 'string' },
      fanout: { type: 'string' },
      'fanout-contacts': { type: 'string' },
      'muc-occupants': { type: 'string' },
      rounds: { type: 'string' },
      only: { type: 'string' },
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
  const only = new Set(values.only === undefined ? SCENARIO_NAMES : values.only.split(',').map((n) => n.trim()).filter(Boolean));
  for (const name of only) if (!SCENARIO_NAMES.includes(name)) throw new Error(`--only: unknown scenario '${name}' (known: ${SCENARIO_NAMES.join(', ')})`);
  if (only.size === 0) throw new Error('--only needs at least one scenario');
  return {
    compare: values.compare,
    users: int('users', values.users, 300, 1, 5000),
    parallel: int('parallel', values.parallel, 50, 1, 500),
    pairs: int('pairs', values.pairs, 200, 1, 2000),
    window: int('window', values.window, 10, 1, 1000),
    duration: int('duration', values.duration, 10, 1, 120),
    rate: int('rate', values.rate, 2000, 1, 50_000),
    idle: int('idle', values.idle, 5000, 1, 20_000),
    iterations: int('iterations', values.iterations, 10_000, 4096, 100_000),
    tls: values.tls,
    mechanism: mechanism as ScramMechanism | undefined,
    json: values.json,
    fanout: int('fanout', values.fanout, 500, 1, 2000),
    fanoutContacts: int('fanout-contacts', values['fanout-contacts'], 100, 1, 1000),
    mucOccupants: int('muc-occupants', values['muc-occupants'], 100, 2, 1000),
    rounds: int('rounds', values.rounds, 1000, 10, 2000),
    only,
  };
}

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** Fresh server, keys primed, restarted fresh again, then the scenario; always stopped and removed. */
async function runOne(root: string, target: Target, scenario: Scenario, options: Options, certificate: ServerSetup['certificate']): Promise<ScenarioResult> {
  const dir = await mkdtemp(join(root, `${target.name}-${scenario.name}-`));
  try {
    const [starttls, directTls, https] = await freePorts(3);
    const setup: ServerSetup = {
      dir,
      domain: DOMAIN,
      ports: { starttls: starttls!, directTls: directTls!, https: https! },
      usernames: Array.from({ length: scenario.accountsNeeded() }, (_, i) => `bench${i + 1}`),
      password: PASSWORD,
      iterations: options.iterations,
      mechanism: options.mechanism,
      certificate,
    };
    progress(`${target.name}/${scenario.name}: preparing ${setup.usernames.length} accounts`);
    await target.prepare(setup);

    const keyCache = new ScramKeyCache();
    const ports: Record<Transport, number> = { starttls: setup.ports.starttls, direct: setup.ports.directTls, websocket: setup.ports.https };
    const loginOptions = (username: string, transport: Transport = options.tls): LoginOptions => ({
      port: ports[transport],
      transport,
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
      const transport = scenario.transport ?? options.tls;
      return await scenario.run({ server, usernames: setup.usernames, loginOptions: (u) => loginOptions(u, transport), parallel: options.parallel });
    } finally {
      await server.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Figures shown in the table, by scenario: [key, label, whether a ratio means something].
const MESSAGE_ROWS: [string, string, boolean][] = [
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
];
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
  relogins: [
    ['fullPerSecond', 'logins/s, full TLS handshake (warm server)', true],
    ['resumedPerSecond', 'logins/s, resuming TLS (tickets)', true],
    ['fullLatencyP50Ms', 'login latency p50, full (ms)', true],
    ['resumedLatencyP50Ms', 'login latency p50, resumed (ms)', true],
    ['fullPerServerCpuSecond', 'logins per server CPU-s, full', true],
    ['resumedPerServerCpuSecond', 'logins per server CPU-s, resumed', true],
    ['fullServerCpuMsPerLogin', 'server CPU per login, full (ms)', true],
    ['resumedServerCpuMsPerLogin', 'server CPU per login, resumed (ms)', true],
    ['resumed', 'handshakes resumed (of --users)', false],
    ['fullHandshakesResumed', 'resumed without a ticket (should be 0)', false],
    ['logins', 'logins timed (both rounds)', false],
  ],
  messages: MESSAGE_ROWS,
  websocket: MESSAGE_ROWS,
  latency: [
    ['offeredPerSecond', 'offered messages/s', false],
    ['deliveredPerSecond', 'delivered messages/s', true],
    ['deliveredShare', 'delivered of offered (%)', false],
    ['latencyP50Ms', 'delivery latency p50 (ms)', true],
    ['latencyP99Ms', 'delivery latency p99 (ms)', true],
    ['latencyMaxMs', 'delivery latency max (ms)', true],
    ['undelivered', `timed messages not delivered ${DRAIN_LIMIT_MS / 1000} s after`, false],
    ['messagesPerServerCpuSecond', 'messages per server CPU-s', true],
    ['serverCpuSeconds', 'server CPU (s)', false],
    ['loadgenCpuSeconds', 'load generator CPU (s)', false],
    ['sendLagMaxMs', 'load generator send lag max (ms)', false],
    ['otherCpuSeconds', 'other processes CPU (s)', false],
    ['seconds', 'wall time timed (s)', false],
    ['pairs', 'pairs connected', false],
    ['bounced', 'bounced (error) messages', false],
  ],
  idle: [
    ['kibPerConnection', 'server memory per idle session, 5 s idle (KiB)', true],
    ['kibPerConnectionSettled', 'server memory per idle session, 15 s idle (KiB)', true],
    ['rssBeforeMiB', 'server RSS before, 30 s after start (MiB)', false],
    ['rssAfterMiB', 'server RSS with the sessions, 5 s idle (MiB)', false],
    ['rssSettledMiB', 'server RSS with the sessions, 15 s idle (MiB)', false],
    ['connections', 'idle sessions open', false],
    ['processes', 'server processes summed', false],
    ['loginSeconds', 'logging them in (s)', false],
  ],
  fanout: [
    ['p50Ms', 'presence to all subscribers p50 (ms)', true],
    ['p95Ms', 'presence to all subscribers p95 (ms)', true],
    ['minMs', 'presence to all subscribers min (ms)', false],
    ['maxMs', 'presence to all subscribers max (ms)', false],
    ['deliveriesPerSecondAtP50', 'deliveries/s at p50', true],
    ['initialMs', 'initial presence to all (ms)', false],
    ['contacts', 'online subscribers', false],
    ['runs', 'presence updates timed', false],
    ['processCpuSeconds', 'bench process CPU for the updates (s)', false],
    ['setupSeconds', 'set-up: subscribers online (s)', false],
  ],
  fanoutnet: [
    ['p50Ms', 'presence to all contacts p50 (ms)', true],
    ['p95Ms', 'presence to all contacts p95 (ms)', true],
    ['p99Ms', 'presence to all contacts p99 (ms)', true],
    ['maxMs', 'presence to all contacts max (ms)', true],
    ['initialMs', 'initial presence to all contacts (ms)', true],
    ['deliveriesPerServerCpuSecond', 'deliveries per server CPU-s', true],
    ['serverCpuSeconds', 'server CPU for the updates (s)', false],
    ['loadgenCpuSeconds', 'load generator CPU (s)', false],
    ['otherCpuSeconds', 'other processes CPU (s)', false],
    ['seconds', 'wall time of the updates (s)', false],
    ['contacts', 'contacts subscribed', false],
    ['runs', 'updates received by all', false],
    ['incompleteRuns', `updates not received by all within ${ARRIVAL_LIMIT_MS / 1000} s`, false],
    ['undelivered', 'presences not received in time', false],
    ['setupSeconds', 'set-up: logins and subscriptions (s)', false],
  ],
  mucnet: [
    ['p50Ms', 'groupchat message to all occupants p50 (ms)', true],
    ['p95Ms', 'groupchat message to all occupants p95 (ms)', true],
    ['p99Ms', 'groupchat message to all occupants p99 (ms)', true],
    ['maxMs', 'groupchat message to all occupants max (ms)', true],
    ['deliveriesPerServerCpuSecond', 'deliveries per server CPU-s', true],
    ['serverCpuSeconds', 'server CPU for the rounds (s)', false],
    ['loadgenCpuSeconds', 'load generator CPU (s)', false],
    ['otherCpuSeconds', 'other processes CPU (s)', false],
    ['seconds', 'wall time of the rounds (s)', false],
    ['occupants', 'occupants joined (sender included)', false],
    ['rounds', 'messages received by all', false],
    ['incompleteRounds', `messages not received by all within ${ROUND_LIMIT_MS / 1000} s`, false],
    ['undelivered', 'deliveries missing in time', false],
    ['setupSeconds', 'set-up: logins, joins, one untimed message (s)', false],
  ],
  upload: [
    ['palisadeMBps', 'upload+scan through Palisade (MB/s, median)', true],
    ['clamdMBps', 'clamd INSTREAM alone (MB/s, median)', false],
    ['ratio', 'Palisade / clamd alone', false],
    ['palisadeMBPerServerCpuSecond', 'upload+scan: MB per server CPU-s (Palisade and clamd)', true],
    ['clamdMBPerServerCpuSecond', 'clamd alone: MB per clamd CPU-s', false],
    ['uploadMsP50', 'slot + PUT until 201, p50 (ms)', true],
    ['uploadMsMax', 'slot + PUT until 201, max (ms)', false],
    ['scanMsP50', 'clamd alone, p50 (ms)', false],
    ['scanMsMax', 'clamd alone, max (ms)', false],
    ['fileMB', 'file size (MB)', false],
    ['runs', 'timed runs', false],
    ['serverCpuSeconds', 'server CPU, Palisade and its clamd (s)', false],
    ['loadgenCpuSeconds', 'load generator CPU (s)', false],
    ['otherCpuSeconds', 'other processes CPU (s)', false],
    ['seconds', 'wall time timed, uploads and scans (s)', false],
    ['systemDatabase', 'system signature database (1) or EICAR-only (0)', false],
  ],
  policy: [
    ['classifyDecideMedianUs', 'classify+decide median (µs)', true],
    ['classifyDecideP90Us', 'classify+decide p90 (µs)', true],
    ['decideMedianUs', 'decide median (µs)', true],
    ['decideP90Us', 'decide p90 (µs)', true],
    ['evaluateMedianUs', 'evaluate median (µs)', true],
    ['evaluateP90Us', 'evaluate p90 (µs)', true],
    ['rules', 'rules (all tried)', false],
    ['batches', 'batches of 2000 decisions, each', false],
  ],
};

/** What the in-process measurements are, in the table's section titles. */
const IN_PROCESS_TITLES: Record<string, string> = {
  fanout: 'Palisade only, in-process (server and clients share one event loop); fanoutnet measures every server over the network',
  policy: 'Palisade only, in-process, per decision with 50 rules; reference servers not measured for it yet',
  upload: 'Palisade only (spawned, managed clamd), one 10 MB file per run; against the same clamd scanning 10 MB alone',
};

function format(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '—';
  if (Number.isInteger(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function table(records: BenchRecord[], targets: readonly Target[]): string {
  const out: string[] = [];
  const notes: string[] = [];
  let compared = false;
  for (const scenario of Object.keys(ROWS)) {
    const byTarget = new Map(records.filter((r) => r.scenario === scenario).map((r) => [r.target, r]));
    if (byTarget.size === 0) continue;
    const inProcess = IN_PROCESS_TITLES[scenario];
    // Columns: the targets that ran it; for an in-process measurement also the reference servers, as not measured.
    const shown = targets.filter((t) => byTarget.has(t.name) || (inProcess && t.scenarios === undefined));
    const names = shown.map((t) => t.name);
    const ours = names.indexOf(palisade.name);
    // One ratio column per reference server measured alongside Palisade.
    const theirs = ours < 0 ? [] : REFERENCES.map((r) => names.indexOf(r)).filter((i) => i >= 0);
    compared ||= theirs.length > 0;
    const header = ['', ...names, ...theirs.map((i) => `palisade/${names[i]}`)];
    const noRatio = theirs.map(() => '');
    const rows: string[][] = [];
    // A target without a record for an in-process measurement was not measured, not failed.
    const cell = (t: string, shown: string): string => (inProcess && !byTarget.has(t) ? 'not measured yet' : shown);
    for (const [key, label, ratioed] of ROWS[scenario]!) {
      const values = names.map((t) => byTarget.get(t)?.result?.figures[key]);
      const ratios = theirs.map((i) => {
        const [a, b] = [values[ours], values[i]];
        return ratioed && a !== undefined && b !== undefined && Number.isFinite(a / b) ? `${format(a / b)}×` : '';
      });
      rows.push([label, ...values.map((v, i) => cell(names[i]!, format(v))), ...ratios]);
    }
    const text = (pick: (r: BenchRecord) => string): string[] => names.map((t) => { const r = byTarget.get(t); return cell(t, r ? pick(r) : '—'); });
    rows.push(['failures', ...text((r) => (r.error ? 'did not run' : String(r.result?.failures ?? '—'))), ...noRatio]);
    if (!inProcess) {
      rows.push(['SASL mechanism', ...text((r) => r.result?.negotiated?.mechanism ?? '—'), ...noRatio]);
      rows.push(['TLS', ...text((r) => r.result?.negotiated?.tls ?? '—'), ...noRatio]);
    }
    if (MESSAGE_SCENARIOS.has(scenario)) {
      rows.push(['archives chat messages', ...shown.map((t) => (t.archive ? 'yes' : 'no')), ...noRatio]);
      notes.push(...archiveNotes(scenario, byTarget, shown));
    }
    out.push(`\n${scenario}${inProcess ? ` — ${inProcess}` : ''}\n${render([header, ...rows])}`);

    for (const [target, r] of byTarget) {
      for (const n of r.notes ?? []) notes.push(`${target}/${scenario}: ${n}`);
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
      if (scenario === 'latency' && f?.deliveredShare !== undefined && !(f.deliveredShare >= KEPT_UP_PERCENT)) {
        notes.push(
          `${target}/latency did not keep up: it delivered ${format(f.deliveredShare)}% of the ${format(f.offeredPerSecond)} messages/s offered; ` +
            `its latencies are those of a growing queue, and messages later than ${DRAIN_LIMIT_MS / 1000} s count as not delivered`,
        );
      }
    }
    const policy = byTarget.get('palisade')?.result?.figures;
    if (scenario === 'policy' && policy?.classifyDecideMedianUs !== undefined) {
      notes.push(`policy: classify+decide median ${format(policy.classifyDecideMedianUs)} µs; target < ${TARGET_MEDIAN_US} µs ${policy.classifyDecideMedianUs < TARGET_MEDIAN_US ? 'met' : 'NOT met'}`);
    }
    if (scenario === 'logins') notes.push(...loginBudgetNotes(byTarget));
    const fanout = (name: string): number | undefined => byTarget.get(name)?.result?.figures.p99Ms;
    const [ourP99, ejabberdP99] = [fanout(palisade.name), fanout(ejabberd.name)];
    if (scenario === 'fanoutnet' && ourP99 !== undefined && ejabberdP99 !== undefined) {
      notes.push(`fanoutnet: p99 ${format(ourP99)} ms vs ejabberd ${format(ejabberdP99)} ms; target ≤ ejabberd's ${ourP99 <= ejabberdP99 ? 'met' : 'NOT met'}`);
    }
    // Issue 9 sets no MUC target; the presence fan-out's (p99 ≤ ejabberd's) is the yardstick.
    if (scenario === 'mucnet' && ourP99 !== undefined && ejabberdP99 !== undefined) {
      notes.push(`mucnet: p99 ${format(ourP99)} ms vs ejabberd ${format(ejabberdP99)} ms; ${ourP99 <= ejabberdP99 ? 'not above' : 'ABOVE'} ejabberd's`);
    }
    const mechanisms = new Set([...byTarget.values()].map((r) => r.result?.negotiated?.mechanism).filter(Boolean));
    if (mechanisms.size > 1) notes.push(`${scenario}: targets used different SASL mechanisms; force one with --mechanism`);
  }
  if (compared) notes.push('a ratio above 1 favours Palisade for rates and per-CPU figures, and the other server for latencies and memory per session');
  return out.join('\n') + (notes.length > 0 ? `\n\n${notes.map((n) => `note: ${n}`).join('\n')}` : '') + '\n';
}

/**
 * Where each target archives, what archiving costs a server measured with and
 * without it, and Palisade against Prosody with archiving alike on both sides.
 */
function archiveNotes(scenario: string, byTarget: Map<string, BenchRecord>, shown: readonly Target[]): string[] {
  const figures = (name: string): Record<string, number> | undefined => {
    const r = byTarget.get(name);
    return r && !r.error ? r.result?.figures : undefined;
  };
  const cpuUs = (f: Record<string, number>): string => format((1e6 * f.serverCpuSeconds!) / f.delivered!);
  const notes = [
    `${scenario}: ${shown.map((t) => `${t.name} ${t.archive ? `archives (${t.archive})` : 'does not archive'}`).join('; ')}`,
  ];
  for (const [withArchive, without] of ARCHIVE_PAIRS) {
    const [a, b] = [figures(withArchive), figures(without)];
    if (!a || !b) continue;
    notes.push(
      `${scenario}: archiving keeps ${format((100 * a.deliveredPerSecond!) / b.deliveredPerSecond!)}% of the delivered messages/s ` +
        `(${withArchive} ${format(a.deliveredPerSecond)} vs ${without} ${format(b.deliveredPerSecond)} delivered/s); ` +
        `p99 latency ${format(a.latencyP99Ms)} vs ${format(b.latencyP99Ms)} ms; server CPU per message ${cpuUs(a)} vs ${cpuUs(b)} µs`,
    );
  }
  for (const [ours, theirs, alike] of [
    [palisade.name, prosodyMam.name, 'both archiving'],
    [palisadeNoMam.name, prosody.name, 'neither archiving'],
    [palisade.name, ejabberdMam.name, 'both archiving'],
    [palisadeNoMam.name, ejabberd.name, 'neither archiving'],
  ] as const) {
    const [a, b] = [figures(ours), figures(theirs)];
    if (!a || !b) continue;
    notes.push(
      `${scenario}, ${alike}: ${ours}/${theirs} ${format(a.deliveredPerSecond! / b.deliveredPerSecond!)}× delivered/s, ` +
        `${format(a.latencyP99Ms! / b.latencyP99Ms!)}× p99 latency, ${format(a.messagesPerServerCpuSecond! / b.messagesPerServerCpuSecond!)}× messages per server CPU-s`,
    );
  }
  return notes;
}

function render(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => `| ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

/** Issue 9's logins target, with the server CPU per login it leaves on this machine (bench/login-budget.ts). */
function loginBudgetNotes(byTarget: Map<string, BenchRecord>): string[] {
  const reference = byTarget.get(ejabberd.name);
  const [ours, theirs] = [byTarget.get(palisade.name)?.result?.figures, reference?.result?.figures];
  const run = (f: Record<string, number> | undefined): LoginRun | undefined =>
    f && f.loginsPerSecond !== undefined && f.logins && f.serverCpuSeconds !== undefined && f.loadgenCpuSeconds !== undefined
      ? { loginsPerSecond: f.loginsPerSecond, logins: f.logins, serverCpuSeconds: f.serverCpuSeconds, loadgenCpuSeconds: f.loadgenCpuSeconds }
      : undefined;
  const [a, b] = [run(ours), run(theirs)];
  if (!a || !b || !reference) return [];
  const cpus = reference.machine.cpus;
  const x = loginBudget(a, b, cpus);
  return [
    `logins: 1.5× ejabberd's rate is ${format(x.wantedPerSecond)}/s (Palisade ${format(a.loginsPerSecond)}/s, target ${x.met ? 'met' : 'NOT met'}); ` +
      `the load generator spent ${format(x.loadgenMsPerLogin)} ms of CPU per ejabberd login, so on ${cpus} cores that rate leaves a server ` +
      `${x.serverBudgetMs > 0 ? `at most ${format(x.serverBudgetMs)} ms` : 'no'} CPU per login (Palisade used ${format(x.ourServerMsPerLogin)} ms, ejabberd ${format(x.theirServerMsPerLogin)} ms)`,
  ];
}

/**
 * Presence fan-out (bench/presence-fanout.ts): a Palisade started in this
 * process, loopback only, bounded by that file's FANOUT_LIMIT_MS. Imported here
 * and not at the top, so that the server scenarios run even if src/ does not load.
 */
async function runFanout(contacts: number, rounds: number): Promise<ScenarioResult> {
  const { presenceFanout } = await import('./presence-fanout.ts');
  const f = await presenceFanout({ contacts, runs: rounds, log: (line) => progress(`  ${line}`) });
  return { figures: { ...f }, negotiated: undefined, failures: 0, firstError: undefined };
}

/** Policy decision cost (bench/policy-decide.ts): 50 rules, each measurement bounded in time. */
async function runPolicy(): Promise<ScenarioResult> {
  const { policyDecisionCost } = await import('./policy-decide.ts');
  const c = await policyDecisionCost((line) => progress(`  ${line}`));
  return {
    figures: {
      rules: c.rules,
      evaluateMedianUs: c.evaluate.medianUs,
      evaluateP90Us: c.evaluate.p90Us,
      decideMedianUs: c.decide.medianUs,
      decideP90Us: c.decide.p90Us,
      classifyDecideMedianUs: c.classifyDecide.medianUs,
      classifyDecideP90Us: c.classifyDecide.p90Us,
      batches: Math.min(c.evaluate.batches, c.decide.batches, c.classifyDecide.batches),
    },
    negotiated: undefined,
    failures: 0,
    firstError: undefined,
  };
}

function runs(target: Target, scenario: string): boolean {
  return target.scenarios === undefined || target.scenarios.includes(scenario);
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

  const serverScenarios = SERVER_SCENARIOS.filter((n) => options.only.has(n));
  if (options.only.has('idle')) {
    // One socket per idle session here and in the server, which inherits this limit; the rest is headroom.
    try {
      ensureOpenFiles(options.idle + OPEN_FILES_HEADROOM);
    } catch (error) {
      progress((error as Error).message);
      return 1;
    }
  }
  const inProcess = IN_PROCESS.filter((n) => options.only.has(n));
  const targets: { target: Target; version: string }[] = [];
  // The in-process measurements are Palisade's alone: no reason to install a reference server for them.
  const candidates = [palisade, palisadeNoMam, ...(options.compare ? [prosody, prosodyMam, ejabberd, ejabberdMam] : [])].filter(
    (t) => t === palisade || serverScenarios.some((s) => runs(t, s)),
  );
  for (const target of candidates) {
    const reason = await target.availability();
    if (reason) progress(`skipping ${target.name}: ${reason}`);
    else targets.push({ target, version: await target.version() });
  }
  if (targets.length === 0) {
    progress('no target can run');
    return 1;
  }

  const scenarios = [
    loginsScenario(options.users),
    reloginsScenario(options.users),
    messagesScenario(options.pairs, options.window, options.duration),
    messagesScenario(options.pairs, options.window, options.duration, 'websocket'),
    latencyScenario(options.pairs, options.rate, options.duration),
    idleScenario(options.idle),
    fanoutNetScenario(options.fanoutContacts, options.rounds),
    mucScenario(options.mucOccupants, options.rounds),
  ].filter((s) => options.only.has(s.name));
  const machine = { cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown', node: process.version };
  const params = {
    users: options.users,
    parallel: options.parallel,
    pairs: options.pairs,
    window: options.window,
    duration: options.duration,
    rate: options.rate,
    idle: options.idle,
    iterations: options.iterations,
    tls: options.tls,
    mechanism: options.mechanism ?? 'strongest offered',
    certificate: CERTIFICATE_KIND,
    fanout: options.fanout,
    fanoutContacts: options.fanoutContacts,
    mucOccupants: options.mucOccupants,
    rounds: options.rounds,
    uploadRuns: UPLOAD_RUNS,
  };
  const root = await mkdtemp(join(tmpdir(), 'palisade-bench-'));
  // On every exit, Ctrl-C included; server.ts's exit handler has killed the servers by then.
  process.on('exit', () => rmSync(root, { recursive: true, force: true }));
  const certificate = await makeCertificate(root, DOMAIN);
  const records: BenchRecord[] = [];
  // Scenario by scenario, so the targets of one comparison run close together in time.
  for (const scenario of scenarios) {
    for (const { target, version } of targets.filter((t) => runs(t.target, scenario.name))) {
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

  const ours = targets.find((t) => t.target.name === palisade.name);
  if (inProcess.length > 0 && !ours) progress('skipping fanout and policy: they measure Palisade, which cannot run here');
  for (const name of ours ? inProcess : []) {
    const record: BenchRecord = { time: new Date().toISOString(), scenario: name, target: ours!.target.name, version: ours!.version, params, machine, result: null, error: null };
    try {
      progress(`palisade/${name}: running in this process`);
      record.result = name === 'fanout' ? await runFanout(options.fanout, options.rounds) : await runPolicy();
    } catch (error) {
      record.error = (error as Error).message;
      progress(`palisade/${name} failed: ${record.error}`);
    }
    records.push(record);
    const line = JSON.stringify(record);
    process.stdout.write(`${line}\n`);
    if (options.json) await appendFile(options.json, `${line}\n`);
  }

  if (options.only.has(UPLOAD) && ours) {
    const record: BenchRecord = { time: new Date().toISOString(), scenario: UPLOAD, target: ours.target.name, version: ours.version, params, machine, result: null, error: null };
    try {
      progress('palisade/upload: running');
      const { uploadThroughput } = await import('./scenarios/upload.ts');
      const u = await uploadThroughput({ root, certificate, iterations: options.iterations, runs: UPLOAD_RUNS, log: (line) => progress(`  ${line}`) });
      record.result = { figures: u.figures, negotiated: undefined, failures: 0, firstError: undefined };
      record.notes = [`clamd used ${u.database}`];
    } catch (error) {
      record.error = (error as Error).message;
      progress(`palisade/upload failed: ${record.error}`);
    }
    records.push(record);
    const line = JSON.stringify(record);
    process.stdout.write(`${line}\n`);
    if (options.json) await appendFile(options.json, `${line}\n`);
  }

  process.stdout.write(
    `\nmachine: ${machine.cpus} CPUs (${machine.model}), Node ${machine.node}; ` +
      `${targets.map((t) => `${t.target.name} ${t.version}`).join(', ')}\n` +
      `params: ${Object.entries(params).map(([k, v]) => `${k}=${v}`).join(' ')}\n`,
  );
  process.stdout.write(table(records, targets.map((t) => t.target)));
  return records.some((r) => r.error) ? 1 : 0;
}

// Ctrl-C must not leave a server running: exit runs server.ts's cleanup.
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
process.exitCode = await main();
