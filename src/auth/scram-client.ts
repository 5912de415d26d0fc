// Client side of SCRAM, for our tests and the benchmark's load generator.
import { timingSafeEqual } from 'node:crypto';
import { digest, digestLength, hmac, saltedPassword, xor, type ScramHash } from './credentials.ts';
import type { ChannelBindingType } from './scram.ts';
import { SSDP_ATTRIBUTE, ssdpHash, type AdvertisedLists } from './ssdp.ts';
import { attr, decodeBase64, decodeMessage, escapeSaslname, isExtension, isNonce, randomNonce } from './scram-syntax.ts';

/** Refuse a server that asks for absurd work (a cheap way to stall a client). */
const MAX_ITERATIONS = 10_000_000;

export interface ScramClientOptions {
  hash: ScramHash;
  username: string;
  /** Already normalised by the caller, like the server side. */
  password: string;
  authzid?: string;
  /** Present: the -PLUS mechanism with this binding ('p=' flag). */
  channelBinding?: { type: ChannelBindingType; data: Buffer };
  /** Without channelBinding: true sends 'y' (could bind, server did not offer -PLUS), false sends 'n'. */
  clientSupportsPlus?: boolean;
  clientNonce?: string;
  /**
   * The lists the stream advertised: server-first must then carry their XEP-0474
   * hash, or final() throws (a stripped list, or a server without SSDP).
   */
  expectAdvertised?: AdvertisedLists;
  /** Tests only: binding data to put in c= instead of the real one, as a man in the middle's connection would give. */
  tamperChannelBindingData?: Buffer;
}

export class ScramClient {
  readonly #opts: ScramClientOptions;
  readonly #clientNonce: string;
  readonly #gs2Header: string;
  readonly #clientFirstBare: string;
  #serverSignature: Buffer | undefined;

  constructor(opts: ScramClientOptions) {
    if (opts.clientNonce !== undefined && !isNonce(opts.clientNonce)) throw new RangeError('clientNonce must be printable ASCII without ","');
    this.#opts = opts;
    this.#clientNonce = opts.clientNonce ?? randomNonce();
    const flag = opts.channelBinding ? `p=${opts.channelBinding.type}` : opts.clientSupportsPlus ? 'y' : 'n';
    const authzid = opts.authzid === undefined ? '' : `a=${escapeSaslname(opts.authzid)}`;
    this.#gs2Header = `${flag},${authzid},`;
    this.#clientFirstBare = `n=${escapeSaslname(opts.username)},r=${this.#clientNonce}`;
  }

  first(): Buffer {
    return Buffer.from(this.#gs2Header + this.#clientFirstBare, 'utf8');
  }

  /** Computes client-final from server-first; throws on a malformed or hostile server-first. */
  async final(serverFirst: Buffer): Promise<Buffer> {
    const text = decodeMessage(serverFirst);
    if (text === undefined) throw new Error('server-first-message is not valid UTF-8');
    const parts = text.split(',');
    if (attr(parts[0], 'm') !== undefined) throw new Error('server-first-message has an unsupported mandatory extension');
    const nonce = attr(parts[0], 'r');
    const saltValue = attr(parts[1], 's');
    const iterValue = attr(parts[2], 'i');
    if (nonce === undefined || saltValue === undefined || iterValue === undefined || !parts.slice(3).every(isExtension)) {
      throw new Error('server-first-message must be r=...,s=...,i=...');
    }
    if (!isNonce(nonce) || !nonce.startsWith(this.#clientNonce) || nonce.length === this.#clientNonce.length) {
      throw new Error('server nonce does not extend the client nonce');
    }
    const salt = decodeBase64(saltValue);
    if (salt === undefined) throw new Error('invalid salt');
    if (!/^[1-9][0-9]*$/.test(iterValue) || Number(iterValue) > MAX_ITERATIONS) throw new Error('invalid iteration count');
    this.#checkDowngrade(parts.slice(3));

    const { hash, password, channelBinding, tamperChannelBindingData } = this.#opts;
    const cbData = tamperChannelBindingData ?? channelBinding?.data ?? Buffer.alloc(0);
    const cbInput = Buffer.concat([Buffer.from(this.#gs2Header, 'utf8'), cbData]);
    const withoutProof = `c=${cbInput.toString('base64')},r=${nonce}`;
    const authMessage = `${this.#clientFirstBare},${text},${withoutProof}`;

    const salted = await saltedPassword(password, hash, salt, Number(iterValue));
    const clientKey = hmac(hash, salted, 'Client Key');
    const proof = xor(clientKey, hmac(hash, digest(hash, clientKey), authMessage));
    this.#serverSignature = hmac(hash, hmac(hash, salted, 'Server Key'), authMessage);
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8');
  }

  /** XEP-0474: the server's hash of what it advertised must match what this client saw. */
  #checkDowngrade(extensions: string[]): void {
    const expected = this.#opts.expectAdvertised;
    if (expected === undefined) return;
    const sent = extensions.map((p) => attr(p, SSDP_ATTRIBUTE)).find((v) => v !== undefined);
    if (sent === undefined) throw new Error('server-first-message carries no downgrade protection hash');
    if (sent !== ssdpHash(this.#opts.hash, expected)) throw new Error('downgrade detected: the advertised mechanisms or channel bindings were altered');
  }

  /** True only for a server-final carrying the expected ServerSignature (proof the server knew the credential). */
  verify(serverFinal: Buffer): boolean {
    const expected = this.#serverSignature;
    const text = decodeMessage(serverFinal);
    if (expected === undefined || text === undefined) return false;
    const parts = text.split(',');
    const value = attr(parts[0], 'v');
    const signature = value === undefined ? undefined : decodeBase64(value);
    if (signature === undefined || !parts.slice(1).every(isExtension)) return false;
    return signature.length === digestLength(this.#opts.hash) && timingSafeEqual(signature, expected);
  }
}
