// The FAST token store on both backends (SQLite in memory, a fresh PostgreSQL
// database on 127.0.0.1:5432, dropped afterwards; PALISADE_TEST_SKIP_PG=1
// skips it): the two slots, rotation by age, expiry, replay counts,
// revocation and the per-account client limit, with the clock injected.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { openStorage } from '../storage/index.ts';
import type { Storage, StorageConfig } from '../storage/types.ts';
import { FastTokenStore, loadTokenKey, revokeAccountTokens, sameMac } from './fast-store.ts';

const DAY = 86_400_000;
const alice = { domain: 'localhost', localpart: 'alice' };
const key = randomBytes(32);

/** A matcher as the HT mechanism builds it: constant-time comparison with the token the client has. */
const is = (token: string) => (candidate: string) => sameMac(Buffer.from(candidate), Buffer.from(token));

function contract(backend: string, newDatabase: () => Promise<StorageConfig>): void {
  describe(`FAST token store on ${backend}`, () => {
    let now = Date.UTC(2026, 0, 1);
    const withStore = async (fn: (store: FastTokenStore, storage: Storage) => Promise<void>, maxClients = 3) => {
      const storage = await openStorage(await newDatabase());
      try {
        await fn(new FastTokenStore(storage.db, key, { lifetimeMs: 14 * DAY, maxClientsPerAccount: maxClients, now: () => now }), storage);
      } finally {
        await storage.close();
      }
    };

    test('issue, then use; the new token moves to current and ends the one it replaces', async () => {
      await withStore(async (store) => {
        const t1 = await store.issue(alice, 'agent', 'HT-SHA-256-NONE');
        assert.equal(t1.expiresAt.getTime(), now + 14 * DAY);
        assert.deepEqual(await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t1.token)), { kind: 'ok', token: t1.token, mechanism: 'HT-SHA-256-NONE', rotate: false });
        const t2 = await store.issue(alice, 'agent', 'HT-SHA-256-NONE');
        assert.equal((await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t1.token))).kind, 'ok', 'old token valid until the new one is used');
        assert.equal((await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t2.token))).kind, 'ok');
        assert.deepEqual(await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t1.token)), { kind: 'unknown' });
        // A third token issued replaces an unused second one (XEP-0484 §4.3).
        const t3 = await store.issue(alice, 'agent', 'HT-SHA-256-NONE');
        const t4 = await store.issue(alice, 'agent', 'HT-SHA-256-NONE');
        assert.deepEqual(await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t3.token)), { kind: 'unknown' });
        assert.equal((await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t4.token))).kind, 'ok');
      });
    });

    test('rotation is due past half the lifetime; an expired token is reported as expired', async () => {
      await withStore(async (store) => {
        const start = now;
        const t = await store.issue(alice, 'agent', 'HT-SHA-256-NONE');
        now = start + 7 * DAY - 1;
        assert.equal((await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t.token))).kind === 'ok', true);
        now = start + 7 * DAY;
        const v = await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t.token));
        assert.ok(v.kind === 'ok' && v.rotate);
        now = start + 14 * DAY;
        assert.deepEqual(await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t.token)), { kind: 'expired' });
        assert.equal(await store.purgeExpired(), 1);
        assert.deepEqual(await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t.token)), { kind: 'unknown' });
        now = start;
      });
    });

    test('counts: each must be higher than the last one seen for the token', async () => {
      await withStore(async (store) => {
        const t = await store.issue(alice, 'agent', 'HT-SHA-256-NONE');
        assert.equal((await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t.token), 2)).kind, 'ok');
        assert.deepEqual(await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t.token), 2), { kind: 'replayed' });
        assert.deepEqual(await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t.token), 1), { kind: 'replayed' });
        assert.equal((await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t.token), 3)).kind, 'ok');
        assert.equal((await store.use(alice, 'agent', 'HT-SHA-256-NONE', is(t.token))).kind, 'ok', 'no count: no replay check (no 0-RTT offered)');
      });
    });

    test('bound to mechanism, client and account; revocation per client and per account', async () => {
      await withStore(async (store, storage) => {
        const t = await store.issue(alice, 'a1', 'HT-SHA-256-ENDP');
        assert.deepEqual(await store.use(alice, 'a1', 'HT-SHA-256-NONE', is(t.token)), { kind: 'unknown' });
        assert.deepEqual(await store.use(alice, 'a2', 'HT-SHA-256-ENDP', is(t.token)), { kind: 'unknown' });
        assert.deepEqual(await store.use({ ...alice, localpart: 'bob' }, 'a1', 'HT-SHA-256-ENDP', is(t.token)), { kind: 'unknown' });
        const other = await store.issue(alice, 'a2', 'HT-SHA-256-NONE');
        await store.revokeClient(alice, 'a1');
        assert.deepEqual(await store.use(alice, 'a1', 'HT-SHA-256-ENDP', is(t.token)), { kind: 'unknown' });
        assert.equal((await store.use(alice, 'a2', 'HT-SHA-256-NONE', is(other.token))).kind, 'ok');
        assert.equal(await revokeAccountTokens(storage.db, alice), 1);
        assert.deepEqual(await store.use(alice, 'a2', 'HT-SHA-256-NONE', is(other.token)), { kind: 'unknown' });
      });
    });

    test('past max clients per account the client issued to longest ago loses its tokens', async () => {
      await withStore(async (store) => {
        const start = now;
        const tokens: string[] = [];
        for (let i = 0; i < 3; i++) {
          now = start + i;
          tokens.push((await store.issue(alice, `a${i}`, 'HT-SHA-256-NONE')).token);
        }
        now = start + 3;
        await store.issue(alice, 'a3', 'HT-SHA-256-NONE');
        assert.deepEqual(await store.use(alice, 'a0', 'HT-SHA-256-NONE', is(tokens[0]!)), { kind: 'unknown' });
        assert.equal((await store.use(alice, 'a1', 'HT-SHA-256-NONE', is(tokens[1]!))).kind, 'ok');
        now = start;
      });
    });

    test('at rest: a seed per row, never the token', async () => {
      await withStore(async (store, storage) => {
        const t = await store.issue(alice, 'agent', 'HT-SHA-256-NONE');
        const rows = await storage.db.selectFrom('fast_tokens' as never).selectAll().execute();
        assert.equal(rows.length, 1);
        assert.ok(!JSON.stringify(rows).includes(t.token));
        // Another key derives other tokens from the same rows: the database alone is not enough.
        const otherKey = new FastTokenStore(storage.db, randomBytes(32), { lifetimeMs: 14 * DAY, maxClientsPerAccount: 3, now: () => now });
        assert.deepEqual(await otherKey.use(alice, 'agent', 'HT-SHA-256-NONE', is(t.token)), { kind: 'unknown' });
      });
    });
  });
}

contract('SQLite', async () => ({ backend: 'sqlite', path: ':memory:' }));

const adminUrl = process.env.PALISADE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
if (process.env.PALISADE_TEST_SKIP_PG === '1') {
  test('FAST token store on PostgreSQL', { skip: 'PALISADE_TEST_SKIP_PG=1' }, () => {});
} else {
  const admin = new pg.Pool({ connectionString: adminUrl, max: 2 });
  const created: string[] = [];
  const prefix = `palisade_test_fast_${randomBytes(4).toString('hex')}`;
  after(async () => {
    for (const name of created) await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.end();
  });
  contract('PostgreSQL', async () => {
    const name = `${prefix}_${created.length + 1}`;
    created.push(name);
    await admin.query(`create database "${name}"`);
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    return { backend: 'postgres', url: u.toString() };
  });
}

describe('FAST token key file', () => {
  test('created once with owner-only permissions, then read back; a damaged file stops start-up', () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-fast-key-'));
    try {
      const file = join(dir, 'fast-token.key');
      const k = loadTokenKey(file);
      assert.equal(k.length, 32);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(loadTokenKey(file), k);
      writeFileSync(file, 'short\n');
      assert.throws(() => loadTokenKey(file), /does not hold a 32-byte base64 key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
