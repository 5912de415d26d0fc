import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig, parseConfigText } from './load.ts';
import { ConfigSchema } from './schema.ts';
import { configError, issueAt } from './test-helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'palisade-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

let count = 0;
/** Writes `text` as palisade.yaml in a fresh folder and returns the file's path. */
function configFile(text: string): string {
  const dir = join(root, String(count++));
  mkdirSync(dir);
  const file = join(dir, 'palisade.yaml');
  writeFileSync(file, text);
  return file;
}

const defaults = ConfigSchema.parse({});

describe('loadConfig', () => {
  it('without a file: the defaults, relative to the working directory', () => {
    const loaded = loadConfig({ env: {} });
    assert.deepEqual(loaded.config, defaults);
    assert.equal(loaded.file, undefined);
    assert.equal(loaded.baseDir, process.cwd());
    assert.equal(loaded.dataDir, join(process.cwd(), 'data'));
  });

  it('an empty file: the defaults, relative to the file', () => {
    const file = configFile('');
    const loaded = loadConfig({ file, env: {} });
    assert.deepEqual(loaded.config, defaults);
    assert.equal(loaded.file, file);
    assert.equal(loaded.baseDir, join(file, '..'));
    assert.equal(loaded.dataDir, join(file, '..', 'data'));
  });

  it('a relative data_dir resolves against the config file folder, not the working directory', () => {
    const file = configFile('data_dir: ../state/palisade\n');
    const loaded = loadConfig({ file, env: {} });
    assert.equal(loaded.config.data_dir, '../state/palisade');
    assert.equal(loaded.dataDir, join(file, '..', '..', 'state', 'palisade'));
  });

  it('an absolute data_dir is kept', () => {
    const loaded = loadConfig({ file: configFile('data_dir: /var/lib/palisade\n'), env: {} });
    assert.equal(loaded.dataDir, '/var/lib/palisade');
  });

  it('a missing file is an error naming the file', () => {
    const missing = join(root, 'nope.yaml');
    const err = configError(() => loadConfig({ file: missing, env: {} }));
    assert.equal(err.source, missing);
    assert.match(err.message, /^.*nope\.yaml: file not found; 'palisade init' writes one/);
  });

  it('messages name the file as it was given', () => {
    const file = configFile('listeners: {c2s: {port: 70000}}\n');
    const err = configError(() => loadConfig({ file, env: {} }));
    assert.equal(err.message, `${file}: listeners.c2s.port: must be at most 65535 (got 70000)`);
  });
});

describe('YAML problems', () => {
  it('a syntax error gives line and column', () => {
    const err = configError(() => parseConfigText('domain: example.org\nlisteners:\n  c2s: [1, 2\nlimits: {}\n', 'palisade.yaml', {}));
    const issue = err.issues[0];
    assert.ok(issue);
    assert.equal(issue.path, '');
    assert.equal(typeof issue.line, 'number');
    assert.ok(issue.line !== undefined && issue.line >= 3, `line ${issue.line}`);
    assert.match(err.message, /^palisade\.yaml:\d+:\d+: /);
  });

  it('a bad indentation is reported on its line', () => {
    const err = configError(() => parseConfigText('tls:\n  min_version: TLSv1.3\n key_file: x\n', 'palisade.yaml', {}));
    assert.equal(err.issues[0]?.line, 3);
  });

  it('a duplicate key is an error, at the second occurrence', () => {
    const err = configError(() => parseConfigText('listeners:\n  c2s:\n    port: 5222\n    port: 5223\n', 'palisade.yaml', {}));
    assert.deepEqual(err.issues, [{ path: 'listeners.c2s.port', message: 'duplicate key', line: 4, column: 5 }]);
    assert.equal(err.message, 'palisade.yaml:4:5: listeners.c2s.port: duplicate key');
    assert.equal(configError(() => parseConfigText('domain: a.example\ndomain: b.example\n', 'palisade.yaml', {})).message, 'palisade.yaml:2:1: domain: duplicate key');
  });

  it('an unknown tag is refused rather than read as a string', () => {
    const err = configError(() => parseConfigText('domain: !secret example.org\n', 'palisade.yaml', {}));
    assert.equal(err.issues[0]?.line, 1);
  });

  it('a second YAML document is refused', () => {
    const err = configError(() => parseConfigText('domain: a.example\n---\ndomain: b.example\n', 'palisade.yaml', {}));
    assert.equal(err.message, 'palisade.yaml:2:1: the file must hold a single YAML document (remove the "---" separator)');
  });

  it('alias bombs are stopped', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++) lines.push(`${'b'.repeat(i)}: &${'a'.repeat(i + 1)} [${Array(10).fill(`*${'a'.repeat(i)}`).join(', ')}]`);
    assert.match(configError(() => parseConfigText(lines.join('\n'), 'palisade.yaml', {})).message, /^palisade\.yaml: Excessive alias count/);
  });
});

