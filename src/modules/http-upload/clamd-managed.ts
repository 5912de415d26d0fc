// antivirus.mode 'managed': Palisade runs clamd itself, from its own
// generated clamd.conf in <data_dir>/clamd/ (a Unix socket there, no TCP,
// in the foreground as our child), and supervises it: uploads are refused
// until clamd answers PING, a clamd that dies is restarted with backoff
// (logged and audited), and it is stopped with the server. A missing binary
// or signature database stops start-up: running "managed" without a scanner
// would look protected while it is not.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { AuditStore } from '../../storage/types.ts';
import { Clamd, type StreamScan } from './clamd.ts';

/** Signature files clamd loads (clamav's sigtool(1), signatures.md): at least one must be there. */
const DATABASE_FILE = /\.(cvd|cld|cud|hdb|hsb|hdu|hsu|mdb|msb|mdu|msu|ndb|ndu|ldb|ldu|cdb|idb|gdb|pdb|wdb|ftm|sdb|zmd|rmd|crb|cbc|yar|yara)$/i;

/** Linux's limit for a Unix socket path (sun_path, 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;
/** clamd's size options stop at 4 GB. */
const CLAMD_MAX_SIZE_MIB = 4000;

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 60_000;
/** A clamd that ran this long counts as healthy again: the next crash restarts it after the shortest wait. */
const STABLE_MS = 60_000;
const PING_EVERY_MS = 250;
const STOP_WAIT_MS = 5_000;
/** Last bytes of clamd's output kept to explain an exit. */
const TAIL_BYTES = 2048;

