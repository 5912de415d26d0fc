// Group commit: items added while the event loop turns, and those added while
// a batch is being written, are written together in one call (one statement,
// one transaction), in the order they came; each caller waits for its own
// result. If a batch fails, each of its items is written alone, so one bad
// item (an account deleted meanwhile, a refused text) fails only its caller.
// Used by the message archives (src/modules/mam/writer.ts) and the audit log
// (src/policy/audit-log.ts).

interface Pending<Item, Result> {
  item: Item;
  resolve(result: Result): void;
  reject(err: unknown): void;
}

export class GroupCommit<Item, Result> {
  readonly #write: (items: Item[]) => Promise<Result[]>;
  readonly #weight: (item: Item) => number;
  readonly #maxWeight: number;
  #queue: Pending<Item, Result>[] = [];
  #scheduled = false;
  #writing: Promise<void> | undefined;

  /**
   * `write` returns one result per item, in order. A batch holds whole items
   * up to `maxWeight` in all (`weight`: e.g. an item's rows; at least one item).
   */
  constructor(write: (items: Item[]) => Promise<Result[]>, maxWeight: number, weight: (item: Item) => number = () => 1) {
    this.#write = write;
    this.#maxWeight = maxWeight;
    this.#weight = weight;
  }

  /** Resolves with the item's result once it is written. */
  add(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#scheduled && !this.#writing) {
        this.#scheduled = true;
        setImmediate(() => this.#next());
      }
    });
  }

  /** Waits until everything added so far is written. */
  async drain(): Promise<void> {
    while (this.#writing || this.#queue.length > 0) {
      if (!this.#writing) this.#next();
      await this.#writing;
    }
  }

  #next(): void {
    this.#scheduled = false;
    if (this.#writing || this.#queue.length === 0) return;
    let weight = 0;
    let take = 0;
    while (take < this.#queue.length && (take === 0 || weight + this.#weight(this.#queue[take]!.item) <= this.#maxWeight)) weight += this.#weight(this.#queue[take++]!.item);
    const batch = this.#queue.splice(0, take);
    this.#writing = this.#commit(batch).finally(() => {
      this.#writing = undefined;
      this.#next();
    });
  }

  async #commit(batch: Pending<Item, Result>[]): Promise<void> {
    try {
      const results = await this.#write(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(results[i]!));
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      for (const p of batch) await this.#commit([p]);
    }
  }
}
