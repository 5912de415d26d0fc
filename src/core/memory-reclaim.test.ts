import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryReclaim, sampleNewSpace, type NewSpaceSample } from './memory-reclaim.ts';

const MiB = 2 ** 20;

/**
 * Drives the decision logic with given samples and a hand-moved clock; checks
 * run only when called. The scavenge behaves as V8's: it shrinks the young
 * generation only when the time since the previous collection was at least
 * five seconds and allocated under 1,000 bytes/ms.
 */
function driven(refusals = 0) {
  let clock = 0;
  let heap: NewSpaceSample = { used: 0, capacity: 64 * MiB };
  let lastCollection = 0;
  let allocatedSince = 0;
  const reclaimed: [number, number][] = [];
  let scavenges = 0;
  const collected = () => {
    lastCollection = clock;
    allocatedSince = 0;
  };
  const reclaim = new MemoryReclaim({
    quietMs: 6000,
    checkMs: 1000,
    sample: () => heap,
    now: () => clock,
    scavenge: () => {
      scavenges++;
      const elapsed = clock - lastCollection;
      let shrinks = elapsed >= 5000 && allocatedSince / elapsed < 1000;
      if (shrinks && refusals > 0) {
        refusals--;
        shrinks = false;
      }
      heap = { used: 0, capacity: shrinks ? 1 * MiB : heap.capacity };
      collected();
    },
    onReclaimed: (before, after) => reclaimed.push([before, after]),
  });
  return {
    reclaimed,
    scavenges: () => scavenges,
    /** One second passes, in which `allocated` bytes were allocated, or V8 collected on its own ('collected'). */
    second(allocated: number | 'collected', capacity = heap.capacity) {
      clock += 1000;
      if (allocated === 'collected') {
        heap = { used: 0, capacity };
        collected();
      } else {
        heap = { used: heap.used + allocated, capacity };
        allocatedSince += allocated;
      }
      reclaim.check();
    },
    stop: () => reclaim.stop(),
  };
}

const QUIET = 10_000; // bytes in a second: an idle server's timers

describe('MemoryReclaim', () => {
  it("after a burst, closes V8's window on it, then scavenges again when the window is quiet, and reports what it gave back", () => {
    const r = driven();
    r.second(40 * MiB); // the end of a burst of logins, after V8's last collection
    r.second(QUIET);
    assert.equal(r.scavenges(), 1, 'the first quiet second ends the window that holds the burst');
    assert.deepEqual(r.reclaimed, []);
    for (let s = 0; s < 5; s++) r.second(QUIET);
    assert.equal(r.scavenges(), 1, 'V8 would not shrink after five seconds');
    r.second(QUIET);
    assert.equal(r.scavenges(), 2);
    assert.deepEqual(r.reclaimed, [[64 * MiB, 1 * MiB]]);
    for (let s = 0; s < 30; s++) r.second(QUIET);
    assert.equal(r.scavenges(), 2, 'once per quiet spell, although its scavenges lowered the use');
    r.stop();
  });

  it("starts the spell again after a busy second or a collection of V8's own", () => {
    const r = driven();
    r.second(QUIET);
    for (let s = 0; s < 4; s++) r.second(QUIET);
    r.second(40 * MiB);
    for (let s = 0; s < 5; s++) r.second(QUIET);
    r.second('collected');
    for (let s = 0; s < 6; s++) r.second(QUIET);
    assert.equal(r.scavenges(), 3, 'a first scavenge in each of the three spells, none long enough for a second');
    assert.deepEqual(r.reclaimed, []);
    r.second(QUIET);
    assert.equal(r.scavenges(), 4);
    assert.deepEqual(r.reclaimed, [[64 * MiB, 1 * MiB]]);
    r.stop();
  });

  it('leaves a young generation alone that has not grown since the last reclaim', () => {
    const r = driven();
    for (let s = 0; s < 7; s++) r.second(QUIET);
    assert.equal(r.scavenges(), 2);
    r.second(5 * MiB, 1 * MiB); // busy, without growing
    for (let s = 0; s < 10; s++) r.second(QUIET, 1 * MiB);
    assert.equal(r.scavenges(), 2);
    r.second(5 * MiB, 16 * MiB); // busy, and it grew
    for (let s = 0; s < 7; s++) r.second(QUIET, 16 * MiB);
    assert.equal(r.scavenges(), 4);
    assert.deepEqual(r.reclaimed, [
      [64 * MiB, 1 * MiB],
      [16 * MiB, 1 * MiB],
    ]);
    r.stop();
  });

  it('tries again, a few times, when V8 keeps its young generation', () => {
    const r = driven(1);
    for (let s = 0; s < 7; s++) r.second(QUIET);
    assert.equal(r.scavenges(), 2);
    assert.deepEqual(r.reclaimed, [], 'V8 kept it: nothing to report yet');
    for (let s = 0; s < 6; s++) r.second(QUIET);
    assert.equal(r.scavenges(), 3);
    assert.deepEqual(r.reclaimed, [[64 * MiB, 1 * MiB]]);

    const stubborn = driven(Infinity);
    for (let s = 0; s < 60; s++) stubborn.second(QUIET);
    assert.equal(stubborn.scavenges(), 4, 'the first, then three tries, then it gives up for this spell');
    assert.deepEqual(stubborn.reclaimed, [[64 * MiB, 64 * MiB]]);
    r.stop();
    stubborn.stop();
  });

  it("gives V8's young generation back once this process goes quiet", async () => {
    // Objects that survive a scavenge or two make V8 grow the young generation.
    let kept: object[] = [];
    for (let round = 0; round < 40 && sampleNewSpace().capacity < 8 * MiB; round++) {
      kept = [];
      for (let i = 0; i < 200_000; i++) kept.push({ i, s: `item ${i}` });
    }
    kept = [];
    const grown = sampleNewSpace().capacity;
    assert.ok(grown >= 8 * MiB, `the young generation grew to ${grown / MiB} MiB`);
    // The reclaimer's timer does not hold the process open; this one does, and bounds the wait.
    let deadline: NodeJS.Timeout | undefined;
    const reclaimed = await new Promise<[number, number]>((resolve, reject) => {
      const reclaim = new MemoryReclaim({
        checkMs: 250,
        onReclaimed: (before, after) => {
          reclaim.stop();
          resolve([before, after]);
        },
      });
      deadline = setTimeout(() => {
        reclaim.stop();
        reject(new Error('no scavenge within 20 s of quiet'));
      }, 20_000);
    });
    clearTimeout(deadline);
    assert.equal(reclaimed[0], grown);
    assert.ok(reclaimed[1] < grown / 4, `shrunk from ${grown / MiB} to ${reclaimed[1] / MiB} MiB`);
    assert.equal(sampleNewSpace().capacity, reclaimed[1]);
  });
});