export function hasSignatures(dir: string): boolean {
  try {
    return readdirSync(dir).some((f) => DATABASE_FILE.test(f) && statSync(join(dir, f)).isFile());
  } catch {
    return false;
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The `antivirus.managed` options; with mode 'managed', checked at start-up against the filesystem. */
export const managedOptions = z
  .strictObject({
    clamd_path: z.string().min(1).max(4096).default('/usr/sbin/clamd').describe('the clamd executable started in managed mode'),
    database_dir: z
      .string()
      .min(1)
      .max(4096)
      .default('/var/lib/clamav')
      .describe("clamd's signature database folder (kept current by freshclam), read-only to Palisade"),
  })
  .prefault({});

/** With mode 'managed': issues for a clamd binary or signature database that is not there (a start-up error with the key path). */
export function checkManaged(
  { mode, managed }: { mode: 'external' | 'managed'; managed: z.infer<typeof managedOptions> },
  ctx: z.core.$RefinementCtx<unknown>,
): void {
  if (mode !== 'managed') return;
  if (!isExecutable(managed.clamd_path)) {
    ctx.addIssue({
      code: 'custom',
      path: ['managed', 'clamd_path'],
      input: managed.clamd_path,
      message: 'no clamd executable there; install clamav-daemon, set the path, or use mode: external',
    });
  }
  if (!hasSignatures(managed.database_dir)) {
    ctx.addIssue({
      code: 'custom',
      path: ['managed', 'database_dir'],
      input: managed.database_dir,
      message: 'no ClamAV signature database there (.cvd, .cld, .ndb, …); run freshclam or copy the databases in',
    });
  }
}

export interface ManagedClamdOptions {
  clamdPath: string;
  databaseDir: string;
  /** Palisade's own folder for clamd: <data_dir>/clamd. */
  dir: string;
  /** The largest upload: clamd's stream and scan limits are set at least this high, so no part of a file goes unscanned. */
  maxFileSize: number;
  timeoutMs: number;
  log: Logger;
  audit: AuditStore;
}

/** Writes clamd.conf for the child: nothing from /etc/clamav, no TCP, limits that refuse rather than skip. */
export function clamdConfig(o: { socket: string; pidFile: string; databaseDir: string; tmpDir: string; maxFileSize: number }): string {
  const mib = Math.min(CLAMD_MAX_SIZE_MIB, Math.ceil(o.maxFileSize / (1024 * 1024)) + 1);
  for (const p of [o.socket, o.pidFile, o.databaseDir, o.tmpDir]) {
    // clamd.conf has no quoting: a line break in a path would add an option.
    if (/[\r\n]/.test(p)) throw new Error(`a path for clamd contains a line break: ${JSON.stringify(p)}`);
  }
  return [
    '# Written by Palisade at every start (antivirus.mode: managed); edits are overwritten.',
    'Foreground yes',
    `LocalSocket ${o.socket}`,
    'LocalSocketMode 600',
    'FixStaleSocket yes',
    `PidFile ${o.pidFile}`,
    `DatabaseDirectory ${o.databaseDir}`,
    `TemporaryDirectory ${o.tmpDir}`,
    `StreamMaxLength ${mib}M`,
    `MaxScanSize ${mib}M`,
    `MaxFileSize ${mib}M`,
    // A file past any scan limit is reported (Heuristics.Limits.Exceeded), not passed as clean.
    'AlertExceedsMax yes',
    // Palisade supervises it; clamd's own database reload check would double the memory for a while.
    'SelfCheck 0',
    '',
  ].join('\n');
}

/** A Clamd client that refuses while the supervised clamd is not ready, so nothing waits on a clamd that is starting. */
class GatedClamd extends Clamd {
  private readonly isReady: () => boolean;

  constructor(socket: string, timeoutMs: number, isReady: () => boolean) {
    super(socket, timeoutMs);
    this.isReady = isReady;
  }

  override async ping(): Promise<boolean> {
    return this.isReady() && (await super.ping());
  }

  override async scan(): Promise<StreamScan> {
    if (!this.isReady()) throw new Error('the managed clamd is starting');
    return super.scan();
  }
}

export type ManagedState = 'starting' | 'ready' | 'restarting' | 'stopped';

/** Runs and supervises one clamd child. */
export class ManagedClamd {
  readonly socket: string;
  readonly client: Clamd;
  private readonly o: ManagedClamdOptions;
  private readonly conf: string;
  private readonly pidFile: string;
  private child: ChildProcess | undefined;
  private state: ManagedState = 'stopped';
  private backoffMs = MIN_BACKOFF_MS;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private tail = '';
  private readonly killOnExit = () => this.child?.kill('SIGKILL');

  constructor(o: ManagedClamdOptions) {
    this.o = o;
    this.socket = join(o.dir, 'clamd.sock');
    if (Buffer.byteLength(this.socket) > MAX_SOCKET_PATH) {
      throw new Error(`the managed clamd's socket path ${this.socket} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter data_dir`);
    }
    this.conf = join(o.dir, 'clamd.conf');
    this.pidFile = join(o.dir, 'clamd.pid');
    this.client = new GatedClamd(this.socket, o.timeoutMs, () => this.state === 'ready');
  }

  get status(): ManagedState {
    return this.state;
  }

  /** The running clamd's process id, if any. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Writes the configuration and starts clamd; returns at once (uploads are refused until it answers). */
  start(): void {
    mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    const tmpDir = join(this.o.dir, 'tmp');
    mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
    this.stopOrphan();
    writeFileSync(
      this.conf,
      clamdConfig({ socket: this.socket, pidFile: this.pidFile, databaseDir: this.o.databaseDir, tmpDir, maxFileSize: this.o.maxFileSize }),
      { mode: 0o600 },
    );
    process.once('exit', this.killOnExit);
    this.spawn('starting');
  }

  /** Stops clamd (SIGTERM, then SIGKILL after 5 s) and does not restart it. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.timer);
    process.off('exit', this.killOnExit);
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), STOP_WAIT_MS);
    await gone;
    clearTimeout(force);
  }

  private spawn(state: 'starting' | 'restarting'): void {
    this.state = state;
    this.tail = '';
    this.startedAt = Date.now();
    const child = spawn(this.o.clamdPath, [`--config-file=${this.conf}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (d: Buffer) => (this.tail = (this.tail + d.toString('utf8')).slice(-TAIL_BYTES));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('error', (err) => {
      this.o.log.error({ err, path: this.o.clamdPath }, 'the managed clamd could not be started');
      // A spawn that failed (e.g. the binary was removed since start-up) emits no 'exit'.
      if (child.pid === undefined) this.exited(child, null, null);
    });
    child.once('exit', (code, signal) => this.exited(child, code, signal));
    this.o.log.info({ pid: child.pid, config: this.conf }, 'managed clamd starting');
    void this.waitReady(child);
  }

  private async waitReady(child: ChildProcess): Promise<void> {
    const probe = new Clamd(this.socket, Math.min(this.o.timeoutMs, 2000));
    // this.child changes when the child exits (exited()) or is stopped (stop()).
    while (this.child === child) {
      if (await probe.ping()) {
        if (this.child !== child) return;
        this.state = 'ready';
        this.o.log.info({ pid: child.pid, ms: Date.now() - this.startedAt }, 'managed clamd ready; uploads are scanned');
        return;
      }
      await new Promise((r) => setTimeout(r, PING_EVERY_MS));
    }
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    const ranMs = Date.now() - this.startedAt;
    if (ranMs >= STABLE_MS) this.backoffMs = MIN_BACKOFF_MS;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    this.state = 'restarting';
    const output = this.tail.trim().split('\n').slice(-5).join('\n');
    this.o.log.error({ pid: child.pid, code, signal, ranMs, restartInMs: wait, output }, 'managed clamd exited; uploads are refused until it is back');
    this.o.audit
      .append({
        actor: 'server',
        action: 'http-upload.clamd',
        decision: 'info',
        reason: `managed clamd exited (${signal ?? `code ${code}`}); restarting in ${wait} ms`,
        details: { pid: child.pid, code, signal, ranMs, restartInMs: wait },
      })
      .catch((err: unknown) => this.o.log.error({ err }, 'audit append failed'));
    // stop() clears this timer.
    this.timer = setTimeout(() => this.spawn('restarting'), wait);
    this.timer.unref();
  }

  /** A clamd left running by a Palisade that was killed holds the socket: stop it if it is ours (same config file). */
  private stopOrphan(): void {
    if (!existsSync(this.pidFile)) return;
    const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    rmSync(this.pidFile, { force: true });
    if (!Number.isSafeInteger(pid) || pid <= 1) return;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return;
    }
    if (!cmdline.includes(`--config-file=${this.conf}`)) return;
    this.o.log.warn({ pid }, 'stopping a managed clamd left over from an earlier run');
    process.kill(pid, 'SIGKILL');
  }
}
