// Archiving preferences in memory: every archived message asks for the
// preferences of its sender and its recipient, and they change rarely. A
// bounded LRU keyed by bare JID; an account without stored preferences is
// cached too (as undefined), which is the common case. Concurrent first reads
// share one storage read; a write replaces the entry and a read still in flight
// (which may predate the write) is not installed.
import type { Preferences } from './prefs.ts';

export class PrefsCache {
  // Map iteration order is insertion order: re-inserting on use makes it an LRU.
  readonly #entries = new Map<string, Preferences | undefined>();
  readonly #loading = new Map<string, Promise<Preferences | undefined>>();
  readonly #read: (bare: string) => Promise<Preferences | undefined>;
  readonly #capacity: number;

  constructor(read: (bare: string) => Promise<Preferences | undefined>, capacity: number) {
    this.#read = read;
    this.#capacity = capacity;
  }

  /** The stored preferences (undefined: none stored), from memory when cached. */
  get(bare: string): Preferences | undefined | Promise<Preferences | undefined> {
    if (this.#entries.has(bare)) {
      const prefs = this.#entries.get(bare);
      this.#entries.delete(bare);
      this.#entries.set(bare, prefs);
      return prefs;
    }
    const inFlight = this.#loading.get(bare);
    if (inFlight) return inFlight;
    const p = this.#read(bare).then(
      (prefs) => {
        if (this.#loading.get(bare) === p) {
          this.#loading.delete(bare);
          this.#install(bare, prefs);
        }
        return prefs;
      },
      (err: unknown) => {
        if (this.#loading.get(bare) === p) this.#loading.delete(bare);
        throw err;
      },
    );
    this.#loading.set(bare, p);
    return p;
  }

  /** After a write to storage. */
  set(bare: string, prefs: Preferences): void {
    this.#loading.delete(bare);
    this.#install(bare, prefs);
  }

  get size(): number {
    return this.#entries.size;
  }

  #install(bare: string, prefs: Preferences | undefined): void {
    this.#entries.delete(bare);
    this.#entries.set(bare, prefs);
    if (this.#entries.size > this.#capacity) this.#entries.delete(this.#entries.keys().next().value!);
  }
}
