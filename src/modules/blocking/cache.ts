// Block lists in memory, so that the classifier (which runs on every routed
// stanza) answers from a Map: the lists of accounts with a bound session are
// kept for as long as they have one; the lists of other accounts (recipients
// who are offline) are kept in a bounded LRU. A list is read from storage once,
// on first use; concurrent first uses share the read.
import { BlockList } from './block-list.ts';

export interface BlockListCacheOptions {
  /** Reads an account's items from storage. */
  read(bare: string): Promise<readonly string[]>;
  /** Whether the account has a bound session now (its list is then kept until it has none). */
  isOnline(bare: string): boolean;
  /** How many lists of accounts without a session to keep (least recently used go first). */
  capacity: number;
}

export class BlockListCache {
  readonly #online = new Map<string, BlockList>();
  // Map iteration order is insertion order: re-inserting on use makes it an LRU.
  readonly #recent = new Map<string, BlockList>();
  readonly #loading = new Map<string, Promise<BlockList>>();
  readonly #opts: BlockListCacheOptions;

  constructor(opts: BlockListCacheOptions) {
    this.#opts = opts;
  }

  /** The cached list, or undefined when it has to be read first. Synchronous: the per-stanza path. */
  peek(bare: string): BlockList | undefined {
    const online = this.#online.get(bare);
    if (online !== undefined) return online;
    const recent = this.#recent.get(bare);
    if (recent !== undefined) {
      this.#recent.delete(bare);
      this.#recent.set(bare, recent);
    }
    return recent;
  }

  /** The list, read from storage if it is not cached. */
  get(bare: string): BlockList | Promise<BlockList> {
    return this.peek(bare) ?? this.load(bare);
  }

  load(bare: string): Promise<BlockList> {
    const inFlight = this.#loading.get(bare);
    if (inFlight) return inFlight;
    const p: Promise<BlockList> = this.#opts.read(bare).then(
      (items) => {
        const list = items.length === 0 ? BlockList.EMPTY : new BlockList(items);
        // Not installed when a write replaced the list meanwhile (set() forgot this read).
        if (this.#loading.get(bare) === p) {
          this.#loading.delete(bare);
          this.#install(bare, list);
        }
        return list;
      },
      (err: unknown) => {
        if (this.#loading.get(bare) === p) this.#loading.delete(bare);
        throw err;
      },
    );
    this.#loading.set(bare, p);
    return p;
  }

  /** After a write to storage: the new list replaces the cached one; a read still in flight may predate the write and is not installed. */
  set(bare: string, list: BlockList): void {
    this.#loading.delete(bare);
    this.#install(bare, list);
  }

  /** The account bound a session: keep its list (if cached) while it has one. */
  accountOnline(bare: string): void {
    const list = this.#recent.get(bare);
    if (list === undefined) return;
    this.#recent.delete(bare);
    this.#online.set(bare, list);
  }

  /** The account's last session closed: its list becomes an ordinary LRU entry. */
  accountOffline(bare: string): void {
    const list = this.#online.get(bare);
    if (list === undefined) return;
    this.#online.delete(bare);
    this.#remember(bare, list);
  }

  /** For tests and metrics. */
  get sizes(): { online: number; recent: number; loading: number } {
    return { online: this.#online.size, recent: this.#recent.size, loading: this.#loading.size };
  }

  #install(bare: string, list: BlockList): void {
    if (this.#opts.isOnline(bare)) {
      this.#recent.delete(bare);
      this.#online.set(bare, list);
    } else {
      this.#online.delete(bare);
      this.#remember(bare, list);
    }
  }

  #remember(bare: string, list: BlockList): void {
    this.#recent.delete(bare);
    if (this.#opts.capacity === 0) return;
    this.#recent.set(bare, list);
    if (this.#recent.size > this.#opts.capacity) {
      const oldest = this.#recent.keys().next().value;
      if (oldest !== undefined) this.#recent.delete(oldest);
    }
  }
}
