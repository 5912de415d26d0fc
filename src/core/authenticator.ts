// SASL for client streams: which mechanisms a connection is offered (XEP-0440
// channel bindings included), and one exchange per <auth/>. Failures never say
// whether the account exists.
import { createHmac, randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { ScramServer, mechanismName, type ChannelBindingType, AUTH_FAILED_TEXT } from '../auth/scram.ts';
import { verifyPassword, deriveCredential, type ScramCredential, type ScramHash } from '../auth/credentials.ts';
import { parsePlain } from '../auth/plain.ts';
import { usernameCaseMapped, opaqueString, PrecisError } from '../xmpp/precis.ts';
import type { AccountStore } from '../storage/types.ts';
import { endPointBinding } from '../net/tls.ts';
import type { AuthGuard } from './auth-guard.ts';
import { sameMac, type FastTokenStore, type IssuedToken } from '../auth/fast-store.ts';
import { HT_BINDING, HT_MECHANISMS, htMac, isHtMechanism, parseHtInitial, type HtMechanism } from '../auth/ht.ts';

export type SaslStepResult =
  | { kind: 'challenge'; data: Buffer }
  /**
   * credentialsChecked: the failure came from checking a password (what
   * brute-force limits count); username/accountExists say whose.
   */
  | { kind: 'failure'; condition: string; text: string; credentialsChecked?: boolean; username?: string; accountExists?: boolean }
  | {
      kind: 'success';
      data: Buffer;
      username: string;
      mechanism: string;
      channelBinding?: ChannelBindingType;
      /** Logged in with a FAST token; rotate: it is due to be replaced. */
      fast?: { rotate: boolean };
    };

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
  /** Offer SASL2 (XEP-0388) with Bind 2 next to SASL. */
  sasl2: boolean;
  /** FAST tokens (XEP-0484); undefined: not offered. */
  fast: FastTokenStore | undefined;
  /** After a right password in the clear (checkPassword), the only time the server sees one: credentials below the configured strength are derived again. */
  onPlainLogin?: (localpart: string, password: string) => void;
}

/** A client logging in with a FAST token (the <fast/> element of its SASL2 request). */
export interface FastLogin {
  agentId: string;
  count: number | undefined;
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

  get sasl2(): boolean {
    return this.opts.sasl2;
  }

  /** The HT mechanisms FAST offers on this connection (only with SASL2, only over TLS). */
  fastMechanisms(tls: TLSSocket | undefined): HtMechanism[] {
    if (!this.opts.fast || !this.opts.sasl2 || !tls) return [];
    const bindings = this.channelBindings(tls);
    return HT_MECHANISMS.filter((m) => HT_BINDING[m] === undefined || bindings.includes(HT_BINDING[m]));
  }

  mechanisms(tls: TLSSocket | undefined): string[] {
    const hashes = HASH_ORDER.filter((h) => this.opts.hashes.includes(h));
    const out: string[] = [];
    if (this.channelBindings(tls).length) out.push(...hashes.map((h) => mechanismName(h, true)));
    out.push(...hashes.map((h) => mechanismName(h, false)));
    if (this.opts.allowPlain && tls) out.push('PLAIN');
    return out;
  }

