// What a login is after its proof, for every way in: the account lock, a
// disabled account and the decision point (Logins.admit, run for SASL by
// Server.authorize), and what a failed proof costs (Logins.failed: audit,
// lockout count, the growing delay). Logins that are not SASL (HTTP Basic for
// downloads) get the whole PLAIN login through the 'password-login' service
// (Logins.check), so they share its lockout, delays, policy and audit.
import type { Logger } from 'pino';
import type { PolicyEngine } from '../policy/engine.ts';
import type { SessionSecurity } from '../policy/types.ts';
import type { AccountStore } from '../storage/types.ts';
import type { AuthGuard } from './auth-guard.ts';
import type { Authenticator } from './authenticator.ts';

/** The service's name for ModuleContext.use. */
export const PASSWORD_LOGIN_SERVICE = 'password-login';

/** Who a name and password prove, or why they prove nobody. */
export type PasswordLoginResult =
  | { account: string }
  /** Wrong, unknown, or a lock this address led to: answered after the failure delay. */
  | { refused: 'credentials' }
  | { refused: 'locked'; until: Date }
  | { refused: 'disabled' }
  | { refused: 'policy'; text: string };

/** A login outside SASL, with a name and password in the clear (over TLS), checked as a PLAIN login is. */
export interface PasswordLogin {
  check(user: string, password: string, ip: string): Promise<PasswordLoginResult>;
}

/** After a right password or token: let in, or why not ('guesser': the lock refuses this address like a wrong guess). */
export type Admission =
  | { admitted: true }
  | { refused: 'unknown' }
  | { refused: 'guesser' }
  | { refused: 'locked'; until: Date }
  | { refused: 'disabled' }
  | { refused: 'policy'; text: string };

export interface LoginsOptions {
  domain: string;
  accounts: AccountStore;
  auth: Authenticator;
  guard: AuthGuard;
  policy: PolicyEngine;
  log: Logger;
}

/** The server's only non-SASL logins come over its HTTPS listener: TLS, a password in the clear as with PLAIN. */
const HTTPS_PASSWORD: SessionSecurity = { tls: true, mechanism: 'PLAIN' };
/** What the audit entries of these logins say in details.via (the listener's only password logins are downloads). */
const VIA = 'http-download';

export function lockedText(until: Date): string {
  return `This account is locked after too many failed logins until ${until.toISOString()}; an administrator can unlock it sooner.`;
}

export class Logins implements PasswordLogin {
  private readonly opts: LoginsOptions;

  constructor(opts: LoginsOptions) {
    this.opts = opts;
  }

  /** A password login: the Authenticator's PLAIN check (the same PBKDF2 work for unknown accounts), then admit. */
  async check(user: string, password: string, ip: string): Promise<PasswordLoginResult> {
    const proof = await this.opts.auth.checkPassword(user, password);
    if (!proof.ok) return this.refuse(proof.username, proof.exists, ip);
    const username = proof.username!;
    const a = await this.admit(username, ip, HTTPS_PASSWORD, VIA);
    if ('admitted' in a) return { account: `${username}@${this.opts.domain}` };
    // 'unknown': deleted since the check; nothing to count.
    if (a.refused === 'unknown') return { refused: 'credentials' };
    if (a.refused === 'guesser') return this.refuse(username, true, ip);
    return a;
  }

  /**
   * The checks after a proof, in the order SASL runs them (Server.authorize): a
   * lock (refused to the addresses that led to it, told to others), a disabled
   * account, then the decision point (which audits its own refusals); a login
   * let in clears the account's failures and is audited.
   */
  async admit(username: string, ip: string, security: SessionSecurity | undefined, via?: string): Promise<Admission> {
    const { domain, guard, policy } = this.opts;
    const jid = `${username}@${domain}`;
    const account = await this.opts.accounts.get(domain, username);
    if (!account) return { refused: 'unknown' };
    const lock = await guard.lockState(username, ip);
    // The guessing address: the caller answers it as a wrong guess (failed), so the lock keeps its secret.
    if (lock.state === 'refuse') return { refused: 'guesser' };
    if (lock.state === 'tell') {
      policy.loginFailed(jid, ip, 'account locked', via);
      return { refused: 'locked', until: lock.until };
    }
    if (account.disabled) {
      policy.loginFailed(jid, ip, 'account disabled', via);
      return { refused: 'disabled' };
    }
    const verdict = await policy.decisionPoint.decide({
      action: 'login',
      subject: { jid, domain, groups: policy.groupsOf(jid), ip, security },
      time: policy.now(),
    });
    if (verdict.decision === 'deny') return { refused: 'policy', text: verdict.text ?? 'Login refused by policy.' };
    await guard.success(username);
    policy.loginSucceeded(jid, ip, security, via);
    return { admitted: true };
  }

  /** A failed proof: audited, counted toward the lock (whose start is audited too); returns the delay before answering it. */
  async failed(username: string | undefined, accountExists: boolean, ip: string, via?: string): Promise<number> {
    const { domain, policy } = this.opts;
    policy.loginFailed(accountExists ? `${username}@${domain}` : undefined, ip, 'wrong password or unknown account', via);
    const { delayMs, locked } = await this.opts.guard.failure(username, accountExists, ip);
    if (locked) {
      this.opts.log.warn({ user: username, ip }, 'account locked after repeated failed logins');
      // Only real accounts are named in the audit log; guesses at names are not worth keeping.
      await policy.audit.append({
        actor: `ip:${ip}`,
        action: 'auth.lockout',
        decision: 'info',
        reason: 'too many failed logins',
        details: accountExists ? { account: `${username}@${domain}` } : { account: null },
      });
    }
    return delayMs;
  }

  private async refuse(username: string | undefined, accountExists: boolean, ip: string): Promise<{ refused: 'credentials' }> {
    const delayMs = await this.failed(username, accountExists, ip, VIA);
    await new Promise((r) => setTimeout(r, delayMs));
    return { refused: 'credentials' };
  }
}
