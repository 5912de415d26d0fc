// Contract: the message archive store (src/modules/mam/store.ts), migration
// 0012-mam: archive order, filters, paging both ways, retention and
// preferences, identical on every backend.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Kysely } from 'kysely';
import { purgeExpired } from '../../modules/mam/retention.ts';
import { ArchiveStore, UnknownArchiveIdError, type ArchiveFilter, type ArchivePaging, type MamTables, type NewArchived } from '../../modules/mam/store.ts';
import type { Storage } from '../types.ts';
import { account, withStorage, type ContractTarget } from './harness.ts';

const D = 'example.org';
// Inserts go through Storage.runWrite, as the mam module's do (on an SQLite file: the writer thread).
const storeOf = (s: Storage) => new ArchiveStore(s.db as unknown as Kysely<MamTables>, 'mam_messages', (q) => s.runWrite(q));
const own = (localpart: string, domain = D) => ({ domain, localpart });
const T0 = Date.parse('2024-03-01T12:00:00.000Z');
const msg = (i: number) => `<message xmlns="jabber:client" id="m${i}"><body>é ${i}</body></message>`;

/** Message i of alice's archive: stanza id s<i>, a minute apart, peers bob (even) and carol (odd), bob's resources alternating. */
function row(i: number, extra: Partial<NewArchived> = {}): NewArchived {
  return {
    owner: own('alice'),
    stanzaId: `s${i}`,
    peer: i % 2 === 0 ? `bob@${D}` : `carol@${D}`,
    peerResource: i % 4 === 0 ? 'phone' : '',
    direction: i % 3 === 0 ? 'in' : 'out',
    storedAt: new Date(T0 + i * 60_000),
    xml: msg(i),
    ...extra,
  };
}

async function seeded(s: Storage, n = 10): Promise<ArchiveStore> {
  await s.accounts.create(account(D, 'alice'));
  await s.accounts.create(account(D, 'bob'));
  const store = storeOf(s);
  for (let i = 1; i <= n; i++) await store.add([row(i)]);
  return store;
}

const ids = async (store: ArchiveStore, filter: ArchiveFilter, paging: ArchivePaging) => {
  const page = await store.query(own('alice'), filter, paging);
  return { ids: page.items.map((m) => m.stanzaId), complete: page.complete, count: page.count };
};
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `s${from + i}`);

