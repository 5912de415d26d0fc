// IP address ranges (CIDR) for subject selectors. Every address is held as 16
// bytes: an IPv4 address as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so an
// IPv4 range also matches a client that a dual-stack socket reports as
// ::ffff:10.1.2.3.
import { isIP } from 'node:net';

export interface Cidr {
  /** As written, for explanations. */
  text: string;
  bytes: Uint8Array;
  /** Prefix length over the 16-byte form. */
  prefix: number;
}

export function parseIp(s: string): Uint8Array | undefined {
  const zone = s.indexOf('%');
  const addr = zone >= 0 ? s.slice(0, zone) : s;
  const v = isIP(addr);
  if (v === 4) {
    const out = new Uint8Array(16);
    out[10] = 0xff;
    out[11] = 0xff;
    addr.split('.').forEach((p, i) => (out[12 + i] = Number(p)));
    return out;
  }
  if (v !== 6) return undefined;
  let head = addr;
  let v4: Uint8Array | undefined;
  const lastColon = addr.lastIndexOf(':');
  if (addr.includes('.', lastColon)) {
    v4 = parseIp(addr.slice(lastColon + 1))!.subarray(12);
    head = `${addr.slice(0, lastColon + 1)}0:0`;
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const words = (part: string | undefined) => (part ? part.split(':').map((w) => parseInt(w, 16)) : []);
  const l = words(left);
  const r = words(right);
  const all = right === undefined ? l : [...l, ...new Array<number>(8 - l.length - r.length).fill(0), ...r];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  });
  if (v4) out.set(v4, 12);
  return out;
}

export function parseCidr(s: string): Cidr | undefined {
  const slash = s.lastIndexOf('/');
  if (slash < 0) return undefined;
  const addrText = s.slice(0, slash);
  const bitsText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText) || addrText.includes('%')) return undefined;
  const v = isIP(addrText);
  const bits = Number(bitsText);
  if (v === 0 || bits > (v === 4 ? 32 : 128)) return undefined;
  const bytes = parseIp(addrText)!;
  const prefix = v === 4 ? bits + 96 : bits;
  return { text: s, bytes: masked(bytes, prefix), prefix };
}

function masked(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

export function inCidr(addr: Uint8Array, range: Cidr): boolean {
  const full = range.prefix >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== range.bytes[i]) return false;
  const rest = range.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (addr[full]! & mask) === range.bytes[full];
}

// Clients come from few addresses; parsing each once keeps the decision cheap.
const cache = new Map<string, Uint8Array | null>();
const CACHE_MAX = 10_000;

export function cachedIp(s: string): Uint8Array | undefined {
  let v = cache.get(s);
  if (v === undefined) {
    if (cache.size >= CACHE_MAX) cache.clear();
    v = parseIp(s) ?? null;
    cache.set(s, v);
  }
  return v ?? undefined;
}
