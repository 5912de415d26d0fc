// Gives the young generation back to the system once the server goes quiet.
//
// V8 grows its young generation (new space) under load, up to twice
// --max-semi-space-size, and shrinks it only in a collection that finds the
// allocation since the previous one low, over at least five seconds. A server
// whose sessions sit idle after a burst of logins allocates almost nothing, so
// no collection runs and the memory stays taken: up to 128 MiB with the 64 MiB
// semi-space `npm start` sets. Two scavenges per quiet spell give it back
// (see check()); each paused an idle server for 2 to 4 ms when measured.
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface NewSpaceSample {
  /** Bytes in use; drops when a collection runs. */
  used: number;
  /** Bytes reserved, what V8 grows and shrinks. */
  capacity: number;
}

export interface MemoryReclaimOptions {
  /** Quiet time between the spell's first scavenge and the reclaiming one: longer than V8's five-second window, or it will not shrink. */
  quietMs?: number;
  /** How often the young generation is sampled. */
  checkMs?: number;
  /** Allocation per second under which the server counts as quiet (V8's own "low" is 1,000 bytes/ms). */
  quietBytesPerSecond?: number;
  /** Called with the capacity before and after each reclaiming scavenge. */
  onReclaimed?: (beforeBytes: number, afterBytes: number) => void;
  /** Where samples and the scavenge come from; V8's own unless a test drives the logic. */
  sample?: () => NewSpaceSample;
  scavenge?: () => void;
  now?: () => number;
}

export function sampleNewSpace(): NewSpaceSample {
  const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return { used: space?.space_used_size ?? 0, capacity: space?.space_size ?? 0 };
}

/** Reclaiming scavenges per quiet spell when V8 keeps its young generation. */
const MAX_ATTEMPTS = 3;

let v8Scavenge: (() => void) | undefined;

/**
 * A young-generation collection. V8 lends its `gc` function only to contexts
 * made after --expose-gc is set, so one is made for it; the main context gets no `gc`.
 */
export function scavenge(): void {
  if (!v8Scavenge) {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (options: { type: 'minor' }) => void;
    v8Scavenge = () => gc({ type: 'minor' });
  }
  v8Scavenge();
}

export class MemoryReclaim {
  private readonly quietMs: number;
  private readonly quietBytesPerCheck: number;
  private readonly sample: () => NewSpaceSample;
  private readonly scavenge: () => void;
  private readonly now: () => number;
  private readonly onReclaimed: (beforeBytes: number, afterBytes: number) => void;
  private readonly timer: NodeJS.Timeout;
  private last: NewSpaceSample;
  /** Capacity right after the last reclaiming scavenge: no use scavenging again until it grows. */
  private floor = 0;
  /** When this quiet spell's first scavenge ran; undefined while busy or before it. */
  private primedAt: number | undefined;
  private attempts = 0;
  private doneThisSpell = false;

  constructor(options: MemoryReclaimOptions = {}) {
    const checkMs = options.checkMs ?? 1000;
    this.quietMs = options.quietMs ?? 6000;
    this.quietBytesPerCheck = ((options.quietBytesPerSecond ?? 1_000_000) * checkMs) / 1000;
    this.sample = options.sample ?? sampleNewSpace;
    this.scavenge = options.scavenge ?? scavenge;
    this.now = options.now ?? (() => performance.now());
    this.onReclaimed = options.onReclaimed ?? (() => {});
    this.last = this.sample();
    this.timer = setInterval(() => this.check(), checkMs);
    this.timer.unref();
  }

  /**
   * One sample. A busy interval ends the quiet spell. In a spell, a first
   * scavenge closes V8's window on the busy time before it (V8 judges the
   * allocation since its last collection, which would still hold the end of
   * the burst); a second one, quietMs later, finds the window quiet and lets
   * V8 shrink the young generation. If V8 still keeps it (something
   * allocated more than it counts as low), that scavenge is the new first one,
   * up to MAX_ATTEMPTS times. Then nothing until the next spell.
   */
  check(): void {
    const current = this.sample();
    const allocated = current.used - this.last.used;
    this.last = current;
    // A drop in use means a collection ran, which the server's own allocation caused.
    if (allocated < 0 || allocated > this.quietBytesPerCheck) {
      this.primedAt = undefined;
      this.attempts = 0;
      this.doneThisSpell = false;
      return;
    }
    if (this.doneThisSpell) return;
    if (current.capacity <= this.floor) {
      this.doneThisSpell = true;
      return;
    }
    if (this.primedAt === undefined) {
      this.scavengeQuietly();
      this.primedAt = this.now();
      return;
    }
    if (this.now() - this.primedAt < this.quietMs) return;
    this.scavengeQuietly();
    this.attempts++;
    if (this.last.capacity >= current.capacity && this.attempts < MAX_ATTEMPTS) {
      this.primedAt = this.now();
      return;
    }
    this.doneThisSpell = true;
    this.floor = this.last.capacity;
    this.onReclaimed(current.capacity, this.last.capacity);
  }

  /** Measured from after it, so its own drop in use is not taken for the server's. */
  private scavengeQuietly(): void {
    this.scavenge();
    this.last = this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
