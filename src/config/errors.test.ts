import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { ConfigError, formatIssue, formatPath } from './errors.ts';
import { closest, editDistance } from './suggest.ts';
import { configError, issueAt } from './test-helpers.ts';
import { validateSection } from './validate.ts';

// Stands in for a module's option schema, as the module loader will pass it.
const mucOptions = z.strictObject({
  max_occupants: z.int().min(1).max(10000).default(200),
  rooms: z.array(z.strictObject({ name: z.string().min(1), persistent: z.boolean().default(true) })).default([]),
  secret_key: z.string().min(32).nullable().default(null).meta({ secret: true }),
});

describe('validateSection', () => {
  it('returns the parsed value with defaults', () => {
    assert.deepEqual(validateSection(mucOptions, {}, ['modules', 'muc']), { max_occupants: 200, rooms: [], secret_key: null });
  });

  it('prefixes paths and uses the same messages as the main file', () => {
    const err = configError(() =>
      validateSection(mucOptions, { max_occupant: 5, rooms: [{ name: 'lobby', persistant: false }] }, ['modules', 'muc'], 'palisade.yaml'),
    );
    assert.equal(issueAt(err, 'modules.muc.max_occupant').hint, "did you mean 'max_occupants'?");
    assert.equal(issueAt(err, 'modules.muc.rooms[0].persistant').hint, "did you mean 'persistent'?");
    assert.deepEqual(err.message.split('\n').sort(), [
      "palisade.yaml: modules.muc.max_occupant: unknown key; did you mean 'max_occupants'?",
      "palisade.yaml: modules.muc.rooms[0].persistant: unknown key; did you mean 'persistent'?",
    ]);
  });

  it('reports range and type errors inside lists', () => {
    const err = configError(() => validateSection(mucOptions, { max_occupants: 0, rooms: [{ name: '' }, 'x'] }, ['modules', 'muc']));
    assert.equal(issueAt(err, 'modules.muc.max_occupants').message, 'must be at least 1 (got 0)');
    assert.equal(issueAt(err, 'modules.muc.rooms[0].name').message, 'must not be empty (got "")');
    assert.equal(issueAt(err, 'modules.muc.rooms[1]').message, 'expected a mapping (got the string "x")');
  });

  it('never echoes a value marked secret', () => {
    const err = configError(() => validateSection(mucOptions, { secret_key: 'too-short-password' }, ['modules', 'muc']));
    assert.equal(issueAt(err, 'modules.muc.secret_key').message, 'must be at least 32 characters long (got a string)');
    assert.doesNotMatch(err.message, /too-short/);
  });

  it('without a source, lines start with the path', () => {
    const err = configError(() => validateSection(mucOptions, { max_occupants: 'lots' }, ['modules', 'muc']));
    assert.equal(err.source, undefined);
    assert.equal(err.message, 'modules.muc.max_occupants: expected an integer (got the string "lots")');
  });
});

describe('ConfigError', () => {
  it('is an Error with one line per issue', () => {
    const err = new ConfigError('palisade.yaml', [
      { path: 'listeners.c2s.port', message: 'must be at most 65535 (got 70000)' },
      { path: 'tls.cert', message: 'unknown key', hint: "did you mean 'cert_file'?" },
      { path: '', message: 'Missing closing "quote', line: 3, column: 9 },
    ]);
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'ConfigError');
    assert.equal(
      err.message,
      [
        'palisade.yaml: listeners.c2s.port: must be at most 65535 (got 70000)',
        "palisade.yaml: tls.cert: unknown key; did you mean 'cert_file'?",
        'palisade.yaml:3:9: Missing closing "quote',
      ].join('\n'),
    );
  });

  it('formats paths with list indices', () => {
    assert.equal(formatPath(['auth', 'scram_hashes', 1]), 'auth.scram_hashes[1]');
    assert.equal(formatPath([]), '');
    assert.equal(formatIssue(undefined, { path: '', message: 'x' }), 'x');
  });
});

describe('suggestions', () => {
  it('edit distance counts a transposition as one edit', () => {
    assert.equal(editDistance('max_stanza_btyes', 'max_stanza_bytes'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });

  it('suggests the closest plausible key, and nothing when none is close', () => {
    const keys = ['max_stanza_bytes', 'max_depth', 'max_attributes', 'max_attribute_bytes', 'max_name_bytes', 'header_timeout'];
    assert.equal(closest('max_attribute', keys), 'max_attributes');
    assert.equal(closest('MAX_DEPTH', keys), 'max_depth');
    assert.equal(closest('timeout', keys), undefined);
    assert.equal(closest('x', keys), undefined);
  });
});
