// Server side of SCRAM (RFC 5802, RFC 7677) with channel binding (RFC 5929
// tls-server-end-point, RFC 9266 tls-exporter). Pure logic: the caller moves the
// bytes, prepares usernames and decides what an authzid may be.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { digest, digestLength, hmac, SALT_BYTES, xor, type ScramCredential, type ScramHash } from './credentials.ts';
import {
  attr,
  decodeBase64,
  decodeMessage,
  isExtension,
  isNonce,
  randomNonce,
  SCRAM_MAX_MESSAGE_BYTES,
  unescapeSaslname,
} from './scram-syntax.ts';
import { SSDP_ATTRIBUTE, ssdpHash, type AdvertisedLists } from './ssdp.ts';

export type ChannelBindingType = 'tls-exporter' | 'tls-server-end-point';

export const CHANNEL_BINDING_TYPES: readonly ChannelBindingType[] = ['tls-exporter', 'tls-server-end-point'];

export interface ScramServerOptions {
  hash: ScramHash;
  /** This is the -PLUS mechanism. */
  plus: boolean;
  /** Binding data the server has for this connection (empty when not TLS). */
  channelBindings: Partial<Record<ChannelBindingType, Buffer>>;
  /** Whether -PLUS was advertised (for the 'y' downgrade check). */
  serverSupportsPlus: boolean;
  /**
   * Accept the 'y' flag although -PLUS was advertised (operator's choice for
   * clients that bind only with types this server can't offer, e.g. tls-unique
   * on TLS 1.3). Default false: 'y' then means a stripped mechanism list (RFC 5802 §6).
   */
  allowDowngrade?: boolean;
  /** Username as sent (after saslname unescape); the caller prepares/validates it. Returns the credential for `hash`. */
  lookup(username: string): Promise<ScramCredential | undefined>;
  /** Secret that makes the fake salt for unknown users stable but unpredictable. */
  fakeCredentialSecret: Buffer;
  iterationsForUnknown: number;
  /** Whether `username` may act as `authzid`; checked only after the proof. Default: only when no authzid is given. */
  authorize?(username: string, authzid: string | undefined): boolean | Promise<boolean>;
  /** What the stream advertised: its hash goes into server-first (XEP-0474 downgrade protection). Unset: no 'h' attribute. */
  advertised?: AdvertisedLists;
  /** Fixed server nonce part, for reproducing RFC test vectors only; production leaves it unset. */
  serverNonce?: string;
}

export type ScramFailureCondition =
  | 'not-authorized'
  | 'malformed-request'
  | 'invalid-authzid'
  | 'encryption-required'
  | 'invalid-mechanism';

export type ScramStepResult =
  | { kind: 'challenge'; data: Buffer }
  | { kind: 'success'; data: Buffer; username: string; authzid?: string; channelBinding?: ChannelBindingType }
  | { kind: 'failure'; condition: ScramFailureCondition; text: string };

/** The one text for a wrong password and an unknown user, so a failure says nothing about the account. */
export const AUTH_FAILED_TEXT = 'Authentication failed';

export function mechanismName(hash: ScramHash, plus: boolean): string {
  return `SCRAM-${hash}${plus ? '-PLUS' : ''}`;
}

interface Exchange {
  username: string;
  authzid: string | undefined;
  gs2Header: string;
  channelBinding: ChannelBindingType | undefined;
  credential: ScramCredential;
  known: boolean;
  nonce: string;
  clientFirstBare: string;
  serverFirst: string;
}

function fail(condition: ScramFailureCondition, text: string): ScramStepResult {
  return { kind: 'failure', condition, text };
}

function isChannelBindingType(name: string): name is ChannelBindingType {
  return (CHANNEL_BINDING_TYPES as readonly string[]).includes(name);
}

function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A single-use server conversation: client-first → challenge, client-final → success or failure. */
export class ScramServer {
  readonly #opts: ScramServerOptions;
  #state: 'first' | 'final' | 'done' = 'first';
  // Set when a step arrives out of turn (e.g. concurrently), so the exchange can never complete.
  #aborted = false;
  #exchange: Exchange | undefined;

  constructor(opts: ScramServerOptions) {
    if (opts.serverNonce !== undefined && !isNonce(opts.serverNonce)) throw new RangeError('serverNonce must be printable ASCII without ","');
    this.#opts = opts;
  }

