// How `palisade policy reload` and `palisade group …` reach the running server:
// a request file in data_dir/control/, which the server looks for every
// policy.reload_poll_ms, and a result file it writes back for the CLI to read.
// No signals and no pid file: nothing can signal the wrong process after a
// pid is reused, it works whatever user the CLI runs as (with write access to
// data_dir), and the CLI learns whether the new policy was accepted.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type ReloadKind = 'policy' | 'groups';

export interface ReloadRequest {
  id: string;
  kind: ReloadKind;
  /** Who asked (e.g. 'cli:alice'), for the audit entry. */
  by: string;
  at: string;
}

export interface ReloadResult {
  id: string;
  ok: boolean;
  /** One line for the operator. */
  message: string;
  /** The problems of a refused policy, one per line, as `palisade policy check` prints them. */
  errors?: string[];
  at: string;
}

export const CONTROL_DIR = 'control';
const REQUEST = '.request';
const RESULT = '.result';
/** Results nobody collected are removed after this long. */
const RESULT_TTL_MS = 60 * 60 * 1000;

export function controlDir(dataDir: string): string {
  return join(dataDir, CONTROL_DIR);
}

/** Writes a request (atomically) and returns its id. */
export function writeReloadRequest(dataDir: string, kind: ReloadKind, by: string): string {
  const dir = controlDir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const id = `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
  const request: ReloadRequest = { id, kind, by, at: new Date().toISOString() };
  const tmp = join(dir, `${id}.tmp`);
  writeFileSync(tmp, JSON.stringify(request) + '\n', { mode: 0o600 });
  renameSync(tmp, join(dir, id + REQUEST));
  return id;
}

/** Waits for the server's answer to a request; undefined when none came in time (the request is then withdrawn). */
export async function waitForReloadResult(dataDir: string, id: string, timeoutMs: number, pollMs = 100): Promise<ReloadResult | undefined> {
  const file = join(controlDir(dataDir), id + RESULT);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const result = JSON.parse(readFileSync(file, 'utf8')) as ReloadResult;
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

/** The server side: takes every pending request (oldest first), removing them. */
export function takeReloadRequests(dataDir: string): ReloadRequest[] {
  const dir = controlDir(dataDir);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: ReloadRequest[] = [];
  for (const name of names.sort()) {
    const path = join(dir, name);
    if (name.endsWith(RESULT)) {
      try {
        if (Date.now() - statSync(path).mtimeMs > RESULT_TTL_MS) rmSync(path, { force: true });
      } catch {
        // gone meanwhile
      }
      continue;
    }
    if (!name.endsWith(REQUEST)) continue;
    try {
      const r = JSON.parse(readFileSync(path, 'utf8')) as Partial<ReloadRequest>;
      if (typeof r.id === 'string' && (r.kind === 'policy' || r.kind === 'groups')) {
        out.push({ id: r.id, kind: r.kind, by: String(r.by ?? 'unknown'), at: String(r.at ?? '') });
      }
    } catch {
      // unreadable: dropped below
    }
    rmSync(path, { force: true });
  }
  return out;
}

export function writeReloadResult(dataDir: string, result: ReloadResult): void {
  const dir = controlDir(dataDir);
  if (!/^[a-z0-9-]+$/.test(result.id)) return;
  const tmp = join(dir, `${result.id}.tmp`);
  writeFileSync(tmp, JSON.stringify(result) + '\n', { mode: 0o600 });
  renameSync(tmp, join(dir, result.id + RESULT));
}
