// Last activity (XEP-0012): when each account last went offline, and the status
// text of its last unavailable presence.
import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const timestamp = pg ? 'timestamptz' : 'integer';

  let table: CreateTableBuilder<string, string> = db.schema
    .createTable('last_activity')
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('localpart', key, (c) => c.notNull())
    .addColumn('seen_at', timestamp, (c) => c.notNull())
    .addColumn('status', 'text')
    .addPrimaryKeyConstraint('last_activity_pk', ['domain', 'localpart']);
  if (!pg) table = table.modifyEnd(sql`strict`);
  await table.execute();
}