  get mechanism(): string {
    return mechanismName(this.#opts.hash, this.#opts.plus);
  }

  async step(clientMessage: Buffer): Promise<ScramStepResult> {
    const state = this.#state;
    // Claimed before any await: a second call while this one runs, or any later call, is refused.
    this.#state = 'done';
    if (state === 'first') {
      const result = await this.#first(clientMessage);
      if (result.kind === 'challenge' && !this.#aborted) this.#state = 'final';
      return result;
    }
    if (state === 'final') {
      const exchange = this.#exchange!;
      this.#exchange = undefined;
      return this.#final(clientMessage, exchange);
    }
    this.#aborted = true;
    this.#exchange = undefined;
    return fail('malformed-request', 'SCRAM exchange is already finished or in progress');
  }

  async #first(msg: Buffer): Promise<ScramStepResult> {
    if (msg.length > SCRAM_MAX_MESSAGE_BYTES) return fail('malformed-request', 'client-first-message too long');
    const text = decodeMessage(msg);
    if (text === undefined) return fail('malformed-request', 'client-first-message is not valid UTF-8 or contains NUL');
    const parts = text.split(',');
    if (parts.length < 4) return fail('malformed-request', 'client-first-message is incomplete');
    const [flag, authzPart, userPart, noncePart, ...extensions] = parts as [string, string, string, string, ...string[]];

    let cbName: string | undefined;
    if (flag.startsWith('p=')) {
      cbName = flag.slice(2);
      if (!/^[A-Za-z0-9.-]+$/.test(cbName)) return fail('malformed-request', 'invalid channel binding name');
    } else if (flag !== 'n' && flag !== 'y') {
      return fail('malformed-request', 'invalid gs2 channel binding flag');
    }

    let authzid: string | undefined;
    if (authzPart !== '') {
      const raw = attr(authzPart, 'a');
      authzid = raw === undefined ? undefined : unescapeSaslname(raw);
      if (authzid === undefined) return fail('malformed-request', 'invalid authzid in gs2 header');
    }

    if (attr(userPart, 'm') !== undefined) return fail('malformed-request', 'unsupported mandatory extension');
    const rawUser = attr(userPart, 'n');
    const username = rawUser === undefined ? undefined : unescapeSaslname(rawUser);
    if (username === undefined) return fail('malformed-request', 'missing or invalid username');
    const clientNonce = attr(noncePart, 'r');
    if (clientNonce === undefined || !isNonce(clientNonce)) return fail('malformed-request', 'missing or invalid nonce');
    if (!extensions.every(isExtension)) return fail('malformed-request', 'unexpected attribute in client-first-message');

    const channelBinding = this.#checkBindingChoice(flag, cbName);
    if (typeof channelBinding === 'object') return channelBinding;

    const { credential, known } = await this.#credentialFor(username);
    const nonce = clientNonce + (this.#opts.serverNonce ?? randomNonce());
    const { advertised } = this.#opts;
    const ssdp = advertised === undefined ? '' : `,${SSDP_ATTRIBUTE}=${ssdpHash(this.#opts.hash, advertised)}`;
    const serverFirst = `r=${nonce},s=${credential.salt.toString('base64')},i=${credential.iterations}${ssdp}`;
    this.#exchange = {
      username,
      authzid,
      gs2Header: `${flag},${authzPart},`,
      channelBinding,
      credential,
      known,
      nonce,
      clientFirstBare: parts.slice(2).join(','),
      serverFirst,
    };
    return { kind: 'challenge', data: Buffer.from(serverFirst, 'utf8') };
  }

  /** The binding type to verify later, undefined for none, or the failure for an unacceptable choice. */
  #checkBindingChoice(flag: string, cbName: string | undefined): ChannelBindingType | undefined | ScramStepResult {
    const { plus, channelBindings, serverSupportsPlus } = this.#opts;
    if (plus) {
      if (cbName === undefined) return fail('malformed-request', `${this.mechanism} requires the 'p=' channel binding flag`);
      if (Object.keys(channelBindings).length === 0) return fail('encryption-required', 'channel binding requires TLS');
      if (!isChannelBindingType(cbName) || channelBindings[cbName] === undefined) {
        return fail('not-authorized', `unsupported channel binding type ${cbName}`);
      }
      return cbName;
    }
    if (cbName !== undefined) return fail('malformed-request', `'p=' channel binding flag used with ${this.mechanism}`);
    // RFC 5802 §6: 'y' means the client could bind but believes we cannot; if we advertised -PLUS, someone stripped it.
    if (flag === 'y' && serverSupportsPlus && !this.#opts.allowDowngrade) return fail('not-authorized', 'channel binding downgrade detected');
    return undefined;
  }

  async #credentialFor(username: string): Promise<{ credential: ScramCredential; known: boolean }> {
    const { hash, lookup, fakeCredentialSecret, iterationsForUnknown } = this.#opts;
    const found = await lookup(username);
    if (found !== undefined && found.hash === hash) {
      if (found.storedKey.length !== digestLength(hash) || found.serverKey.length !== digestLength(hash)) {
        throw new Error(`stored ${hash} credential has keys of the wrong length`);
      }
      return { credential: found, known: true };
    }
    // Unknown user (or no credential for this hash): a salt derived from a secret and the name, so
    // repeated attempts see the same salt, as they would for a real account.
    const salt = createHmac('sha256', fakeCredentialSecret)
      .update(`palisade-scram-fake-salt\0${hash}\0${username}`)
      .digest()
      .subarray(0, SALT_BYTES);
    const credential: ScramCredential = {
      hash,
      salt,
      iterations: iterationsForUnknown,
      storedKey: randomBytes(digestLength(hash)),
      serverKey: randomBytes(digestLength(hash)),
    };
    return { credential, known: false };
  }

