// (Slot 0009/0010 was released empty, so the tables come here.)
// Personal eventing (XEP-0163): each account's pubsub nodes with their
// configuration in columns (what the access check reads on every request), and
// the items published to them. An item keeps its payload as XML text (the
// user's data, stored as sent) with its UTF-8 length; `seq` orders the items
// of a node by publication (a re-published id moves to the end).
import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const timestamp = pg ? 'timestamptz' : 'integer'; // SQLite: epoch milliseconds
  const bool = pg ? 'boolean' : 'integer'; // SQLite: 0/1
  const int64 = pg ? 'bigint' : 'integer';
  const create = async (table: CreateTableBuilder<string, string>) => {
    await (pg ? table : table.modifyEnd(sql`strict`)).execute();
  };

  let nodes = db.schema
    .createTable('pep_nodes')
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('localpart', key, (c) => c.notNull())
    .addColumn('node', key, (c) => c.notNull())
    .addColumn('access_model', 'text', (c) => c.notNull())
    .addColumn('persist_items', bool, (c) => c.notNull())
    // null: 'max', whatever the server's cap is when the node is used.
    .addColumn('max_items', 'integer')
    .addColumn('send_last', 'text', (c) => c.notNull())
    .addColumn('created_at', timestamp, (c) => c.notNull())
    .addPrimaryKeyConstraint('pep_nodes_pk', ['domain', 'localpart', 'node'])
    .addCheckConstraint('pep_nodes_access_model', sql`access_model in ('open', 'presence', 'whitelist')`)
    .addCheckConstraint('pep_nodes_send_last', sql`send_last in ('never', 'on_sub', 'on_sub_and_presence')`)
    .addCheckConstraint('pep_nodes_max_items', sql`max_items is null or max_items >= 1`)
    .addForeignKeyConstraint('pep_nodes_account', ['domain', 'localpart'], 'accounts', ['domain', 'localpart'], (fk) => fk.onDelete('cascade'));
  if (!pg) nodes = nodes.addCheckConstraint('pep_nodes_persist_items_bool', sql`persist_items in (0, 1)`);
  await create(nodes);

  await create(
    db.schema
      .createTable('pep_items')
      .addColumn('domain', key, (c) => c.notNull())
      .addColumn('localpart', key, (c) => c.notNull())
      .addColumn('node', key, (c) => c.notNull())
      .addColumn('item_id', key, (c) => c.notNull())
      .addColumn('seq', int64, (c) => c.notNull())
      .addColumn('xml', 'text', (c) => c.notNull())
      .addColumn('bytes', 'integer', (c) => c.notNull())
      // The publisher's bare JID.
      .addColumn('publisher', 'text', (c) => c.notNull())
      .addColumn('published_at', timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint('pep_items_pk', ['domain', 'localpart', 'node', 'item_id'])
      .addCheckConstraint('pep_items_bytes', sql`bytes >= 0`)
      // Deleting a node (or, through it, the account) deletes its items.
      .addForeignKeyConstraint('pep_items_node', ['domain', 'localpart', 'node'], 'pep_nodes', ['domain', 'localpart', 'node'], (fk) =>
        fk.onDelete('cascade'),
      ),
  );
  await db.schema.createIndex('pep_items_node_seq').on('pep_items').columns(['domain', 'localpart', 'node', 'seq']).execute();
}
