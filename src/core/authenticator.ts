// SASL for client streams: which mechanisms a connection is offered (XEP-0440
// channel bindings included), and one exchange per <auth/>. Failures never say
// whether the account exists.
import type { TLSSocket } from 'node:tls';
import { ScramServer, mechanismName, type ChannelBindingType, AUTH_FAILED_TEXT } from '../auth/scram.ts';
import { verifyPassword, deriveCredential, type ScramCredential, type ScramHash } from '../auth/credentials.ts';
import { parsePlain } from '../auth/plain.ts';
import { usernameCaseMapped, opaqueString, PrecisError } from '../xmpp/precis.ts';
import type { AccountStore } from '../storage/types.ts';
import { endPointBinding } from '../net/tls.ts';
import type { AuthGuard } from './auth-guard.ts';

export type SaslStepResult =
  | { kind: 'challenge'; data: Buffer }
  /**
   * credentialsChecked: the failure came from checking a password (what
   * brute-force limits count); username/accountExists say whose.
   */
  | { kind: 'failure'; condition: string; text: string; credentialsChecked?: boolean; username?: string; accountExists?: boolean }
  | { kind: 'success'; data: Buffer; username: string; mechanism: string; channelBinding?: ChannelBindingType };

export interface SaslExchange {
  step(data: Buffer): Promise<SaslStepResult>;
}

export interface AuthenticatorOptions {
  domain: string;
  accounts: AccountStore;
  hashes: readonly ScramHash[];
  channelBindings: readonly ChannelBindingType[];
  allowPlain: boolean;
  allowChannelBindingDowngrade: boolean;
  iterations: number;
  fakeCredentialSecret: Buffer;
  guard: AuthGuard;
}

/** Strongest first: clients that pick the first mechanism they know get the best. */
const HASH_ORDER: readonly ScramHash[] = ['SHA-512', 'SHA-256', 'SHA-1'];

export class Authenticator {
  private readonly opts: AuthenticatorOptions;

  constructor(opts: AuthenticatorOptions) {
    this.opts = opts;
  }

  /** Channel bindings this connection can offer (RFC 9266: tls-exporter only on TLS 1.3). */
  channelBindings(tls: TLSSocket | undefined): ChannelBindingType[] {
    if (!tls) return [];
    return this.opts.channelBindings.filter((t) => t !== 'tls-exporter' || tls.getProtocol() === 'TLSv1.3');
  }

  mechanisms(tls: TLSSocket | undefined): string[] {
    const hashes = HASH_ORDER.filter((h) => this.opts.hashes.includes(h));
    const out: string[] = [];
    if (this.channelBindings(tls).length) out.push(...hashes.map((h) => mechanismName(h, true)));
    out.push(...hashes.map((h) => mechanismName(h, false)));
    if (this.opts.allowPlain && tls) out.push('PLAIN');
    return out;
  }

  start(mechanism: string, tls: TLSSocket | undefined): SaslExchange | undefined {
    if (!this.mechanisms(tls).includes(mechanism)) return undefined;
    if (mechanism === 'PLAIN') return this.plain();
    const m = /^SCRAM-(SHA-1|SHA-256|SHA-512)(-PLUS)?$/.exec(mechanism)!;
    const hash = m[1] as ScramHash;
    const bindings = this.channelBindings(tls);
    const data: Partial<Record<ChannelBindingType, Buffer>> = {};
    if (tls) {
      for (const type of bindings) {
        const binding = type === 'tls-exporter' ? tls.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0)) : endPointBinding(tls);
        if (binding) data[type] = binding;
      }
    }
    const seen: { username?: string; exists?: boolean } = {};
    const server = new ScramServer({
      hash,
      plus: m[2] !== undefined,
      channelBindings: data,
      serverSupportsPlus: bindings.length > 0,
      allowDowngrade: this.opts.allowChannelBindingDowngrade,
      lookup: (username) => this.lookup(username, hash, seen),
      fakeCredentialSecret: this.opts.fakeCredentialSecret,
      iterationsForUnknown: this.opts.iterations,
    });
    return {
      step: async (input) => {
        const r = await server.step(input);
        if (r.kind === 'failure') {
          const credentialsChecked = r.text === AUTH_FAILED_TEXT;
          return { ...r, credentialsChecked, username: seen.username, accountExists: seen.exists };
        }
        if (r.kind !== 'success') return r;
        return { kind: 'success', data: r.data, username: prepUser(r.username)!, mechanism, channelBinding: r.channelBinding };
      },
    };
  }

  /** A locked account looks exactly like an unknown one: the exchange runs on a fake credential and fails at the proof. */
  private async lookup(username: string, hash: ScramHash, seen: { username?: string; exists?: boolean }): Promise<ScramCredential | undefined> {
    const local = prepUser(username);
    if (!local) return undefined;
    const account = await this.opts.accounts.get(this.opts.domain, local);
    seen.username = local;
    seen.exists = account !== undefined;
    if (await this.opts.guard.isLocked(local, seen.exists)) return undefined;
    return account?.credentials.find((c) => c.hash === hash);
  }

  private plain(): SaslExchange {
    let used = false;
    return {
      step: async (input) => {
        if (used) return { kind: 'failure', condition: 'malformed-request', text: 'PLAIN takes a single message.' };
        used = true;
        const parsed = parsePlain(input);
        if ('error' in parsed) return { kind: 'failure', condition: parsed.error, text: parsed.text };
        const local = prepUser(parsed.authcid);
        let password: string | undefined;
        try {
          password = opaqueString(parsed.password, 'password');
        } catch (err) {
          if (!(err instanceof PrecisError)) throw err;
        }
        const account = local ? await this.opts.accounts.get(this.opts.domain, local) : undefined;
        const locked = local !== undefined && (await this.opts.guard.isLocked(local, account !== undefined));
        const cred = account && !locked ? strongest(account.credentials) : undefined;
        // Unknown accounts cost the same PBKDF2 work as wrong passwords.
        const ok = cred && password !== undefined ? await verifyPassword(password, cred) : await this.dummyWork();
        const authzOk = parsed.authzid === undefined || parsed.authzid === `${local}@${this.opts.domain}`;
        if (!ok || !local) {
          return { kind: 'failure', condition: 'not-authorized', text: AUTH_FAILED_TEXT, credentialsChecked: true, username: local, accountExists: account !== undefined };
        }
        if (!authzOk) return { kind: 'failure', condition: 'invalid-authzid', text: 'You may only act as yourself.' };
        return { kind: 'success', data: Buffer.alloc(0), username: local, mechanism: 'PLAIN' };
      },
    };
  }

  private async dummyWork(): Promise<false> {
    await deriveCredential('x', 'SHA-256', this.opts.iterations, this.opts.fakeCredentialSecret.subarray(0, 16));
    return false;
  }
}

function strongest(creds: readonly ScramCredential[]): ScramCredential | undefined {
  for (const h of HASH_ORDER) {
    const c = creds.find((x) => x.hash === h);
    if (c) return c;
  }
  return undefined;
}

/** The SASL username is the account's localpart; anything unpreparable is simply unknown. */
function prepUser(username: string): string | undefined {
  try {
    return usernameCaseMapped(username, 'username');
  } catch {
    return undefined;
  }
}
