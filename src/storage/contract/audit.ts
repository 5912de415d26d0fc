// Contract: AuditStore, the hash chain and its tamper detection.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { CODE_SCHEMA_VERSION, openStorage } from '../index.ts';
import type { Storage, StorageConfig } from '../types.ts';
import { withStorage, type ContractTarget } from './harness.ts';

const GENESIS = '0'.repeat(64);
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const J = JSON.stringify;

/** The documented formula, written out by hand for entries whose details are {}. */
function specHash(prevHash: string, e: { seq: number; ts: Date; actor: string; action: string; decision: string; reason: string }) {
  return sha256(
    prevHash +
      `{"action":${J(e.action)},"actor":${J(e.actor)},"decision":${J(e.decision)},"details":{},` +
      `"reason":${J(e.reason)},"seq":${e.seq},"ts":${J(e.ts.toISOString())}}`,
  );
}

async function appendN(s: Storage, n: number): Promise<void> {
  for (let i = 1; i <= n; i++) {
    await s.audit.append({ actor: `user${i}@example.org`, action: i % 2 ? 'login' : 'message.send', decision: 'allow', reason: `r${i}` });
  }
}

export function auditContract(target: ContractTarget): void {
  test('append builds a hash chain from the genesis hash, as documented', () =>
    withStorage(target, async (s) => {
      const ts = new Date('2024-05-06T07:08:09.123Z');
      const first = await s.audit.append({
        ts,
        actor: 'alice@example.org',
        action: 'login',
        decision: 'deny',
        reason: 'account disabled',
        details: { b: [1, 'two', { y: null, x: true }], a: 'é\u0000"' },
      });
      const body =
        '{"action":"login","actor":"alice@example.org","decision":"deny",' +
        '"details":{"a":"é\\u0000\\"","b":[1,"two",{"x":true,"y":null}]},' +
        '"reason":"account disabled","seq":1,"ts":"2024-05-06T07:08:09.123Z"}';
      assert.deepEqual(first, {
        seq: 1,
        ts,
        actor: 'alice@example.org',
        action: 'login',
        decision: 'deny',
        reason: 'account disabled',
        details: { a: 'é\u0000"', b: [1, 'two', { x: true, y: null }] },
        prevHash: GENESIS,
        hash: sha256(GENESIS + body),
      });
      const second = await s.audit.append({ actor: 'server', action: 'start', decision: 'info', reason: '' });
      assert.equal(second.seq, 2);
      assert.equal(second.prevHash, first.hash);
      assert.equal(second.hash, specHash(first.hash, second));
      assert.deepEqual(second.details, {});
      assert.ok(Math.abs(second.ts.getTime() - Date.now()) < 5000, 'ts defaults to now');
      assert.deepEqual(await s.audit.list(), [first, second]);
    }));

  test('details are stored as JSON: undefined dropped, Dates as strings', () =>
    withStorage(target, async (s) => {
      const e = await s.audit.append({
        actor: 'a',
        action: 'x',
        decision: 'info',
        reason: '',
        details: { when: new Date('2020-01-01T00:00:00Z'), gone: undefined, n: 1.5 },
      });
      assert.deepEqual(e.details, { n: 1.5, when: '2020-01-01T00:00:00.000Z' });
      assert.deepEqual((await s.audit.list())[0]?.details, e.details);
      assert.deepEqual(await s.audit.verify(), { ok: true, count: 1 });
    }));

  test('bad entries are rejected and leave the chain alone', () =>
    withStorage(target, async (s) => {
      const base = { actor: 'a', action: 'x', decision: 'info' as const, reason: '' };
      await assert.rejects(s.audit.append({ ...base, decision: 'maybe' as 'info' }), TypeError);
      await assert.rejects(s.audit.append({ ...base, reason: 'nul\u0000' }), TypeError);
      await assert.rejects(s.audit.append({ ...base, actor: 'lone \ud800' }), TypeError);
      await assert.rejects(s.audit.append({ ...base, details: [] as unknown as Record<string, unknown> }), TypeError);
      await assert.rejects(s.audit.append({ ...base, ts: new Date(NaN) }), RangeError);
      assert.equal((await s.audit.append(base)).seq, 1);
      assert.deepEqual(await s.audit.verify(), { ok: true, count: 1 });
    }));

  test('appendMany continues the same chain in order in one transaction; a bad entry refuses the whole call', () =>
    withStorage(target, async (s) => {
      await appendN(s, 2);
      const ts = new Date('2026-05-01T10:00:00.000Z');
      const batch = await s.audit.appendMany(
        [3, 4, 5].map((i) => ({ ts, actor: `user${i}@example.org`, action: 'login', decision: 'allow' as const, reason: `r${i}` })),
      );
      assert.deepEqual(
        batch.map((e) => e.seq),
        [3, 4, 5],
      );
      const all = await s.audit.list({ limit: 10 });
      for (let i = 2; i < 5; i++) {
        assert.equal(all[i]!.prevHash, all[i - 1]!.hash, `entry ${i + 1} chains to entry ${i}`);
        assert.equal(all[i]!.hash, specHash(all[i - 1]!.hash, all[i]!));
      }
      await assert.rejects(
        s.audit.appendMany([
          { actor: 'a@example.org', action: 'login', decision: 'allow', reason: 'fine' },
          { actor: 'b@example.org', action: 'login', decision: 'maybe' as never, reason: 'bad decision' },
        ]),
        /bad audit decision/,
      );
      assert.equal((await s.audit.list({ limit: 10 })).length, 5, 'nothing of the refused call was stored');
      assert.deepEqual(await s.audit.appendMany([]), []);
      assert.equal((await s.audit.verify()).ok, true);
    }));

  test('list pages by seq and filters by action', () =>
    withStorage(target, async (s) => {
      await appendN(s, 7);
      assert.deepEqual((await s.audit.list()).map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7]);
      assert.deepEqual((await s.audit.list({ afterSeq: 2, limit: 3 })).map((e) => e.seq), [3, 4, 5]);
      assert.deepEqual((await s.audit.list({ afterSeq: 7 })).map((e) => e.seq), []);
      assert.deepEqual((await s.audit.list({ action: 'message.send' })).map((e) => e.seq), [2, 4, 6]);
      assert.deepEqual((await s.audit.list({ action: 'login', afterSeq: 3, limit: 1 })).map((e) => e.seq), [5]);
      await assert.rejects(s.audit.list({ limit: 0 }), RangeError);
    }));

  test('verify accepts an empty and an intact chain', () =>
    withStorage(target, async (s) => {
      assert.deepEqual(await s.audit.verify(), { ok: true, count: 0 });
      await appendN(s, 5);
      assert.deepEqual(await s.audit.verify(), { ok: true, count: 5 });
    }));

  test('verify finds an edited entry', () =>
    withStorage(target, async (s) => {
      await appendN(s, 5);
      await s.db.updateTable('audit_log').set({ reason: 'nothing to see' }).where('seq', '=', 3).execute();
      const r = await s.audit.verify();
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.brokenAtSeq, 3);
    }));

  test('verify finds edited details and a changed decision', () =>
    withStorage(target, async (s) => {
      await appendN(s, 4);
      await s.db.updateTable('audit_log').set({ details: '{"extra":1}' }).where('seq', '=', 2).execute();
      assert.deepEqual(await brokenAt(s), 2);
      await s.db.updateTable('audit_log').set({ details: '{}' }).where('seq', '=', 2).execute();
      assert.deepEqual(await s.audit.verify(), { ok: true, count: 4 });
      await s.db.updateTable('audit_log').set({ decision: 'deny' }).where('seq', '=', 4).execute();
      assert.equal(await brokenAt(s), 4);
    }));

  test('verify finds an edit whose hash was recomputed (the next link breaks)', () =>
    withStorage(target, async (s) => {
      await appendN(s, 5);
      const [e3] = await s.audit.list({ afterSeq: 2, limit: 1 });
      assert.ok(e3);
      const forged = { ...e3, decision: 'deny' as const };
      await s.db.updateTable('audit_log').set({ decision: 'deny', hash: specHash(e3.prevHash, forged) }).where('seq', '=', 3).execute();
      assert.equal(await brokenAt(s), 4);
    }));

  test('verify finds a deleted middle entry', () =>
    withStorage(target, async (s) => {
      await appendN(s, 5);
      await s.db.deleteFrom('audit_log').where('seq', '=', 3).execute();
      const r = await s.audit.verify();
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.brokenAtSeq, 3);
      assert.match(!r.ok ? r.reason : '', /missing/);
    }));

  test('verify finds deleted last entries', () =>
    withStorage(target, async (s) => {
      await appendN(s, 5);
      await s.db.deleteFrom('audit_log').where('seq', '>=', 4).execute();
      assert.equal(await brokenAt(s), 4);
    }));

  test('verify and append refuse a chain whose head row is gone', () =>
    withStorage(target, async (s) => {
      await appendN(s, 2);
      await s.db.deleteFrom('audit_head').execute();
      assert.equal(await brokenAt(s), 0);
      await assert.rejects(s.audit.append({ actor: 'a', action: 'x', decision: 'info', reason: '' }), /head row is missing/);
      assert.equal((await s.audit.list()).length, 2);
    }));

  test('50 parallel appends produce one valid chain', () =>
    withStorage(target, async (s) => {
      const entries = await Promise.all(
        Array.from({ length: 50 }, (_, i) => s.audit.append({ actor: `a${i}`, action: 'parallel', decision: 'allow', reason: '' })),
      );
      assert.deepEqual(
        entries.map((e) => e.seq).sort((a, b) => a - b),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      assert.deepEqual(await s.audit.verify(), { ok: true, count: 50 });
    }));

  test(
    'processes starting together on a new database migrate it once and extend one chain',
    { skip: target.reopenable ? false : 'an in-memory database is private to one process', timeout: 60_000 },
    async () => {
      const cfg = await target.newDatabase();
      const run = (actor: string) => promisify(execFile)(process.execPath, workerArgs(cfg, '20', actor));
      const here = openStorage(cfg).then(async (s) => {
        await appendN(s, 10);
        return s;
      });
      const results = await Promise.allSettled([run('w1'), run('w2'), run('w3'), here]);
      const s = results[3].status === 'fulfilled' ? results[3].value : undefined;
      try {
        for (const r of results) assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
        assert.ok(s);
        assert.equal(await s.schemaVersion(), CODE_SCHEMA_VERSION);
        assert.deepEqual(await s.audit.verify(), { ok: true, count: 70 });
        const all = await s.audit.list({ limit: 1000 });
        assert.deepEqual(all.map((e) => e.seq), Array.from({ length: 70 }, (_, i) => i + 1));
        assert.deepEqual(
          ['w1', 'w2', 'w3'].map((w) => all.filter((e) => e.actor === w).length),
          [20, 20, 20],
        );
      } finally {
        await s?.close();
      }
    },
  );

  test(
    'entries acknowledged before a SIGKILL are all there afterwards',
    { skip: target.reopenable ? false : 'an in-memory database dies with its process', timeout: 60_000 },
    async () => {
      const cfg = await target.newDatabase();
      await (await openStorage(cfg)).close();
      const child = spawn(process.execPath, workerArgs(cfg, 'forever', 'doomed'), { stdio: ['ignore', 'pipe', 'inherit'] });
      const acked: number[] = [];
      let buffered = '';
      await new Promise<void>((resolve, reject) => {
        child.on('error', reject);
        child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`worker exited with ${code}`))));
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          const lines = (buffered + chunk).split('\n');
          buffered = lines.pop() ?? '';
          acked.push(...lines.map(Number));
          if (acked.length >= 40) child.kill('SIGKILL');
        });
      });
      const s = await openStorage(cfg);
      try {
        const r = await s.audit.verify();
        assert.ok(r.ok, JSON.stringify(r));
        assert.ok(r.count >= Math.max(...acked), `acknowledged up to ${Math.max(...acked)}, found ${r.count}`);
      } finally {
        await s.close();
      }
    },
  );
}

function workerArgs(cfg: StorageConfig, count: string, actor: string): string[] {
  const worker = fileURLToPath(new URL('./audit-worker.ts', import.meta.url));
  const loader = fileURLToPath(new URL('../../../bin/ts-loader.js', import.meta.url));
  return ['--import', loader, worker, JSON.stringify(cfg), count, actor];
}

async function brokenAt(s: Storage): Promise<number | undefined> {
  const r = await s.audit.verify();
  return r.ok ? undefined : r.brokenAtSeq;
}
