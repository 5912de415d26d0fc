// What the policy tests check after a refusal: the audit entry it produced.
// The decision point appends it off the stanza path (decision-point.ts), so a
// test reads the log position before acting and then waits for the entry.
import assert from 'node:assert/strict';
import type { AuditEntry } from '../../src/storage/types.ts';
import type { TestServer } from './server.ts';

/** The sequence number of the last audit entry (0 when the log is empty). */
export async function lastAuditSeq(ts: TestServer): Promise<number> {
  let seq = 0;
  for (;;) {
    const page = await ts.server.storage.audit.list({ afterSeq: seq, limit: 1000 });
    if (page.length === 0) return seq;
    seq = page[page.length - 1]!.seq;
  }
}

/** The first audit entry after `since` that matches, waited for up to a second. */
export async function auditEntry(ts: TestServer, since: number, match: (e: AuditEntry) => boolean): Promise<AuditEntry> {
  for (let i = 0; i < 50; i++) {
    const found = (await ts.server.storage.audit.list({ afterSeq: since, limit: 1000 })).find(match);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail('no matching audit entry');
}

/** The audit entry of a refusal by rule `rule` after `since` (of this actor, action and target), checked: denied, with the text and condition. */
export async function deniedBy(
  ts: TestServer,
  since: number,
  rule: string,
  want: { actor: string; action: string; text: string; condition?: string; target?: string },
): Promise<AuditEntry> {
  const e = await auditEntry(
    ts,
    since,
    (a) => a.details.rule === rule && a.actor === want.actor && a.action === want.action && (want.target === undefined || a.details.target === want.target),
  );
  assert.equal(e.decision, 'deny');
  assert.equal(e.reason, want.text);
  assert.equal(e.details.condition, want.condition ?? 'policy-violation');
  return e;
}
