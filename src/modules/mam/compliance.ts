// The compliance archive (table compliance_messages, migration 0019): the
// organisation's copy of every archivable message of an account whose
// archiving mode is 'compliance' (docs/policy.md "Archiving"), whatever the
// account's own preferences say. Users never query it; it leaves the server
// only through `palisade archive export`, which is audited. Each copy expires
// at its own time (the policy's retention_days when it was stored), and not
// while its account is on legal hold.
import type { ColumnType, Generated, Kysely } from 'kysely';
import { readInt } from '../../storage/values.ts';
import { notHeld } from './holds.ts';
import type { Direction, Owner, RunWrite } from './store.ts';

type Int64 = ColumnType<number | string, number, number>;

export interface ComplianceTables {
  compliance_messages: {
    id: Generated<number | string>;
    domain: string;
    localpart: string;
    stanza_id: string;
    user_stanza_id: string | null;
    peer: string;
    peer_resource: string;
    direction: Direction;
    stored_at: Int64;
    expires_at: Int64;
    xml: string;
  };
}

export interface NewComplianceCopy {
  owner: Owner;
  stanzaId: string;
  /** The id of the same message in the owner's own archive; undefined when the owner's archive kept none. */
  userStanzaId: string | undefined;
  peer: string;
  peerResource: string;
  direction: Direction;
  storedAt: Date;
  expiresAt: Date;
  xml: string;
}

export interface ComplianceCopy extends NewComplianceCopy {
  id: number;
}

export interface ComplianceRange {
  since?: Date;
  until?: Date;
}

export class ComplianceStore {
  readonly #db: Kysely<ComplianceTables>;
  readonly #runWrite: RunWrite;

  /** `runWrite` runs the inserts (Storage.runWrite: off the event loop on SQLite); by default on `db`. */
  constructor(db: Kysely<ComplianceTables>, runWrite?: RunWrite) {
    this.#db = db;
    this.#runWrite = runWrite ?? ((q) => db.executeQuery(q.compile()).then(() => undefined));
  }

  async add(rows: readonly NewComplianceCopy[]): Promise<void> {
    if (rows.length === 0) return;
    await this.#runWrite(
      this.#db.insertInto('compliance_messages').values(
        rows.map((r) => ({
          domain: r.owner.domain,
          localpart: r.owner.localpart,
          stanza_id: r.stanzaId,
          user_stanza_id: r.userStanzaId ?? null,
          peer: r.peer,
          peer_resource: r.peerResource,
          direction: r.direction,
          stored_at: r.storedAt.getTime(),
          expires_at: r.expiresAt.getTime(),
          xml: r.xml,
        })),
      ),
    );
  }

  /** Up to `limit` copies of the owner's, in archive order after row `afterId`, stored within the range (inclusive). */
  async page(owner: Owner, range: ComplianceRange, afterId: number, limit: number): Promise<ComplianceCopy[]> {
    let q = this.#db
      .selectFrom('compliance_messages')
      .selectAll()
      .where('domain', '=', owner.domain)
      .where('localpart', '=', owner.localpart)
      .where('id', '>', afterId);
    if (range.since) q = q.where('stored_at', '>=', range.since.getTime());
    if (range.until) q = q.where('stored_at', '<=', range.until.getTime());
    const rows = await q.orderBy('id').limit(limit).execute();
    return rows.map((r) => ({
      id: readInt(r.id),
      owner: { domain: r.domain, localpart: r.localpart },
      stanzaId: r.stanza_id,
      userStanzaId: r.user_stanza_id ?? undefined,
      peer: r.peer,
      peerResource: r.peer_resource,
      direction: r.direction,
      storedAt: new Date(readInt(r.stored_at)),
      expiresAt: new Date(readInt(r.expires_at)),
      xml: r.xml,
    }));
  }

  /** Copies of the owner's stored within the range. */
  async count(owner: Owner, range: ComplianceRange): Promise<number> {
    let q = this.#db.selectFrom('compliance_messages').where('domain', '=', owner.domain).where('localpart', '=', owner.localpart);
    if (range.since) q = q.where('stored_at', '>=', range.since.getTime());
    if (range.until) q = q.where('stored_at', '<=', range.until.getTime());
    const r = await q.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow();
    return readInt(r.n);
  }

  async has(owner: Owner): Promise<boolean> {
    return (await this.page(owner, {}, 0, 1)).length > 0;
  }

  /** Deletes up to `limit` copies that expired before `now`, except those of accounts on legal hold; returns how many. */
  async purgeBatch(now: Date, limit: number): Promise<number> {
    const r = await this.#db
      .deleteFrom('compliance_messages')
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('compliance_messages')
          .select('id')
          .where('expires_at', '<', now.getTime())
          .where(notHeld('compliance_messages'))
          .orderBy('id')
          .limit(limit),
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
