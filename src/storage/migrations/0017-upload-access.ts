// HTTP upload download permissions: which accounts (and rooms) a file was
// shared with in a message the policy allowed (docs/modules/http-upload.md,
// "Who may download"). One row per file and principal; rows go with their file.
import { sql, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  let access = db.schema
    .createTable('http_upload_access')
    // The file's get_token (http_upload_files); no foreign key, like the files table itself: the purge removes both.
    .addColumn('get_token', key, (c) => c.notNull())
    // A bare JID: an account, or a room whose occupants may download too.
    .addColumn('principal', key, (c) => c.notNull())
    .addPrimaryKeyConstraint('http_upload_access_pk', ['get_token', 'principal']);
  if (!pg) access = access.modifyEnd(sql`strict`);
  await access.execute();
}
