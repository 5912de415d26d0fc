// Contract: the blocking module's store (block lists, XEP-0191), migration 0005.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Kysely } from 'kysely';
import { BlockingStore, type BlockingTables } from '../../modules/blocking/store.ts';
import { openStorage } from '../index.ts';
import type { Storage } from '../types.ts';
import { account, withStorage, type ContractTarget } from './harness.ts';

const D = 'example.org';
const storeOf = (s: Storage) => new BlockingStore(s.db as unknown as Kysely<BlockingTables>);

export function blockingContract(target: ContractTarget): void {
  const needsReopen = { skip: target.reopenable ? false : 'an in-memory database cannot be reopened' };

  test('a new account blocks nobody; add, list (code point order), repeat adds are no-ops', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account(D, 'alice'));
      await s.accounts.create(account(D, 'bob'));
      const store = storeOf(s);
      assert.deepEqual(await store.list(D, 'alice'), []);
      // Every XEP-0191 item form; 'é' (U+00E9) sorts after 'z' in code point order.
      const jids = ['romeo@montague.net/orchard', 'iago@shakespeare.lit', 'capulet.com/balcony', 'evil.example', 'élodie@example.org', 'zed@example.org'];
      await store.add(D, 'alice', jids);
      await store.add(D, 'alice', ['iago@shakespeare.lit', 'zed@example.org']);
      assert.deepEqual(await store.list(D, 'alice'), [
        'capulet.com/balcony',
        'evil.example',
        'iago@shakespeare.lit',
        'romeo@montague.net/orchard',
        'zed@example.org',
        'élodie@example.org',
      ]);
      assert.deepEqual(await store.list(D, 'bob'), [], 'lists are per account');
      assert.deepEqual(await store.list('example.com', 'alice'), [], 'and per domain');
    }));

  test('remove returns how many were there; clear empties one account only', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account(D, 'alice'));
      await s.accounts.create(account(D, 'bob'));
      const store = storeOf(s);
      await store.add(D, 'alice', ['a@x.test', 'b@x.test', 'c@x.test']);
      await store.add(D, 'bob', ['a@x.test']);
      assert.equal(await store.remove(D, 'alice', ['a@x.test', 'nobody@x.test']), 1);
      assert.deepEqual(await store.list(D, 'alice'), ['b@x.test', 'c@x.test']);
      assert.equal(await store.remove(D, 'alice', []), 0);
      assert.equal(await store.clear(D, 'alice'), 2);
      assert.deepEqual(await store.list(D, 'alice'), []);
      assert.deepEqual(await store.list(D, 'bob'), ['a@x.test']);
    }));

  test('a list of thousands is written in one transaction and read back whole', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account(D, 'alice'));
      const store = storeOf(s);
      const many = Array.from({ length: 2500 }, (_, i) => `u${String(i).padStart(5, '0')}@spam.test`);
      await store.add(D, 'alice', many);
      assert.deepEqual(await store.list(D, 'alice'), many);
      assert.equal(await store.remove(D, 'alice', many.slice(0, 1200)), 1200);
      assert.equal((await store.list(D, 'alice')).length, 1300);
    }));

  test('rows need their account, and go when the account is removed', () =>
    withStorage(target, async (s) => {
      const store = storeOf(s);
      await assert.rejects(store.add(D, 'ghost', ['a@x.test']), /foreign key|violates/i);
      await s.accounts.create(account(D, 'alice'));
      await store.add(D, 'alice', ['a@x.test']);
      assert.equal(await s.accounts.remove(D, 'alice'), true);
      assert.deepEqual(await store.list(D, 'alice'), []);
      await s.accounts.create(account(D, 'alice'));
      assert.deepEqual(await store.list(D, 'alice'), [], 'a new account of the same name starts empty');
    }));

  test('block lists survive closing and reopening the database', needsReopen, async () => {
    const cfg = await target.newDatabase();
    const first = await openStorage(cfg);
    try {
      await first.accounts.create(account(D, 'alice'));
      await storeOf(first).add(D, 'alice', ['bob@example.org']);
    } finally {
      await first.close();
    }
    const again = await openStorage(cfg);
    try {
      assert.deepEqual(await storeOf(again).list(D, 'alice'), ['bob@example.org']);
    } finally {
      await again.close();
    }
  });
}
