import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deriveCredential, deriveCredentials, digestLength, SALT_BYTES, verifyPassword } from './credentials.ts';

describe('deriveCredential', () => {
  it('returns a Promise and leaves the event loop free while PBKDF2 runs', async () => {
    let ticks = 0;
    let done = false;
    const spin = (): void => {
      if (done) return;
      ticks++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const pending = deriveCredential('pencil', 'SHA-512', 200_000);
    assert.ok(pending instanceof Promise);
    await pending;
    done = true;
    // A synchronous derivation would resolve before the first setImmediate could run.
    assert.ok(ticks > 1, `expected the loop to turn while deriving, saw ${ticks} ticks`);
  });

  it('gives the known RFC 5802 keys for password "pencil", and is deterministic for a given salt', async () => {
    // Intermediate values of the RFC 5802 §5 exchange, as other implementations' tests also list them.
    const salt = Buffer.from('QSXCR+Q6sek8bf92', 'base64');
    const cred = await deriveCredential('pencil', 'SHA-1', 4096, salt);
    assert.equal(cred.storedKey.toString('hex'), 'e9d94660c39d65c38fbad91c358f14da0eef2bd6');
    assert.equal(cred.serverKey.toString('hex'), '0fe09258b3ac852ba502cc62ba903eaacdbf7d31');
    assert.equal(cred.iterations, 4096);
    assert.equal(cred.salt, salt);
    assert.deepEqual(await deriveCredential('pencil', 'SHA-1', 4096, salt), cred);
  });

  it('generates a fresh random salt of SALT_BYTES when none is given', async () => {
    const a = await deriveCredential('pencil', 'SHA-256', 1000);
    const b = await deriveCredential('pencil', 'SHA-256', 1000);
    assert.equal(a.salt.length, SALT_BYTES);
    assert.notDeepEqual(a.salt, b.salt);
    assert.notDeepEqual(a.storedKey, b.storedKey);
  });

  it('rejects a non-positive or fractional iteration count and an empty salt', async () => {
    await assert.rejects(deriveCredential('pencil', 'SHA-256', 0), RangeError);
    await assert.rejects(deriveCredential('pencil', 'SHA-256', 1.5), RangeError);
    await assert.rejects(deriveCredential('pencil', 'SHA-256', 4096, Buffer.alloc(0)), RangeError);
  });
});

describe('deriveCredentials', () => {
  it('derives one credential per hash, each with its own salt and keys of the hash length', async () => {
    const creds = await deriveCredentials('pencil', ['SHA-1', 'SHA-256', 'SHA-512'], 4096);
    assert.deepEqual(
      creds.map((c) => [c.hash, c.storedKey.length, c.serverKey.length, c.iterations]),
      [
        ['SHA-1', 20, 20, 4096],
        ['SHA-256', 32, 32, 4096],
        ['SHA-512', 64, 64, 4096],
      ],
    );
    assert.equal(new Set(creds.map((c) => c.salt.toString('hex'))).size, 3);
    assert.equal(digestLength('SHA-512'), 64);
  });
});

describe('verifyPassword', () => {
  it('accepts the right password and refuses a wrong one, for every hash', async () => {
    for (const cred of await deriveCredentials('correct horse', ['SHA-1', 'SHA-256', 'SHA-512'], 4096)) {
      assert.equal(await verifyPassword('correct horse', cred), true, cred.hash);
      assert.equal(await verifyPassword('correct horsf', cred), false, cred.hash);
      assert.equal(await verifyPassword('', cred), false, cred.hash);
    }
  });

  it('treats the password as exact UTF-8 (no normalisation here)', async () => {
    const cred = await deriveCredential('caf\u00e9', 'SHA-256', 4096);
    assert.equal(await verifyPassword('caf\u00e9', cred), true);
    assert.equal(await verifyPassword('cafe\u0301', cred), false);
  });

  it('returns false, not throws, for a stored key of the wrong length', async () => {
    const cred = await deriveCredential('pencil', 'SHA-256', 4096);
    assert.equal(await verifyPassword('pencil', { ...cred, storedKey: cred.storedKey.subarray(0, 20) }), false);
  });
});
