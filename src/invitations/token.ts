// Invitation tokens: 256 random bits, URL-safe. The database keeps only their
// SHA-256, so whoever reads it (or a backup) cannot redeem an invitation.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** base64url of 32 bytes: 43 characters, no padding. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Hex SHA-256 of the token: what is stored and looked up. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex hashes. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
