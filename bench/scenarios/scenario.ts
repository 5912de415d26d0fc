// What every scenario shares: the context it runs in, its result, and the
// bounded parallel login of many accounts.
import { XmppConnection, type LoginOptions, type Negotiated } from '../loadgen/connection.ts';
import { cpuSecondsBetween, machineCpuSeconds, type RunningServer } from '../targets/server.ts';

export interface ScenarioContext {
  server: RunningServer;
  usernames: string[];
  /** Login options for one account (the key cache is already primed). */
  loginOptions: (username: string) => LoginOptions;
  parallel: number;
}

export interface ScenarioResult {
  /** Numeric figures by name; bench/run.ts knows their labels and units. */
  figures: Record<string, number>;
  negotiated: Negotiated | undefined;
  failures: number;
  firstError: string | undefined;
}

export interface Scenario {
  readonly name: string;
  /** The timed sessions' transport when not the run's --tls (keys are primed over --tls either way). */
  readonly transport?: 'websocket';
  accountsNeeded(): number;
  run(context: ScenarioContext): Promise<ScenarioResult>;
}

/** Per-login bound, and the bound for logging in all accounts of one scenario. */
export const LOGIN_TIMEOUT_MS = 30_000;
export const LOGIN_PHASE_LIMIT_MS = 120_000;
/** …raised to this much per login for many accounts (the idle scenario's thousands). */
const LOGIN_PHASE_MS_PER_TASK = 30;

export interface LoginBatch {
  /** Index-aligned with the usernames; undefined where the login failed. */
  connections: (XmppConnection | undefined)[];
  latenciesMs: number[];
  failures: number;
  firstError: string | undefined;
}

/** Logs in every account of the context with its `parallel` connectors. */
export async function loginAll(context: ScenarioContext): Promise<LoginBatch> {
  const connections: (XmppConnection | undefined)[] = new Array(context.usernames.length).fill(undefined);
  const latenciesMs: number[] = [];
  const outcome = await inParallel(context.usernames.length, context.parallel, async (index) => {
    const started = performance.now();
    connections[index] = await XmppConnection.login(context.loginOptions(context.usernames[index]!));
    latenciesMs.push(performance.now() - started);
  });
  return { connections, latenciesMs, ...outcome };
}

/**
 * Runs task(0..count-1) with at most `parallel` at a time; tasks not started
 * within LOGIN_PHASE_LIMIT_MS (or LOGIN_PHASE_MS_PER_TASK each, if longer) count as
 * failed, so a stalled server cannot hold the bench.
 */
export async function inParallel(
  count: number,
  parallel: number,
  task: (index: number) => Promise<void>,
): Promise<{ failures: number; firstError: string | undefined }> {
  const limitMs = Math.max(LOGIN_PHASE_LIMIT_MS, count * LOGIN_PHASE_MS_PER_TASK);
  const deadline = Date.now() + limitMs;
  let next = 0;
  let failures = 0;
  let firstError: string | undefined;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      try {
        if (Date.now() > deadline) throw new Error(`not started within ${limitMs} ms`);
        await task(index);
      } catch (error) {
        failures++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return { failures, firstError };
}

/**
 * Server and load generator CPU over a measured window, and what the rest of
 * the machine used meanwhile: other work on a shared machine disturbs figures.
 */
export class CpuMeter {
  private readonly serverBefore: Map<number, number>;
  private readonly loadgenBefore = process.cpuUsage();
  private readonly machineBefore = machineCpuSeconds();

  constructor(private readonly server: RunningServer) {
    this.serverBefore = server.cpuSnapshot();
  }

  read(): { serverCpuSeconds: number; loadgenCpuSeconds: number; otherCpuSeconds: number } {
    const loadgen = process.cpuUsage(this.loadgenBefore);
    const serverCpuSeconds = cpuSecondsBetween(this.serverBefore, this.server.cpuSnapshot());
    const loadgenCpuSeconds = (loadgen.user + loadgen.system) / 1e6;
    const machine = machineCpuSeconds() - this.machineBefore;
    // Clock-tick rounding can make a small negative difference.
    return { serverCpuSeconds, loadgenCpuSeconds, otherCpuSeconds: Math.max(0, machine - serverCpuSeconds - loadgenCpuSeconds) };
  }
}

/** Nearest-rank percentile. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Received text kept per session for a tag split across two reads. */
export const TAIL_CHARS = 1000;

/** An attribute's value in a start tag, by regex (a load generator, not a parser). */
export function attr(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}=(['"])([^'"]*)\\1`).exec(tag)?.[2];
}

export function bare(jid: string): string {
  return jid.split('/')[0]!;
}

/**
 * Watches what many sessions receive and waits, bounded, until each of a set
 * has received text that matches: the fan-out scenarios' "everyone has it".
 */
export class Arrivals {
  /** When the last session of the latest wait matched (performance.now()). */
  lastArrival = 0;
  private matches: (text: string, session: number) => boolean = () => false;
  private waiting = new Set<number>();
  private allIn: () => void = () => undefined;
  private readonly tails: string[];

  /** Takes over the sessions' incoming text; `onLost` hears of a session that ended. */
  constructor(sessions: readonly XmppConnection[], onLost: (error: Error) => void) {
    this.tails = sessions.map(() => '');
    sessions.forEach((session, i) => {
      session.takeOver((chunk) => {
        const text = this.tails[i] + chunk;
        this.tails[i] = text.slice(-TAIL_CHARS);
        if (this.waiting.has(i) && this.matches(text, i)) {
          this.lastArrival = performance.now();
          this.waiting.delete(i);
          if (this.waiting.size === 0) this.allIn();
        }
      }, onLost);
    });
  }

  /**
   * Runs `act`, then waits (bounded) until every session in `active` has matched
   * (`match` gets the received text and the session's index); returns the indices that did not.
   */
  async everyone(active: readonly number[], match: (text: string, session: number) => boolean, limitMs: number, act: () => void): Promise<number[]> {
    this.tails.fill('');
    this.matches = match;
    this.waiting = new Set(active);
    const done = new Promise<void>((resolve) => (this.allIn = resolve));
    act();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, limitMs)))]);
    clearTimeout(timer);
    const missing = [...this.waiting];
    this.waiting = new Set();
    return missing;
  }
}

export function closeAll(connections: (XmppConnection | undefined)[]): void {
  for (const c of connections) c?.close();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