  async #final(msg: Buffer, ex: Exchange): Promise<ScramStepResult> {
    if (msg.length > SCRAM_MAX_MESSAGE_BYTES) return fail('malformed-request', 'client-final-message too long');
    const text = decodeMessage(msg);
    if (text === undefined) return fail('malformed-request', 'client-final-message is not valid UTF-8 or contains NUL');
    const parts = text.split(',');
    if (parts.length < 3) return fail('malformed-request', 'client-final-message is incomplete');
    const proofPart = parts[parts.length - 1]!;
    const cbValue = attr(parts[0], 'c');
    const nonce = attr(parts[1], 'r');
    const proofValue = attr(proofPart, 'p');
    if (cbValue === undefined || nonce === undefined || proofValue === undefined) {
      return fail('malformed-request', 'client-final-message must be c=...,r=...,[extensions,]p=...');
    }
    if (!parts.slice(2, -1).every(isExtension)) return fail('malformed-request', 'unexpected attribute in client-final-message');
    const cbData = decodeBase64(cbValue);
    const proof = decodeBase64(proofValue);
    if (cbData === undefined || proof === undefined) return fail('malformed-request', 'invalid base64');
    const { hash } = this.#opts;
    if (proof.length !== digestLength(hash)) return fail('malformed-request', 'proof has the wrong length');

    if (nonce !== ex.nonce) return fail('not-authorized', 'nonce mismatch');
    const boundData = ex.channelBinding === undefined ? Buffer.alloc(0) : this.#opts.channelBindings[ex.channelBinding]!;
    const expectedCb = Buffer.concat([Buffer.from(ex.gs2Header, 'utf8'), boundData]);
    if (!constantTimeEqual(cbData, expectedCb)) return fail('not-authorized', 'channel binding mismatch');

    const withoutProof = text.slice(0, text.length - proofPart.length - 1);
    const authMessage = `${ex.clientFirstBare},${ex.serverFirst},${withoutProof}`;
    const clientKey = xor(proof, hmac(hash, ex.credential.storedKey, authMessage));
    const proofOk = timingSafeEqual(digest(hash, clientKey), ex.credential.storedKey);
    // Same work and same answer for an unknown user as for a wrong password.
    if (!proofOk || !ex.known) return fail('not-authorized', AUTH_FAILED_TEXT);

    const authorize = this.#opts.authorize ?? ((_user: string, authzid: string | undefined) => authzid === undefined);
    if (!(await authorize(ex.username, ex.authzid))) return fail('invalid-authzid', 'not allowed to act as the requested identity');

    const serverSignature = hmac(hash, ex.credential.serverKey, authMessage);
    return {
      kind: 'success',
      data: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8'),
      username: ex.username,
      ...(ex.authzid !== undefined && { authzid: ex.authzid }),
      ...(ex.channelBinding !== undefined && { channelBinding: ex.channelBinding }),
    };
  }
}
