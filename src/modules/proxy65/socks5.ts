// The server side of the SOCKS5 handshake (RFC 1928) as XEP-0065 §6 uses it:
// method "no authentication", then CONNECT to a domain name that is the
// hex SHA-1 of (SID + initiator JID + target JID), port 0. Parsing is bounded:
// a greeting is at most 257 bytes and a request at most 262, so a client
// cannot make the proxy buffer more than that before it is refused.
export const SOCKS_VERSION = 5;
const METHOD_NONE = 0x00;
const METHOD_UNACCEPTABLE = 0xff;
const CMD_CONNECT = 0x01;
const ATYP_DOMAIN = 0x03;

/** RFC 1928 §6 reply codes the proxy uses. */
export const REPLY = {
  succeeded: 0x00,
  notAllowed: 0x02,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const;

export type Parsed<T> = { done: false } | { done: true; value: T; rest: Buffer } | { done: true; error: string; reply?: Buffer };

/** The client's method selection: accepted when it offers "no authentication". */
export function parseGreeting(buf: Buffer): Parsed<true> {
  if (buf.length < 2) return { done: false };
  if (buf[0] !== SOCKS_VERSION) return { done: true, error: `not SOCKS5 (version ${buf[0]})` };
  const n = buf[1]!;
  if (buf.length < 2 + n) return { done: false };
  const methods = buf.subarray(2, 2 + n);
  if (!methods.includes(METHOD_NONE)) return { done: true, error: 'no acceptable method', reply: Buffer.from([SOCKS_VERSION, METHOD_UNACCEPTABLE]) };
  return { done: true, value: true, rest: buf.subarray(2 + n) };
}

export const METHOD_REPLY = Buffer.from([SOCKS_VERSION, METHOD_NONE]);

/** The CONNECT request; its value is DST.ADDR, which XEP-0065 makes a 40-digit hex SHA-1. */
export function parseRequest(buf: Buffer): Parsed<string> {
  if (buf.length < 5) return { done: false };
  if (buf[0] !== SOCKS_VERSION) return { done: true, error: `not SOCKS5 (version ${buf[0]})` };
  if (buf[1] !== CMD_CONNECT) return { done: true, error: `command ${buf[1]} not supported`, reply: reply(REPLY.commandNotSupported, '') };
  if (buf[3] !== ATYP_DOMAIN) return { done: true, error: `address type ${buf[3]} not supported`, reply: reply(REPLY.addressTypeNotSupported, '') };
  const len = buf[4]!;
  const end = 5 + len + 2;
  if (buf.length < end) return { done: false };
  const addr = buf.subarray(5, 5 + len).toString('latin1');
  if (!/^[0-9a-f]{40}$/.test(addr)) return { done: true, error: 'DST.ADDR is not a SHA-1 in hex', reply: reply(REPLY.notAllowed, '') };
  return { done: true, value: addr, rest: buf.subarray(end) };
}

/** A reply to CONNECT naming the same domain address, port 0 (XEP-0065 §6.3.3). */
export function reply(code: number, addr: string): Buffer {
  const a = Buffer.from(addr, 'latin1');
  return Buffer.concat([Buffer.from([SOCKS_VERSION, code, 0, ATYP_DOMAIN, a.length]), a, Buffer.from([0, 0])]);
}
