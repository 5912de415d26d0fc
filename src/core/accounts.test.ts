// SCRAM iteration upgrade (Accounts.upgradeCredentials): credentials derived
// with fewer iterations than configured are derived anew from a proven
// password, and still verify; current ones are left alone; a password
// changed meanwhile is never overwritten with one derived from the old.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyPassword } from '../auth/credentials.ts';
import { openStorage } from '../storage/index.ts';
import { Accounts } from './accounts.ts';

const DOMAIN = 'example.org';

test('upgradeCredentials re-derives old credentials with the configured count and hashes', async () => {
  const s = await openStorage({ backend: 'sqlite', path: ':memory:' });
  try {
    await new Accounts(s, { domain: DOMAIN, hashes: ['SHA-256'], iterations: 1024 }).add('alice', 'correct horse battery');
    const current = new Accounts(s, { domain: DOMAIN, hashes: ['SHA-256', 'SHA-512'], iterations: 4096 });
    const before = (await s.accounts.get(DOMAIN, 'alice'))!.credentials;
    assert.equal(current.needsUpgrade(before), true);

    assert.equal(await current.upgradeCredentials('alice', 'correct horse battery'), true);
    const after = (await s.accounts.get(DOMAIN, 'alice'))!.credentials;
    assert.deepEqual(after.map((c) => [c.hash, c.iterations]).sort(), [['SHA-256', 4096], ['SHA-512', 4096]]);
    for (const c of after) assert.equal(await verifyPassword('correct horse battery', c), true);
    assert.equal(current.needsUpgrade(after), false);
    // Up to date now: nothing is rewritten.
    assert.equal(await current.upgradeCredentials('alice', 'correct horse battery'), false);
    assert.deepEqual((await s.accounts.get(DOMAIN, 'alice'))!.credentials, after);
    assert.equal(await current.upgradeCredentials('nobody', 'correct horse battery'), false);
  } finally {
    await s.close();
  }
});

test('a password changed while the upgrade derived keys is kept', async () => {
  const s = await openStorage({ backend: 'sqlite', path: ':memory:' });
  try {
    const old = new Accounts(s, { domain: DOMAIN, hashes: ['SHA-256'], iterations: 1024 });
    await old.add('alice', 'the old password');
    const current = new Accounts(s, { domain: DOMAIN, hashes: ['SHA-256'], iterations: 200_000 });
    const upgrade = current.upgradeCredentials('alice', 'the old password'); // PBKDF2 with 200k iterations takes a while
    await old.setPassword('alice', 'the new password');
    assert.equal(await upgrade, false);
    const creds = (await s.accounts.get(DOMAIN, 'alice'))!.credentials;
    assert.equal(await verifyPassword('the new password', creds[0]!), true);
    assert.equal(await verifyPassword('the old password', creds[0]!), false);
  } finally {
    await s.close();
  }
});
