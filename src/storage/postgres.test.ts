// The storage contract on PostgreSQL. Each contract test gets its own database
// named palisade_test_<random>_<n>; all are dropped at the end, pass or fail.
// PostgreSQL being unreachable is a failure (CI runs this for real) unless
// PALISADE_TEST_SKIP_PG=1.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import pg from 'pg';
import { storageContract } from './contract/index.ts';
import { openStorage } from './index.ts';

const adminUrl = process.env.PALISADE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const skip = process.env.PALISADE_TEST_SKIP_PG === '1';
const prefix = `palisade_test_${randomBytes(6).toString('hex')}`;

function urlFor(database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

/** The admin URL without its password, for messages. */
function shown(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

async function reach(): Promise<pg.Pool | Error> {
  const pool = new pg.Pool({ connectionString: adminUrl, max: 4, connectionTimeoutMillis: 5000 });
  pool.on('error', () => {}); // an idle admin connection dropping is not a test result
  try {
    await pool.query('select 1');
    return pool;
  } catch (err) {
    await pool.end();
    return err instanceof Error ? err : new Error(String(err));
  }
}

if (skip) {
  test('storage contract on PostgreSQL', { skip: 'PALISADE_TEST_SKIP_PG=1' }, () => {});
} else {
  const admin = await reach();
  if (admin instanceof Error) {
    test('PostgreSQL is reachable for the storage contract', () => {
      assert.fail(
        `cannot reach PostgreSQL at ${shown(adminUrl)}: ${admin.message}. ` +
          'Start it, point PALISADE_TEST_PG_URL at a server where the user may CREATE DATABASE, ' +
          'or set PALISADE_TEST_SKIP_PG=1 to skip these tests.',
      );
    });
  } else {
    const created: string[] = [];
    after(async () => {
      // A few at a time (fewer than the admin pool's connections, so none waits
      // into its connect timeout); one failure does not stop the rest.
      // FORCE: a test that failed half-way may have left a connection open.
      const queue = [...created];
      const failures: string[] = [];
      const dropper = async () => {
        for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
          await admin.query(`drop database if exists "${name}" with (force)`).catch((err: Error) => failures.push(`${name}: ${err.message}`));
        }
      };
      await Promise.all([dropper(), dropper(), dropper()]);
      await admin.end();
      if (failures.length > 0) throw new Error(`could not drop test databases: ${failures.join('; ')}`);
    });

    const newDatabase = async () => {
      const name = `${prefix}_${created.length + 1}`;
      created.push(name);
      await admin.query(`create database "${name}"`);
      return { backend: 'postgres' as const, url: urlFor(name), poolSize: 10 };
    };

    storageContract('postgres', {
      newDatabase,
      reopenable: true,
      isReleased: async (cfg) => {
        const database = cfg.backend === 'postgres' ? new URL(cfg.url).pathname.slice(1) : '';
        const r = await admin.query<{ n: string }>('select count(*) as n from pg_stat_activity where datname = $1', [database]);
        return r.rows[0]?.n === '0';
      },
    });

    test('postgres uses native types: timestamptz, boolean, bytea, bigint, and C collation for keys', async () => {
      const cfg = await newDatabase();
      const s = await openStorage(cfg);
      try {
        const r = await s.db
          .withTables<{ 'information_schema.columns': { table_name: string; column_name: string; data_type: string; collation_name: string | null } }>()
          .selectFrom('information_schema.columns')
          .select(['table_name', 'column_name', 'data_type', 'collation_name'])
          .where('table_name', 'in', ['accounts', 'audit_log'])
          .where('column_name', 'in', ['localpart', 'created_at', 'disabled', 'scram_sha256_salt', 'seq', 'ts'])
          .orderBy('table_name')
          .orderBy('column_name')
          .execute();
        assert.deepEqual(r, [
          { table_name: 'accounts', column_name: 'created_at', data_type: 'timestamp with time zone', collation_name: null },
          { table_name: 'accounts', column_name: 'disabled', data_type: 'boolean', collation_name: null },
          { table_name: 'accounts', column_name: 'localpart', data_type: 'text', collation_name: 'C' },
          { table_name: 'accounts', column_name: 'scram_sha256_salt', data_type: 'bytea', collation_name: null },
          { table_name: 'audit_log', column_name: 'seq', data_type: 'bigint', collation_name: null },
          { table_name: 'audit_log', column_name: 'ts', data_type: 'timestamp with time zone', collation_name: null },
        ]);
      } finally {
        await s.close();
      }
    });
  }
}
