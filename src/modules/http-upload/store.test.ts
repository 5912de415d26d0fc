// The upload store on both backends (migration 0016): a PUT token is spent
// once, only 'available' unexpired files are served, the quota sums a day's
// slots per account, and the purge takes expired files and stale slots only.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { openStorage } from '../../storage/index.ts';
import type { StorageConfig } from '../../storage/types.ts';
import { newBlobName, UploadStore, type UploadTables } from './store.ts';

const adminUrl = process.env.PALISADE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const pgDatabase = `palisade_test_upload_${randomBytes(6).toString('hex')}`;
let admin: pg.Pool | undefined;

after(async () => {
  await admin?.query(`drop database if exists "${pgDatabase}" with (force)`);
  await admin?.end();
});

/** One database for the file: the second test opens it again, already migrated. */
async function postgres(): Promise<StorageConfig> {
  if (!admin) {
    admin = new pg.Pool({ connectionString: adminUrl, max: 1 });
    await admin.query(`create database "${pgDatabase}"`);
  }
  const u = new URL(adminUrl);
  u.pathname = `/${pgDatabase}`;
  return { backend: 'postgres', url: u.toString(), poolSize: 2 };
}

const HOUR = 60 * 60 * 1000;
const TTL = 5 * 60 * 1000;

const backends: [string, () => Promise<StorageConfig>, boolean][] = [
  ['sqlite', async () => ({ backend: 'sqlite', path: ':memory:' }), false],
  ['postgres', postgres, process.env.PALISADE_TEST_SKIP_PG === '1'],
];

for (const [name, config, skip] of backends) {
  describe(`upload store on ${name}`, { skip }, () => {
    test('slots, single-use tokens, serving, quota and purge', async () => {
      const storage = await openStorage(await config());
      try {
        const store = new UploadStore(storage.db as unknown as Kysely<UploadTables>);
        const now = 1_800_000_000_000;
        const slot = (n: number, owner: string, createdAt: number, expiresAt = createdAt + 30 * 24 * HOUR) => ({
          getToken: `get${n}`,
          putToken: `put${n}`,
          owner,
          filename: `f${n}`,
          size: 1000 * n,
          contentType: null,
          blob: `blob${n}`,
          createdAt,
          expiresAt,
        });
        await store.create(slot(1, 'a@x', now));
        await store.create(slot(2, 'a@x', now - 25 * HOUR));
        await store.create(slot(3, 'b@x', now - HOUR));
        await store.create(slot(4, 'a@x', now - 40 * 24 * HOUR, now - HOUR));
        assert.equal(await store.bytesSince('a@x', now - 24 * HOUR), 1000);
        assert.equal(await store.bytesSince('c@x', now - 24 * HOUR), 0);

        assert.equal((await store.claim('put1', now, TTL))?.size, 1000);
        assert.equal(await store.claim('put1', now, TTL), undefined, 'spent');
        assert.equal(await store.claim('put3', now, TTL), undefined, 'older than the slot lifetime');
        assert.equal(await store.claim('nope', now, TTL), undefined);
        assert.equal(await store.available('get1', now), undefined, 'not before the scan');
        await store.finish('get1', 'available', { detectedType: 'image/png', secrets: { wrappedKey: 'w', iv: 'i' }, tag: 't' });
        const served = await store.available('get1', now);
        assert.deepEqual([served?.detectedType, served?.secrets, served?.tag], ['image/png', { wrappedKey: 'w', iv: 'i' }, 't']);

        // Expired (4) and never used past the slot lifetime (2, 3) go; the served file stays.
        assert.deepEqual((await store.purge(now, TTL, 1000)).sort(), ['blob2', 'blob3', 'blob4']);
        assert.deepEqual(await store.purge(now, TTL, 1000), []);
        assert.ok(await store.available('get1', now));
        assert.equal(await store.available('get1', now + 31 * 24 * HOUR), undefined, 'expired');
      } finally {
        await storage.close();
      }
    });

    test('download permissions, quarantine release and removal (migration 0017)', async () => {
      const storage = await openStorage(await config());
      try {
        const store = new UploadStore(storage.db as unknown as Kysely<UploadTables>);
        const now = 1_800_000_000_000;
        for (const n of [1, 2]) {
          await store.create({ getToken: `g${n}`, putToken: `p${n}`, owner: 'a@x', filename: `f${n}`, size: 10, contentType: null, blob: `b${n}`, createdAt: now + n, expiresAt: now + HOUR });
        }
        assert.equal(await store.isAllowed('g1', 'b@x'), false);
        await store.allow('g1', 'b@x');
        await store.allow('g1', 'b@x');
        assert.equal(await store.isAllowed('g1', 'b@x'), true);
        assert.equal(await store.isAllowed('g2', 'b@x'), false, 'per file');
        assert.equal(await store.isAllowed('g1', 'B@x'), false, 'exact bare JIDs');

        await store.finish('g1', 'quarantined', { threat: 'Eicar-Test-Signature' });
        await store.finish('g2', 'quarantined', { threat: 'Other' });
        assert.deepEqual((await store.quarantined(10)).map((u) => [u.blob, u.threat]), [['b1', 'Eicar-Test-Signature'], ['b2', 'Other']]);
        assert.equal(await store.release('b1'), true);
        assert.equal(await store.release('b1'), false, 'no longer quarantined');
        assert.equal((await store.byBlob('b1'))?.status, 'available');
        assert.equal(await store.remove('b2'), true);
        assert.equal(await store.remove('b2'), false);
        assert.deepEqual(await store.quarantined(10), []);

        // The purge takes a file's permissions with it.
        assert.deepEqual(await store.purge(now + 2 * HOUR, TTL, 10), ['b1']);
        assert.equal(await store.isAllowed('g1', 'b@x'), false);
      } finally {
        await storage.close();
      }
    });
  });
}

test('blob names are 144 random bits in base64url, never starting with "-" (a command line would take it for an option)', () => {
  const names = Array.from({ length: 10_000 }, newBlobName);
  for (const name of names) assert.match(name, /^[A-Za-z0-9_][A-Za-z0-9_-]{23}$/);
  assert.equal(new Set(names).size, names.length);
});
