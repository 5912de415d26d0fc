// The usage counters on SQLite and on PostgreSQL (a database of its own,
// dropped afterwards; PALISADE_TEST_SKIP_PG=1 skips it, as for the storage
// contract): counts per account, hour and metric are added to the table by
// flush(), a second flush adds to the same rows, and counts survive a failed
// flush (the table dropped under it — a real fault, no mock) to be written by
// the next one.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { openStorage } from '../../storage/index.ts';
import type { Storage, StorageConfig } from '../../storage/types.ts';
import { up as createUsageTable } from '../../storage/migrations/0021-usage.ts';
import { UsageCounters, hourOf, usageTotals } from './store.ts';

const T0 = Date.parse('2026-03-01T10:15:00Z');
const H = 3_600_000;

function suite(name: string, config: () => Promise<StorageConfig>): void {
  describe(`usage counters on ${name}`, () => {
    const opened: Storage[] = [];
    after(async () => {
      for (const s of opened) await s.close();
    });
    const open = async () => {
      const s = await openStorage(await config());
      opened.push(s);
      return s;
    };

    test('flush adds the counts per account, hour and metric; a second flush adds to the same rows', async () => {
      const s = await open();
      const c = new UsageCounters(s.db);
      c.add('alice@example.org', 'messages_sent', T0);
      c.add('alice@example.org', 'messages_sent', T0 + 1000);
      c.add('alice@example.org', 'messages_sent', T0 + H);
      c.add('bob@example.org', 'messages_received', T0);
      c.add('bob@example.org', 'call_sessions', T0);
      await c.flush();
      c.add('alice@example.org', 'messages_sent', T0 + 5000);
      await c.flush();
      await c.flush(); // nothing new: nothing written
      const all = await usageTotals(s.db, new Date(T0), new Date(T0 + 2 * H));
      assert.deepEqual(sortTotals(all), [
        { account: 'alice@example.org', metric: 'messages_sent', value: 4 },
        { account: 'bob@example.org', metric: 'call_sessions', value: 1 },
        { account: 'bob@example.org', metric: 'messages_received', value: 1 },
      ]);
      // The hour of `since` counts whole; hours from `until` on do not.
      assert.deepEqual(sortTotals(await usageTotals(s.db, new Date(T0 + 40 * 60_000), new Date(hourOf(T0) + H))), [
        { account: 'alice@example.org', metric: 'messages_sent', value: 3 },
        { account: 'bob@example.org', metric: 'call_sessions', value: 1 },
        { account: 'bob@example.org', metric: 'messages_received', value: 1 },
      ]);
      const rows = await sql<{ n: number | string }>`select count(*) as n from usage_counters`.execute(s.db);
      assert.equal(Number(rows.rows[0]!.n), 4, 'one row per account, hour and metric');
    });

    test('a failed flush keeps the counts for the next one', async () => {
      const s = await open();
      const c = new UsageCounters(s.db);
      c.add('carol@example.org', 'messages_sent', T0);
      await sql`drop table usage_counters`.execute(s.db);
      await assert.rejects(c.flush());
      c.add('carol@example.org', 'messages_sent', T0);
      await createUsageTable(s.db, s.backend);
      await c.flush();
      assert.deepEqual(await usageTotals(s.db, new Date(T0), new Date(T0 + H)), [{ account: 'carol@example.org', metric: 'messages_sent', value: 2 }]);
    });
  });
}

suite('SQLite', async () => ({ backend: 'sqlite', path: ':memory:' }));

const adminUrl = process.env.PALISADE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
if (process.env.PALISADE_TEST_SKIP_PG === '1') {
  test('usage counters on PostgreSQL', { skip: 'PALISADE_TEST_SKIP_PG=1' }, () => {});
} else {
  const admin = new pg.Pool({ connectionString: adminUrl, max: 2 });
  const created: string[] = [];
  after(async () => {
    for (const name of created) await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.end();
  });
  suite('PostgreSQL', async () => {
    const name = `palisade_test_usage_${randomBytes(5).toString('hex')}_${created.length}`;
    created.push(name);
    await admin.query(`create database "${name}"`);
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    return { backend: 'postgres', url: u.toString(), poolSize: 2 };
  });
}

function sortTotals<T extends { account: string; metric: string }>(list: T[]): T[] {
  return [...list].sort((a, b) => (a.account + a.metric < b.account + b.metric ? -1 : 1));
}
