// Mapping the config file's storage section to an openStorage() config.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveStorageConfig } from './index.ts';

const sqlite = (sqlite_path: string) => ({ backend: 'sqlite' as const, sqlite_path, postgres_url: null });

test('sqlite_path is relative to data_dir, and may be absolute or :memory:', () => {
  assert.deepEqual(resolveStorageConfig(sqlite('palisade.db'), '/var/lib/palisade'), {
    backend: 'sqlite',
    path: '/var/lib/palisade/palisade.db',
  });
  assert.deepEqual(resolveStorageConfig(sqlite('db/../main.db'), '/data'), { backend: 'sqlite', path: '/data/main.db' });
  assert.deepEqual(resolveStorageConfig(sqlite('/srv/x.db'), '/data'), { backend: 'sqlite', path: '/srv/x.db' });
  assert.deepEqual(resolveStorageConfig(sqlite(':memory:'), '/data'), { backend: 'sqlite', path: ':memory:' });
});

test('postgres takes postgres_url and refuses a missing one', () => {
  assert.deepEqual(
    resolveStorageConfig({ backend: 'postgres', sqlite_path: 'palisade.db', postgres_url: 'postgres://p@db/palisade' }, '/data'),
    { backend: 'postgres', url: 'postgres://p@db/palisade' },
  );
  assert.throws(
    () => resolveStorageConfig({ backend: 'postgres', sqlite_path: 'palisade.db', postgres_url: null }, '/data'),
    /storage\.postgres_url is required/,
  );
});
