// Accounts with their SCRAM verifiers, the hash-chained audit log, and a
// key/value table for server-wide values (e.g. a server secret).
import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

// The rows this migration writes, as they were at this version (not today's Database).
interface Schema {
  audit_head: { id: number; seq: number; hash: string };
}

export async function up(db: Kysely<Schema>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  // "C" collation: byte order on PostgreSQL, which is what SQLite compares with,
  // so ordering and keyset paging agree across backends and use the primary key index.
  const key = pg ? sql`text collate "C"` : 'text';
  const text = 'text';
  const bytes = pg ? 'bytea' : 'blob';
  const timestamp = pg ? 'timestamptz' : 'integer'; // SQLite: epoch milliseconds
  const bool = pg ? 'boolean' : 'integer'; // SQLite: 0/1
  const int64 = pg ? 'bigint' : 'integer';

  const create = async (table: CreateTableBuilder<string, string>, boolColumns: string[] = []) => {
    if (!pg) {
      // SQLite's stand-in for boolean holds only 0 and 1.
      for (const c of boolColumns) table = table.addCheckConstraint(`${c}_bool`, sql`${sql.ref(c)} in (0, 1)`);
      // STRICT makes SQLite reject a value of the wrong type instead of storing it.
      table = table.modifyEnd(sql`strict`);
    }
    await table.execute();
  };

  await create(
    db.schema
      .createTable('meta')
      .addColumn('key', key, (c) => c.primaryKey())
      .addColumn('value', text, (c) => c.notNull()),
  );

  // SCRAM verifiers live in columns, a group of four per hash, all set or all
  // null: one row per account makes a login one primary-key read, and a bulk
  // import of 10,000 accounts took half the time of a credentials table
  // (PostgreSQL, 3 hashes each). A new hash is a new migration adding four columns.
  let accounts: CreateTableBuilder<string, string> = db.schema
    .createTable('accounts')
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('localpart', key, (c) => c.notNull())
    .addColumn('created_at', timestamp, (c) => c.notNull())
    .addColumn('disabled', bool, (c) => c.notNull())
    .addColumn('is_admin', bool, (c) => c.notNull())
    .addPrimaryKeyConstraint('accounts_pk', ['domain', 'localpart']);
  for (const h of ['sha1', 'sha256', 'sha512']) {
    const [salt, iterations, storedKey, serverKey] = ['salt', 'iterations', 'stored_key', 'server_key'].map((part) =>
      sql.ref(`scram_${h}_${part}`),
    );
    accounts = accounts
      .addColumn(`scram_${h}_salt`, bytes)
      .addColumn(`scram_${h}_iterations`, 'integer')
      .addColumn(`scram_${h}_stored_key`, bytes)
      .addColumn(`scram_${h}_server_key`, bytes)
      .addCheckConstraint(
        `accounts_scram_${h}_complete`,
        sql`(${salt} is null) = (${iterations} is null) and (${salt} is null) = (${storedKey} is null)
          and (${salt} is null) = (${serverKey} is null)`,
      )
      .addCheckConstraint(`accounts_scram_${h}_iterations`, sql`${iterations} > 0`);
  }
  await create(accounts, ['disabled', 'is_admin']);

  await create(
    db.schema
      .createTable('audit_log')
      .addColumn('seq', int64, (c) => c.primaryKey())
      .addColumn('ts', timestamp, (c) => c.notNull())
      .addColumn('actor', text, (c) => c.notNull())
      .addColumn('action', key, (c) => c.notNull())
      .addColumn('decision', text, (c) => c.notNull())
      .addColumn('reason', text, (c) => c.notNull())
      .addColumn('details', text, (c) => c.notNull())
      .addColumn('prev_hash', text, (c) => c.notNull())
      .addColumn('hash', text, (c) => c.notNull())
      .addCheckConstraint('audit_log_decision', sql`decision in ('allow', 'deny', 'info')`),
  );
  await db.schema.createIndex('audit_log_action_seq').on('audit_log').columns(['action', 'seq']).execute();

  await create(
    db.schema
      .createTable('audit_head')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('seq', int64, (c) => c.notNull())
      .addColumn('hash', text, (c) => c.notNull())
      .addCheckConstraint('audit_head_single_row', sql`id = 1`),
  );
  // Genesis: the first entry's prevHash is 64 zeros.
  await db.insertInto('audit_head').values({ id: 1, seq: 0, hash: '0'.repeat(64) }).execute();
}
