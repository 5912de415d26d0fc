// The audit log as a hash chain, in dialect-neutral Kysely.
//
// hash = sha256hex(prevHash + canonicalJson({seq, ts, actor, action, decision, reason, details}))
// with ts as an ISO 8601 string and canonical JSON as in RFC 8785 (keys sorted by
// UTF-16 code units, ECMAScript number and string serialisation). The first
// entry's prevHash is 64 zeros. The audit_head row holds the tip: every append
// locks it, so appenders in any number of processes extend one chain, and
// verify() compares the last entry with it to notice a deleted tail.
import { createHash } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import {
  AUDIT_DECISIONS,
  type AuditEntry,
  type AuditLogTable,
  type AuditStore,
  type AuditVerifyResult,
  type Database,
  type NewAuditEntry,
} from './types.ts';
import { pageLimit, readDate, readInt } from './values.ts';

const GENESIS_HASH = '0'.repeat(64);
const VERIFY_PAGE = 1000;

/** Rows per INSERT of appendMany (9 parameters each, far below SQLite's limit). */
const INSERT_CHUNK = 500;

/** An entry's fields as hashed and stored, checked; its details as canonical JSON text. */
function checkedEntry(e: NewAuditEntry): { fields: Omit<AuditEntry, 'seq' | 'prevHash' | 'hash'>; detailsText: string } {
  const ts = e.ts ?? new Date();
  if (Number.isNaN(ts.getTime())) throw new RangeError('audit entry ts is an invalid Date');
  if (!AUDIT_DECISIONS.includes(e.decision)) throw new TypeError(`bad audit decision ${String(e.decision)}`);
  for (const field of ['actor', 'action', 'reason'] as const) checkText(field, e[field]);
  const detailsText = canonicalJson(JSON.parse(JSON.stringify(e.details ?? {})));
  const details = JSON.parse(detailsText) as unknown;
  if (details === null || typeof details !== 'object' || Array.isArray(details)) {
    throw new TypeError('audit entry details must be a JSON object');
  }
  return { fields: { ts, actor: e.actor, action: e.action, decision: e.decision, reason: e.reason, details: details as Record<string, unknown> }, detailsText };
}

