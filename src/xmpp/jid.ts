// XMPP addresses (RFC 7622). A JID holds its parts in prepared form, so two
// JIDs are equal exactly when their parts are equal as strings.
import { isIPv6 } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import { PrecisError, assertBidiDomain, assertIdentifierClass, codePointLabel, opaqueString, usernameCaseMapped } from './precis.ts';

/** Each part's limit, in UTF-8 bytes after preparation (RFC 7622 §3.1). */
export const JID_PART_MAX_BYTES = 1023;

// The byte limit applies after preparation, which can shrink a string. NFC
// shrinks it most, three UTF-16 units to two bytes (u + U+0308 + U+0304 → ǖ),
// so a raw part longer than this bound can never fit and is refused before
// paying for a Unicode pass. (UTS-46 can delete code points from a domain,
// such as soft hyphens; 2046 units of them is not a domain anyone needs.)
const RAW_PART_MAX_UNITS = 2 * JID_PART_MAX_BYTES;

/** Mapped to the `jid-malformed` stanza error. */
export class JidError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.name = 'JidError';
    this.reason = reason;
  }
}

// Only parseJID, jid() and withResource() create JIDs, so every JID is prepared.
const PREPARED: unique symbol = Symbol('prepared JID');

export class JID {
  readonly local: string;
  readonly domain: string;
  readonly resource: string;
  #full: string | undefined;
  #bare: JID | undefined;
  #bareString: string | undefined;

  constructor(token: typeof PREPARED, local: string, domain: string, resource: string) {
    if (token !== PREPARED) throw new TypeError('use parseJID() or jid() to create a JID');
    this.local = local;
    this.domain = domain;
    this.resource = resource;
  }

  get isBare(): boolean {
    return this.resource === '';
  }

