// One queue per key (an account's bare JID): operations on the same key run one
// after another, in the order they were queued; different keys don't wait for
// each other. The offline module uses it so that storing a message, delivering
// the stored ones and delivering live messages of one account keep their order.
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs fn after everything queued before it for the key; resolves or rejects with fn's outcome. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Resolves when everything queued so far for the key is done; undefined when nothing is. */
  idle(key: string): Promise<void> | undefined {
    return this.#tails.get(key);
  }

  /** Keys with work queued (for tests and metrics). */
  get size(): number {
    return this.#tails.size;
  }
}
