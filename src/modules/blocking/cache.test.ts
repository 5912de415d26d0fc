// The in-memory block lists: read once, shared reads, pinned while online,
// bounded LRU otherwise, and a write never lost to a read that predates it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BlockList } from './block-list.ts';
import { BlockListCache } from './cache.ts';

function setup(capacity = 2) {
  const db = new Map<string, string[]>();
  const online = new Set<string>();
  const reads: string[] = [];
  let gate: Promise<void> | undefined;
  let failNext = false;
  const cache = new BlockListCache({
    capacity,
    isOnline: (bare) => online.has(bare),
    read: async (bare) => {
      reads.push(bare);
      const snapshot = [...(db.get(bare) ?? [])];
      if (gate) await gate;
      if (failNext) {
        failNext = false;
        throw new Error('database down');
      }
      return snapshot;
    },
  });
  return {
    cache,
    db,
    online,
    reads,
    hold() {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
    failOnce: () => (failNext = true),
  };
}

describe('block list cache', () => {
  test('a list is read once; concurrent first uses share the read; empty lists are the shared EMPTY', async () => {
    const t = setup();
    t.db.set('a@x', ['b@x']);
    const [l1, l2] = await Promise.all([t.cache.load('a@x'), t.cache.load('a@x')]);
    assert.equal(l1, l2);
    assert.deepEqual(t.reads, ['a@x']);
    assert.equal(t.cache.peek('a@x'), l1);
    assert.equal(t.cache.get('a@x'), l1, 'synchronous once cached');
    assert.equal(await t.cache.get('n@x'), BlockList.EMPTY);
    assert.deepEqual(t.reads, ['a@x', 'n@x']);
  });

  test('lists of online accounts stay; the others are an LRU of the given capacity', async () => {
    const t = setup(2);
    t.online.add('on@x');
    for (const a of ['on@x', 'a@x', 'b@x']) await t.cache.load(a);
    assert.deepEqual(t.cache.sizes, { online: 1, recent: 2, loading: 0 });
    t.cache.peek('a@x'); // a is now the most recently used
    await t.cache.load('c@x'); // evicts b
    assert.equal(t.cache.peek('b@x'), undefined);
    assert.ok(t.cache.peek('a@x'));
    assert.ok(t.cache.peek('on@x'), 'never evicted while online');
    // Going offline makes it an ordinary entry; coming online pins it again.
    t.online.delete('on@x');
    t.cache.accountOffline('on@x');
    assert.deepEqual(t.cache.sizes, { online: 0, recent: 2, loading: 0 });
    t.online.add('on@x');
    t.cache.accountOnline('on@x');
    assert.deepEqual(t.cache.sizes, { online: 1, recent: 1, loading: 0 });
  });

  test('capacity 0 keeps no list of an offline account', async () => {
    const t = setup(0);
    await t.cache.load('a@x');
    await t.cache.load('a@x');
    assert.deepEqual(t.reads, ['a@x', 'a@x']);
    assert.equal(t.cache.peek('a@x'), undefined);
  });

  test('a write during a read: the read in flight is not installed over the written list', async () => {
    const t = setup();
    t.online.add('a@x');
    const release = t.hold();
    const reading = t.cache.load('a@x'); // sees the database before the write
    t.db.set('a@x', ['b@x']);
    const written = new BlockList(['b@x']);
    t.cache.set('a@x', written);
    release();
    assert.equal((await reading).size, 0, 'the stale read answers the stanza that asked');
    assert.equal(t.cache.peek('a@x'), written, 'but the cache keeps the written list');
  });

  test('a failed read is not cached; the next use reads again', async () => {
    const t = setup();
    t.failOnce();
    await assert.rejects(t.cache.load('a@x'), /database down/);
    assert.deepEqual(t.cache.sizes, { online: 0, recent: 0, loading: 0 });
    assert.equal(await t.cache.load('a@x'), BlockList.EMPTY);
  });
});
