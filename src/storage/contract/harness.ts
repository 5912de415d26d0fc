// What a backend gives the contract suite, and helpers the suite's files share.
import { openStorage } from '../index.ts';
import type { NewAccount, OpenOptions, ScramHash, Storage, StorageConfig, StoredCredential } from '../types.ts';

export interface ContractTarget {
  /** A config naming a new, empty database; every call gives a different one. */
  newDatabase(): Promise<StorageConfig>;
  /** Whether a second openStorage() on the same config sees the same data (false for ':memory:'). */
  reopenable: boolean;
  /** True once a closed storage holds nothing of the database open (connections, WAL). */
  isReleased?(cfg: StorageConfig): Promise<boolean>;
}

/** Opens a fresh database, runs fn, and closes the storage whatever happens. */
export async function withStorage<T>(
  target: ContractTarget,
  fn: (s: Storage, cfg: StorageConfig) => Promise<T>,
  opts?: OpenOptions,
): Promise<T> {
  const cfg = await target.newDatabase();
  const s = await openStorage(cfg, opts);
  try {
    return await fn(s, cfg);
  } finally {
    await s.close();
  }
}

export function cred(hash: ScramHash, seed: number, iterations = 4096): StoredCredential {
  const len = hash === 'SHA-1' ? 20 : hash === 'SHA-256' ? 32 : 64;
  return {
    hash,
    salt: Buffer.alloc(16, seed),
    iterations,
    storedKey: Buffer.alloc(len, seed + 1),
    serverKey: Buffer.alloc(len, seed + 2),
  };
}

export function account(domain: string, localpart: string, extra: Partial<NewAccount> = {}): NewAccount {
  return { domain, localpart, disabled: false, isAdmin: false, credentials: [cred('SHA-256', 1)], ...extra };
}
