// Who is downloading, for `downloads: recipients-only`: HTTP Basic (RFC 7617)
// with the account's own name and password, checked by the server's own
// password login (the 'password-login' service, src/core/password-login.ts):
// the PLAIN check with its PBKDF2 work for unknown accounts, the lockout and
// failure delays of XMPP logins (auth.lockout_*), the lock's answers, the
// decision point asked about a login, and the same audit entries — so the
// download URL is no way around brute-force limits or login rules.
import { lockedText, type PasswordLogin } from '../../core/password-login.ts';

/** Longest Authorization header read; a name and a password fit easily. */
const MAX_HEADER = 2048;

/** Who a download's credentials prove, or why they prove nobody ('policy': refused with a text the user is told). */
export type DownloadLogin = { account: string } | { refused: 'credentials' } | { refused: 'policy'; text: string };

export class DownloadAuth {
  private readonly logins: PasswordLogin;
  private readonly domain: string;

  constructor(logins: PasswordLogin, domain: string) {
    this.logins = logins;
    this.domain = domain;
  }

  /**
   * The bare JID the Authorization header proves and the policy lets log in;
   * after the failure delay when the credentials are wrong. No header at all
   * is not a failure.
   */
  async login(header: string | undefined, ip: string): Promise<DownloadLogin> {
    const given = parseBasic(header);
    if (!given) return { refused: 'credentials' };
    const r = await this.logins.check(this.username(given.user), given.password, ip);
    if ('account' in r) return r;
    // A lock is told only to an address that did not lead to it and gave the right password (the check answers the others 'credentials').
    if (r.refused === 'locked') return { refused: 'policy', text: lockedText(r.until) };
    if (r.refused === 'disabled') return { refused: 'policy', text: 'This account is disabled.' };
    return r;
  }

  /** 'alice@<domain>' is alice (browsers' users type their address); anything else is checked as given, like a SASL username. */
  private username(user: string): string {
    const at = user.lastIndexOf('@');
    return at >= 0 && user.slice(at + 1).toLowerCase() === this.domain ? user.slice(0, at) : user;
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
