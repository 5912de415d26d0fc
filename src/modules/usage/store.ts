// The usage counters: counts in memory per account, hour and metric, added to
// the usage_counters table (migration 0021) by flush(). Counting is a map
// update on the stanza path; the database is written only by flush(), off it.
import { sql, type Kysely } from 'kysely';
import { readInt } from '../../storage/values.ts';

type Int64 = import('kysely').ColumnType<number | string, number, number>;
export type UsageTables = {
  usage_counters: { account: string; bucket: Int64; metric: string; value: Int64 };
};

export const USAGE_METRICS = ['messages_sent', 'messages_received', 'call_sessions', 'call_proposals'] as const;
export type UsageMetric = (typeof USAGE_METRICS)[number];

const HOUR_MS = 3_600_000;
/** Rows per INSERT (4 parameters each; far below SQLite's and PostgreSQL's limits). */
const CHUNK = 500;
/** Distinct (account, hour, metric) counts held between flushes; beyond, a flush is started early. */
const EARLY_FLUSH_AT = 50_000;

export const hourOf = (t: number): number => t - (t % HOUR_MS);

export class UsageCounters {
  private pending = new Map<string, { account: string; bucket: number; metric: UsageMetric; value: number }>();
  private readonly db: Kysely<UsageTables>;
  private readonly onFull: () => void;
  private last: Promise<void> = Promise.resolve();

  constructor(db: Kysely<any>, onFull: () => void = () => undefined) {
    this.db = db as Kysely<UsageTables>;
    this.onFull = onFull;
  }

  add(account: string, metric: UsageMetric, now = Date.now()): void {
    const bucket = hourOf(now);
    const key = `${account}\n${bucket}\n${metric}`;
    const row = this.pending.get(key);
    if (row) row.value++;
    else {
      this.pending.set(key, { account, bucket, metric, value: 1 });
      if (this.pending.size === EARLY_FLUSH_AT) this.onFull();
    }
  }

  /** Adds what was counted since the last flush to the table; on failure the counts are kept for the next one. */
  flush(): Promise<void> {
    // One flush at a time: a second waits for the first, then writes what came in meanwhile.
    const run = this.last.then(() => this.write());
    this.last = run.catch(() => undefined);
    return run;
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0) return;
    const rows = [...this.pending.values()];
    this.pending = new Map();
    try {
      await this.db.transaction().execute(async (tx) => {
        for (let i = 0; i < rows.length; i += CHUNK) {
          await tx
            .insertInto('usage_counters')
            .values(rows.slice(i, i + CHUNK))
            .onConflict((oc) => oc.columns(['account', 'bucket', 'metric']).doUpdateSet({ value: sql`usage_counters.value + excluded.value` }))
            .execute();
        }
      });
    } catch (err) {
      for (const r of rows) {
        const key = `${r.account}\n${r.bucket}\n${r.metric}`;
        const now = this.pending.get(key);
        if (now) now.value += r.value;
        else this.pending.set(key, r);
      }
      throw err;
    }
  }
}

export interface UsageTotals {
  account: string;
  metric: UsageMetric;
  value: number;
}

/** Sums per account and metric of the hours that start in [since's hour, until). */
export async function usageTotals(db: Kysely<any>, since: Date, until: Date): Promise<UsageTotals[]> {
  const rows = await (db as Kysely<UsageTables>)
    .selectFrom('usage_counters')
    .select(['account', 'metric', (eb) => eb.fn.sum<number | string>('value').as('value')])
    .where('bucket', '>=', hourOf(since.getTime()))
    .where('bucket', '<', until.getTime())
    .groupBy(['account', 'metric'])
    .execute();
  return rows.map((r) => ({ account: r.account, metric: r.metric as UsageMetric, value: readInt(r.value) }));
}
