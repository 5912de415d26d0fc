// Starting, probing, measuring and stopping a server process, the same way for every target.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { NS } from '../../src/xmpp/ns.ts';
import type { ServerSetup, Target } from './target.ts';

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

/** Servers still running, so that an interrupted bench leaves none behind. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class RunningServer {
  private spawnError: Error | undefined;

  private constructor(
    readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    child.once('error', (e) => (this.spawnError = e));
  }

  get pid(): number {
    return this.child.pid!;
  }

  static async start(target: Target, setup: ServerSetup): Promise<RunningServer> {
    const logFile = join(setup.dir, 'server-output.log');
    const child = target.spawn(setup);
    live.add(child);
    const log = createWriteStream(logFile, { flags: 'a' });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const server = new RunningServer(child, logFile);
    try {
      await server.waitReady(setup);
    } catch (error) {
      await server.stop();
      throw new Error(`${target.name} did not become ready: ${(error as Error).message}\n${server.logTail()}`);
    }
    return server;
  }

  /** SIGTERM, then SIGKILL if it has not exited in time. */
  async stop(): Promise<void> {
    const child = this.child;
    // Without a pid it never started (the 'error' event says why), and no 'exit' would come.
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    live.delete(child);
  }

  /** CPU ticks per process of the server's process tree (e.g. tsx's esbuild child too). */
  cpuSnapshot(): Map<number, number> {
    return processTreeTicks(this.pid);
  }

  /** Resident memory summed over the server's process tree (shared pages count once per process). */
  rss(): { bytes: number; processes: number } {
    return processTreeRss(this.pid);
  }

  logTail(): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '';
    }
  }

  /** Ready means: the c2s port answers a stream header with stream features, and the HTTPS port accepts connections. */
  private async waitReady(setup: ServerSetup): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastError = 'no attempt';
    while (Date.now() < deadline) {
      if (this.spawnError) throw this.spawnError;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`exited with ${this.child.exitCode ?? this.child.signalCode}`);
      }
      try {
        await probe(setup.ports.starttls, setup.domain);
        await accepts(setup.ports.https);
        return;
      } catch (error) {
        lastError = (error as Error).message;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    throw new Error(`not ready within ${READY_TIMEOUT_MS} ms (last probe: ${lastError})`);
  }
}

function probe(port: number, domain: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    const done = (error?: Error): void => {
      socket.destroy();
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error('no stream features within 2 s')), 2000);
    socket.setEncoding('latin1');
    socket.on('connect', () =>
      socket.write(`<?xml version='1.0'?><stream:stream to='${domain}' xmlns='${NS.client}' xmlns:stream='${NS.stream}' version='1.0'>`),
    );
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (/<\/(?:stream:)?features>|<(?:stream:)?features\b[^>]*\/>/.test(text)) done();
    });
    socket.on('error', (e) => done(e));
    socket.on('close', () => done(new Error('closed before stream features')));
  });
}

function accepts(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(2000, () => socket.destroy(new Error(`port ${port}: no connection within 2 s`)));
    socket.on('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.on('error', reject);
  });
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const PAGE_BYTES = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096;

interface ProcStat {
  ppid: number;
  /** utime + stime, in clock ticks. */
  ticks: number;
  /** Resident set size, in bytes. */
  rssBytes: number;
}

/** `root` and all its descendants, from /proc. */
function processTree(root: number): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
    } catch {
      continue; // exited while we looked
    }
    // Fields after the command name, which may itself contain spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    stats.set(Number(entry), { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]), rssBytes: Number(fields[21]) * PAGE_BYTES });
  }
  const tree = new Map<number, ProcStat>();
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    const stat = stats.get(pid);
    if (!stat) continue;
    tree.set(pid, stat);
    for (const [child, s] of stats) if (s.ppid === pid) queue.push(child);
  }
  return tree;
}

/** utime+stime ticks of `root` and all its descendants. */
export function processTreeTicks(root: number): Map<number, number> {
  return new Map([...processTree(root)].map(([pid, s]) => [pid, s.ticks]));
}

/** Resident memory of `root` and all its descendants, summed, and how many processes that is. */
export function processTreeRss(root: number): { bytes: number; processes: number } {
  const tree = processTree(root);
  let bytes = 0;
  for (const s of tree.values()) bytes += s.rssBytes;
  return { bytes, processes: tree.size };
}

/** CPU seconds the tree used between two snapshots; processes gone by `after` are not counted. */
export function cpuSecondsBetween(before: Map<number, number>, after: Map<number, number>): number {
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? 0);
  return ticks / CLOCK_TICKS;
}

/**
 * CPU seconds all processes of the machine have used since boot, plus time the
 * hypervisor gave to others (steal). Interrupt time is left out: loopback
 * traffic between load generator and server is processed there, and no process is charged for it.
 */
export function machineCpuSeconds(): number {
  const fields = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , , , steal = 0] = fields;
  return (user + nice + system + steal) / CLOCK_TICKS;
}

/** `count` different loopback ports free right now (the server binds them moments later): all held open, then released. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
