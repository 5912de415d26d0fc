// Account management shared by the CLI and the server: addresses are prepared,
// passwords normalised (PRECIS OpaqueString) and turned into SCRAM keys; the
// plaintext goes nowhere else.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { deriveCredentials, type ScramCredential, type ScramHash } from '../auth/credentials.ts';
import { revokeAccountTokens } from '../auth/fast-store.ts';
import { opaqueString, isMixedScript, PrecisError } from '../xmpp/precis.ts';
import { JidError, parseJID, type JID } from '../xmpp/jid.ts';
import type { Account, Storage } from '../storage/types.ts';
import type { Config } from '../config/schema.ts';
import { removeAccountRosterData } from '../modules/roster/store.ts';
import { removeAccountLastActivity } from '../modules/last-activity/store.ts';
import { forgetKnownClients } from '../modules/sessions/known-clients.ts';

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_BYTES = 1023;

export class AccountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccountError';
  }
}

export interface AccountPolicy {
  domain: string;
  hashes: ScramHash[];
  iterations: number;
}

export function preparePassword(password: string): string {
  let prepared: string;
  try {
    prepared = opaqueString(password, 'password');
  } catch (err) {
    if (err instanceof PrecisError) throw new AccountError(`The password can't be used: ${err.reason}`);
    throw err;
  }
  if ([...prepared].length < MIN_PASSWORD_LENGTH) throw new AccountError(`The password must have at least ${MIN_PASSWORD_LENGTH} characters.`);
  if (Buffer.byteLength(prepared) > MAX_PASSWORD_BYTES) throw new AccountError(`The password must be at most ${MAX_PASSWORD_BYTES} bytes.`);
  return prepared;
}

/** An account address on this server: bare, local, and not a mixed-script lookalike. */
export function accountJid(address: string, domain: string): JID {
  let j: JID;
  try {
    j = parseJID(address.includes('@') ? address : `${address}@${domain}`);
  } catch (err) {
    if (err instanceof JidError) throw new AccountError(`Invalid address ${JSON.stringify(address)}: ${err.reason}`);
    throw err;
  }
  if (!j.local || j.resource) throw new AccountError(`${address} is not an account address (user@${domain}).`);
  if (j.domain !== domain) throw new AccountError(`${j.bareString()} is not on this server's domain ${domain}.`);
  return j;
}

/** 20 random characters from an unambiguous alphabet (~115 bits). */
export function generatePassword(): string {
  const alphabet = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(40);
  let out = '';
  for (const b of bytes) {
    if (b < 248) out += alphabet[b % alphabet.length]; // 248 = 56*4 + 24: reject to avoid modulo bias
    if (out.length === 20) break;
  }
  return out.length === 20 ? out : generatePassword();
}

function sameCredentials(a: readonly ScramCredential[], b: readonly ScramCredential[]): boolean {
  return a.length === b.length && a.every((c, i) => c.hash === b[i]!.hash && c.iterations === b[i]!.iterations && c.storedKey.equals(b[i]!.storedKey));
}

export class Accounts {
  private readonly storage: Storage;
  private readonly policy: AccountPolicy;

  /** Accounts of the configured domain, with the configured SCRAM hashes and iteration count. */
  static fromConfig(storage: Storage, config: Config): Accounts {
    return new Accounts(storage, { domain: config.domain, hashes: config.auth.scram_hashes as ScramHash[], iterations: config.auth.scram_iterations });
  }

  constructor(storage: Storage, policy: AccountPolicy) {
    this.storage = storage;
    this.policy = policy;
  }

  jid(address: string): JID {
    return accountJid(address, this.policy.domain);
  }

  async add(address: string, password: string, opts: { isAdmin?: boolean } = {}): Promise<JID> {
    const j = this.jid(address);
    if (isMixedScript(j.local)) throw new AccountError(`${j.local} mixes scripts (a lookalike risk); choose a name in one script.`);
    const credentials = await deriveCredentials(preparePassword(password), this.policy.hashes, this.policy.iterations);
    await this.storage.accounts.create({ domain: j.domain, localpart: j.local, disabled: false, isAdmin: opts.isAdmin ?? false, credentials });
    return j;
  }

