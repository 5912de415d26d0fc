// The encrypted-entry check on archives made by Info-ZIP's `zip` (with and
// without -P, to a file and streamed to stdout with data descriptors, ZIP64
// forced), fed in chunks of every awkward size, and on broken files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { looksLikeZip, ZipEncryptionCheck, type ZipVerdict } from './zip-check.ts';

function check(data: Buffer, chunk: number): ZipVerdict {
  const c = new ZipEncryptionCheck();
  for (let i = 0; i < data.length; i += chunk) c.update(data.subarray(i, i + chunk));
  return c.result();
}

/** Runs zip in a temp folder holding a.txt and b.bin; returns the archive it wrote (or its stdout). */
function zip(args: string[], toStdout = false): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-zip-'));
  try {
    writeFileSync(join(dir, 'a.txt'), 'hello '.repeat(1000));
    writeFileSync(join(dir, 'b.bin'), randomBytes(200_000));
    if (toStdout) return execFileSync('zip', ['-q', ...args, '-', 'a.txt', 'b.bin'], { cwd: dir, maxBuffer: 1 << 24 });
    execFileSync('zip', ['-q', ...args, 'out.zip', 'a.txt', 'b.bin'], { cwd: dir });
    return readFileSync(join(dir, 'out.zip'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('archives by zip: clear and password-protected, to a file, streamed, ZIP64', () => {
  const cases: [string, Buffer, ZipVerdict][] = [
    ['plain', zip([]), 'clear'],
    ['stored', zip(['-0']), 'clear'],
    ['zip -P', zip(['-P', 'secret']), 'encrypted'],
    ['plain, streamed', zip([], true), 'clear'],
    ['zip -P, streamed', zip(['-P', 'secret'], true), 'encrypted'],
    ['ZIP64', zip(['-fz']), 'clear'],
    ['ZIP64, zip -P', zip(['-fz', '-P', 'secret']), 'encrypted'],
  ];
  for (const [name, data, want] of cases) {
    assert.ok(looksLikeZip(data), name);
    for (const chunk of [1, 7, 45, 46, 47, 4096, 65_536, data.length]) assert.equal(check(data, chunk), want, `${name}, chunks of ${chunk}`);
  }
});

test('only the encrypted bit of the central record, or of a local header, is enough', () => {
  const data = zip(['-0']);
  const central = data.indexOf(Buffer.from('PK\x01\x02', 'latin1'));
  const centralOnly = Buffer.from(data);
  centralOnly.writeUInt16LE(centralOnly.readUInt16LE(central + 8) | 1, central + 8);
  assert.equal(check(centralOnly, 1000), 'encrypted');
  const localOnly = Buffer.from(data);
  localOnly.writeUInt16LE(localOnly.readUInt16LE(6) | 1, 6);
  assert.equal(check(localOnly, 1000), 'encrypted');
});

test('broken archives cannot be checked: truncated, no end record, a central directory that does not add up', () => {
  const data = zip([]);
  assert.equal(check(data.subarray(0, data.length - 10), 4096), 'unreadable');
  assert.equal(check(data.subarray(0, 30_000), 4096), 'unreadable');
  const shifted = Buffer.concat([data.subarray(0, 100), Buffer.alloc(5), data.subarray(100)]);
  // Five bytes more before the central directory: the records are not where the end record says.
  const end = shifted.length - 22;
  shifted.writeUInt32LE(shifted.readUInt32LE(end + 12) + 5, end + 12);
  assert.equal(check(shifted, 4096), 'unreadable');
  assert.equal(looksLikeZip(Buffer.from('%PDF-1.7')), false);
});
