// The compliance archive, legal holds and the retention job on the real
// databases (migration 0019): SQLite always, PostgreSQL unless
// PALISADE_TEST_SKIP_PG=1 (unreachable PostgreSQL is a failure, as in the
// storage contract). Copies expire at their own time whatever the archive's
// retention; a legal hold keeps both kinds of copies of its account and
// nobody else's; removing an account leaves
// its compliance copies.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { openStorage } from '../../storage/index.ts';
import type { StorageConfig } from '../../storage/types.ts';
import { ComplianceStore, type ComplianceTables, type NewComplianceCopy } from './compliance.ts';
import { HoldStore, type HoldTables } from './holds.ts';
import { runRetention } from './retention.ts';
import { ArchiveStore, type MamTables, type NewArchived } from './store.ts';

const DAY = 86_400_000;
const D = 'example.org';
const T0 = new Date('2026-01-01T00:00:00Z');
const day = (n: number) => new Date(T0.getTime() + n * DAY);
const owner = (localpart: string) => ({ domain: D, localpart });

function userCopy(localpart: string, id: string, storedAt: Date): NewArchived {
  return { owner: owner(localpart), stanzaId: id, peer: `peer@${D}`, peerResource: '', direction: 'out', storedAt, xml: `<message xmlns='jabber:client' id='${id}'/>` };
}

function complianceCopy(localpart: string, id: string, storedAt: Date, retentionDays: number, userStanzaId?: string): NewComplianceCopy {
  return { ...userCopy(localpart, id, storedAt), userStanzaId, expiresAt: new Date(storedAt.getTime() + retentionDays * DAY) };
}

