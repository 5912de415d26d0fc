// PEP nodes and items in the shared database (tables from migration 0013-pep),
// dialect-neutral Kysely. The module runs the changes of one account one at a
// time (KeyedQueue), so a count and the write that depends on it need no lock
// of their own; each change is one transaction.
import type { ColumnType, Kysely } from 'kysely';
import { readBool, readDate, readInt } from '../../storage/values.ts';
import type { AccessModel, NodeConfig, SendLast } from './config.ts';

type Bool = ColumnType<boolean | number, boolean, boolean>;
type Int64 = ColumnType<number | string, number, number>;
type Timestamp = ColumnType<Date | number, Date, Date>;

export interface PepTables {
  pep_nodes: {
    domain: string;
    localpart: string;
    node: string;
    access_model: AccessModel;
    persist_items: Bool;
    max_items: number | null;
    send_last: SendLast;
    created_at: Timestamp;
  };
  pep_items: {
    domain: string;
    localpart: string;
    node: string;
    item_id: string;
    seq: Int64;
    xml: string;
    bytes: number;
    publisher: string;
    published_at: Timestamp;
  };
}

/** Whose nodes: an account, by its prepared parts. */
export interface Owner {
  domain: string;
  localpart: string;
}

export interface StoredNode {
  name: string;
  config: NodeConfig;
}

export interface StoredItem {
  id: string;
  /** The payload element as XML text. */
  xml: string;
  /** The publisher's bare JID. */
  publisher: string;
  publishedAt: Date;
}

export interface NewItem {
  id: string;
  xml: string;
  publisher: string;
}

const UNLIMITED = 2 ** 31 - 1;

export type PublishResult = { outcome: 'published'; created: boolean } | { outcome: 'no-node' } | { outcome: 'node-limit' };

export class PepStore {
  readonly #db: Kysely<PepTables>;

  constructor(db: Kysely<PepTables>) {
    this.#db = db;
  }

  async getNode(o: Owner, node: string): Promise<StoredNode | undefined> {
    const row = await this.nodes(o).where('node', '=', node).executeTakeFirst();
    return row && toNode(row);
  }

  /** The account's nodes, by name (code point order). */
  async listNodes(o: Owner): Promise<StoredNode[]> {
    return (await this.nodes(o).orderBy('node').execute()).map(toNode);
  }

  /** The nodes with these names of the accounts with these localparts (one domain), for last-item delivery. */
  async nodesOf(domain: string, localparts: readonly string[], names: readonly string[]): Promise<(StoredNode & { localpart: string })[]> {
    const out: (StoredNode & { localpart: string })[] = [];
    // Bounded IN lists: SQLite allows 32766 parameters, PostgreSQL 65535.
    for (const someLocalparts of chunks(localparts, 500)) {
      for (const someNames of chunks(names, 500)) {
        const rows = await this.#db
          .selectFrom('pep_nodes')
          .selectAll()
          .where('domain', '=', domain)
          .where('localpart', 'in', someLocalparts)
          .where('node', 'in', someNames)
          .execute();
        for (const r of rows) out.push({ ...toNode(r), localpart: r.localpart });
      }
    }
    return out;
  }

  async countNodes(o: Owner): Promise<number> {
    const row = await this.#db
      .selectFrom('pep_nodes')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('domain', '=', o.domain)
      .where('localpart', '=', o.localpart)
      .executeTakeFirstOrThrow();
    return readInt(row.n);
  }

