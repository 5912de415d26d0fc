// Groups kept in the database (`palisade group …`), next to the groups the
// policy file defines. Members are bare JIDs, local or external.
import type { Kysely } from 'kysely';
import type { Database } from '../storage/types.ts';
import { StorageConflictError } from '../storage/types.ts';
import { readDate } from '../storage/values.ts';

type Timestamp = import('kysely').ColumnType<Date | number, Date, Date>;

export type GroupTables = {
  policy_groups: { name: string; description: string; created_at: Timestamp };
  policy_group_members: { group_name: string; jid: string; added_at: Timestamp };
};

export interface StoredGroup {
  name: string;
  description: string;
  createdAt: Date;
  members: number;
}

export class GroupStore {
  readonly #db: Kysely<GroupTables>;

  constructor(db: Kysely<Database>) {
    this.#db = db.withTables<GroupTables>() as unknown as Kysely<GroupTables>;
  }

  /** Throws StorageConflictError if it exists. */
  async add(name: string, description = ''): Promise<void> {
    if (await this.get(name)) throw new StorageConflictError(`group ${name} already exists`);
    await this.#db.insertInto('policy_groups').values({ name, description, created_at: new Date() }).execute();
  }

  async get(name: string): Promise<StoredGroup | undefined> {
    return (await this.list()).find((g) => g.name === name);
  }

  /** False if there was no such group; its memberships go with it. */
  async remove(name: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('policy_group_members').where('group_name', '=', name).execute();
      const r = await trx.deleteFrom('policy_groups').where('name', '=', name).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async list(): Promise<StoredGroup[]> {
    const groups = await this.#db.selectFrom('policy_groups').selectAll().orderBy('name').execute();
    const counts = await this.#db
      .selectFrom('policy_group_members')
      .select(['group_name', (eb) => eb.fn.countAll<number | string>().as('n')])
      .groupBy('group_name')
      .execute();
    const n = new Map(counts.map((c) => [c.group_name, Number(c.n)]));
    return groups.map((g) => ({ name: g.name, description: g.description, createdAt: readDate(g.created_at), members: n.get(g.name) ?? 0 }));
  }

  async names(): Promise<Set<string>> {
    const rows = await this.#db.selectFrom('policy_groups').select('name').execute();
    return new Set(rows.map((r) => r.name));
  }

  async members(name: string): Promise<string[]> {
    const rows = await this.#db.selectFrom('policy_group_members').select('jid').where('group_name', '=', name).orderBy('jid').execute();
    return rows.map((r) => r.jid);
  }

  /** False if the JID was already a member. The group must exist. */
  async addMember(name: string, jid: string): Promise<boolean> {
    const exists = await this.#db
      .selectFrom('policy_group_members')
      .select('jid')
      .where('group_name', '=', name)
      .where('jid', '=', jid)
      .executeTakeFirst();
    if (exists) return false;
    await this.#db.insertInto('policy_group_members').values({ group_name: name, jid, added_at: new Date() }).execute();
    return true;
  }

  async removeMember(name: string, jid: string): Promise<boolean> {
    const r = await this.#db.deleteFrom('policy_group_members').where('group_name', '=', name).where('jid', '=', jid).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Every membership: bare JID → its groups (sorted). The server keeps this snapshot in memory. */
  async memberships(): Promise<Map<string, string[]>> {
    const rows = await this.#db.selectFrom('policy_group_members').select(['jid', 'group_name']).orderBy('jid').orderBy('group_name').execute();
    const out = new Map<string, string[]>();
    for (const r of rows) {
      const list = out.get(r.jid);
      if (list) list.push(r.group_name);
      else out.set(r.jid, [r.group_name]);
    }
    return out;
  }
}
