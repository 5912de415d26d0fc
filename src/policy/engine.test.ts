// Reloads at the engine: a valid file replaces the policy atomically, an
// invalid one is refused (logged, audited) and the old one stays, and a
// policy.yaml that disappears does not silently become the built-in policy.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ConfigError } from '../config/errors.ts';
import { loadConfig } from '../config/load.ts';
import { openStorage } from '../storage/index.ts';
import type { Storage } from '../storage/types.ts';
import { PolicyEngine } from './engine.ts';

const GOOD = 'rules:\n  - { name: chat-only, feature: chat, decision: allow }\n';

describe('policy engine reloads', () => {
  let dir: string;
  let storage: Storage;
  let engine: PolicyEngine;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-engine-'));
    writeFileSync(join(dir, 'palisade.yaml'), 'domain: example.org\ndata_dir: ./data\n');
    writeFileSync(join(dir, 'policy.yaml'), GOOD);
    storage = await openStorage({ backend: 'sqlite', path: ':memory:' });
    engine = await PolicyEngine.open({ loaded: loadConfig({ file: join(dir, 'palisade.yaml'), env: {} }), storage, log: pino({ level: 'silent' }) });
  });
  afterEach(async () => {
    engine.close();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const decide = (feature: string) =>
    engine.decisionPoint.decide({ action: 'stanza.message', subject: { jid: 'a@example.org', domain: 'example.org', groups: [] }, feature, time: new Date() });

  test('the policy next to palisade.yaml is loaded at start', async () => {
    assert.equal(engine.policy.source.source, join(dir, 'policy.yaml'));
    assert.equal((await decide('chat')).decision, 'allow');
    assert.equal((await decide('groupchat')).decision, 'deny');
  });

  test('an invalid file is refused and audited; the old policy stays', async () => {
    writeFileSync(join(dir, 'policy.yaml'), 'rules:\n  - { name: x, feature: chat, decision: allow, colour: red }\n');
    const r = await engine.reload('test');
    assert.equal(r.ok, false);
    assert.match(r.errors!.join('\n'), /rules\[0\]\.colour: unknown key/);
    assert.equal((await decide('chat')).decision, 'allow');
    const [entry] = await storage.audit.list({ action: 'policy.reload' });
    assert.equal(entry!.decision, 'deny');
    assert.equal(entry!.actor, 'test');
  });

  test('a valid file replaces the policy', async () => {
    writeFileSync(join(dir, 'policy.yaml'), 'rules:\n  - { name: groupchat-only, feature: groupchat, decision: allow }\n');
    assert.equal((await engine.reload('test')).ok, true);
    assert.equal((await decide('chat')).decision, 'deny');
    assert.equal((await decide('groupchat')).rule, 'groupchat-only');
  });

  test('a policy file that disappears is not replaced by the permissive built-in policy until a restart', async () => {
    rmSync(join(dir, 'policy.yaml'));
    const r = await engine.reload('test');
    assert.equal(r.ok, false);
    assert.match(r.errors!.join('\n'), /file not found; restore it/);
    assert.equal((await decide('groupchat')).decision, 'deny');
  });

  test('an invalid file stops start-up', async () => {
    writeFileSync(join(dir, 'policy.yaml'), 'rules: [{ name: x }]\n');
    await assert.rejects(
      PolicyEngine.open({ loaded: loadConfig({ file: join(dir, 'palisade.yaml'), env: {} }), storage, log: pino({ level: 'silent' }) }),
      (err: unknown) => err instanceof ConfigError && /rules\[0\]\.decision/.test(err.message),
    );
  });
});
