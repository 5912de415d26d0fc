// SCRAM credentials (RFC 5802 §3): the server keeps only salt, iteration count,
// StoredKey and ServerKey per hash, never the password or SaltedPassword.
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';

export type ScramHash = 'SHA-1' | 'SHA-256' | 'SHA-512';

export interface ScramCredential {
  hash: ScramHash;
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** Length of a freshly generated salt; fake salts for unknown users use the same length. */
export const SALT_BYTES = 16;

const NODE_DIGEST: Record<ScramHash, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256', 'SHA-512': 'sha512' };
const DIGEST_BYTES: Record<ScramHash, number> = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-512': 64 };

export function digestLength(hash: ScramHash): number {
  return DIGEST_BYTES[hash];
}

export function hmac(hash: ScramHash, key: Buffer, data: Buffer | string): Buffer {
  return createHmac(NODE_DIGEST[hash], key).update(data).digest();
}

export function digest(hash: ScramHash, data: Buffer): Buffer {
  return createHash(NODE_DIGEST[hash]).update(data).digest();
}

export function xor(a: Buffer, b: Buffer): Buffer {
  if (a.length !== b.length) throw new RangeError('xor: length mismatch');
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Hi() of RFC 5802 §2.2, which is PBKDF2 with dkLen = hash length; async so it runs on the libuv threadpool. */
export function saltedPassword(password: string, hash: ScramHash, salt: Buffer, iterations: number): Promise<Buffer> {
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    return Promise.reject(new RangeError(`iterations must be a positive integer, got ${iterations}`));
  }
  if (salt.length === 0) return Promise.reject(new RangeError('salt must not be empty'));
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, iterations, DIGEST_BYTES[hash], NODE_DIGEST[hash], (err, key) => {
      if (err) reject(err);
      else resolve(key);
    });
  });
}

/**
 * PBKDF2 via async crypto.pbkdf2 (libuv threadpool, off the event loop). The password
 * is passed already normalised (the caller applies PRECIS OpaqueString); not normalised here.
 */
export async function deriveCredential(
  password: string,
  hash: ScramHash,
  iterations: number,
  salt: Buffer = randomBytes(SALT_BYTES),
): Promise<ScramCredential> {
  const salted = await saltedPassword(password, hash, salt, iterations);
  return {
    hash,
    salt,
    iterations,
    storedKey: digest(hash, hmac(hash, salted, 'Client Key')),
    serverKey: hmac(hash, salted, 'Server Key'),
  };
}

/** One credential per hash, each with its own random salt; the derivations run in parallel on the threadpool. */
export function deriveCredentials(password: string, hashes: ScramHash[], iterations: number): Promise<ScramCredential[]> {
  return Promise.all(hashes.map((hash) => deriveCredential(password, hash, iterations)));
}

/** Constant-time check of a plaintext password against a stored credential (for PLAIN). */
export async function verifyPassword(password: string, cred: ScramCredential): Promise<boolean> {
  const derived = await deriveCredential(password, cred.hash, cred.iterations, cred.salt);
  // timingSafeEqual throws on unequal lengths; a stored key of the wrong length is corrupt and never matches.
  if (derived.storedKey.length !== cred.storedKey.length) return false;
  return timingSafeEqual(derived.storedKey, cred.storedKey);
}
