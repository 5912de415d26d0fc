// Retention: archived messages older than the configured age are deleted by a
// periodic job, a bounded batch at a time, so it never holds the database (or
// the event loop) for long.
import type { ArchiveStore } from './store.ts';

export const PURGE_BATCH = 500;

export interface PurgeOptions {
  batch?: number;
  /** Asked between batches: true stops the job (the server is shutting down). */
  stopped?: () => boolean;
}

/** Deletes everything archived before `cutoff`; returns how many messages. */
export async function purgeExpired(store: ArchiveStore, cutoff: Date, opts: PurgeOptions = {}): Promise<number> {
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
