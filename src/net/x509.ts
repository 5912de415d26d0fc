// Just enough X.509/DER to write a self-signed ECDSA P-256 server certificate and
// to read which hash a certificate's signature uses (for tls-server-end-point).
// A full ASN.1 library would be a heavy dependency for these two needs.
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

const seq = (...parts: Buffer[]) => tlv(0x30, ...parts);

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out = [a * 40 + b];
  for (const n of rest) {
    const groups: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) {
      groups.unshift((v % 128) | (groups.length ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after.
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  const [head, tail = ''] = ip.split('::') as [string, string?];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return Buffer.concat(groups.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')));
}

const ECDSA_SHA256 = '1.2.840.10045.4.3.2';

export interface SelfSigned {
  certPem: string;
  keyPem: string;
}

/** A self-signed ECDSA P-256 / SHA-256 certificate for a server name (and, for localhost, the loopback IPs). */
export function createSelfSigned(name: string, validDays = 825): SelfSigned {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const cn = seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(name, 'utf8')))));
  const altNames: Buffer[] = [];
  if (isIP(name)) altNames.push(tlv(0x87, ipBytes(name)));
  else altNames.push(tlv(0x82, Buffer.from(name, 'ascii')));
  if (name === 'localhost') altNames.push(tlv(0x87, ipBytes('127.0.0.1')), tlv(0x87, ipBytes('::1')));
  const ext = (id: string, critical: boolean, value: Buffer) =>
    seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
  const extensions = seq(
    ext('2.5.29.19', true, seq()), // basicConstraints: not a CA
    ext('2.5.29.15', true, tlv(0x03, Buffer.from([0x07, 0x80]))), // keyUsage: digitalSignature
    ext('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extKeyUsage: serverAuth
    ext('2.5.29.17', false, seq(...altNames)), // subjectAltName
  );
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and no leading zero byte
  const now = Date.now();
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // v3
    tlv(0x02, serial),
    seq(oid(ECDSA_SHA256)),
    cn,
    seq(time(new Date(now - 60_000)), time(new Date(now + validDays * 86_400_000))),
    cn,
    spki,
    tlv(0xa3, extensions),
  );
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const der = seq(tbs, seq(oid(ECDSA_SHA256)), tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  return {
    certPem: pem('CERTIFICATE', der),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** Reads one DER element header at offset: tag, content start, content length. */
function readTlv(der: Buffer, at: number): { tag: number; start: number; length: number } {
  const tag = der[at]!;
  let length = der[at + 1]!;
  let start = at + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[start + i]!;
    start += n;
  }
  return { tag, start, length };
}

function decodeOid(bytes: Buffer): string {
  const out = [Math.floor(bytes[0]! / 40), bytes[0]! % 40];
  let v = 0;
  for (const b of bytes.subarray(1)) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      out.push(v);
      v = 0;
    }
  }
  return out.join('.');
}

const SIG_HASH: Record<string, 'sha384' | 'sha512'> = {
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.13': 'sha512',
};

/**
 * The hash RFC 5929 §4.1 prescribes for tls-server-end-point: the certificate's
 * signature hash, with MD5 and SHA-1 (and anything unknown) upgraded to SHA-256.
 */
export function endPointHashAlgorithm(certDer: Buffer): 'sha256' | 'sha384' | 'sha512' {
  const outer = readTlv(certDer, 0);
  const tbs = readTlv(certDer, outer.start);
  const algSeq = readTlv(certDer, tbs.start + tbs.length);
  const algOid = readTlv(certDer, algSeq.start);
  return SIG_HASH[decodeOid(certDer.subarray(algOid.start, algOid.start + algOid.length))] ?? 'sha256';
}
