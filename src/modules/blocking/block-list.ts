// One account's block list (XEP-0191) and the XEP's JID matching rules.
// A list is immutable: a change makes a new list, so a stanza being classified
// always sees one consistent version.
import type { JID } from '../../xmpp/jid.ts';

export class BlockList {
  /** The list of every account that blocks nobody; shared, so such an account costs one Map entry. */
  static readonly EMPTY = new BlockList([]);

  // Items are prepared JIDs as strings ('user@domain/resource', 'user@domain',
  // 'domain/resource', 'domain'); the form tells the kind, so one Set serves all four.
  readonly #items: ReadonlySet<string>;
  /** How many items are plain domains: only then is the parent-domain walk needed. */
  readonly #domains: number;

  constructor(items: Iterable<string>) {
    const set = new Set(items);
    let domains = 0;
    for (const item of set) if (isDomainItem(item)) domains++;
    this.#items = set;
    this.#domains = domains;
  }

  get size(): number {
    return this.#items.size;
  }

  has(item: string): boolean {
    return this.#items.has(item);
  }

  /** The items in code point order (the order storage returns them in). */
  items(): string[] {
    return [...this.#items].sort(byCodePoint);
  }

  with(added: Iterable<string>): BlockList {
    return new BlockList([...this.#items, ...added]);
  }

  without(removed: Iterable<string>): BlockList {
    const drop = new Set(removed);
    const rest = [...this.#items].filter((i) => !drop.has(i));
    return rest.length === 0 ? BlockList.EMPTY : new BlockList(rest);
  }

  /**
   * Whether the list blocks this address (XEP-0191 §"JID Matching", the order of
   * XEP-0016 §2.1):
   *   user@domain/resource  only that resource;
   *   user@domain           any resource of it, and the bare JID itself;
   *   domain/resource       only that resource;
   *   domain                the domain itself, any user@domain, domain/resource,
   *                         and any address at a subdomain of it.
   */
  matches(peer: JID): boolean {
    const items = this.#items;
    if (items.size === 0) return false;
    if (items.has(peer.toString())) return true;
    // For a full JID: its user@domain item; for domain/resource, its domain item.
    if (peer.resource !== '' && items.has(peer.bareString())) return true;
    if (this.#domains === 0) return false;
    for (let d = peer.domain; ; ) {
      if (items.has(d)) return true;
      const dot = d.indexOf('.');
      if (dot < 0) return false;
      d = d.slice(dot + 1);
    }
  }
}

function isDomainItem(item: string): boolean {
  return !item.includes('@') && !item.includes('/');
}

function byCodePoint(a: string, b: string): number {
  // Storage (SQLite, PostgreSQL with "C" collation) orders by UTF-8 bytes, which
  // is code point order; JavaScript's default sort compares UTF-16 units.
  if (a === b) return 0;
  const ai = a[Symbol.iterator]();
  const bi = b[Symbol.iterator]();
  for (;;) {
    const x = ai.next();
    const y = bi.next();
    if (x.done) return y.done ? 0 : -1;
    if (y.done) return 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}
