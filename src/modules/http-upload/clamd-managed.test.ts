import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { AuditStore } from '../../storage/types.ts';
import { clamdConfig, hasSignatures, ManagedClamd } from './clamd-managed.ts';

const MIB = 1024 * 1024;
const paths = { socket: '/d/clamd/clamd.sock', pidFile: '/d/clamd/clamd.pid', databaseDir: '/var/lib/clamav', tmpDir: '/d/clamd/tmp' };

describe('managed clamd', () => {
  test('the generated clamd.conf: Unix socket only, and scan limits at least max_file_size, so nothing passes unscanned', () => {
    const conf = clamdConfig({ ...paths, maxFileSize: 100 * MIB });
    assert.match(conf, /^LocalSocket \/d\/clamd\/clamd\.sock$/m);
    assert.match(conf, /^LocalSocketMode 600$/m);
    for (const key of ['StreamMaxLength', 'MaxScanSize', 'MaxFileSize']) assert.match(conf, new RegExp(`^${key} 101M$`, 'm'));
    assert.match(conf, /^AlertExceedsMax yes$/m);
    assert.doesNotMatch(conf, /TCPSocket|TCPAddr|User /);
    // clamd cannot go past 4 GB: larger uploads are refused by clamd's stream limit, never skipped.
    assert.match(clamdConfig({ ...paths, maxFileSize: 16 * 1024 * MIB }), /^StreamMaxLength 4000M$/m);
  });

  test('a path with a line break cannot add options to clamd.conf', () => {
    assert.throws(() => clamdConfig({ ...paths, databaseDir: '/x\nTCPSocket 3310', maxFileSize: MIB }), /line break/);
  });

  test('a database folder counts only with a signature file in it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-sigs-'));
    try {
      assert.equal(hasSignatures(dir), false);
      writeFileSync(join(dir, 'freshclam.dat'), '');
      assert.equal(hasSignatures(dir), false);
      writeFileSync(join(dir, 'main.cvd'), '');
      assert.equal(hasSignatures(dir), true);
      assert.equal(hasSignatures(join(dir, 'missing')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a socket path too long for a Unix socket is refused', () => {
    const audit = {} as AuditStore;
    assert.throws(
      () => new ManagedClamd({ clamdPath: '/usr/sbin/clamd', databaseDir: '/x', dir: `/${'d'.repeat(120)}`, maxFileSize: MIB, timeoutMs: 1000, log: pino({ level: 'silent' }), audit }),
      /longer than 107 bytes; use a shorter data_dir/,
    );
  });

  test('before clamd is ready, the client refuses at once: PING is false and a scan rejects', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-gate-'));
    // Not started: the state a server is in until clamd answered PONG.
    const m = new ManagedClamd({ clamdPath: '/usr/sbin/clamd', databaseDir: dir, dir, maxFileSize: MIB, timeoutMs: 1000, log: pino({ level: 'silent' }), audit: {} as AuditStore });
    try {
      assert.equal(m.status, 'stopped');
      assert.equal(await m.client.ping(), false);
      await assert.rejects(m.client.scan(), /the managed clamd is starting/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
