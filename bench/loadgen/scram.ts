// SCRAM client side (RFC 5802, RFC 7677) for the load generator, without
// channel binding ("n,,"): the bench measures the mechanisms every server has.
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/** Mechanisms the load generator speaks, strongest first: it picks the first one the server offers. */
export const SCRAM_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-1'] as const;
export type ScramMechanism = (typeof SCRAM_MECHANISMS)[number];

export function scramHash(mechanism: ScramMechanism): 'sha256' | 'sha1' {
  return mechanism === 'SCRAM-SHA-256' ? 'sha256' : 'sha1';
}

export interface ScramKeys {
  clientKey: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** The keys a server stores and a client proves: the PBKDF2 work happens here, once per salt. */
export async function deriveScramKeys(
  mechanism: ScramMechanism,
  password: string,
  salt: Buffer,
  iterations: number,
): Promise<ScramKeys> {
  const hash = scramHash(mechanism);
  const length = hash === 'sha256' ? 32 : 20;
  // Async PBKDF2 runs on libuv's pool, so many logins do not serialise on the event loop.
  // No SASLprep: the bench's password is ASCII, which SASLprep leaves as it is.
  const salted = await pbkdf2Async(password, salt, iterations, length, hash);
  const clientKey = hmac(hash, salted, 'Client Key');
  return {
    clientKey,
    storedKey: createHash(hash).update(clientKey).digest(),
    serverKey: hmac(hash, salted, 'Server Key'),
  };
}

/**
 * Caches derived keys per (mechanism, salt, iterations), as real clients may
 * (RFC 5802 §5.1): the bench fills it before the timed run so that the load
 * generator's PBKDF2 — work a real client does on its own device — does not
 * compete with the server for this machine's cores.
 */
export class ScramKeyCache {
  private readonly keys = new Map<string, Promise<ScramKeys>>();

  get(mechanism: ScramMechanism, password: string, salt: Buffer, iterations: number): Promise<ScramKeys> {
    const id = `${mechanism}\0${salt.toString('base64')}\0${iterations}\0${password}`;
    let keys = this.keys.get(id);
    if (!keys) {
      keys = deriveScramKeys(mechanism, password, salt, iterations);
      this.keys.set(id, keys);
    }
    return keys;
  }
}

/** One SCRAM exchange: first() → final(serverFirst) → verify(serverFinal). */
export class ScramClient {
  private readonly clientFirstBare: string;
  private readonly nonce = randomBytes(18).toString('base64');
  private expectedServerSignature: Buffer | undefined;

  constructor(
    readonly mechanism: ScramMechanism,
    username: string,
    private readonly password: string,
    private readonly cache: ScramKeyCache,
  ) {
    // saslname escaping (RFC 5802 §5.1).
    const name = username.replaceAll('=', '=3D').replaceAll(',', '=2C');
    this.clientFirstBare = `n=${name},r=${this.nonce}`;
  }

  first(): string {
    return `n,,${this.clientFirstBare}`;
  }

  async final(serverFirst: string): Promise<string> {
    const attrs = parseAttributes(serverFirst);
    const nonce = attrs.get('r');
    const salt = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (!nonce?.startsWith(this.nonce) || nonce === this.nonce || !salt || !Number.isInteger(iterations) || iterations < 1) {
      throw new Error(`bad SCRAM server-first-message: ${serverFirst}`);
    }
    const keys = await this.cache.get(this.mechanism, this.password, Buffer.from(salt, 'base64'), iterations);
    const withoutProof = `c=biws,r=${nonce}`; // biws = base64("n,,")
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const hash = scramHash(this.mechanism);
    const signature = hmac(hash, keys.storedKey, authMessage);
    const proof = Buffer.alloc(signature.length);
    for (let i = 0; i < proof.length; i++) proof[i] = keys.clientKey[i]! ^ signature[i]!;
    this.expectedServerSignature = hmac(hash, keys.serverKey, authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** True when the server proved it knows the stored keys too. */
  verify(serverFinal: string): boolean {
    const v = parseAttributes(serverFinal).get('v');
    if (!v || !this.expectedServerSignature) return false;
    const got = Buffer.from(v, 'base64');
    return got.length === this.expectedServerSignature.length && timingSafeEqual(got, this.expectedServerSignature);
  }
}

function hmac(hash: string, key: Buffer, data: string): Buffer {
  return createHmac(hash, key).update(data).digest();
}

function parseAttributes(message: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of message.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) attrs.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return attrs;
}
