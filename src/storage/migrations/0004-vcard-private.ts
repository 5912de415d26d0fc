// vCards (XEP-0054) with the avatar hash XEP-0153 puts in presence, and private
// XML storage (XEP-0049). Both keep the element as XML text, with its UTF-8
// length for limits.
import { sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const timestamp = pg ? 'timestamptz' : 'integer'; // SQLite: epoch milliseconds
  const create = async (table: CreateTableBuilder<string, string>) => {
    await (pg ? table : table.modifyEnd(sql`strict`)).execute();
  };

  await create(
    db.schema
      .createTable('vcards')
      .addColumn('domain', key, (c) => c.notNull())
      .addColumn('localpart', key, (c) => c.notNull())
      .addColumn('xml', 'text', (c) => c.notNull())
      .addColumn('bytes', 'integer', (c) => c.notNull())
      // SHA-1 (hex) of the PHOTO/BINVAL bytes; '' when the vCard has no image.
      .addColumn('photo_hash', 'text', (c) => c.notNull())
      .addColumn('updated_at', timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint('vcards_pk', ['domain', 'localpart'])
      .addCheckConstraint('vcards_photo_hash', sql`photo_hash = '' or length(photo_hash) = 40`)
      .addForeignKeyConstraint('vcards_account', ['domain', 'localpart'], 'accounts', ['domain', 'localpart'], (fk) => fk.onDelete('cascade')),
  );

  await create(
    db.schema
      .createTable('private_xml')
      .addColumn('domain', key, (c) => c.notNull())
      .addColumn('localpart', key, (c) => c.notNull())
      .addColumn('ns', key, (c) => c.notNull())
      .addColumn('name', key, (c) => c.notNull())
      .addColumn('xml', 'text', (c) => c.notNull())
      .addColumn('bytes', 'integer', (c) => c.notNull())
      .addColumn('updated_at', timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint('private_xml_pk', ['domain', 'localpart', 'ns', 'name'])
      .addForeignKeyConstraint('private_xml_account', ['domain', 'localpart'], 'accounts', ['domain', 'localpart'], (fk) =>
        fk.onDelete('cascade'),
      ),
  );
}