  async setPassword(address: string, password: string): Promise<JID> {
    const j = this.jid(address);
    const credentials = await deriveCredentials(preparePassword(password), this.policy.hashes, this.policy.iterations);
    if (!(await this.storage.accounts.setCredentials(j.domain, j.local, credentials))) throw new AccountError(`No account ${j.bareString()}.`);
    // A new password ends every FAST token (XEP-0484): a client that had the old one logs in again.
    await revokeAccountTokens(this.storage.db, { domain: j.domain, localpart: j.local });
    return j;
  }

  /**
   * Brings an account's SCRAM credentials up to the configured iteration
   * count (and hashes) after a login that proved the plaintext password —
   * SASL PLAIN, the only mechanism where the server sees it. SCRAM logins
   * can't: the server holds only StoredKey and ServerKey, from which no
   * credential with another count can be derived, so those accounts are
   * upgraded at their next password change (setPassword derives with the
   * configured count). `password` is as the authenticator prepared it (PRECIS
   * OpaqueString). Returns whether the credentials were rewritten.
   */
  async upgradeCredentials(localpart: string, password: string): Promise<boolean> {
    const before = await this.storage.accounts.get(this.policy.domain, localpart);
    if (!before || !this.needsUpgrade(before.credentials)) return false;
    const credentials = await deriveCredentials(password, this.policy.hashes, this.policy.iterations);
    // The password may have been changed while PBKDF2 ran: never put back one derived from the old.
    const now = await this.storage.accounts.get(this.policy.domain, localpart);
    if (!now || !sameCredentials(before.credentials, now.credentials)) return false;
    return this.storage.accounts.setCredentials(this.policy.domain, localpart, credentials);
  }

  /** Fewer iterations than configured, or a configured hash missing. */
  needsUpgrade(credentials: readonly ScramCredential[]): boolean {
    return credentials.some((c) => c.iterations < this.policy.iterations) || this.policy.hashes.some((h) => !credentials.some((c) => c.hash === h));
  }

  /**
   * Deletes the account and what points at it: its roster, its last activity,
   * and its items and pending subscription requests on other accounts'
   * rosters (those rosters get a new version, so their clients learn of it).
   * Database only, so it works from the CLI with no server running.
   */
  async remove(address: string): Promise<JID> {
    const j = this.jid(address);
    if (!(await this.storage.accounts.get(j.domain, j.local))) throw new AccountError(`No account ${j.bareString()}.`);
    const ref = { domain: j.domain, localpart: j.local };
    await removeAccountRosterData(this.storage.db, ref);
    await removeAccountLastActivity(this.storage.db, ref);
    await forgetKnownClients(this.storage.db, ref);
    await revokeAccountTokens(this.storage.db, ref);
    if (!(await this.storage.accounts.remove(j.domain, j.local))) throw new AccountError(`No account ${j.bareString()}.`);
    return j;
  }

  async get(address: string): Promise<Account | undefined> {
    const j = this.jid(address);
    return this.storage.accounts.get(j.domain, j.local);
  }

  async *list(): AsyncGenerator<Account> {
    let after: string | undefined;
    for (;;) {
      const page = await this.storage.accounts.list(this.policy.domain, { after, limit: 500 });
      yield* page;
      if (page.length < 500) return;
      after = page[page.length - 1]!.localpart;
    }
  }

  /**
   * Bulk onboarding: derives keys on every core at once (PBKDF2 runs on libuv's
   * thread pool) and writes all accounts in one transaction.
   */
  async import(entries: readonly { address: string; password: string }[]): Promise<{ created: number; existing: string[] }> {
    const prepared = entries.map((e) => {
      const j = this.jid(e.address);
      if (isMixedScript(j.local)) throw new AccountError(`${j.local} mixes scripts (a lookalike risk).`);
      return { j, password: preparePassword(e.password) };
    });
    const parallel = Math.max(2, availableParallelism() * 2);
    const records: Parameters<Storage['accounts']['createMany']>[0][number][] = new Array(prepared.length);
    let next = 0;
    const worker = async () => {
      while (next < prepared.length) {
        const i = next++;
        const { j, password } = prepared[i]!;
        const credentials = await deriveCredentials(password, this.policy.hashes, this.policy.iterations);
        records[i] = { domain: j.domain, localpart: j.local, disabled: false, isAdmin: false, credentials };
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    return this.storage.accounts.createMany(records);
  }
}
