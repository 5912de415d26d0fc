// Password rules for accounts people create themselves (the invitation page):
// a minimum length, not the user name, and not a common password, even with
// digits or symbols added before or after it ("Password2024!"). The list is
// John the Ripper's password.lst (public domain, see docs/invitations.md).
import { readFileSync } from 'node:fs';

let common: Set<string> | undefined;

/** The bundled list, lowercased; read once, on first use. */
function commonPasswords(): Set<string> {
  if (!common) {
    const text = readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8');
    common = new Set(
      text
        .split('\n')
        .filter((line) => line && !line.startsWith('#!comment'))
        .map((line) => line.toLowerCase()),
    );
  }
  return common;
}

const LETTER = /\p{L}/u;
/** Non-letters taken off each end at most: enough for years, dates and "!!", and a bounded amount of work. */
const MAX_AFFIX = 16;

/** The password, and what is left of it after taking off non-letters at either end, one at a time. */
function variants(lower: string): Set<string> {
  const chars = [...lower];
  const out = new Set<string>([lower]);
  for (let start = 0; start < Math.min(chars.length, MAX_AFFIX + 1); start++) {
    for (let end = chars.length; end > start && chars.length - end <= MAX_AFFIX; end--) {
      out.add(chars.slice(start, end).join(''));
      if (LETTER.test(chars[end - 1]!)) break;
    }
    if (LETTER.test(chars[start]!)) break;
  }
  return out;
}

/**
 * Why the (PRECIS-prepared) password is refused, in words for the user, or
 * undefined when it is acceptable.
 */
export function passwordProblem(password: string, opts: { minLength: number; username?: string }): string | undefined {
  const length = [...password].length;
  if (length < opts.minLength) return `The password must have at least ${opts.minLength} characters (it has ${length}).`;
  const lower = password.toLowerCase();
  if (opts.username && lower.includes(opts.username.toLowerCase())) return 'The password must not contain the user name.';
  const list = commonPasswords();
  for (const v of variants(lower)) {
    if (list.has(v)) return 'This password is too common (it is on a list of passwords attackers try first). Choose another.';
  }
  return undefined;
}
