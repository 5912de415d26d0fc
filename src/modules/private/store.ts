// Private XML (XEP-0049) in the shared database (table `private_xml`,
// migration 0004-vcard-private): one row per account, namespace and element name.
import type { ColumnType, Kysely } from 'kysely';
import { readInt } from '../../storage/values.ts';

type Timestamp = ColumnType<Date | number, Date, Date>;

export interface PrivateXmlTable {
  domain: string;
  localpart: string;
  ns: string;
  name: string;
  /** The element as XML text. */
  xml: string;
  bytes: number;
  updated_at: Timestamp;
}

export interface PrivateTables {
  private_xml: PrivateXmlTable;
}

/** One element of a set: its XML text, or null to delete what is stored under its name. */
export interface PrivateItem {
  ns: string;
  name: string;
  xml: string | null;
}

export class PrivateLimitError extends Error {
  override name = 'PrivateLimitError';
  constructor(readonly items: number) {
    super(`the account would hold ${items} private elements`);
  }
}

export class PrivateStore {
  readonly #db: Kysely<PrivateTables>;

  constructor(db: Kysely<PrivateTables>) {
    this.#db = db;
  }

  async get(domain: string, localpart: string, ns: string, name: string): Promise<string | undefined> {
    const row = await this.#db
      .selectFrom('private_xml')
      .select('xml')
      .where('domain', '=', domain)
      .where('localpart', '=', localpart)
      .where('ns', '=', ns)
      .where('name', '=', name)
      .executeTakeFirst();
    return row?.xml;
  }

  async count(domain: string, localpart: string): Promise<number> {
    const row = await this.#db
      .selectFrom('private_xml')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('domain', '=', domain)
      .where('localpart', '=', localpart)
      .executeTakeFirstOrThrow();
    return readInt(row.n);
  }

  /**
   * Writes every item in one transaction: all of them or, when the account
   * would end up with more than maxItems elements, none (PrivateLimitError).
   */
  async set(domain: string, localpart: string, items: readonly PrivateItem[], maxItems: number, now = new Date()): Promise<void> {
    await this.#db.transaction().execute(async (tx) => {
      for (const it of items) {
        if (it.xml === null) {
          await tx
            .deleteFrom('private_xml')
            .where('domain', '=', domain)
            .where('localpart', '=', localpart)
            .where('ns', '=', it.ns)
            .where('name', '=', it.name)
            .execute();
          continue;
        }
        const bytes = Buffer.byteLength(it.xml, 'utf8');
        await tx
          .insertInto('private_xml')
          .values({ domain, localpart, ns: it.ns, name: it.name, xml: it.xml, bytes, updated_at: now })
          .onConflict((oc) => oc.columns(['domain', 'localpart', 'ns', 'name']).doUpdateSet({ xml: it.xml!, bytes, updated_at: now }))
          .execute();
      }
      const n = await new PrivateStore(tx).count(domain, localpart);
      if (n > maxItems) throw new PrivateLimitError(n);
    });
  }
}
