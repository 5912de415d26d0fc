// TLS for every listener: one secure context (TLS 1.2+ with modern AEAD suites),
// a self-signed certificate created on first start when none is configured, and
// the tls-server-end-point channel binding of the served certificate.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createSecureContext, type SecureContext, type SecureContextOptions, type Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { createSelfSigned, endPointHashAlgorithm } from './x509.ts';

/** ECDHE with AEAD only for TLS 1.2; TLS 1.3 suites are all modern. */
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** True when this start created them. */
  created: boolean;
}

export class TlsProvider {
  readonly files: TlsFiles;
  private readonly minVersion: TlsMinVersion;
  /** What every listener's context is made of: STARTTLS, direct TLS and HTTPS serve the same certificate. */
  private options: SecureContextOptions;
  private ctx: SecureContext;
  private readonly listeners = new Set<TlsServer>();

  private constructor(files: TlsFiles, minVersion: TlsMinVersion) {
    this.files = files;
    this.minVersion = minVersion;
    const { options, ctx } = this.build();
    this.options = options;
    this.ctx = ctx;
  }

  static open(opts: {
    domain: string;
    dataDir: string;
    certFile?: string | null;
    keyFile?: string | null;
    minVersion: TlsMinVersion;
  }): TlsProvider {
    if (opts.certFile && opts.keyFile) {
      return new TlsProvider({ certFile: opts.certFile, keyFile: opts.keyFile, created: false }, opts.minVersion);
    }
    const certFile = join(opts.dataDir, 'tls', `${opts.domain}.crt`);
    const keyFile = join(opts.dataDir, 'tls', `${opts.domain}.key`);
    let created = false;
    if (!existsSync(certFile) || !existsSync(keyFile)) {
      writeSelfSigned(opts.domain, certFile, keyFile);
      created = true;
    }
    return new TlsProvider({ certFile, keyFile, created }, opts.minVersion);
  }

  context(): SecureContext {
    return this.ctx;
  }

  /**
   * Options for a TLS listener (direct TLS, HTTPS). Node's tls.Server builds its
   * own context from these (it has no `secureContext` option): hand the listener
   * to follow() so that a reload reaches it.
   */
  serverOptions(alpn: string[]): TlsOptions {
    return { ...this.options, ALPNProtocols: alpn };
  }

  /** Keeps a listener's certificate current: reload() replaces its context too, until it closes. */
  follow(listener: TlsServer): void {
    this.listeners.add(listener);
    listener.once('close', () => this.listeners.delete(listener));
  }

  private readOptions(): SecureContextOptions {
    return {
      cert: readFileSync(this.files.certFile, 'utf8'),
      key: readFileSync(this.files.keyFile, 'utf8'),
      minVersion: this.minVersion,
      ciphers: TLS12_CIPHERS,
      honorCipherOrder: true,
    };
  }

  /**
   * Re-reads the certificate files for new connections on every listener
   * (sessions already established keep theirs). Throws, changing nothing, when
   * the files are unusable.
   */
  reload(): void {
    const { options, ctx } = this.build();
    this.options = options;
    this.ctx = ctx;
    for (const listener of this.listeners) listener.setSecureContext(options);
  }

  private build(): { options: SecureContextOptions; ctx: SecureContext } {
    const options = this.readOptions();
    return { options, ctx: createSecureContext(options) };
  }
}

/**
 * RFC 5929 tls-server-end-point of the certificate this connection was served:
 * the hash of it with its signature hash (MD5/SHA-1 → SHA-256). Taken from the
 * connection, not the provider, because a connection opened before a reload
 * keeps the certificate it was served.
 */
export function endPointBinding(socket: TLSSocket): Buffer | undefined {
  // getCertificate() rather than getX509Certificate(): the DER is all we need, at a sixth of the cost per login.
  const cert = socket.getCertificate();
  if (!cert || !('raw' in cert)) return undefined;
  return createHash(endPointHashAlgorithm(cert.raw)).update(cert.raw).digest();
}

function writeSelfSigned(domain: string, certFile: string, keyFile: string): void {
  const { certPem, keyPem } = createSelfSigned(domain);
  mkdirSync(dirname(certFile), { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  writeFileSync(certFile, certPem);
}