  get bare(): JID {
    if (this.resource === '') return this;
    return (this.#bare ??= new JID(PREPARED, this.local, this.domain, ''));
  }

  bareString(): string {
    return (this.#bareString ??= this.local === '' ? this.domain : `${this.local}@${this.domain}`);
  }

  toString(): string {
    return (this.#full ??= this.resource === '' ? this.bareString() : `${this.bareString()}/${this.resource}`);
  }

  toJSON(): string {
    return this.toString();
  }

  equals(other: JID): boolean {
    return (
      this === other ||
      (this.domain === other.domain && this.local === other.local && this.resource === other.resource)
    );
  }

  withResource(resource: string): JID {
    return new JID(PREPARED, this.local, this.domain, prepare(resource, prepResource));
  }
}

// ---------------------------------------------------------------------------
// Parts

// Printable ASCII minus the localpart exclusions " & ' / : < > @ (RFC 7622 §3.3.1).
const RE_ASCII_LOCAL = /^[\x21\x23-\x25\x28-\x2E\x30-\x39\x3B\x3D\x3F\x41-\x7E]+$/;
const RE_LOCAL_EXCLUDED = /["&'/:<>@]/;
const RE_ASCII_RESOURCE = /^[\x20-\x7E]+$/;
const RE_ASCII = /^[\x00-\x7F]*$/;
// NR-LDH labels (no "xn--" or other "??--" prefix), and a last label that is
// not a number: "10.1" or "foo.0x1" could be read as an IPv4 address.
const LABEL = '(?!..--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const RE_ASCII_DOMAIN = new RegExp(`^(?:${LABEL}\\.)*(?![0-9]+$|0x[0-9a-f]*$)${LABEL}$`);
const RE_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const RE_NUMERIC_LABEL = /^(?:[0-9]+|0x[0-9a-f]*)$/;
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const RE_IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
// RFC 1034 label separators as UTS-46 sees them (RFC 7622 §3.2).
const RE_TRAILING_DOT = /[.\u3002\uFF0E\uFF61]$/;

function utf8Length(s: string): number {
  return RE_ASCII.test(s) ? s.length : Buffer.byteLength(s, 'utf8');
}

function tooLong(part: string): JidError {
  return new JidError(`${part} is longer than ${JID_PART_MAX_BYTES} bytes`);
}

function checkLength(s: string, part: string): string {
  if (utf8Length(s) > JID_PART_MAX_BYTES) throw tooLong(part);
  return s;
}

function prepLocal(s: string): string {
  if (s.length <= JID_PART_MAX_BYTES && RE_ASCII_LOCAL.test(s)) return s.toLowerCase();
  if (s === '') throw new JidError('localpart is empty');
  if (s.length > RAW_PART_MAX_UNITS) throw tooLong('localpart');
  const local = usernameCaseMapped(s, 'localpart');
  const excluded = RE_LOCAL_EXCLUDED.exec(local);
  if (excluded) {
    const ch = excluded[0];
    throw new JidError(`localpart contains a disallowed character ${codePointLabel(ch.charCodeAt(0))} ('${ch}')`);
  }
  return checkLength(local, 'localpart');
}

function prepResource(s: string): string {
  if (s.length <= JID_PART_MAX_BYTES && RE_ASCII_RESOURCE.test(s)) return s;
  if (s === '') throw new JidError('resourcepart is empty');
  if (s.length > RAW_PART_MAX_UNITS) throw tooLong('resourcepart');
  return checkLength(opaqueString(s, 'resourcepart'), 'resourcepart');
}

function domainError(why: string): JidError {
  return new JidError(`domainpart ${why}`);
}

// Labels of an ASCII (A-label) form: the precise reason a domain is refused.
function checkLabels(ascii: string): void {
  const labels = ascii.split('.');
  for (const label of labels) {
    if (label === '') throw domainError('has an empty label');
    if (label.length > 63) throw domainError('has a label longer than 63 bytes');
    const bad = /[^a-z0-9-]/.exec(label);
    if (bad) {
      const ch = bad[0];
      const shown = ch === ' ' ? ' (space)' : ch > ' ' && ch < '\x7f' ? ` ('${ch}')` : '';
      throw domainError(`contains a disallowed character ${codePointLabel(ch.codePointAt(0)!)}${shown}`);
    }
    if (!RE_LABEL.test(label)) throw domainError('has a label that starts or ends with a hyphen');
    if (label.slice(2, 4) === '--' && !label.startsWith('xn--')) {
      throw domainError(`has a reserved label "${label}" (hyphens in the third and fourth positions)`);
    }
  }
  if (RE_NUMERIC_LABEL.test(labels[labels.length - 1]!)) {
    throw domainError('ends with a numeric label but is not an IPv4 address');
  }
}

function prepIPv6(s: string): string {
  const inner = s.slice(1, -1);
  // No zone identifier ('%'): it names an interface of one host, not an address.
  if (!s.endsWith(']') || inner.includes('%') || !isIPv6(inner)) throw domainError('is not a valid IPv6 address literal');
  // The URL serialiser gives the canonical text form (RFC 5952), so that
  // [::1] and [0:0::1] are the same address and the same JID.
  return new URL(`http://${s}/`).hostname;
}

/** The last domain found already prepared: most addresses a server parses carry its own domain. */
let lastPreparedDomain = '';

function prepDomain(raw: string): string {
  if (raw === lastPreparedDomain) return raw;
  if (raw.length > RAW_PART_MAX_UNITS) throw tooLong('domainpart');
  if (RE_ASCII_DOMAIN.test(raw)) {
    // Already prepared: the usual case.
    lastPreparedDomain = checkLength(raw, 'domainpart');
    return raw;
  }
  // RFC 7622 §3.2: one trailing label separator goes before anything else.
  const s = RE_TRAILING_DOT.test(raw) ? raw.slice(0, -1) : raw;
  if (s === '') throw domainError('is empty');
  if (s.charCodeAt(0) === 0x5b) return prepIPv6(s);
  if (RE_ASCII.test(s)) {
    const lower = s.toLowerCase();
    if (RE_ASCII_DOMAIN.test(lower) || RE_IPV4.test(lower)) return checkLength(lower, 'domainpart');
    // Not plain: an A-label to convert, or an error to explain.
    if (!lower.includes('xn--')) {
      checkLabels(lower);
      throw domainError('is not a valid domain name');
    }
  }
  // UTS-46 mapping (case, width, compatibility), then back to the U-label form
  // that RFC 7622 §3.2.1 requires in JIDs.
  const ascii = domainToASCII(s);
  if (ascii === '') throw domainError('is not a valid internationalized domain name');
  checkLabels(ascii);
  const unicode = domainToUnicode(ascii).normalize('NFC');
  if (unicode === '') throw domainError('is not a valid internationalized domain name');
  assertIdentifierClass(unicode, 'domainpart');
  assertBidiDomain(unicode, 'domainpart');
  return checkLength(unicode, 'domainpart');
}

// Profiles report PrecisError; callers of this module see only JidError.
function prepare(s: string, prep: (s: string) => string): string {
  try {
    return prep(s);
  } catch (err) {
    if (err instanceof PrecisError) throw new JidError(err.reason);
    throw err;
  }
}

// ---------------------------------------------------------------------------
// Constructors

/** Parses and prepares a JID string; throws JidError. */
export function parseJID(s: string): JID {
  // RFC 7622 §3.2: the resourcepart starts at the first '/', the localpart
  // ends at the first '@' before it ('@' and '/' may appear in a resourcepart).
  const slash = s.indexOf('/');
  const head = slash === -1 ? s : s.slice(0, slash);
  const at = head.indexOf('@');
  const local = at === -1 ? '' : prepare(head.slice(0, at), prepLocal);
  const domain = prepare(at === -1 ? head : head.slice(at + 1), prepDomain);
  const resource = slash === -1 ? '' : prepare(s.slice(slash + 1), prepResource);
  return new JID(PREPARED, local, domain, resource);
}

/** Like parseJID, but undefined instead of an error. */
export function tryParseJID(s: string): JID | undefined {
  try {
    return parseJID(s);
  } catch (err) {
    if (err instanceof JidError) return undefined;
    throw err;
  }
}

/** Builds a JID from separate parts, preparing each; '' means the part is absent. */
export function jid(local: string, domain: string, resource = ''): JID {
  return new JID(
    PREPARED,
    local === '' ? '' : prepare(local, prepLocal),
    prepare(domain, prepDomain),
    resource === '' ? '' : prepare(resource, prepResource),
  );
}
