// Contract: opening, migrations, the refuse-if-newer rule, meta, closing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CODE_SCHEMA_VERSION, openStorage } from '../index.ts';
import { SchemaTooNewError } from '../types.ts';
import { account, withStorage, type ContractTarget } from './harness.ts';

// The migrator's table, which tests reach into to fake a newer database.
type MigrationTable = { kysely_migration: { name: string; timestamp: string } };

export function lifecycleContract(target: ContractTarget): void {
  const needsReopen = { skip: target.reopenable ? false : 'an in-memory database cannot be reopened' };

  test('a new database is migrated to the latest schema', () =>
    withStorage(target, async (s, cfg) => {
      assert.equal(s.backend, cfg.backend);
      assert.ok(CODE_SCHEMA_VERSION >= 1);
      assert.equal(await s.schemaVersion(), CODE_SCHEMA_VERSION);
    }));

  test('migrate: false leaves a new database empty', () =>
    withStorage(
      target,
      async (s) => {
        assert.equal(await s.schemaVersion(), 0);
        assert.deepEqual(await s.db.introspection.getTables(), []);
      },
      { migrate: false },
    ));

  test('meta values are set, replaced and read back', () =>
    withStorage(target, async (s) => {
      assert.equal(await s.getMeta('server_secret'), undefined);
      await s.setMeta('server_secret', 'one');
      await s.setMeta('other', '');
      await s.setMeta('server_secret', 'two');
      assert.equal(await s.getMeta('server_secret'), 'two');
      assert.equal(await s.getMeta('other'), '');
    }));

  test('opening again keeps the data and does not migrate twice', needsReopen, async () => {
    const cfg = await target.newDatabase();
    const first = await openStorage(cfg);
    try {
      await first.accounts.create(account('example.org', 'alice'));
      await first.audit.append({ actor: 'a', action: 'x', decision: 'info', reason: '' });
    } finally {
      await first.close();
    }
    for (const opts of [{}, { migrate: false }]) {
      const again = await openStorage(cfg, opts);
      try {
        assert.equal(await again.schemaVersion(), CODE_SCHEMA_VERSION);
        assert.ok(await again.accounts.get('example.org', 'alice'));
        assert.deepEqual(await again.audit.verify(), { ok: true, count: 1 });
      } finally {
        await again.close();
      }
    }
  });

  test('a later open migrates a database opened with migrate: false', needsReopen, async () => {
    const cfg = await target.newDatabase();
    await (await openStorage(cfg, { migrate: false })).close();
    const s = await openStorage(cfg);
    try {
      assert.equal(await s.schemaVersion(), CODE_SCHEMA_VERSION);
    } finally {
      await s.close();
    }
  });

  test('a database with migrations this code does not know is refused', needsReopen, async () => {
    const cfg = await target.newDatabase();
    const s = await openStorage(cfg);
    try {
      await s.db
        .withTables<MigrationTable>()
        .insertInto('kysely_migration')
        .values({ name: '9999-from-the-future', timestamp: new Date().toISOString() })
        .execute();
    } finally {
      await s.close();
    }
    for (const opts of [{}, { migrate: false }]) {
      const err: unknown = await openStorage(cfg, opts).then(
        (unexpected) => unexpected.close().then(() => assert.fail('opened a database newer than the code')),
        (e: unknown) => e,
      );
      assert.ok(err instanceof SchemaTooNewError, String(err));
      assert.equal(err.databaseVersion, CODE_SCHEMA_VERSION + 1);
      assert.equal(err.codeVersion, CODE_SCHEMA_VERSION);
      assert.deepEqual(err.unknownMigrations, ['9999-from-the-future']);
      assert.match(err.message, new RegExp(`${CODE_SCHEMA_VERSION + 1} migrations applied`));
      assert.match(err.message, new RegExp(`knows ${CODE_SCHEMA_VERSION}\\b`));
      assert.match(err.message, /9999-from-the-future/);
      assert.match(err.message, /upgrade Palisade/);
    }
    if (target.isReleased) assert.ok(await eventually(() => target.isReleased!(cfg)), 'a refused open released the database');
  });

  test('close releases the database and is safe to repeat', async () => {
    const cfg = await target.newDatabase();
    const s = await openStorage(cfg);
    await s.accounts.create(account('example.org', 'alice'));
    await s.close();
    await s.close();
    await assert.rejects(s.accounts.get('example.org', 'alice'));
    if (target.isReleased) assert.ok(await eventually(() => target.isReleased!(cfg)), 'still held open after close()');
    if (target.reopenable) {
      const again = await openStorage(cfg);
      try {
        assert.ok(await again.accounts.get('example.org', 'alice'));
      } finally {
        await again.close();
      }
    }
  });
}

/** Server-side teardown after a client disconnects is asynchronous; poll briefly. */
async function eventually(check: () => Promise<boolean>, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
}
