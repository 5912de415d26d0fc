// Contract: the stores of the offline (XEP-0160), vcard (XEP-0054/0153) and
// private (XEP-0049) modules, migrations 0003 and 0004.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Kysely } from 'kysely';
import { OfflineStore, type OfflineTables } from '../../modules/offline/store.ts';
import { PrivateLimitError, PrivateStore, type PrivateTables } from '../../modules/private/store.ts';
import { VCardStore, type VCardTables } from '../../modules/vcard/store.ts';
import { openStorage } from '../index.ts';
import type { Storage } from '../types.ts';
import { account, withStorage, type ContractTarget } from './harness.ts';

const D = 'example.org';
const offlineOf = (s: Storage) => new OfflineStore(s.db as unknown as Kysely<OfflineTables>);
const vcardsOf = (s: Storage) => new VCardStore(s.db as unknown as Kysely<VCardTables>);
const privateOf = (s: Storage) => new PrivateStore(s.db as unknown as Kysely<PrivateTables>);
const ROOMY = { maxMessages: 1000, maxBytes: 1 << 20 };
const msg = (i: number | string) => `<message xmlns="jabber:client" id="${i}"><body>é ${i}</body></message>`;

export function offlineVcardPrivateContract(target: ContractTarget): void {
  const needsReopen = { skip: target.reopenable ? false : 'an in-memory database cannot be reopened' };

  test('offline: stored in arrival order with their time; paging by id; usage in UTF-8 bytes; per account', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account(D, 'bob'));
      await s.accounts.create(account(D, 'carol'));
      await s.accounts.create(account('example.com', 'bob'));
      const store = offlineOf(s);
      const at = new Date('2024-01-02T03:04:05.678Z');
      const ids: number[] = [];
      for (let i = 1; i <= 5; i++) {
        const r = await store.add(D, 'bob', msg(i), ROOMY, new Date(at.getTime() + i));
        assert.ok(r.stored);
        ids.push(r.id);
      }
      await store.add(D, 'carol', msg('c'), ROOMY);
      await store.add('example.com', 'bob', msg('other domain'), ROOMY);
      assert.deepEqual(
        ids.map((id, i) => i === 0 || id > ids[i - 1]!),
        [true, true, true, true, true],
        'ids increase',
      );
      const all = await store.list(D, 'bob');
      assert.deepEqual(
        all.map((m) => m.xml),
        [1, 2, 3, 4, 5].map(msg),
      );
      assert.equal(typeof all[0]!.id, 'number');
      assert.deepEqual(all[0]!.storedAt, new Date(at.getTime() + 1));
      const page = await store.list(D, 'bob', { after: ids[1], limit: 2 });
      assert.deepEqual(
        page.map((m) => m.id),
        [ids[2], ids[3]],
      );
      const perMessage = Buffer.byteLength(msg(1), 'utf8');
      assert.equal(perMessage, msg(1).length + 1, 'é is two bytes');
      assert.deepEqual(await store.usage(D, 'bob'), { messages: 5, bytes: 5 * perMessage });
      assert.deepEqual(await store.usage(D, 'nobody'), { messages: 0, bytes: 0 });

      assert.equal(await store.remove(D, 'bob', [ids[0]!, ids[2]!, ids[0]!]), 2);
      assert.equal(await store.remove(D, 'carol', [ids[1]!]), 0, "another account's ids are not touched");
      assert.equal(await store.remove(D, 'bob', []), 0);
      assert.deepEqual(
        (await store.list(D, 'bob')).map((m) => m.id),
        [ids[1], ids[3], ids[4]],
      );
      assert.equal((await store.list(D, 'carol')).length, 1);
      assert.equal((await store.list('example.com', 'bob')).length, 1);
    }));

  test('offline: a message past max_messages or max_bytes is refused and nothing is written', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account(D, 'bob'));
      const store = offlineOf(s);
      const size = Buffer.byteLength(msg(1), 'utf8');
      const limits = { maxMessages: 2, maxBytes: 10 * size };
      assert.ok((await store.add(D, 'bob', msg(1), limits)).stored);
      assert.ok((await store.add(D, 'bob', msg(2), limits)).stored);
      assert.deepEqual(await store.add(D, 'bob', msg(3), limits), { stored: false, usage: { messages: 2, bytes: 2 * size } });
      const bytesLimit = { maxMessages: 100, maxBytes: 2 * size + size - 1 };
      assert.deepEqual(await store.add(D, 'bob', msg(4), bytesLimit), { stored: false, usage: { messages: 2, bytes: 2 * size } });
      assert.deepEqual(await store.usage(D, 'bob'), { messages: 2, bytes: 2 * size });
      assert.ok((await store.add(D, 'bob', msg(5), { maxMessages: 3, maxBytes: 3 * size })).stored, 'exactly at the limits fits');
    }));

  test('vcard: set, get, replace (returning the previous photo hash), remove', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account(D, 'alice'));
      const store = vcardsOf(s);
      assert.equal(await store.get(D, 'alice'), undefined);
      assert.equal(await store.photoHash(D, 'alice'), undefined);
      const hash = 'a'.repeat(40);
      const t = new Date('2024-03-04T05:06:07.089Z');
      assert.equal(await store.set(D, 'alice', '<vCard xmlns="vcard-temp"><FN>Alice</FN></vCard>', '', t), undefined);
      assert.deepEqual(await store.get(D, 'alice'), { xml: '<vCard xmlns="vcard-temp"><FN>Alice</FN></vCard>', photoHash: '', updatedAt: t });
      assert.equal(await store.photoHash(D, 'alice'), '');
      assert.equal(await store.set(D, 'alice', '<vCard xmlns="vcard-temp"><PHOTO/></vCard>', hash), '');
      assert.equal(await store.photoHash(D, 'alice'), hash);
      assert.equal(await store.remove(D, 'alice'), hash);
      assert.equal(await store.remove(D, 'alice'), undefined);
      assert.equal(await store.get(D, 'alice'), undefined);
    }));

  test('vcard: a photo hash that is not empty or 40 characters is refused by the schema', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account(D, 'alice'));
      await assert.rejects(vcardsOf(s).set(D, 'alice', '<vCard xmlns="vcard-temp"/>', 'abc'));
      assert.equal(await vcardsOf(s).get(D, 'alice'), undefined);
    }));

  test('private: items per name and namespace; set writes all or nothing; null deletes', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account(D, 'alice'));
      await s.accounts.create(account(D, 'bob'));
      const store = privateOf(s);
      const bm = '<storage xmlns="storage:bookmarks"><conference jid="r@m"/></storage>';
      await store.set(
        D,
        'alice',
        [
          { ns: 'storage:bookmarks', name: 'storage', xml: bm },
          { ns: 'storage:bookmarks', name: 'other', xml: '<other xmlns="storage:bookmarks"/>' },
        ],
        3,
      );
      assert.equal(await store.get(D, 'alice', 'storage:bookmarks', 'storage'), bm);
      assert.equal(await store.get(D, 'bob', 'storage:bookmarks', 'storage'), undefined);
      assert.equal(await store.count(D, 'alice'), 2);
      // Past the limit: neither the replacement nor the new item is written.
      await assert.rejects(
        store.set(
          D,
          'alice',
          [
            { ns: 'storage:bookmarks', name: 'storage', xml: '<storage xmlns="storage:bookmarks"/>' },
            { ns: 'urn:a', name: 'a', xml: '<a xmlns="urn:a"/>' },
            { ns: 'urn:b', name: 'b', xml: '<b xmlns="urn:b"/>' },
          ],
          3,
        ),
        (err: unknown) => err instanceof PrivateLimitError && err.items === 4,
      );
      assert.equal(await store.get(D, 'alice', 'storage:bookmarks', 'storage'), bm);
      assert.equal(await store.count(D, 'alice'), 2);
      // A delete in the same set makes room.
      await store.set(
        D,
        'alice',
        [
          { ns: 'storage:bookmarks', name: 'other', xml: null },
          { ns: 'urn:a', name: 'a', xml: '<a xmlns="urn:a"/>' },
          { ns: 'urn:b', name: 'b', xml: '<b xmlns="urn:b"/>' },
        ],
        3,
      );
      assert.equal(await store.get(D, 'alice', 'storage:bookmarks', 'other'), undefined);
      assert.equal(await store.count(D, 'alice'), 3);
    }));

  test('removing an account removes its offline messages, vCard and private XML', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account(D, 'alice'));
      await s.accounts.create(account(D, 'bob'));
      for (const who of ['alice', 'bob']) {
        await offlineOf(s).add(D, who, msg(who), ROOMY);
        await vcardsOf(s).set(D, who, '<vCard xmlns="vcard-temp"/>', '');
        await privateOf(s).set(D, who, [{ ns: 'urn:a', name: 'a', xml: '<a xmlns="urn:a"/>' }], 10);
      }
      assert.ok(await s.accounts.remove(D, 'alice'));
      assert.deepEqual(await offlineOf(s).usage(D, 'alice'), { messages: 0, bytes: 0 });
      assert.equal(await vcardsOf(s).get(D, 'alice'), undefined);
      assert.equal(await privateOf(s).count(D, 'alice'), 0);
      assert.equal((await offlineOf(s).usage(D, 'bob')).messages, 1);
      assert.ok(await vcardsOf(s).get(D, 'bob'));
      assert.equal(await privateOf(s).count(D, 'bob'), 1);
      // Nothing can be stored for an account that does not exist.
      await assert.rejects(offlineOf(s).add(D, 'ghost', msg(1), ROOMY));
    }));

  test('everything stored is there after closing and reopening', needsReopen, () =>
    withStorage(target, async (s, cfg) => {
      await s.accounts.create(account(D, 'alice'));
      await offlineOf(s).add(D, 'alice', msg(1), ROOMY);
      await vcardsOf(s).set(D, 'alice', '<vCard xmlns="vcard-temp"/>', 'b'.repeat(40));
      await privateOf(s).set(D, 'alice', [{ ns: 'urn:a', name: 'a', xml: '<a xmlns="urn:a">1</a>' }], 10);
      const again = await openStorage(cfg);
      try {
        assert.deepEqual(
          (await offlineOf(again).list(D, 'alice')).map((m) => m.xml),
          [msg(1)],
        );
        assert.equal(await vcardsOf(again).photoHash(D, 'alice'), 'b'.repeat(40));
        assert.equal(await privateOf(again).get(D, 'alice', 'urn:a', 'a'), '<a xmlns="urn:a">1</a>');
      } finally {
        await again.close();
      }
    }));
}
