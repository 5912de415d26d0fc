// The control channel shared by the policy engine and the sessions module:
// each takes only its own kinds and leaves the others' requests in place; a
// request carries its arguments; the heartbeat tells whether anyone answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  clearHeartbeat,
  controlDir,
  heartbeatAge,
  takeControlRequests,
  takeReloadRequests,
  touchHeartbeat,
  waitForControlResult,
  writeControlRequest,
  writeControlResult,
  writeReloadRequest,
} from './reload-request.ts';

test('each part takes its own kinds; the others stay for their owner', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-control-'));
  try {
    const kill = writeControlRequest(dir, 'sessions.kill', 'cli:root', { jid: 'alice@example.org/phone', reason: 'lost' });
    const reload = writeReloadRequest(dir, 'policy', 'cli:root');
    const reloads = takeReloadRequests(dir);
    assert.deepEqual(reloads.map((r) => [r.id, r.kind, r.by]), [[reload, 'policy', 'cli:root']]);
    assert.deepEqual(readdirSync(controlDir(dir)), [`${kill}.request`]);
    const [k, ...rest] = takeControlRequests(dir, ['sessions.kill', 'sessions.list']);
    assert.deepEqual(rest, []);
    assert.equal(k?.id, kill);
    assert.deepEqual(k?.args, { jid: 'alice@example.org/phone', reason: 'lost' });
    assert.deepEqual(readdirSync(controlDir(dir)), []);

    writeControlResult(dir, { id: kill, ok: true, message: 'closed 1 session', data: { closed: ['alice@example.org/phone'] }, at: '' });
    const r = await waitForControlResult(dir, kill, 1000, 10);
    assert.deepEqual(r?.data, { closed: ['alice@example.org/phone'] });
    assert.throws(() => writeControlRequest(dir, '../evil', 'cli:root'), /bad control request kind/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the heartbeat: absent until touched, gone when cleared', () => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-control-'));
  try {
    assert.equal(heartbeatAge(dir, 'sessions'), undefined);
    touchHeartbeat(dir, 'sessions');
    const age = heartbeatAge(dir, 'sessions');
    assert.ok(age !== undefined && age >= 0);
    touchHeartbeat(dir, 'sessions');
    clearHeartbeat(dir, 'sessions');
    assert.equal(heartbeatAge(dir, 'sessions'), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