  /**
   * One exchange. `fast` is set for a SASL2 login with a token (its mechanisms
   * exist only there); SCRAM and PLAIN are the same in SASL and SASL2, whose
   * mechanism lists are the same too (what the downgrade hash covers).
   */
  start(mechanism: string, tls: TLSSocket | undefined, fast?: FastLogin): SaslExchange | undefined {
    if (fast) return isHtMechanism(mechanism) && this.fastMechanisms(tls).includes(mechanism) ? this.ht(mechanism, tls!, fast) : undefined;
    if (!this.mechanisms(tls).includes(mechanism)) return undefined;
    if (mechanism === 'PLAIN') return this.plain();
    const m = /^SCRAM-(SHA-1|SHA-256|SHA-512)(-PLUS)?$/.exec(mechanism)!;
    const hash = m[1] as ScramHash;
    const bindings = this.channelBindings(tls);
    const plus = m[2] !== undefined;
    // Only a -PLUS exchange uses the binding data; reading the certificate and the exporter costs about 50 µs a login.
    const data = plus ? bindingData(tls, bindings) : {};
    const seen: { username?: string; exists?: boolean } = {};
    const server = new ScramServer({
      hash,
      plus,
      channelBindings: data,
      serverSupportsPlus: bindings.length > 0,
      allowDowngrade: this.opts.allowChannelBindingDowngrade,
      lookup: (username) => this.lookup(username, hash, seen),
      fakeCredentialSecret: this.opts.fakeCredentialSecret,
      iterationsForUnknown: this.opts.iterations,
      // XEP-0474: what features() advertised — the <sasl-channel-binding/> element only when there are bindings.
      advertised: { mechanisms: this.mechanisms(tls), channelBindings: bindings.length ? bindings : undefined },
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

  /** A locked account's exchange runs on its real credential: the lock is applied after the proof (Server.authorize, AuthGuard.lockState). */
  private async lookup(username: string, hash: ScramHash, seen: { username?: string; exists?: boolean }): Promise<ScramCredential | undefined> {
    const local = prepUser(username);
    if (!local) return undefined;
    const account = await this.opts.accounts.get(this.opts.domain, local);
    seen.username = local;
    seen.exists = account !== undefined;
    return account?.credentials.find((c) => c.hash === hash);
  }

  /** A new FAST token for this client, bound to `mechanism` (which must be one offered here). */
  issueToken(username: string, agentId: string, mechanism: string): Promise<IssuedToken> {
    return this.opts.fast!.issue({ domain: this.opts.domain, localpart: username }, agentId, mechanism);
  }

  /** Ends the tokens of one client (a login with <fast invalidate='true'/>). */
  revokeClientTokens(username: string, agentId: string): Promise<void> {
    return this.opts.fast!.revokeClient({ domain: this.opts.domain, localpart: username }, agentId);
  }

  /**
   * The Bind 2 resource: the client's tag, then an identifier that stays the same
   * for the same account, client installation and tag (XEP-0386 §2.2.1) without
   * revealing the installation's id; random without one.
   */
  deviceResource(username: string, agentId: string | undefined, tag: string | undefined): string {
    const id =
      agentId === undefined
        ? randomId()
        : createHmac('sha256', this.opts.fakeCredentialSecret).update(`palisade-bind2\0${username}\0${agentId}\0${tag ?? ''}`).digest('base64url').slice(0, 12);
    return tag === undefined ? id : `${tag}/${id}`;
  }

  /** HT-SHA-256-* with a FAST token: one message each way, the same lockout accounting as a password. */
  private ht(mechanism: HtMechanism, tls: TLSSocket, login: FastLogin): SaslExchange {
    let used = false;
    const store = this.opts.fast!;
    const binding = HT_BINDING[mechanism];
    const cbData = binding === undefined ? Buffer.alloc(0) : bindingData(tls, [binding])[binding];
    // Never fall back to binding nothing when the connection has no data for the promised binding.
    if (cbData === undefined) return { step: async () => ({ kind: 'failure', condition: 'encryption-required', text: `${mechanism}: no ${binding} data on this connection.` }) };
    return {
      step: async (input) => {
        if (used) return { kind: 'failure', condition: 'malformed-request', text: `${mechanism} takes a single message.` };
        used = true;
        const parsed = parseHtInitial(input);
        if ('error' in parsed) return { kind: 'failure', condition: 'malformed-request', text: parsed.error };
        const local = prepUser(parsed.authcid);
        const account = local ? await this.opts.accounts.get(this.opts.domain, local) : undefined;
        const matches = (token: string) => sameMac(htMac(token, 'Initiator', cbData), parsed.mac);
        // Unknown accounts run the same lookup and comparison, on an account that has no tokens.
        const ref = { domain: this.opts.domain, localpart: account ? local! : '' };
        const verdict = await store.use(ref, login.agentId, mechanism, matches, login.count);
        const failed = { kind: 'failure', credentialsChecked: true, username: local, accountExists: account !== undefined } as const;
        if (verdict.kind === 'expired') return { ...failed, condition: 'credentials-expired', text: 'This token has expired; log in with your password.' };
        if (verdict.kind === 'replayed') return { ...failed, condition: 'not-authorized', text: 'This token count was used before (replay).' };
        if (verdict.kind !== 'ok') return { ...failed, condition: 'not-authorized', text: AUTH_FAILED_TEXT };
        return {
          kind: 'success',
          data: htMac(verdict.token, 'Responder', cbData),
          username: local!,
          mechanism,
          ...(binding !== undefined && { channelBinding: binding }),
          fast: { rotate: verdict.rotate },
        };
      },
    };
  }

  private plain(): SaslExchange {
    let used = false;
    return {
      step: async (input) => {
        if (used) return { kind: 'failure', condition: 'malformed-request', text: 'PLAIN takes a single message.' };
        used = true;
        const parsed = parsePlain(input);
        if ('error' in parsed) return { kind: 'failure', condition: parsed.error, text: parsed.text };
        const { username, exists, ok } = await this.checkPassword(parsed.authcid, parsed.password);
        if (!ok) return { kind: 'failure', condition: 'not-authorized', text: AUTH_FAILED_TEXT, credentialsChecked: true, username, accountExists: exists };
        const authzOk = parsed.authzid === undefined || parsed.authzid === `${username}@${this.opts.domain}`;
        if (!authzOk) return { kind: 'failure', condition: 'invalid-authzid', text: 'You may only act as yourself.' };
        return { kind: 'success', data: Buffer.alloc(0), username: username!, mechanism: 'PLAIN' };
      },
    };
  }

  /**
   * A name and password in the clear (PLAIN, and the logins outside SASL:
   * src/core/password-login.ts): the name prepared as a SASL username, the
   * password checked against the account's strongest credential. Only the
   * proof: what a lock, a disabled account or the policy say comes after.
   */
  async checkPassword(authcid: string, given: string): Promise<{ username: string | undefined; exists: boolean; ok: boolean }> {
    const local = prepUser(authcid);
    let password: string | undefined;
    try {
      password = opaqueString(given, 'password');
    } catch (err) {
      if (!(err instanceof PrecisError)) throw err;
    }
    const account = local ? await this.opts.accounts.get(this.opts.domain, local) : undefined;
    const cred = account ? strongest(account.credentials) : undefined;
    // Unknown accounts cost the same PBKDF2 work as wrong passwords.
    const ok = cred && password !== undefined ? await verifyPassword(password, cred) : await this.dummyWork();
    if (ok) this.opts.onPlainLogin?.(local!, password!);
    return { username: local, exists: account !== undefined, ok };
  }

  private async dummyWork(): Promise<false> {
    await deriveCredential('x', 'SHA-256', this.opts.iterations, this.opts.fakeCredentialSecret.subarray(0, 16));
    return false;
  }
}

/** The binding data this server sees for each type on this connection. */
function bindingData(tls: TLSSocket | undefined, types: readonly ChannelBindingType[]): Partial<Record<ChannelBindingType, Buffer>> {
  const data: Partial<Record<ChannelBindingType, Buffer>> = {};
  if (!tls) return data;
  for (const type of types) {
    const binding = type === 'tls-exporter' ? tls.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0)) : endPointBinding(tls);
    if (binding) data[type] = binding;
  }
  return data;
}

function randomId(): string {
  return randomBytes(9).toString('base64url');
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
