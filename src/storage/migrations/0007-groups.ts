// Policy (issue 6): groups managed with `palisade group` and their members, and
// the Ed25519-signed checkpoints of the audit log (src/policy/audit-log.ts).
//
// Members are bare JIDs, local or external (a partner group may list accounts
// of other servers); they are not tied to the accounts table, so a group may
// name an account before it exists.
import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const timestamp = pg ? 'timestamptz' : 'integer'; // SQLite: epoch milliseconds
  const int64 = pg ? 'bigint' : 'integer';
  const create = async (table: CreateTableBuilder<string, string>) => {
    await (pg ? table : table.modifyEnd(sql`strict`)).execute();
  };

  await create(
    db.schema
      .createTable('policy_groups')
      .addColumn('name', key, (c) => c.primaryKey())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('created_at', timestamp, (c) => c.notNull()),
  );
  await create(
    db.schema
      .createTable('policy_group_members')
      .addColumn('group_name', key, (c) => c.notNull())
      .addColumn('jid', key, (c) => c.notNull())
      .addColumn('added_at', timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint('policy_group_members_pk', ['group_name', 'jid'])
      .addForeignKeyConstraint('policy_group_members_group', ['group_name'], 'policy_groups', ['name'], (fk) => fk.onDelete('cascade')),
  );
  await db.schema.createIndex('policy_group_members_jid').on('policy_group_members').columns(['jid', 'group_name']).execute();

  // Signed statements "entry <seq> of the audit log has hash <hash>": a
  // checkpoint every N entries, and the seal (one row, id 1) that is moved
  // forward to the newest entry after every append.
  await create(
    db.schema
      .createTable('audit_checkpoints')
      .addColumn('seq', int64, (c) => c.primaryKey())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('ts', timestamp, (c) => c.notNull())
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('signature', 'text', (c) => c.notNull()),
  );
  await create(
    db.schema
      .createTable('audit_seal')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('seq', int64, (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('ts', timestamp, (c) => c.notNull())
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('signature', 'text', (c) => c.notNull())
      .addCheckConstraint('audit_seal_single_row', sql`id = 1`),
  );
}
