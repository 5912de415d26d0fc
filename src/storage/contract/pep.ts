// Contract: the store of the pep module (XEP-0163), migration 0013.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Kysely } from 'kysely';
import { defaultConfig, withChanges } from '../../modules/pep/config.ts';
import { PepStore, type PepTables } from '../../modules/pep/store.ts';
import type { Storage } from '../types.ts';
import { account, withStorage, type ContractTarget } from './harness.ts';

const D = 'example.org';
const ALICE = { domain: D, localpart: 'alice' };
const BOB = { domain: D, localpart: 'bob' };
const pepOf = (s: Storage) => new PepStore(s.db as unknown as Kysely<PepTables>);
const CONFIG = defaultConfig({ defaultMaxItems: 1, maxItemsCap: 256 });
const payload = (i: number | string) => `<device xmlns="urn:xmpp:omemo:2" id="${i}" label="é ${i}"/>`;
const item = (id: string, n: number | string = id) => ({ id, xml: payload(n), publisher: 'alice@example.org' });
const ROOMY = { create: CONFIG, maxNodes: 10, keep: 10 };

export function pepContract(target: ContractTarget): void {
  test('pep: nodes are created on first publish with their configuration; per account; limited in number', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account(D, 'alice'));
      await s.accounts.create(account(D, 'bob'));
      const store = pepOf(s);
      const open = withChanges(CONFIG, { accessModel: 'open', maxItems: 'max', sendLast: 'never', persistItems: true });
      assert.deepEqual(await store.publish(ALICE, 'urn:xmpp:omemo:2:devices', item('current'), { ...ROOMY, create: open }), { outcome: 'published', created: true });
      assert.deepEqual(await store.publish(ALICE, 'urn:xmpp:omemo:2:devices', item('current', 2), { ...ROOMY, create: open }), {
        outcome: 'published',
        created: false,
      });
      assert.deepEqual(await store.getNode(ALICE, 'urn:xmpp:omemo:2:devices'), { name: 'urn:xmpp:omemo:2:devices', config: open });
      assert.equal(await store.getNode(BOB, 'urn:xmpp:omemo:2:devices'), undefined);
      assert.deepEqual(await store.publish(ALICE, 'missing', item('a'), { ...ROOMY, create: undefined }), { outcome: 'no-node' });

      assert.equal(await store.createNode(ALICE, 'b', CONFIG, 3), 'created');
      assert.equal(await store.createNode(ALICE, 'b', CONFIG, 3), 'exists');
      assert.equal(await store.createNode(ALICE, 'a', CONFIG, 3), 'created');
      assert.equal(await store.createNode(ALICE, 'c', CONFIG, 3), 'node-limit');
      assert.deepEqual(await store.publish(ALICE, 'c', item('x'), { ...ROOMY, maxNodes: 3 }), { outcome: 'node-limit' });
      assert.equal(await store.getNode(ALICE, 'c'), undefined, 'nothing of a refused publish is stored');
      assert.equal(await store.createNode(BOB, 'a', CONFIG, 3), 'created', "another account's count is its own");
      assert.deepEqual(
        (await store.listNodes(ALICE)).map((n) => n.name),
        ['a', 'b', 'urn:xmpp:omemo:2:devices'],
      );
      assert.equal(await store.countNodes(ALICE), 3);
      assert.deepEqual(
        (await store.nodesOf(D, ['alice', 'bob', 'carol'], ['a', 'urn:xmpp:omemo:2:devices'])).map((n) => `${n.localpart} ${n.name} ${n.config.accessModel}`).sort(),
        ['alice a presence', 'alice urn:xmpp:omemo:2:devices open', 'bob a presence'],
      );
    }));

  test('pep: items in publication order; a re-published id replaces and moves last; max and ids; the oldest beyond keep are dropped', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account(D, 'alice'));
      const store = pepOf(s);
      const at = new Date('2024-05-06T07:08:09.123Z');
      for (const id of ['1', '2', '3']) await store.publish(ALICE, 'n', item(id), { ...ROOMY, keep: 3 }, at);
      await store.publish(ALICE, 'n', item('1', 'one again'), { ...ROOMY, keep: 3 }, new Date(at.getTime() + 1));
      const all = await store.items(ALICE, 'n');
      assert.deepEqual(
        all.map((i) => i.id),
        ['2', '3', '1'],
      );
      assert.equal(all[2]!.xml, payload('one again'));
      assert.deepEqual(all[2]!.publishedAt, new Date(at.getTime() + 1));
      assert.equal(all[0]!.publisher, 'alice@example.org');
      assert.deepEqual(
        (await store.items(ALICE, 'n', { max: 2 })).map((i) => i.id),
        ['3', '1'],
        'the newest two, oldest first',
      );
      assert.deepEqual(
        (await store.items(ALICE, 'n', { ids: ['1', 'nope', '2'] })).map((i) => i.id),
        ['2', '1'],
      );
      assert.deepEqual(await store.items(ALICE, 'n', { ids: [] }), []);
      await store.publish(ALICE, 'n', item('4'), { ...ROOMY, keep: 3 });
      assert.deepEqual(
        (await store.items(ALICE, 'n')).map((i) => i.id),
        ['3', '1', '4'],
        'item 2, the oldest, is gone',
      );
      await store.publish(ALICE, 'n', item('5'), { ...ROOMY, keep: 0 });
      assert.deepEqual(await store.items(ALICE, 'n'), [], 'a node that persists nothing keeps nothing');
    }));

  test('pep: retract, purge, configure (trims), delete (with its items), and the account removal takes everything', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account(D, 'alice'));
      await s.accounts.create(account(D, 'bob'));
      const store = pepOf(s);
      for (const id of ['a', 'b', 'c', 'd']) await store.publish(ALICE, 'n', item(id), ROOMY);
      await store.publish(BOB, 'n', item('a'), ROOMY);
      assert.deepEqual(await store.retract(ALICE, 'n', ['b', 'zz', 'a']), ['b', 'a']);
      assert.deepEqual(await store.retract(ALICE, 'n', ['b']), []);
      assert.deepEqual(
        (await store.items(BOB, 'n')).map((i) => i.id),
        ['a'],
        "another account's item of the same id stays",
      );
      const whitelist = withChanges(CONFIG, { accessModel: 'whitelist', maxItems: 1 });
      assert.equal(await store.configure(ALICE, 'n', whitelist, 1), true);
      assert.equal(await store.configure(ALICE, 'nope', whitelist, 1), false);
      assert.deepEqual((await store.getNode(ALICE, 'n'))?.config, whitelist);
      assert.deepEqual(
        (await store.items(ALICE, 'n')).map((i) => i.id),
        ['d'],
      );
      assert.equal(await store.purge(ALICE, 'n'), 1);
      assert.deepEqual(await store.items(ALICE, 'n'), []);
      assert.ok(await store.getNode(ALICE, 'n'), 'purge keeps the node');

      await store.publish(ALICE, 'n', item('e'), ROOMY);
      assert.equal(await store.deleteNode(ALICE, 'n'), true);
      assert.equal(await store.deleteNode(ALICE, 'n'), false);
      await store.publish(ALICE, 'n', item('f'), ROOMY);
      assert.deepEqual(
        (await store.items(ALICE, 'n')).map((i) => i.id),
        ['f'],
        'a new node of the old name starts empty',
      );

      assert.equal(await s.accounts.remove(D, 'bob'), true);
      assert.deepEqual(await store.listNodes(BOB), []);
      assert.deepEqual(await store.items(BOB, 'n'), []);
      assert.equal((await store.listNodes(ALICE)).length, 1);
    }));
}
