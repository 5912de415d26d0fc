// Lexical pieces of the SCRAM grammar (RFC 5802 §7) shared by server and client.
import { randomBytes } from 'node:crypto';

/** Upper bound for any single SCRAM message; real ones are a few hundred bytes. */
export const SCRAM_MAX_MESSAGE_BYTES = 8192;

/** Attribute names RFC 5802 gives a fixed position; seeing one as an extension means wrong order or a duplicate. */
const POSITIONAL_ATTRS = new Set(['a', 'n', 'm', 'r', 'c', 's', 'i', 'p', 'v', 'e']);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The message as text, or undefined if it is not valid UTF-8 or contains NUL (no SCRAM value may). */
export function decodeMessage(msg: Buffer): string | undefined {
  let text: string;
  try {
    text = utf8.decode(msg);
  } catch {
    return undefined;
  }
  return text.includes('\0') ? undefined : text;
}

export function escapeSaslname(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

/** Undoes '=2C'/'=3D'; any other '=' (or an empty name) is malformed and yields undefined. */
export function unescapeSaslname(value: string): string | undefined {
  if (value.length === 0) return undefined;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch !== '=') {
      out += ch;
      continue;
    }
    const code = value.slice(i + 1, i + 3);
    if (code === '2C') out += ',';
    else if (code === '3D') out += '=';
    else return undefined;
    i += 2;
  }
  return out;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64: padded, no whitespace, canonical trailing bits (Buffer.from alone accepts garbage). */
export function decodeBase64(value: string): Buffer | undefined {
  if (value.length === 0 || !BASE64.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.toString('base64') === value ? bytes : undefined;
}

/** printable = %x21-2B / %x2D-7E, i.e. visible ASCII except ','. */
export function isNonce(value: string): boolean {
  return /^[\x21-\x2b\x2d-\x7e]+$/.test(value);
}

/** An optional extension: ALPHA "=" 1*value-char, with a name not reserved for a positional attribute. */
export function isExtension(part: string): boolean {
  return /^[A-Za-z]=./s.test(part) && !POSITIONAL_ATTRS.has(part[0]!);
}

/** Value of `name=` at the head of an attribute, or undefined if the attribute has another name. */
export function attr(part: string | undefined, name: string): string | undefined {
  return part !== undefined && part.startsWith(`${name}=`) ? part.slice(name.length + 1) : undefined;
}

/** A fresh nonce: base64 of random bytes, with padding removed (base64 never contains ','). */
export function randomNonce(bytes = 24): string {
  return randomBytes(bytes).toString('base64').replace(/=+$/, '');
}
