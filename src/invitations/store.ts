// The invitations table (migration 0015). An invitation is usable while it is
// neither used, revoked nor expired; claim() takes it in one conditional
// UPDATE, so of two concurrent redemptions exactly one wins.
import type { Kysely } from 'kysely';
import type { Database } from '../storage/types.ts';
import { readInt } from '../storage/values.ts';
import { sameHash } from './token.ts';

type Int64 = import('kysely').ColumnType<number | string, number, number>;
type NullableInt64 = import('kysely').ColumnType<number | string | null, number | null, number | null>;

export type InvitationTables = {
  invitations: {
    id: import('kysely').Generated<number | string>;
    token_hash: string;
    domain: string;
    created_by: string;
    created_at: Int64;
    expires_at: Int64;
    group_name: string | null;
    localpart: string | null;
    used_at: NullableInt64;
    used_by: string | null;
    revoked_at: NullableInt64;
  };
};

export interface Invitation {
  id: number;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date;
  group: string | null;
  /** The user name the invitation is for, when the inviter fixed it. */
  localpart: string | null;
  usedAt: Date | null;
  usedBy: string | null;
  revokedAt: Date | null;
}

export type InvitationState = 'open' | 'used' | 'revoked' | 'expired';

export function invitationState(inv: Invitation, now: number): InvitationState {
  if (inv.usedAt) return 'used';
  if (inv.revokedAt) return 'revoked';
  return inv.expiresAt.getTime() <= now ? 'expired' : 'open';
}

type Row = InvitationTables['invitations'];

function toInvitation(r: { [K in keyof Row]: Row[K] extends import('kysely').ColumnType<infer S, unknown, unknown> ? S : Row[K] }): Invitation {
  const date = (v: number | string | null) => (v === null ? null : new Date(readInt(v)));
  return {
    id: readInt(r.id),
    createdBy: r.created_by,
    createdAt: new Date(readInt(r.created_at)),
    expiresAt: new Date(readInt(r.expires_at)),
    group: r.group_name,
    localpart: r.localpart,
    usedAt: date(r.used_at),
    usedBy: r.used_by,
    revokedAt: date(r.revoked_at),
  };
}

export class InvitationStore {
  readonly #db: Kysely<InvitationTables>;
  readonly #domain: string;

  constructor(db: Kysely<Database>, domain: string) {
    this.#db = db.withTables<InvitationTables>() as unknown as Kysely<InvitationTables>;
    this.#domain = domain;
  }

  async create(o: { tokenHash: string; createdBy: string; expiresAt: Date; group: string | null; localpart: string | null; now?: Date }): Promise<number> {
    const row = await this.#db
      .insertInto('invitations')
      .values({
        token_hash: o.tokenHash,
        domain: this.#domain,
        created_by: o.createdBy,
        created_at: (o.now ?? new Date()).getTime(),
        expires_at: o.expiresAt.getTime(),
        group_name: o.group,
        localpart: o.localpart,
        used_at: null,
        used_by: null,
        revoked_at: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return readInt(row.id);
  }

  async list(): Promise<Invitation[]> {
    const rows = await this.#db.selectFrom('invitations').selectAll().where('domain', '=', this.#domain).orderBy('id').execute();
    return rows.map(toInvitation);
  }

  async get(id: number): Promise<Invitation | undefined> {
    const row = await this.#db.selectFrom('invitations').selectAll().where('domain', '=', this.#domain).where('id', '=', id).executeTakeFirst();
    return row && toInvitation(row);
  }

  /**
   * The invitation whose token has this hash. The lookup goes by the hash (an
   * index), which tells an attacker nothing about any token; the stored hash is
   * then compared in constant time all the same.
   */
  async byTokenHash(tokenHash: string): Promise<Invitation | undefined> {
    const row = await this.#db.selectFrom('invitations').selectAll().where('domain', '=', this.#domain).where('token_hash', '=', tokenHash).executeTakeFirst();
    return row && sameHash(row.token_hash, tokenHash) ? toInvitation(row) : undefined;
  }

  /** False if it was not open (already used, revoked or gone). */
  async revoke(id: number, now = new Date()): Promise<boolean> {
    const r = await this.#db
      .updateTable('invitations')
      .set({ revoked_at: now.getTime() })
      .where('domain', '=', this.#domain)
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Marks the invitation used by `usedBy` if it is still open; true for exactly one caller. */
  async claim(id: number, usedBy: string, now = new Date()): Promise<boolean> {
    const r = await this.#db
      .updateTable('invitations')
      .set({ used_at: now.getTime(), used_by: usedBy })
      .where('domain', '=', this.#domain)
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now.getTime())
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Undoes claim() when the account could not be created after all. */
  async release(id: number, usedBy: string): Promise<void> {
    await this.#db.updateTable('invitations').set({ used_at: null, used_by: null }).where('id', '=', id).where('used_by', '=', usedBy).execute();
  }
}