  /** Creates a node unless it exists or the account has maxNodes already. */
  async createNode(o: Owner, node: string, config: NodeConfig, maxNodes: number, now = new Date()): Promise<'created' | 'exists' | 'node-limit'> {
    return this.#db.transaction().execute(async (tx) => {
      const store = new PepStore(tx);
      if (await store.getNode(o, node)) return 'exists';
      if ((await store.countNodes(o)) >= maxNodes) return 'node-limit';
      await store.insertNode(o, node, config, now);
      return 'created';
    });
  }

  /** Replaces the node's configuration and drops the oldest items beyond `keep`; false if there is no such node. */
  async configure(o: Owner, node: string, config: NodeConfig, keep: number): Promise<boolean> {
    return this.#db.transaction().execute(async (tx) => {
      const r = await tx
        .updateTable('pep_nodes')
        .set(configColumns(config))
        .where('domain', '=', o.domain)
        .where('localpart', '=', o.localpart)
        .where('node', '=', node)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return false;
      await new PepStore(tx).trim(o, node, keep);
      return true;
    });
  }

  /** Deletes the node with its items; false if there was none. */
  async deleteNode(o: Owner, node: string): Promise<boolean> {
    const r = await this.#db
      .deleteFrom('pep_nodes')
      .where('domain', '=', o.domain)
      .where('localpart', '=', o.localpart)
      .where('node', '=', node)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /**
   * Stores an item as the node's newest (replacing one with the same id) and
   * drops the oldest beyond `keep` (0: nothing is stored). A missing node is
   * created with `create` when given, within maxNodes.
   */
  async publish(
    o: Owner,
    node: string,
    item: NewItem,
    opts: { create: NodeConfig | undefined; maxNodes: number; keep: number },
    now = new Date(),
  ): Promise<PublishResult> {
    return this.#db.transaction().execute(async (tx) => {
      const store = new PepStore(tx);
      let created = false;
      if (!(await store.getNode(o, node))) {
        if (!opts.create) return { outcome: 'no-node' };
        if ((await store.countNodes(o)) >= opts.maxNodes) return { outcome: 'node-limit' };
        await store.insertNode(o, node, opts.create, now);
        created = true;
      }
      if (opts.keep > 0) {
        const top = await tx
          .selectFrom('pep_items')
          .select((eb) => eb.fn.max<number | string | null>('seq').as('seq'))
          .where('domain', '=', o.domain)
          .where('localpart', '=', o.localpart)
          .where('node', '=', node)
          .executeTakeFirstOrThrow();
        const seq = (top.seq === null ? 0 : readInt(top.seq)) + 1;
        const bytes = Buffer.byteLength(item.xml, 'utf8');
        const values = { xml: item.xml, bytes, publisher: item.publisher, published_at: now, seq };
        await tx
          .insertInto('pep_items')
          .values({ domain: o.domain, localpart: o.localpart, node, item_id: item.id, ...values })
          .onConflict((oc) => oc.columns(['domain', 'localpart', 'node', 'item_id']).doUpdateSet(values))
          .execute();
      }
      await store.trim(o, node, opts.keep);
      return { outcome: 'published', created };
    });
  }

  /**
   * Items of a node in publication order, oldest first: the `max` newest, or
   * those with the given ids (the ones that exist), or all.
   */
  async items(o: Owner, node: string, opts: { max?: number; ids?: readonly string[] } = {}): Promise<StoredItem[]> {
    let q = this.#db
      .selectFrom('pep_items')
      .select(['item_id', 'xml', 'publisher', 'published_at', 'seq'])
      .where('domain', '=', o.domain)
      .where('localpart', '=', o.localpart)
      .where('node', '=', node);
    if (opts.ids) {
      if (opts.ids.length === 0) return [];
      q = q.where('item_id', 'in', opts.ids);
    }
    q = q.orderBy('seq', 'desc');
    if (opts.max !== undefined) q = q.limit(opts.max);
    const rows = await q.execute();
    return rows.reverse().map((r) => ({ id: r.item_id, xml: r.xml, publisher: r.publisher, publishedAt: readDate(r.published_at) }));
  }

  /** Deletes the items with these ids; returns the ids that existed. */
  async retract(o: Owner, node: string, ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.#db
      .deleteFrom('pep_items')
      .where('domain', '=', o.domain)
      .where('localpart', '=', o.localpart)
      .where('node', '=', node)
      .where('item_id', 'in', ids)
      .returning('item_id')
      .execute();
    const gone = new Set(rows.map((r) => r.item_id));
    return ids.filter((id) => gone.has(id));
  }

  /** Deletes every item of the node; returns how many. */
  async purge(o: Owner, node: string): Promise<number> {
    return this.trim(o, node, 0);
  }

  private nodes(o: Owner) {
    return this.#db.selectFrom('pep_nodes').selectAll().where('domain', '=', o.domain).where('localpart', '=', o.localpart);
  }

  private async insertNode(o: Owner, node: string, config: NodeConfig, now: Date): Promise<void> {
    await this.#db
      .insertInto('pep_nodes')
      .values({ domain: o.domain, localpart: o.localpart, node, ...configColumns(config), created_at: now })
      .execute();
  }

  /** Deletes the node's items older than its `keep` newest; returns how many. */
  private async trim(o: Owner, node: string, keep: number): Promise<number> {
    const items = () =>
      this.#db.deleteFrom('pep_items').where('domain', '=', o.domain).where('localpart', '=', o.localpart).where('node', '=', node);
    if (keep === 0) return Number((await items().executeTakeFirst()).numDeletedRows);
    const doomed = await this.#db
      .selectFrom('pep_items')
      .select('item_id')
      .where('domain', '=', o.domain)
      .where('localpart', '=', o.localpart)
      .where('node', '=', node)
      .orderBy('seq', 'desc')
      .limit(UNLIMITED) // SQLite takes OFFSET only after a LIMIT
      .offset(keep)
      .execute();
    if (doomed.length === 0) return 0;
    await items()
      .where(
        'item_id',
        'in',
        doomed.map((d) => d.item_id),
      )
      .execute();
    return doomed.length;
  }
}

function configColumns(c: NodeConfig) {
  return { access_model: c.accessModel, persist_items: c.persistItems, max_items: c.maxItems === 'max' ? null : c.maxItems, send_last: c.sendLast };
}

function toNode(r: { node: string; access_model: AccessModel; persist_items: boolean | number; max_items: number | null; send_last: SendLast }): StoredNode {
  return {
    name: r.node,
    config: {
      accessModel: r.access_model,
      persistItems: readBool(r.persist_items),
      maxItems: r.max_items === null ? 'max' : r.max_items,
      sendLast: r.send_last,
    },
  };
}

function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}
