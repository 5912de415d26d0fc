// Usage counters (src/modules/usage): per account, per hour, per metric, a
// count — never content. The module adds to a row once a minute; `palisade
// report usage` sums them. Accounts may be deleted while their figures stay
// in reports for the period, so no foreign key.
import { sql, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const int64 = pg ? 'bigint' : 'integer';

  let counters = db.schema
    .createTable('usage_counters')
    // The account's bare JID.
    .addColumn('account', key, (c) => c.notNull())
    // Start of the hour, epoch milliseconds (UTC).
    .addColumn('bucket', int64, (c) => c.notNull())
    .addColumn('metric', key, (c) => c.notNull())
    .addColumn('value', int64, (c) => c.notNull())
    .addPrimaryKeyConstraint('usage_counters_pk', ['account', 'bucket', 'metric'])
    .addCheckConstraint('usage_counters_value', sql`value >= 0`);
  if (!pg) counters = counters.modifyEnd(sql`strict`);
  await counters.execute();
  // Reports read a time range across all accounts.
  await db.schema.createIndex('usage_counters_bucket').on('usage_counters').column('bucket').execute();
}