export function mamContract(target: ContractTarget): void {
  test('mam: forward paging returns every message once, in archive order, with time and XML; complete only on the last page', () =>
    withStorage(target, async (s) => {
      const store = await seeded(s);
      assert.deepEqual(await ids(store, {}, { max: 4 }), { ids: range(1, 4), complete: false, count: 10 });
      assert.deepEqual(await ids(store, {}, { max: 4, after: 's4' }), { ids: range(5, 8), complete: false, count: 10 });
      assert.deepEqual(await ids(store, {}, { max: 4, after: 's8' }), { ids: range(9, 10), complete: true, count: 10 });
      assert.deepEqual(await ids(store, {}, { max: 5, after: 's5' }), { ids: range(6, 10), complete: true, count: 10 }, 'exactly the rest is complete');
      assert.deepEqual(await ids(store, {}, { max: 4, after: 's10' }), { ids: [], complete: true, count: 10 });
      const page = await store.query(own('alice'), {}, { max: 1 });
      assert.deepEqual(page.items[0], { stanzaId: 's1', storedAt: new Date(T0 + 60_000), xml: msg(1) });
    }));

  test('mam: backward paging with <before/>: the last page, then earlier ones, each in archive order', () =>
    withStorage(target, async (s) => {
      const store = await seeded(s);
      assert.deepEqual(await ids(store, {}, { max: 4, before: '' }), { ids: range(7, 10), complete: false, count: 10 });
      assert.deepEqual(await ids(store, {}, { max: 4, before: 's7' }), { ids: range(3, 6), complete: false, count: 10 });
      assert.deepEqual(await ids(store, {}, { max: 4, before: 's3' }), { ids: range(1, 2), complete: true, count: 10 });
      assert.deepEqual(await ids(store, {}, { max: 20, before: '' }), { ids: range(1, 10), complete: true, count: 10 });
    }));

  test("mam: filters: 'with' a bare JID (any resource) or a full one, start and end inclusive, after-id/before-id exclusive, ids", () =>
    withStorage(target, async (s) => {
      const store = await seeded(s);
      const all = { max: 100 };
      assert.deepEqual((await ids(store, { with: { bare: `bob@${D}`, resource: '' } }, all)).ids, ['s2', 's4', 's6', 's8', 's10']);
      assert.deepEqual((await ids(store, { with: { bare: `bob@${D}`, resource: 'phone' } }, all)).ids, ['s4', 's8']);
      assert.deepEqual((await ids(store, { with: { bare: `dave@${D}`, resource: '' } }, all)).count, 0);
      const at = (i: number) => new Date(T0 + i * 60_000);
      assert.deepEqual((await ids(store, { start: at(3), end: at(6) }, all)).ids, range(3, 6));
      assert.deepEqual((await ids(store, { start: new Date(at(3).getTime() + 1) }, all)).ids, range(4, 10));
      assert.deepEqual((await ids(store, { afterId: 's2', beforeId: 's6' }, all)).ids, range(3, 5));
      assert.deepEqual(await ids(store, { afterId: 's2', beforeId: 's9' }, { max: 2, after: 's4' }), { ids: ['s5', 's6'], complete: false, count: 6 }, 'the count is of the filter, the page within it');
      assert.deepEqual((await ids(store, { ids: ['s7', 's2', 's7'] }, all)).ids, ['s2', 's7'], 'in archive order, once each');
      assert.deepEqual(await ids(store, { with: { bare: `bob@${D}`, resource: '' }, start: at(5) }, { max: 2, before: '' }), { ids: ['s8', 's10'], complete: false, count: 3 });
      assert.deepEqual(await ids(store, {}, { max: 0 }), { ids: [], complete: false, count: 10 }, 'max 0: only the count');
    }));

  test("mam: an id that is not in this account's archive is refused, wherever it appears", () =>
    withStorage(target, async (s) => {
      const store = await seeded(s, 3);
      await s.accounts.create(account(D, 'zed'));
      await store.add([row(99, { owner: own('zed'), stanzaId: 'zed-1' })]);
      const refused = (filter: ArchiveFilter, paging: ArchivePaging, id: string) =>
        assert.rejects(store.query(own('alice'), filter, paging), (err: unknown) => err instanceof UnknownArchiveIdError && err.stanzaId === id);
      await refused({}, { max: 5, after: 'nope' }, 'nope');
      await refused({}, { max: 5, before: 'zed-1' }, 'zed-1');
      await refused({ afterId: 'zed-1' }, { max: 5 }, 'zed-1');
      await refused({ beforeId: 'x' }, { max: 5 }, 'x');
      await refused({ ids: ['s1', 'gone'] }, { max: 5 }, 'gone');
      assert.deepEqual((await store.query(own('zed'), {}, { max: 5 })).items.map((m) => m.stanzaId), ['zed-1']);
    }));

  test('mam: archives are per account and domain; ids are unique per archive; the direction is checked', () =>
    withStorage(target, async (s) => {
      const store = await seeded(s, 2);
      await s.accounts.create(account('example.com', 'alice'));
      await store.add([row(1, { owner: own('alice', 'example.com') }), row(2, { owner: own('bob') })]);
      assert.equal((await store.query(own('alice', 'example.com'), {}, { max: 5 })).count, 1);
      assert.equal((await store.query(own('bob'), {}, { max: 5 })).count, 1);
      assert.equal((await store.query(own('alice'), {}, { max: 5 })).count, 2);
      await assert.rejects(store.add([row(1)]), 'the same id twice in one archive');
      await assert.rejects(store.add([row(3, { direction: 'sideways' as 'in' })]));
      await assert.rejects(store.add([row(3, { owner: own('ghost') })]), 'no archive without an account');
      // Two copies written together: both or neither.
      await assert.rejects(store.add([row(5), row(6, { owner: own('ghost') })]));
      assert.equal((await store.query(own('alice'), {}, { max: 5 })).count, 2);
    }));

  test('mam: bounds are the first and last message; an empty archive has none', () =>
    withStorage(target, async (s) => {
      const store = await seeded(s, 3);
      assert.deepEqual(await store.bounds(own('alice')), {
        first: { stanzaId: 's1', storedAt: new Date(T0 + 60_000) },
        last: { stanzaId: 's3', storedAt: new Date(T0 + 180_000) },
      });
      assert.equal(await store.bounds(own('bob')), undefined);
    }));

  test('mam: retention deletes what is older than the cutoff, a batch at a time, across accounts', () =>
    withStorage(target, async (s) => {
      const store = await seeded(s, 10);
      for (let i = 1; i <= 4; i++) await store.add([row(i, { owner: own('bob'), stanzaId: `b${i}` })]);
      const cutoff = new Date(T0 + 6 * 60_000); // before s6: s1..s5 and b1..b4 expire
      assert.equal(await store.purgeBatch(cutoff, 3), 3, 'bounded');
      assert.equal(await purgeExpired(store, cutoff, { batch: 2 }), 6);
      assert.equal(await purgeExpired(store, cutoff), 0);
      assert.deepEqual((await ids(store, {}, { max: 100 })).ids, range(6, 10));
      assert.equal((await store.query(own('bob'), {}, { max: 100 })).count, 0);
      let asked = 0;
      assert.equal(await purgeExpired(store, new Date(T0 + 11 * 60_000), { batch: 2, stopped: () => ++asked > 0 }), 2, 'stops between batches when told');
    }));

  test('mam: preferences round-trip and are replaced whole; removing an account removes its archive and preferences', () =>
    withStorage(target, async (s) => {
      const store = await seeded(s, 3);
      assert.equal(await store.getPrefs(own('alice')), undefined);
      await store.setPrefs(own('alice'), { default: 'roster', always: [`bob@${D}`, `carol@${D}/desk`], never: ['spam.example'] });
      assert.deepEqual(await store.getPrefs(own('alice')), { default: 'roster', always: [`bob@${D}`, `carol@${D}/desk`], never: ['spam.example'] });
      await store.setPrefs(own('alice'), { default: 'never', always: [], never: [] });
      assert.deepEqual(await store.getPrefs(own('alice')), { default: 'never', always: [], never: [] });
      await assert.rejects(store.setPrefs(own('alice'), { default: 'sometimes' as 'never', always: [], never: [] }));
      await store.setPrefs(own('bob'), { default: 'always', always: [], never: [] });

      assert.ok(await s.accounts.remove(D, 'alice'));
      assert.equal(await store.getPrefs(own('alice')), undefined);
      assert.equal((await store.query(own('alice'), {}, { max: 5 })).count, 0);
      assert.deepEqual(await store.getPrefs(own('bob')), { default: 'always', always: [], never: [] });
    }));
}
