// HTTP upload (XEP-0363): one row per upload slot, from the slot request to
// expiry. The file itself is encrypted in <data_dir>/uploads/<blob>; the row
// keeps its wrapped key. Rows belong to accounts but outlive nothing: an
// account's files expire with everyone else's, so no foreign key.
import { sql, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const int64 = pg ? 'bigint' : 'integer';

  let files = db.schema
    .createTable('http_upload_files')
    // The secret in the GET URL; put_token is the one in the PUT URL, used once.
    .addColumn('get_token', key, (c) => c.primaryKey())
    .addColumn('put_token', key, (c) => c.notNull().unique())
    // The uploader's bare JID (daily quota).
    .addColumn('owner', key, (c) => c.notNull())
    .addColumn('filename', 'text', (c) => c.notNull())
    .addColumn('size', int64, (c) => c.notNull())
    .addColumn('content_type', 'text')
    .addColumn('detected_type', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    // Name of the encrypted file in the uploads folder.
    .addColumn('blob', key, (c) => c.notNull().unique())
    .addColumn('wrapped_key', 'text')
    .addColumn('iv', 'text')
    .addColumn('tag', 'text')
    .addColumn('threat', 'text')
    // Epoch milliseconds.
    .addColumn('created_at', int64, (c) => c.notNull())
    .addColumn('expires_at', int64, (c) => c.notNull())
    .addCheckConstraint('http_upload_files_status', sql`status in ('pending', 'receiving', 'available', 'quarantined', 'failed')`);
  if (!pg) files = files.modifyEnd(sql`strict`);
  await files.execute();
  await db.schema.createIndex('http_upload_files_owner').on('http_upload_files').columns(['owner', 'created_at']).execute();
  await db.schema.createIndex('http_upload_files_expires').on('http_upload_files').column('expires_at').execute();
}
