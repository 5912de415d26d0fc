import { isIPv4, isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import { z } from 'zod';

// The served domain, prepared the way RFC 7622 §3.2 prepares a JID domainpart:
// NFC, lowercase, without a trailing dot; then it must be a hostname (possibly
// internationalised), an IPv4 address or a bracketed IPv6 address.

const MAX_BYTES = 1023; // RFC 7622 §3.2
const MAX_DNS_LENGTH = 253; // RFC 1035, in its ASCII (A-label) form
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function prepareDomain(domain: string): string {
  return domain.normalize('NFC').toLowerCase().replace(/\.$/, '');
}

/** Why `domain` (already prepared) is not a valid domainpart, or undefined if it is. */
export function domainProblem(domain: string): string | undefined {
  if (domain === '') return 'must not be empty';
  if (Buffer.byteLength(domain, 'utf8') > MAX_BYTES) return `must be at most ${MAX_BYTES} bytes`;
  if (domain.startsWith('[')) {
    return domain.endsWith(']') && isIPv6(domain.slice(1, -1)) ? undefined : 'is not a valid bracketed IPv6 address';
  }
  if (isIPv6(domain)) return 'an IPv6 address must be written in brackets, e.g. [::1]';
  if (isIPv4(domain)) return undefined;
  // A numeric last label would be read as an (invalid) IPv4 address by resolvers.
  if (/^[0-9]+$/.test(domain.slice(domain.lastIndexOf('.') + 1))) return 'is neither a hostname nor a valid IPv4 address';
  const ascii = domainToASCII(domain);
  if (ascii === '') return 'is not a valid hostname';
  if (ascii.length > MAX_DNS_LENGTH) return `must be at most ${MAX_DNS_LENGTH} characters in DNS form`;
  const bad = ascii.split('.').find((label) => !LABEL.test(label));
  if (bad !== undefined) {
    return bad === ''
      ? 'must not contain empty labels (two dots in a row, or a leading dot)'
      : `label '${bad}' must be 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen`;
  }
  return undefined;
}

export const domain = () =>
  z
    .string()
    .overwrite(prepareDomain)
    .superRefine((value, ctx) => {
      const problem = domainProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });
