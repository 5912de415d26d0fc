// Range header parsing against the cases of RFC 9110 §14.1.2 and §14.2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRange } from './ranges.ts';

test('single ranges: a-b, a-, -n, clamped to the file', () => {
  assert.deepEqual(parseRange('bytes=0-499', 10_000), { start: 0, end: 499 });
  assert.deepEqual(parseRange('bytes=500-999', 10_000), { start: 500, end: 999 });
  assert.deepEqual(parseRange('bytes=9500-', 10_000), { start: 9500, end: 9999 });
  assert.deepEqual(parseRange('bytes=-500', 10_000), { start: 9500, end: 9999 });
  assert.deepEqual(parseRange('bytes=0-0', 10_000), { start: 0, end: 0 });
  assert.deepEqual(parseRange('bytes=9999-20000', 10_000), { start: 9999, end: 9999 });
  assert.deepEqual(parseRange('bytes=-20000', 10_000), { start: 0, end: 9999 });
  assert.deepEqual(parseRange('Bytes = 1 - 2', 10), { start: 1, end: 2 });
});

test('unsatisfiable: starting at or past the end, an empty suffix', () => {
  assert.equal(parseRange('bytes=10000-', 10_000), 'unsatisfiable');
  assert.equal(parseRange('bytes=10000-10001', 10_000), 'unsatisfiable');
  assert.equal(parseRange('bytes=-0', 10_000), 'unsatisfiable');
});

test('ignored (whole file): no header, several ranges, other units, invalid syntax', () => {
  for (const h of [undefined, 'bytes=0-1,5-6', 'items=0-1', 'bytes=5-2', 'bytes=-', 'bytes=a-b', 'bytes=0-1x', `bytes=0-${'9'.repeat(17)}`]) {
    assert.equal(parseRange(h, 10_000), undefined, String(h));
  }
});