export class KyselyAuditStore implements AuditStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async append(e: NewAuditEntry): Promise<AuditEntry> {
    return (await this.appendMany([e]))[0]!;
  }

  /**
   * Appends entries in order in one transaction: one lock of the head and one
   * commit for all (a burst of refusals or logins need not commit each). Every
   * entry is checked first; one that is refused refuses the whole call.
   */
  async appendMany(list: readonly NewAuditEntry[]): Promise<AuditEntry[]> {
    const checked = list.map(checkedEntry);
    if (checked.length === 0) return [];
    return this.#db.transaction().execute(async (trx) => {
      // The no-op update takes the head's row lock (PostgreSQL) or the write lock
      // (SQLite) and returns the tip as it is once we hold it.
      const head = await trx
        .updateTable('audit_head')
        .set((eb) => ({ seq: eb.ref('seq').$castTo<number>() }))
        .where('id', '=', 1)
        .returning(['seq', 'hash'])
        .executeTakeFirst();
      if (!head) throw new Error('audit chain head row is missing: the audit log has been tampered with');
      let seq = readInt(head.seq);
      let prevHash = head.hash;
      const entries: AuditEntry[] = [];
      for (const c of checked) {
        const unhashed: Omit<AuditEntry, 'hash'> = { seq: ++seq, ...c.fields, prevHash };
        const entry: AuditEntry = { ...unhashed, hash: entryHash(unhashed) };
        entries.push(entry);
        prevHash = entry.hash;
      }
      for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
        await trx
          .insertInto('audit_log')
          .values(
            entries.slice(i, i + INSERT_CHUNK).map((entry, k) => ({
              seq: entry.seq,
              ts: entry.ts,
              actor: entry.actor,
              action: entry.action,
              decision: entry.decision,
              reason: entry.reason,
              details: checked[i + k]!.detailsText,
              prev_hash: entry.prevHash,
              hash: entry.hash,
            })),
          )
          .execute();
      }
      const last = entries.at(-1)!;
      await trx.updateTable('audit_head').set({ seq: last.seq, hash: last.hash }).where('id', '=', 1).execute();
      return entries;
    });
  }

  async list(opts: { afterSeq?: number; limit?: number; action?: string } = {}): Promise<AuditEntry[]> {
    const rows = await this.#db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '>', opts.afterSeq ?? 0)
      .$if(opts.action !== undefined, (q) => q.where('action', '=', opts.action!))
      .orderBy('seq')
      .limit(pageLimit(opts.limit))
      .execute();
    return rows.map(rowToEntry);
  }

  async verify(): Promise<AuditVerifyResult> {
    // Read the tip first and check only up to it: entries appended while we
    // verify are not part of what we were asked about.
    const head = await this.#db.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirst();
    if (!head) return { ok: false, brokenAtSeq: 0, reason: 'the chain head row is missing' };
    const headSeq = readInt(head.seq);
    let prevSeq = 0;
    let prevHash = GENESIS_HASH;
    for (;;) {
      const rows = await this.#db
        .selectFrom('audit_log')
        .selectAll()
        .where('seq', '>', prevSeq)
        .where('seq', '<=', headSeq)
        .orderBy('seq')
        .limit(VERIFY_PAGE)
        .execute();
      for (const row of rows) {
        const seq = readInt(row.seq);
        if (seq !== prevSeq + 1) {
          return { ok: false, brokenAtSeq: prevSeq + 1, reason: `entry ${prevSeq + 1} is missing (next present entry is ${seq})` };
        }
        if (row.prev_hash !== prevHash) {
          return { ok: false, brokenAtSeq: seq, reason: `entry ${seq} does not link to entry ${prevSeq} (prevHash differs)` };
        }
        let entry: AuditEntry;
        try {
          entry = rowToEntry(row);
        } catch {
          return { ok: false, brokenAtSeq: seq, reason: `entry ${seq} has unreadable details` };
        }
        if (entryHash(entry) !== row.hash) {
          return { ok: false, brokenAtSeq: seq, reason: `entry ${seq} was modified (its content does not match its hash)` };
        }
        prevSeq = seq;
        prevHash = row.hash;
      }
      if (rows.length < VERIFY_PAGE) break;
    }
    if (prevSeq !== headSeq) {
      return { ok: false, brokenAtSeq: prevSeq + 1, reason: `entries ${prevSeq + 1} to ${headSeq} are missing` };
    }
    if (prevHash !== head.hash) {
      return { ok: false, brokenAtSeq: headSeq, reason: `the chain head does not match entry ${headSeq}` };
    }
    return { ok: true, count: headSeq };
  }
}

function rowToEntry(row: Selectable<AuditLogTable>): AuditEntry {
  return {
    seq: readInt(row.seq),
    ts: readDate(row.ts),
    actor: row.actor,
    action: row.action,
    decision: row.decision,
    reason: row.reason,
    details: JSON.parse(row.details) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  const { seq, ts, actor, action, decision, reason, details } = e;
  const body = canonicalJson({ seq, ts: ts.toISOString(), actor, action, decision, reason, details });
  return createHash('sha256').update(e.prevHash + body, 'utf8').digest('hex');
}

/** RFC 8785 form of a JSON value (already passed through JSON, so no undefined, Date or function). */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

// UTF-8 cannot carry a lone surrogate and PostgreSQL text cannot carry NUL: either
// would be stored differently from what was hashed (or not at all on one backend).
function checkText(field: string, value: string): void {
  if (typeof value !== 'string' || /[\0\p{Cs}]/u.test(value)) {
    throw new TypeError(`audit entry ${field} must be a string without NUL or unpaired surrogates`);
  }
}
