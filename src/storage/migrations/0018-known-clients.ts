// Known clients (sessions module, issue #7): per account, the client software
// and the IP address prefixes it logged in with lately, so a login from
// something new can be told to the account's other sessions. Only a prefix of
// the address is kept (a /24 or /48), and only the last few of each kind.
import { sql, type Kysely } from 'kysely';
import type { Backend } from '../types.ts';

export async function up(db: Kysely<any>, backend: Backend): Promise<void> {
  const pg = backend === 'postgres';
  const key = pg ? sql`text collate "C"` : 'text';
  const int64 = pg ? 'bigint' : 'integer';

  let table = db.schema
    .createTable('known_clients')
    .addColumn('domain', key, (c) => c.notNull())
    .addColumn('localpart', key, (c) => c.notNull())
    // 'client': the software's name, lower case; 'ip': an address prefix in CIDR notation.
    .addColumn('kind', key, (c) => c.notNull())
    .addColumn('value', key, (c) => c.notNull())
    // Epoch milliseconds.
    .addColumn('first_seen', int64, (c) => c.notNull())
    .addColumn('last_seen', int64, (c) => c.notNull())
    .addPrimaryKeyConstraint('known_clients_pk', ['domain', 'localpart', 'kind', 'value'])
    .addCheckConstraint('known_clients_kind', sql`kind in ('client', 'ip')`);
  if (!pg) table = table.modifyEnd(sql`strict`);
  await table.execute();
}
