// Retention: archived messages older than the configured age are deleted by a
// periodic job, a bounded batch at a time, so it never holds the database (or
// the event loop) for long. Compliance copies expire at their own time (the
// policy's retention_days when they were stored), whatever the archive's
// retention; the messages of an account on legal hold are kept in both.
import type { ComplianceStore } from './compliance.ts';
import type { ArchiveStore } from './store.ts';

export const PURGE_BATCH = 500;
const DAY_MS = 86_400_000;

export interface PurgeOptions {
  batch?: number;
  /** Asked between batches: true stops the job (the server is shutting down). */
  stopped?: () => boolean;
}

/** Something that deletes expired rows a batch at a time. */
interface Purgeable<T> {
  purgeBatch(before: T, limit: number): Promise<number>;
}

/** Deletes everything that expired before `cutoff`, batch by batch; returns how many messages. */
export async function purgeExpired<T>(store: Purgeable<T>, cutoff: T, opts: PurgeOptions = {}): Promise<number> {
  const batch = opts.batch ?? PURGE_BATCH;
  let total = 0;
  for (;;) {
    const n = await store.purgeBatch(cutoff, batch);
    total += n;
    if (n < batch || opts.stopped?.()) return total;
    // Stanzas waiting for the database go first.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export interface RetentionStores {
  accounts: ArchiveStore;
  rooms: ArchiveStore;
  compliance: ComplianceStore;
}

export interface RetentionResult {
  /** Messages deleted from accounts' and rooms' archives (older than the cutoff). */
  archived: number;
  /** Compliance copies deleted (past their own expiry). */
  compliance: number;
  cutoff: Date;
}

/** One run of the retention job at time `now`. */
export async function runRetention(stores: RetentionStores, now: Date, retentionDays: number, opts: PurgeOptions = {}): Promise<RetentionResult> {
  const cutoff = new Date(now.getTime() - retentionDays * DAY_MS);
  const archived = (await purgeExpired(stores.accounts, cutoff, opts)) + (await purgeExpired(stores.rooms, cutoff, opts));
  const compliance = await purgeExpired(stores.compliance, now, opts);
  return { archived, compliance, cutoff };
}
