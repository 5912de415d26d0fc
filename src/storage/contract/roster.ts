// Contract: the roster store (src/modules/roster/store.ts), the last-activity
// store, and account deletion's cleanup, identical on every backend.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RosterStore, removeAccountRosterData, type ItemData } from '../../modules/roster/store.ts';
import { LastActivityStore, MAX_STATUS_CHARS } from '../../modules/last-activity/store.ts';
import { Accounts } from '../../core/accounts.ts';
import { account, withStorage, type ContractTarget } from './harness.ts';

const D = 'example.org';
const own = (localpart: string) => ({ domain: D, localpart });
const item = (jid: string, extra: Partial<ItemData> = {}): ItemData => ({ jid, name: undefined, groups: [], subscription: 'none', ask: false, approved: false, ...extra });

export function rosterContract(target: ContractTarget): void {
  test('roster items round-trip every field; each change gets a higher version', () =>
    withStorage(target, async (s) => {
      const store = new RosterStore(s.db);
      assert.deepEqual(await store.load(own('alice')), { items: [], pending: [], version: 0, floor: 0 });
      const first = await store.putItem(own('alice'), item('bob@example.org', { name: 'Bob ✓', groups: ['Friends', 'Zürich'], subscription: 'both' }));
      const a = first.item;
      const b = (await store.putItem(own('alice'), item('carol@example.net', { ask: true, approved: true, subscription: 'from' }))).item;
      const c = (await store.putItem(own('alice'), item('bob@example.org', { name: undefined, groups: [], subscription: 'to' }))).item;
      assert.ok(a.version > 0 && a.version < b.version && b.version < c.version);
      assert.equal(first.floor, a.version - 1, 'the first change starts the history');
      assert.ok(Number.isSafeInteger(c.version));
      const r = await store.load(own('alice'));
      assert.equal(r.version, c.version);
      assert.equal(r.floor, first.floor);
      assert.deepEqual(r.items, [
        { jid: 'bob@example.org', name: undefined, groups: [], subscription: 'to', ask: false, approved: false, version: c.version },
        { jid: 'carol@example.net', name: undefined, groups: [], subscription: 'from', ask: true, approved: true, version: b.version },
      ]);
      assert.deepEqual(await store.getItem(own('alice'), 'carol@example.net'), r.items[1]);
      assert.equal(await store.getItem(own('alice'), 'nobody@example.org'), undefined);
      assert.deepEqual((await store.load(own('bob'))).items, [], 'rosters are per account');
    }));

  test('removing leaves a tombstone with a new version; adding again clears it', () =>
    withStorage(target, async (s) => {
      const store = new RosterStore(s.db);
      const { item: added, floor } = await store.putItem(own('alice'), item('bob@example.org'));
      await store.setPending(own('alice'), { from: 'bob@example.org', stanza: '<presence/>', createdAt: new Date() });
      const result = await store.removeItem(own('alice'), 'bob@example.org');
      assert.ok(result !== undefined && result.version > added.version);
      assert.equal(result.floor, floor);
      const removed = result.version;
      assert.equal(await store.removeItem(own('alice'), 'bob@example.org'), undefined);
      const r = await store.load(own('alice'));
      assert.deepEqual(r.items, []);
      assert.deepEqual(r.pending, [], 'a pending request from a removed contact goes too');
      assert.equal(r.version, removed);
      assert.deepEqual(await store.tombstonesSince(own('alice'), added.version), [{ jid: 'bob@example.org', version: removed }]);
      assert.deepEqual(await store.tombstonesSince(own('alice'), removed), []);
      await store.putItem(own('alice'), item('bob@example.org'));
      assert.deepEqual(await store.tombstonesSince(own('alice'), 0), []);
    }));

  test('pending requests are kept per requester, replaced, listed oldest first and deleted', () =>
    withStorage(target, async (s) => {
      const store = new RosterStore(s.db);
      const t1 = new Date('2024-01-02T03:04:05.678Z');
      const t2 = new Date('2024-01-02T03:04:06.000Z');
      await store.setPending(own('alice'), { from: 'zed@example.org', stanza: '<presence type="subscribe"/>', createdAt: t1 });
      await store.setPending(own('alice'), { from: 'bob@example.org', stanza: '<presence type="subscribe"><status>hi</status></presence>', createdAt: t2 });
      await store.setPending(own('alice'), { from: 'zed@example.org', stanza: '<presence type="subscribe"><status>again</status></presence>', createdAt: t1 });
      const r = await store.load(own('alice'));
      assert.deepEqual(r.pending, [
        { from: 'zed@example.org', stanza: '<presence type="subscribe"><status>again</status></presence>', createdAt: t1 },
        { from: 'bob@example.org', stanza: '<presence type="subscribe"><status>hi</status></presence>', createdAt: t2 },
      ]);
      assert.equal(r.version, 0, 'pending requests are not roster changes');
      assert.equal(await store.deletePending(own('alice'), 'zed@example.org'), true);
      assert.equal(await store.deletePending(own('alice'), 'zed@example.org'), false);
      assert.deepEqual((await store.load(own('alice'))).pending.map((p) => p.from), ['bob@example.org']);
    }));

  test('putMany writes a large roster in one go, each item with its own version', () =>
    withStorage(target, async (s) => {
      const store = new RosterStore(s.db);
      const n = 1200;
      await store.putMany(own('big'), Array.from({ length: n }, (_, i) => item(`u${String(i).padStart(4, '0')}@example.org`, { subscription: 'from' })));
      const r = await store.load(own('big'));
      assert.equal(r.items.length, n);
      assert.equal(new Set(r.items.map((i) => i.version)).size, n);
      assert.equal(Math.max(...r.items.map((i) => i.version)), r.version);
      await store.putMany(own('big'), [item('u0000@example.org', { subscription: 'both', name: 'Zero' })]);
      const again = await store.getItem(own('big'), 'u0000@example.org');
      assert.equal(again?.subscription, 'both');
      assert.equal(again?.name, 'Zero');
      assert.equal(again?.version, (await store.load(own('big'))).version);
    }));

  test('deleting an account removes its roster data and every item and request pointing at it', () =>
    withStorage(target, async (s) => {
      const store = new RosterStore(s.db);
      for (const u of ['alice', 'bob', 'carol', 'dave']) await s.accounts.create(account(D, u));
      await store.putItem(own('alice'), item('bob@example.org', { subscription: 'both' }));
      await store.putItem(own('alice'), item('carol@example.org'));
      await store.setPending(own('alice'), { from: 'carol@example.org', stanza: '<presence/>', createdAt: new Date() });
      const bobBefore = (await store.putItem(own('bob'), item('alice@example.org', { subscription: 'both' }))).item;
      await store.putItem(own('carol'), item('alice@example.org', { ask: true }));
      await store.setPending(own('dave'), { from: 'alice@example.org', stanza: '<presence/>', createdAt: new Date() });
      await store.setPending(own('dave'), { from: 'bob@example.org', stanza: '<presence/>', createdAt: new Date() });
      await store.putItem({ domain: 'other.example', localpart: 'alice' }, item('bob@example.org'));

      const accounts = new Accounts(s, { domain: D, hashes: ['SHA-256'], iterations: 4096 });
      await accounts.remove('alice');
      assert.equal(await s.accounts.get(D, 'alice'), undefined);
      assert.deepEqual(await store.load(own('alice')), { items: [], pending: [], version: 0, floor: 0 });
      const bob = await store.load(own('bob'));
      assert.deepEqual(bob.items, []);
      assert.ok(bob.version > bobBefore.version, "bob's roster has a new version");
      assert.deepEqual(await store.tombstonesSince(own('bob'), bobBefore.version), [{ jid: 'alice@example.org', version: bob.version }]);
      assert.deepEqual((await store.load(own('carol'))).items, []);
      assert.deepEqual((await store.load(own('dave'))).pending.map((p) => p.from), ['bob@example.org']);
      assert.equal((await store.load({ domain: 'other.example', localpart: 'alice' })).items.length, 1, 'another domain is untouched');
      await assert.rejects(accounts.remove('alice'), /No account alice@example\.org/);

      // Re-created, the account starts with nothing.
      await s.accounts.create(account(D, 'alice'));
      assert.equal((await store.load(own('alice'))).version, 0);
      await removeAccountRosterData(s.db, own('nobody')); // nothing to do is fine
    }));

  test('last activity is stored per account, replaced, and removed with the account', () =>
    withStorage(target, async (s) => {
      const la = new LastActivityStore(s.db);
      const t = new Date('2024-05-06T07:08:09.123Z');
      assert.equal(await la.get(own('alice')), undefined);
      await la.set(own('alice'), { seenAt: t, status: 'Heading home' });
      assert.deepEqual(await la.get(own('alice')), { seenAt: t, status: 'Heading home' });
      const later = new Date(t.getTime() + 1000);
      await la.set(own('alice'), { seenAt: later, status: undefined });
      assert.deepEqual(await la.get(own('alice')), { seenAt: later, status: undefined });
      await la.set(own('bob'), { seenAt: t, status: 'x'.repeat(MAX_STATUS_CHARS + 10) });
      assert.equal((await la.get(own('bob')))?.status?.length, MAX_STATUS_CHARS);
      await la.setMany([
        { ...own('alice'), seenAt: t, status: 'bye' },
        { ...own('carol'), seenAt: later, status: undefined },
      ]);
      assert.deepEqual(await la.get(own('alice')), { seenAt: t, status: 'bye' });
      assert.deepEqual(await la.get(own('carol')), { seenAt: later, status: undefined });
      await s.accounts.create(account(D, 'alice'));
      await new Accounts(s, { domain: D, hashes: ['SHA-256'], iterations: 4096 }).remove('alice');
      assert.equal(await la.get(own('alice')), undefined);
      assert.ok(await la.get(own('carol')));
    }));
}
