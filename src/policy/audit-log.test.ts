// `palisade audit verify` underneath: the chain and the Ed25519 signatures find
// an edited entry, a deleted one, two swapped ones, a tail cut off after the
// last checkpoint (with the chain head rewritten to match), and a chain
// recomputed by someone without the key; an untouched log passes.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openStorage } from '../storage/index.ts';
import type { Storage } from '../storage/types.ts';
import { AUDIT_KEY_FILE, AUDIT_SEAL_FILE, SignedAuditLog, auditEntriesSince, loadOrCreateAuditKey, verifyAuditLog } from './audit-log.ts';

describe('signed audit log', () => {
  let dir: string;
  let storage: Storage;
  let log: SignedAuditLog;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-audit-'));
    storage = await openStorage({ backend: 'sqlite', path: join(dir, 'db.sqlite') });
    log = new SignedAuditLog(storage, loadOrCreateAuditKey(dir), { dataDir: dir, checkpointEvery: 5 });
    for (let i = 1; i <= 12; i++) {
      await log.append({ actor: `user${i}@example.org`, action: i % 2 ? 'login' : 'stanza.message', decision: i % 3 ? 'allow' : 'deny', reason: `entry ${i}`, details: { n: i } });
    }
    await log.flush();
  });
  afterEach(async () => {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const exec = (q: ReturnType<typeof sql>) => q.execute(storage.db);

  test('an untouched log passes: 12 entries, checkpoints at 5 and 10, sealed up to 12; the key is private', async () => {
    const r = await verifyAuditLog(storage, dir);
    assert.deepEqual(r, { ok: true, count: 12, checkpoints: 2, sealedTo: 12, warnings: [] });
    assert.equal(statSync(join(dir, AUDIT_KEY_FILE)).mode & 0o777, 0o600);
  });

  test('an edited entry is named', async () => {
    await exec(sql`update audit_log set reason = 'nothing happened' where seq = 3`);
    const r = await verifyAuditLog(storage, dir);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.brokenAtSeq, 3);
    assert.match(!r.ok ? r.reason : '', /entry 3 was modified/);
  });

  test('a deleted entry is named', async () => {
    await exec(sql`delete from audit_log where seq = 4`);
    const r = await verifyAuditLog(storage, dir);
    assert.equal(!r.ok && r.brokenAtSeq, 4);
    assert.match(!r.ok ? r.reason : '', /entry 4 is missing/);
  });

  test('two swapped entries: the first of them is named', async () => {
    await exec(sql`update audit_log set seq = -7 where seq = 7`);
    await exec(sql`update audit_log set seq = 7 where seq = 6`);
    await exec(sql`update audit_log set seq = 6 where seq = -7`);
    const r = await verifyAuditLog(storage, dir);
    assert.equal(!r.ok && r.brokenAtSeq, 6);
  });

  test('a tail cut off after the last checkpoint, with the chain head rewritten to match, is detected by the seal', async () => {
    await exec(sql`delete from audit_log where seq > 10`);
    await exec(sql`update audit_head set seq = 10, hash = (select hash from audit_log where seq = 10) where id = 1`);
    assert.equal((await storage.audit.verify()).ok, true, 'the hash chain alone cannot see this');
    const r = await verifyAuditLog(storage, dir);
    assert.equal(!r.ok && r.brokenAtSeq, 11);
    assert.match(!r.ok ? r.reason : '', /entries 11 to 12 are missing.*tail truncated/);
  });

  test('… also when the seal row is deleted too (the copy in data_dir remains)', async () => {
    await exec(sql`delete from audit_log where seq > 10`);
    await exec(sql`update audit_head set seq = 10, hash = (select hash from audit_log where seq = 10) where id = 1`);
    await exec(sql`delete from audit_seal`);
    const r = await verifyAuditLog(storage, dir);
    assert.equal(!r.ok && r.brokenAtSeq, 11);
    assert.match(!r.ok ? r.reason : '', new RegExp(AUDIT_SEAL_FILE));
  });

  test('a tail cut off before a checkpoint is detected by the checkpoint', async () => {
    await exec(sql`delete from audit_log where seq > 7`);
    await exec(sql`update audit_head set seq = 7, hash = (select hash from audit_log where seq = 7) where id = 1`);
    await exec(sql`delete from audit_seal`);
    rmSync(join(dir, AUDIT_SEAL_FILE));
    const r = await verifyAuditLog(storage, dir);
    assert.equal(!r.ok && r.brokenAtSeq, 8);
    assert.match(!r.ok ? r.reason : '', /signed checkpoint shows it reached entry 10/);
  });

  test('an entry edited and the whole chain recomputed (no key needed for that) breaks the first checkpoint after it', async () => {
    await exec(sql`update audit_log set reason = 'nothing happened' where seq = 3`);
    const rows = (await exec(sql`select * from audit_log order by seq`)).rows as Record<string, unknown>[];
    let prev = '0'.repeat(64);
    for (const row of rows) {
      const body = canonical({
        seq: Number(row.seq),
        ts: new Date(Number(row.ts)).toISOString(),
        actor: row.actor,
        action: row.action,
        decision: row.decision,
        reason: row.reason,
        details: JSON.parse(String(row.details)),
      });
      const hash = createHash('sha256').update(prev + body, 'utf8').digest('hex');
      await exec(sql`update audit_log set prev_hash = ${prev}, hash = ${hash} where seq = ${row.seq}`);
      prev = hash;
    }
    await exec(sql`update audit_head set hash = ${prev} where id = 1`);
    assert.equal((await storage.audit.verify()).ok, true, 'the recomputed chain is consistent');
    const r = await verifyAuditLog(storage, dir);
    assert.equal(!r.ok && r.brokenAtSeq, 1);
    assert.match(!r.ok ? r.reason : '', /entries 1 to 5 were rewritten/);
  });

  test('a forged checkpoint signature is refused; without the key nothing can be checked', async () => {
    await exec(sql`update audit_checkpoints set signature = ${Buffer.alloc(64).toString('base64')} where seq = 5`);
    const r = await verifyAuditLog(storage, dir);
    assert.equal(!r.ok && r.brokenAtSeq, 5);
    assert.match(!r.ok ? r.reason : '', /invalid signature/);
    rmSync(join(dir, AUDIT_KEY_FILE));
    const noKey = await verifyAuditLog(storage, dir);
    assert.match(!noKey.ok ? noKey.reason : '', /signing key .* is missing/);
  });

  test('entries appended without the key are reported as not yet signed', async () => {
    await storage.audit.append({ actor: 'x', action: 'y', decision: 'info', reason: 'direct' });
    const r = await verifyAuditLog(storage, dir);
    assert.equal(r.ok, true);
    assert.deepEqual(r.warnings, ['entries 13 to 13 are not yet covered by a signature (appended moments before the server stopped abruptly, or by a process without the signing key)']);
  });

  test('appends made together are written in one transaction, in call order; a refused one fails alone', async () => {
    const calls: number[] = [];
    const appendMany = storage.audit.appendMany.bind(storage.audit);
    storage.audit.appendMany = (list) => (calls.push(list.length), appendMany(list));
    const entry = (n: number) => ({ actor: `user${n}@example.org`, action: 'login', decision: 'allow' as const, reason: `together ${n}` });
    const together = await Promise.all([13, 14, 15].map((n) => log.append(entry(n))));
    assert.deepEqual(calls, [3], 'one batch');
    assert.deepEqual(
      together.map((e) => [e.seq, e.reason]),
      [
        [13, 'together 13'],
        [14, 'together 14'],
        [15, 'together 15'],
      ],
    );
    calls.length = 0;
    const mixed = await Promise.allSettled([log.append(entry(16)), log.append({ ...entry(0), reason: 'nul\u0000byte' }), log.append(entry(17))]);
    assert.deepEqual(
      mixed.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.deepEqual(calls, [3, 1, 1, 1], 'the batch was refused, then each entry was tried alone');
    await log.flush();
    const r = await verifyAuditLog(storage, dir);
    assert.equal(r.ok, true);
    assert.equal(r.ok && r.count, 17);
  });

  test('a burst of appends is sealed once, shortly after, up to its newest entry', async () => {
    const sealed = async () => {
      const r = await verifyAuditLog(storage, dir);
      assert.equal(r.ok, true);
      return r.ok ? r.sealedTo : -1;
    };
    for (let i = 13; i <= 20; i++) await log.append({ actor: `user${i}@example.org`, action: 'login', decision: 'allow', reason: `entry ${i}` });
    assert.equal(await sealed(), 12, 'not sealed at once: one signature covers the burst');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await sealed(), 20);
    assert.deepEqual((await verifyAuditLog(storage, dir)).warnings, []);
  });

  test('export from a time on', async () => {
    const all = [];
    for await (const e of auditEntriesSince(storage, new Date(0))) all.push(e.seq);
    assert.deepEqual(all, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const none = [];
    for await (const e of auditEntriesSince(storage, new Date(Date.now() + 60_000))) none.push(e);
    assert.deepEqual(none, []);
  });
});

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