function suite(name: string, newDatabase: () => Promise<StorageConfig>): void {
  describe(`compliance archive and legal hold (${name})`, () => {
    const open = async () => {
      const storage = await openStorage(await newDatabase());
      for (const localpart of ['ann', 'bob', 'cat']) {
        await storage.accounts.create({ domain: D, localpart, disabled: false, isAdmin: false, credentials: [] });
      }
      const db = storage.db as unknown;
      return {
        storage,
        accounts: new ArchiveStore(db as Kysely<MamTables>),
        rooms: new ArchiveStore(db as Kysely<MamTables>, 'muc_mam_messages'),
        compliance: new ComplianceStore(db as Kysely<ComplianceTables>),
        holds: new HoldStore(db as Kysely<HoldTables>),
      };
    };
    const ids = async (s: Awaited<ReturnType<typeof open>>, localpart: string) => (await s.compliance.page(owner(localpart), {}, 0, 100)).map((c) => c.stanzaId);
    const userIds = async (s: Awaited<ReturnType<typeof open>>, localpart: string) =>
      (await s.accounts.query(owner(localpart), {}, { max: 100 })).items.map((i) => i.stanzaId);

    test('copies read back with their metadata, in order, by range; count agrees', async () => {
      const s = await open();
      try {
        await s.compliance.add([complianceCopy('ann', 'c1', day(0), 10, 'u1'), complianceCopy('ann', 'c2', day(1), 10), complianceCopy('bob', 'c3', day(1), 10)]);
        const all = await s.compliance.page(owner('ann'), {}, 0, 100);
        assert.deepEqual(
          all.map((c) => [c.stanzaId, c.userStanzaId, c.storedAt.toISOString(), c.expiresAt.toISOString(), c.direction, c.peer]),
          [
            ['c1', 'u1', day(0).toISOString(), day(10).toISOString(), 'out', `peer@${D}`],
            ['c2', undefined, day(1).toISOString(), day(11).toISOString(), 'out', `peer@${D}`],
          ],
        );
        assert.deepEqual((await s.compliance.page(owner('ann'), { since: day(1) }, 0, 100)).map((c) => c.stanzaId), ['c2']);
        assert.deepEqual((await s.compliance.page(owner('ann'), { until: day(0) }, 0, 100)).map((c) => c.stanzaId), ['c1']);
        assert.deepEqual((await s.compliance.page(owner('ann'), {}, all[0]!.id, 100)).map((c) => c.stanzaId), ['c2'], 'keyset paging');
        assert.equal(await s.compliance.count(owner('ann'), {}), 2);
        assert.equal(await s.compliance.count(owner('ann'), { since: day(1), until: day(1) }), 1);
        assert.equal(await s.compliance.has(owner('cat')), false);
      } finally {
        await s.storage.close();
      }
    });

    test("retention: compliance copies expire at their own time, not at the archive's cutoff; the archive's copies at the cutoff", async () => {
      const s = await open();
      try {
        await s.accounts.add([userCopy('ann', 'u-old', day(0)), userCopy('ann', 'u-new', day(25))]);
        await s.compliance.add([complianceCopy('ann', 'c-long', day(0), 3650), complianceCopy('ann', 'c-short', day(0), 5)]);
        // At day 30 with a 7-day archive retention: u-old (day 0) goes, u-new (day 25) stays; c-short expired on day 5, c-long lives ten years.
        const r = await runRetention(s, day(30), 7);
        assert.deepEqual([r.archived, r.compliance], [1, 1]);
        assert.deepEqual(await userIds(s, 'ann'), ['u-new']);
        assert.deepEqual(await ids(s, 'ann'), ['c-long']);
        assert.equal((await runRetention(s, day(3649), 1)).compliance, 0, 'not a day early');
        assert.equal((await runRetention(s, day(3651), 1)).compliance, 1);
      } finally {
        await s.storage.close();
      }
    });

    test("a legal hold keeps the held account's copies of both kinds, only its own; released, the next run deletes them", async () => {
      const s = await open();
      try {
        await s.accounts.add([userCopy('ann', 'ua', day(0)), userCopy('bob', 'ub', day(0))]);
        await s.compliance.add([complianceCopy('ann', 'ca', day(0), 1), complianceCopy('bob', 'cb', day(0), 1)]);
        assert.equal(await s.holds.place({ ...owner('ann'), reason: 'case 42', placedBy: 'cli:test', placedAt: day(1) }), true);
        assert.equal(await s.holds.place({ ...owner('ann'), reason: 'again', placedBy: 'cli:test', placedAt: day(2) }), false, 'the first hold stands');
        assert.deepEqual(await s.holds.list(D), [{ ...owner('ann'), reason: 'case 42', placedBy: 'cli:test', placedAt: day(1) }]);

        const r = await runRetention(s, day(400), 30);
        assert.deepEqual([r.archived, r.compliance], [1, 1], "bob's copies");
        assert.deepEqual(await userIds(s, 'ann'), ['ua']);
        assert.deepEqual(await ids(s, 'ann'), ['ca']);
        assert.deepEqual([await userIds(s, 'bob'), await ids(s, 'bob')], [[], []]);

        assert.equal((await s.holds.release(owner('ann')))?.reason, 'case 42');
        assert.equal(await s.holds.release(owner('ann')), undefined);
        const again = await runRetention(s, day(400), 30);
        assert.deepEqual([again.archived, again.compliance], [1, 1]);
        assert.deepEqual([await userIds(s, 'ann'), await ids(s, 'ann')], [[], []]);
      } finally {
        await s.storage.close();
      }
    });

    test('held rows do not stall the purge: more expired held rows than a batch, and the others still go', async () => {
      const s = await open();
      try {
        await s.holds.place({ ...owner('ann'), reason: '', placedBy: 'cli:test', placedAt: day(0) });
        await s.compliance.add(Array.from({ length: 30 }, (_, i) => complianceCopy('ann', `a${i}`, day(0), 1)));
        await s.compliance.add(Array.from({ length: 30 }, (_, i) => complianceCopy('bob', `b${i}`, day(0), 1)));
        const r = await runRetention(s, day(10), 30, { batch: 7 });
        assert.equal(r.compliance, 30);
        assert.equal((await ids(s, 'ann')).length, 30);
      } finally {
        await s.storage.close();
      }
    });

    test("removing an account removes its own archive (and its hold stays a row of its own), not the organisation's copies", async () => {
      const s = await open();
      try {
        await s.accounts.add([userCopy('cat', 'uc', day(0))]);
        await s.compliance.add([complianceCopy('cat', 'cc', day(0), 100)]);
        assert.equal(await s.storage.accounts.remove(D, 'cat'), true);
        assert.deepEqual(await userIds(s, 'cat'), []);
        assert.deepEqual(await ids(s, 'cat'), ['cc']);
      } finally {
        await s.storage.close();
      }
    });
  });
}

suite('sqlite', async () => ({ backend: 'sqlite', path: ':memory:' }));

const adminUrl = process.env.PALISADE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
if (process.env.PALISADE_TEST_SKIP_PG === '1') {
  test('compliance archive on PostgreSQL', { skip: 'PALISADE_TEST_SKIP_PG=1' }, () => {});
} else {
  const admin = new pg.Pool({ connectionString: adminUrl, max: 2, connectionTimeoutMillis: 5000 });
  admin.on('error', () => {});
  const prefix = `palisade_test_compliance_${randomBytes(4).toString('hex')}`;
  const created: string[] = [];
  after(async () => {
    for (const name of created) await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.end();
  });
  suite('postgres', async () => {
    const name = `${prefix}_${created.length + 1}`;
    await admin.query(`create database "${name}"`);
    created.push(name);
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    return { backend: 'postgres', url: u.toString(), poolSize: 4 };
  });
}
