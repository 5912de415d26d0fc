// Last activity storage (table from migration 0006-last-activity).
import type { ColumnType, Kysely } from 'kysely';
import { readDate } from '../../storage/values.ts';

type Timestamp = ColumnType<Date | number, Date, Date>;

export interface LastActivityTables {
  last_activity: {
    domain: string;
    localpart: string;
    seen_at: Timestamp;
    status: string | null;
  };
}

export interface LastSeen {
  seenAt: Date;
  /** The <status/> of the unavailable presence it logged out with. */
  status: string | undefined;
}

export interface AccountRef {
  domain: string;
  localpart: string;
}

/** Status texts longer than this are cut (they come from the client's own presence). */
export const MAX_STATUS_CHARS = 1024;

export class LastActivityStore {
  readonly #db: Kysely<LastActivityTables>;

  constructor(db: Kysely<any>) {
    this.#db = db as Kysely<LastActivityTables>;
  }

  async get(a: AccountRef): Promise<LastSeen | undefined> {
    const row = await this.#db
      .selectFrom('last_activity')
      .select(['seen_at', 'status'])
      .where('domain', '=', a.domain)
      .where('localpart', '=', a.localpart)
      .executeTakeFirst();
    return row && { seenAt: readDate(row.seen_at), status: row.status ?? undefined };
  }

  async set(a: AccountRef, seen: LastSeen): Promise<void> {
    const status = seen.status === undefined ? null : [...seen.status].slice(0, MAX_STATUS_CHARS).join('');
    await this.#db
      .insertInto('last_activity')
      .values({ domain: a.domain, localpart: a.localpart, seen_at: seen.seenAt, status })
      .onConflict((oc) => oc.columns(['domain', 'localpart']).doUpdateSet({ seen_at: seen.seenAt, status }))
      .execute();
  }

  /** Many accounts at once (e.g. all online accounts when the server stops), in one transaction. */
  async setMany(list: readonly (AccountRef & LastSeen)[]): Promise<void> {
    if (list.length === 0) return;
    await this.#db.transaction().execute(async (trx) => {
      for (let i = 0; i < list.length; i += 500) {
        const rows = list.slice(i, i + 500).map((e) => ({
          domain: e.domain,
          localpart: e.localpart,
          seen_at: e.seenAt,
          status: e.status === undefined ? null : [...e.status].slice(0, MAX_STATUS_CHARS).join(''),
        }));
        await trx
          .insertInto('last_activity')
          .values(rows)
          .onConflict((oc) =>
            oc.columns(['domain', 'localpart']).doUpdateSet((eb) => ({ seen_at: eb.ref('excluded.seen_at'), status: eb.ref('excluded.status') })),
          )
          .execute();
      }
    });
  }
}

/** Part of deleting an account (CLI or server): its last-activity record. */
export async function removeAccountLastActivity(db: Kysely<any>, a: AccountRef): Promise<void> {
  await (db as Kysely<LastActivityTables>).deleteFrom('last_activity').where('domain', '=', a.domain).where('localpart', '=', a.localpart).execute();
}
