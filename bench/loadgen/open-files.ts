// The open-files limit: the load generator holds one socket per session, and
// the servers it spawns inherit its limit, so it is raised before anything
// starts. Node has no setrlimit; prlimit(1) sets this process's limit from outside.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function openFilesLimit(): { soft: number; hard: number } {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const value = (v: string | undefined): number => (v === 'unlimited' ? Number.POSITIVE_INFINITY : Number(v));
  return { soft: value(line?.[1]), hard: value(line?.[2]) };
}

/** Raises this process's soft limit (and the hard one if need be, which needs root) to at least `needed`. */
export function ensureOpenFiles(needed: number): void {
  const { soft, hard } = openFilesLimit();
  if (soft >= needed) return;
  const newHard = Math.max(hard, needed);
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${needed}:${Number.isFinite(newHard) ? newHard : 'unlimited'}`], {
      stdio: 'pipe',
      timeout: 10_000,
    });
  } catch (error) {
    const e = error as { stderr?: Buffer; message: string };
    throw new Error(
      `the open-files limit is ${soft} (hard ${hard}) and ${needed} are needed; prlimit could not raise it ` +
        `(${(e.stderr?.toString() || e.message).trim()}): run the bench after 'ulimit -n ${needed}'`,
    );
  }
  if (openFilesLimit().soft < needed) throw new Error(`the open-files limit is still below ${needed}: run the bench after 'ulimit -n ${needed}'`);
}
