// Who is downloading, for `downloads: recipients-only`: HTTP Basic (RFC 7617)
// with the account's own name and password, checked like a PLAIN login —
// PBKDF2 against the stored SCRAM credential, the same work for unknown
// accounts, disabled accounts refused — and counted in the same per-account
// lockout as XMPP logins (the auth_lockouts table), so the download URL is no
// way around brute-force limits; then the decision point is asked about the
// login like for an XMPP one, so no policy on logins is bypassed either.
import { randomBytes } from 'node:crypto';
import { deriveCredential, verifyPassword, type ScramCredential } from '../../auth/credentials.ts';
import { AuthGuard } from '../../core/auth-guard.ts';
import type { Verdict } from '../../policy/types.ts';
import type { Storage } from '../../storage/types.ts';
import { usernameCaseMapped } from '../../xmpp/precis.ts';

const HASH_ORDER = ['SHA-512', 'SHA-256', 'SHA-1'] as const;
/** Longest Authorization header read; a name and a password fit easily. */
const MAX_HEADER = 2048;

/** Asks the decision point about a login (action 'login') of this bare JID from this address. */
export type LoginDecision = (jid: string, ip: string) => Promise<Verdict>;

/** Who a download's credentials prove, or why they prove nobody. */
export type DownloadLogin = { account: string } | { refused: 'credentials' } | { refused: 'policy'; text: string };
export class DownloadAuth {
  private readonly storage: Storage;
  private readonly domain: string;
  private readonly guard: AuthGuard;
  private readonly decide: LoginDecision;
  private readonly dummySalt = randomBytes(16);

  constructor(storage: Storage, domain: string, decide: LoginDecision) {
    this.storage = storage;
    this.domain = domain;
    this.decide = decide;
    // The documented defaults of auth.lockout_* (modules do not see the server's auth settings); the lock itself is shared through the database.
    this.guard = new AuthGuard(storage, { domain, lockoutFailures: 10, windowMs: 900_000, lockoutMs: 900_000, maxDelayMs: 8000 });
  }

  /**
   * The bare JID the Authorization header proves and the policy lets log in;
   * after the failure delay when the credentials are wrong. No header at all
   * is not a failure.
   */
  async login(header: string | undefined, ip: string): Promise<DownloadLogin> {
    const given = parseBasic(header);
    if (!given) return { refused: 'credentials' };
    const local = this.localpart(given.user);
    const account = local === undefined ? undefined : await this.storage.accounts.get(this.domain, local);
    const locked = local !== undefined && (await this.guard.isLocked(local, account !== undefined));
    const cred = account && !account.disabled && !locked ? strongest(account.credentials) : undefined;
    // Unknown, disabled and locked accounts cost the same PBKDF2 work as a wrong password.
    const ok = cred ? await verifyPassword(given.password, cred) : await this.dummyWork();
    if (ok && local !== undefined) {
      await this.guard.success(local);
      const jid = `${local}@${this.domain}`;
      // The decision point audits a refusal itself.
      const verdict = await this.decide(jid, ip);
      if (verdict.decision === 'deny') return { refused: 'policy', text: verdict.text ?? 'Login refused by policy.' };
      return { account: jid };
    }
    const { delayMs } = await this.guard.failure(local, account !== undefined, ip);
    await new Promise((r) => setTimeout(r, delayMs));
    return { refused: 'credentials' };
  }

  /** 'alice' or 'alice@<domain>', prepared like a SASL username; undefined for anything else. */
  private localpart(user: string): string | undefined {
    const at = user.lastIndexOf('@');
    if (at >= 0 && user.slice(at + 1).toLowerCase() !== this.domain) return undefined;
    try {
      return usernameCaseMapped(at >= 0 ? user.slice(0, at) : user, 'username');
    } catch {
      return undefined;
    }
  }

  private async dummyWork(): Promise<false> {
    await deriveCredential('x', 'SHA-256', 10_000, this.dummySalt);
    return false;
  }
}

/** User and password of a Basic Authorization header (UTF-8, RFC 7617 §2.1), or undefined. */
export function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined || header.length > MAX_HEADER) return undefined;
  const m = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function strongest(creds: readonly ScramCredential[]): ScramCredential | undefined {
  for (const h of HASH_ORDER) {
    const c = creds.find((x) => x.hash === h);
    if (c) return c;
  }
  return undefined;
}
