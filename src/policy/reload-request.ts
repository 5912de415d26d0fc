// The control channel: how the CLI (`palisade policy reload`, `palisade group
// …`, `palisade sessions …`, `palisade user passwd`) reaches the running
// server. A request file in data_dir/control/, which the server looks for
// every few hundred milliseconds, and a result file it writes back for the CLI
// to read. No signals and no pid file: nothing can signal the wrong process
// after a pid is reused, it works whatever user the CLI runs as (with write
// access to data_dir), and the CLI learns the outcome.
//
// Each server part takes only the kinds it answers (the policy engine: policy
// and groups; the sessions module: sessions.*), so they share the folder. A
// part that answers also touches a heartbeat file, so the CLI can tell at once
// that no server is running instead of waiting for its timeout.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type ReloadKind = 'policy' | 'groups';

export interface ControlRequest {
  id: string;
  kind: string;
  /** Who asked (e.g. 'cli:alice'), for the audit entry. */
  by: string;
  at: string;
  /** What the kind needs, e.g. the JID whose sessions to close. */
  args: Record<string, unknown>;
}

export interface ReloadRequest extends ControlRequest {
  kind: ReloadKind;
}

export interface ControlResult {
  id: string;
  ok: boolean;
  /** One line for the operator. */
  message: string;
  /** The problems of a refused policy, one per line, as `palisade policy check` prints them. */
  errors?: string[];
  /** What the kind returns (e.g. the session list). */
  data?: unknown;
  at: string;
}

export type ReloadResult = ControlResult;

export const CONTROL_DIR = 'control';
const REQUEST = '.request';
const RESULT = '.result';
const HEARTBEAT = '.alive';
/** Results nobody collected, and requests no part takes, are removed after this long. */
const STALE_MS = 60 * 60 * 1000;
const KIND = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/;

export function controlDir(dataDir: string): string {
  return join(dataDir, CONTROL_DIR);
}

/** Writes a request (atomically) and returns its id. */
export function writeControlRequest(dataDir: string, kind: string, by: string, args: Record<string, unknown> = {}): string {
  if (!KIND.test(kind)) throw new Error(`bad control request kind ${kind}`);
  const dir = controlDir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const id = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
  const request: ControlRequest = { id, kind, by, at: new Date().toISOString(), args };
  const tmp = join(dir, `${id}.tmp`);
  writeFileSync(tmp, JSON.stringify(request) + '\n', { mode: 0o600 });
  renameSync(tmp, join(dir, id + REQUEST));
  return id;
}

export function writeReloadRequest(dataDir: string, kind: ReloadKind, by: string): string {
  return writeControlRequest(dataDir, kind, by);
}

/** Waits for the server's answer to a request; undefined when none came in time (the request is then withdrawn). */
export async function waitForControlResult(dataDir: string, id: string, timeoutMs: number, pollMs = 100): Promise<ControlResult | undefined> {
  const file = join(controlDir(dataDir), id + RESULT);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const result = JSON.parse(readFileSync(file, 'utf8')) as ControlResult;
      rmSync(file, { force: true });
      return result;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof SyntaxError)) throw err;
    }
    if (Date.now() >= deadline) {
      rmSync(join(controlDir(dataDir), id + REQUEST), { force: true });
      return undefined;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export const waitForReloadResult = waitForControlResult;

/**
 * The server side: takes the pending requests of the given kinds (oldest
 * first), removing them; others are left for the part that answers them.
 */
export function takeControlRequests(dataDir: string, kinds: readonly string[]): ControlRequest[] {
  const dir = controlDir(dataDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: ControlRequest[] = [];
  for (const name of names.sort()) {
    const path = join(dir, name);
    if (name.endsWith(RESULT)) {
      removeIfStale(path);
      continue;
    }
    if (!name.endsWith(REQUEST)) continue;
    let r: Partial<ControlRequest> | undefined;
    try {
      r = JSON.parse(readFileSync(path, 'utf8')) as Partial<ControlRequest>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // another part took it
      r = undefined; // unreadable: dropped below
    }
    if (r && typeof r.kind === 'string' && !kinds.includes(r.kind)) {
      removeIfStale(path); // someone else's, or a kind no running part answers
      continue;
    }
    if (r && typeof r.id === 'string' && typeof r.kind === 'string') {
      const args = typeof r.args === 'object' && r.args !== null && !Array.isArray(r.args) ? r.args : {};
      out.push({ id: r.id, kind: r.kind, by: String(r.by ?? 'unknown'), at: String(r.at ?? ''), args });
    }
    rmSync(path, { force: true });
  }
  return out;
}

/** The policy engine's requests: policy and group reloads. */
export function takeReloadRequests(dataDir: string): ReloadRequest[] {
  return takeControlRequests(dataDir, ['policy', 'groups']) as ReloadRequest[];
}

export function writeControlResult(dataDir: string, result: ControlResult): void {
  const dir = controlDir(dataDir);
  if (!/^[a-z0-9-]+$/.test(result.id)) return;
  const tmp = join(dir, `${result.id}.tmp`);
  writeFileSync(tmp, JSON.stringify(result) + '\n', { mode: 0o600 });
  renameSync(tmp, join(dir, result.id + RESULT));
}

export const writeReloadResult = writeControlResult;

/** Marks that a part named `name` (e.g. 'sessions') is answering requests now. */
export function touchHeartbeat(dataDir: string, name: string): void {
  const dir = controlDir(dataDir);
  const file = join(dir, name + HEARTBEAT);
  const now = new Date();
  try {
    utimesSync(file, now, now);
  } catch {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(file, '', { mode: 0o600 });
  }
}

/** Milliseconds since the part last answered; undefined when it never did (or its server removed the mark on stopping). */
export function heartbeatAge(dataDir: string, name: string): number | undefined {
  try {
    return Date.now() - statSync(join(controlDir(dataDir), name + HEARTBEAT)).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Removes the mark (a stopping server). */
export function clearHeartbeat(dataDir: string, name: string): void {
  rmSync(join(controlDir(dataDir), name + HEARTBEAT), { force: true });
}

function removeIfStale(path: string): void {
  try {
    if (Date.now() - statSync(path).mtimeMs > STALE_MS) rmSync(path, { force: true });
  } catch {
    // gone meanwhile
  }
}