describe('environment overrides', () => {
  const URL = 'postgres://palisade:s3cret@db.internal:5432/palisade';

  it('PALISADE_POSTGRES_URL sets storage.postgres_url, over the file', () => {
    const file = configFile('storage:\n  backend: postgres\n  postgres_url: postgres://other@elsewhere/x\n');
    const loaded = loadConfig({ file, env: { PALISADE_POSTGRES_URL: URL } });
    assert.equal(loaded.config.storage.postgres_url, URL);
    assert.equal(parseConfigText('storage: {backend: postgres}', 'p.yaml', { PALISADE_POSTGRES_URL: URL }).storage.postgres_url, URL);
  });

  it('satisfies the postgres backend requirement without a storage section', () => {
    const loaded = loadConfig({ env: { PALISADE_POSTGRES_URL: URL }, overrides: { storage: { backend: 'postgres' } } });
    assert.equal(loaded.config.storage.postgres_url, URL);
  });

  it('a bad value from the environment says so, without echoing it', () => {
    const err = configError(() => loadConfig({ env: { PALISADE_POSTGRES_URL: 'mysql://root:s3cret@db/x' } }));
    const issue = issueAt(err, 'storage.postgres_url');
    assert.match(issue.message, /\(value from PALISADE_POSTGRES_URL\)/);
    assert.doesNotMatch(err.message, /s3cret/);
  });

  it('set but empty counts as set, and fails', () => {
    assert.ok(issueAt(configError(() => loadConfig({ env: { PALISADE_POSTGRES_URL: '' } })), 'storage.postgres_url'));
  });

  it('does not hide a storage section of the wrong type', () => {
    const err = configError(() => parseConfigText('storage: sqlite\n', 'p.yaml', { PALISADE_POSTGRES_URL: URL }));
    assert.equal(issueAt(err, 'storage').message, 'expected a mapping (got the string "sqlite")');
  });

  it('unset variables change nothing', () => {
    assert.deepEqual(loadConfig({ env: {} }).config, defaults);
  });
});

describe('overrides', () => {
  it('merge key by key over the file, keeping the rest of the file', () => {
    const file = configFile('domain: example.org\nlisteners:\n  c2s:\n    address: 127.0.0.1\n    port: 15222\n');
    const loaded = loadConfig({ file, env: {}, overrides: { listeners: { c2s: { port: 0 }, https: { enabled: false } } } });
    assert.equal(loaded.config.domain, 'example.org');
    assert.deepEqual(loaded.config.listeners.c2s, { enabled: true, address: '127.0.0.1', port: 0 });
    assert.deepEqual(loaded.config.listeners.https, { enabled: false, address: '0.0.0.0', port: 5443, public_url: null });
    assert.deepEqual(loaded.config.listeners.c2s_direct_tls, defaults.listeners.c2s_direct_tls);
  });

  it('lists are replaced, not appended to', () => {
    const file = configFile('auth: {scram_hashes: [SHA-1, SHA-256]}\n');
    assert.deepEqual(loadConfig({ file, env: {}, overrides: { auth: { scram_hashes: ['SHA-512'] } } }).config.auth.scram_hashes, ['SHA-512']);
  });

  it('win over the environment', () => {
    const url = 'postgres://test@localhost/test';
    const loaded = loadConfig({ env: { PALISADE_POSTGRES_URL: 'postgres://env@localhost/env' }, overrides: { storage: { postgres_url: url } } });
    assert.equal(loaded.config.storage.postgres_url, url);
  });

  it('are validated like the file', () => {
    const err = configError(() => loadConfig({ env: {}, overrides: { limits: { max_depth: 1 } } }));
    assert.equal(issueAt(err, 'limits.max_depth').message, 'must be at least 4 (got 1)');
  });

  it('do not change the object passed in', () => {
    const overrides = { listeners: { c2s: { port: 0 } } };
    loadConfig({ file: configFile('listeners: {c2s: {address: 127.0.0.1}}\n'), env: {}, overrides });
    assert.deepEqual(overrides, { listeners: { c2s: { port: 0 } } });
  });
});
