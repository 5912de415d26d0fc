// The storage contract on SQLite (a file, and ':memory:'), plus SQLite's own settings.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { storageContract } from './contract/index.ts';
import { openStorage } from './index.ts';
import { StatementCache } from './sqlite.ts';

const dir = mkdtempSync(join(tmpdir(), 'palisade-storage-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
// A nested path, so every open also proves the parent folder is created.
const newFile = () => join(dir, `db${++n}`, 'data', 'palisade.db');

storageContract('sqlite file', {
  newDatabase: async () => ({ backend: 'sqlite', path: newFile() }),
  reopenable: true,
  // The last connection's close checkpoints the WAL and deletes it.
  isReleased: async (cfg) => cfg.backend === 'sqlite' && !existsSync(`${cfg.path}-wal`),
});

storageContract('sqlite :memory:', {
  newDatabase: async () => ({ backend: 'sqlite', path: ':memory:' }),
  reopenable: false,
});

test('sqlite runs in WAL mode with synchronous=NORMAL, foreign keys and a busy timeout', async () => {
  const s = await openStorage({ backend: 'sqlite', path: newFile() });
  try {
    const pragma = async (name: string) =>
      Object.values((await sql<Record<string, unknown>>`${sql.raw(`pragma ${name}`)}`.execute(s.db)).rows[0] ?? {})[0];
    assert.equal(await pragma('journal_mode'), 'wal');
    assert.equal(await pragma('synchronous'), 1); // NORMAL
    assert.equal(await pragma('foreign_keys'), 1);
    assert.equal(await pragma('busy_timeout'), 5000);
  } finally {
    await s.close();
  }
});

test('sqlite tables are STRICT: a wrongly typed value is refused', async () => {
  const s = await openStorage({ backend: 'sqlite', path: ':memory:' });
  try {
    await assert.rejects(
      sql`insert into accounts (domain, localpart, created_at, disabled, is_admin) values ('d', 'l', 'yesterday', 0, 0)`.execute(s.db),
      /cannot store TEXT value in INTEGER column/,
    );
    await assert.rejects(
      sql`insert into accounts (domain, localpart, created_at, disabled, is_admin) values ('d', 'l', 0, 2, 0)`.execute(s.db),
      /CHECK constraint failed/,
    );
  } finally {
    await s.close();
  }
});

test('prepared statements are reused per SQL text and the least recently used is dropped past the limit', () => {
  const db = new SqliteDatabase(':memory:');
  let prepared = 0;
  const counting = { prepare: (text: string) => (prepared++, db.prepare(text)), close: () => db.close() };
  const cache = new StatementCache(counting, 2);
  try {
    const a = cache.prepare('select 1');
    assert.equal(cache.prepare('select 1'), a);
    cache.prepare('select 2');
    cache.prepare('select 1'); // now the most recently used
    cache.prepare('select 3'); // drops 'select 2'
    assert.equal(cache.size, 2);
    assert.equal(cache.prepare('select 1'), a);
    assert.equal(prepared, 3);
    cache.prepare('select 2');
    assert.equal(prepared, 4);
    // A statement taken from the cache runs again with new parameters.
    const add = cache.prepare('select ? + 1 as n');
    assert.deepEqual(add.all([1]), [{ n: 2 }]);
    assert.deepEqual(cache.prepare('select ? + 1 as n').all([41]), [{ n: 42 }]);
  } finally {
    cache.close();
  }
});

test('runWrite on a file: the writer thread commits what the server reads, reports a refused row, and close() waits for writes in flight', async () => {
  const cfg = { backend: 'sqlite', path: newFile() } as const;
  const s = await openStorage(cfg);
  const insert = (local: string, disabled = 0) => s.db.insertInto('accounts').values({ domain: 'd', localpart: local, created_at: 0, disabled, is_admin: 0 } as never);
  await s.runWrite(insert('first'));
  assert.equal((await s.accounts.get('d', 'first'))?.localpart, 'first', 'visible to the main connection once runWrite resolves');
  await assert.rejects(s.runWrite(insert('first')), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'SQLITE_CONSTRAINT_PRIMARYKEY');
    return true;
  });
  await assert.rejects(s.runWrite(insert('bad', 2)), /CHECK constraint failed/);
  // Sent and not awaited: close() still commits them before the file is released.
  const inFlight = Array.from({ length: 50 }, (_, i) => s.runWrite(insert(`u${i}`)));
  await s.close();
  await Promise.all(inFlight);
  const again = await openStorage(cfg);
  try {
    const n = await again.db.selectFrom('accounts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(n.n), 51);
  } finally {
    await again.close();
  }
});

test('Date and boolean parameters are bound as epoch milliseconds and 0/1, through the server connection and through runWrite', async () => {
  const s = await openStorage({ backend: 'sqlite', path: newFile() });
  try {
    const at = new Date('2026-01-02T03:04:05.678Z');
    const row = (local: string) => ({ domain: 'd', localpart: local, created_at: at, disabled: true, is_admin: false });
    await s.db.insertInto('accounts').values(row('main') as never).execute();
    await s.runWrite(s.db.insertInto('accounts').values(row('thread') as never));
    const rows = await sql<{ localpart: string; created_at: number; disabled: number; is_admin: number }>`select localpart, created_at, disabled, is_admin from accounts order by localpart`.execute(s.db);
    assert.deepEqual(
      rows.rows.map((r) => ({ ...r })),
      [
        { localpart: 'main', created_at: at.getTime(), disabled: 1, is_admin: 0 },
        { localpart: 'thread', created_at: at.getTime(), disabled: 1, is_admin: 0 },
      ],
    );
  } finally {
    await s.close();
  }
});

test('runWrite survives the writer thread dying: later statements run on the main connection, told once through onError', async () => {
  const errors: string[] = [];
  const s = await openStorage({ backend: 'sqlite', path: newFile() }, { onError: (err) => errors.push(err.message) });
  try {
    const insert = (local: string) => s.db.insertInto('accounts').values({ domain: 'd', localpart: local, created_at: 0, disabled: 0, is_admin: 0 } as never);
    await s.runWrite(insert('before'));
    // A crash of the thread, which nothing outside the process can cause: end it the hard way.
    await (s as unknown as { writer: { worker: { terminate(): Promise<number> } } }).writer.worker.terminate();
    await s.runWrite(insert('after'));
    await s.runWrite(insert('later'));
    const rows = await sql<{ localpart: string }>`select localpart from accounts order by localpart`.execute(s.db);
    assert.deepEqual(
      rows.rows.map((r) => r.localpart),
      ['after', 'before', 'later'],
    );
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /writer thread ended unexpectedly/);
  } finally {
    await s.close();
  }
});
