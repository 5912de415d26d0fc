// Rosters (RFC 6121 §2) and presence subscriptions (§3), with what roster
// versioning (XEP-0237 / RFC 6121 §2.6) needs to send only the changes.
//   roster_items       one row per contact on an account's roster
//   roster_pending     inbound subscription requests not yet answered ("Pending In"),
//                      kept whether or not the requester is on the roster
//   roster_versions    the account's roster version counter and how far back its history goes
//   roster_tombstones  removed items, so a client's cached roster can be brought up to date
import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  // Same column conventions as 0001: byte-order keys, native types on PostgreSQL.
  const key = pg ? sql`text collate "C"` : 'text';
  const text = 'text';
  const timestamp = pg ? 'timestamptz' : 'integer';
  const bool = pg ? 'boolean' : 'integer';
  const int64 = pg ? 'bigint' : 'integer';

  const create = async (table: CreateTableBuilder<string, string>, boolColumns: string[] = []) => {
    if (!pg) {
      for (const c of boolColumns) table = table.addCheckConstraint(`${c}_bool`, sql`${sql.ref(c)} in (0, 1)`);
      table = table.modifyEnd(sql`strict`);
    }
    await table.execute();
  };

  await create(
    db.schema
      .createTable('roster_items')
      .addColumn('domain', key, (c) => c.notNull())
      .addColumn('localpart', key, (c) => c.notNull())
      // The contact's bare JID, prepared.
      .addColumn('contact', key, (c) => c.notNull())
      .addColumn('name', text)
      .addColumn('subscription', text, (c) => c.notNull())
      // 'ask' (Pending Out) and pre-approval (RFC 6121 §3.4).
      .addColumn('ask', bool, (c) => c.notNull())
      .addColumn('approved', bool, (c) => c.notNull())
      // A JSON array of group names.
      .addColumn('groups', text, (c) => c.notNull())
      // The roster version at which this item last changed.
      .addColumn('version', int64, (c) => c.notNull())
      .addPrimaryKeyConstraint('roster_items_pk', ['domain', 'localpart', 'contact'])
      .addCheckConstraint('roster_items_subscription', sql`subscription in ('none', 'to', 'from', 'both')`),
    ['ask', 'approved'],
  );
  // Deleting an account removes it from everyone's roster: find those rows by contact.
  await db.schema.createIndex('roster_items_contact').on('roster_items').column('contact').execute();

  await create(
    db.schema
      .createTable('roster_pending')
      .addColumn('domain', key, (c) => c.notNull())
      .addColumn('localpart', key, (c) => c.notNull())
      // Who asked: a bare JID.
      .addColumn('contact', key, (c) => c.notNull())
      // The subscription request as it arrived (status text, nickname …), redelivered at each login.
      .addColumn('stanza', text, (c) => c.notNull())
      .addColumn('created_at', timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint('roster_pending_pk', ['domain', 'localpart', 'contact']),
  );
  await db.schema.createIndex('roster_pending_contact').on('roster_pending').column('contact').execute();

  await create(
    db.schema
      .createTable('roster_versions')
      .addColumn('domain', key, (c) => c.notNull())
      .addColumn('localpart', key, (c) => c.notNull())
      .addColumn('version', int64, (c) => c.notNull())
      // Every change after this version is known (items' versions and tombstones).
      .addColumn('floor', int64, (c) => c.notNull())
      .addPrimaryKeyConstraint('roster_versions_pk', ['domain', 'localpart'])
      .addCheckConstraint('roster_versions_floor', sql`floor <= version`),
  );

  await create(
    db.schema
      .createTable('roster_tombstones')
      .addColumn('domain', key, (c) => c.notNull())
      .addColumn('localpart', key, (c) => c.notNull())
      .addColumn('contact', key, (c) => c.notNull())
      .addColumn('version', int64, (c) => c.notNull())
      .addPrimaryKeyConstraint('roster_tombstones_pk', ['domain', 'localpart', 'contact']),
  );
}
