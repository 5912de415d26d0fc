// Content detectors for content rules (DLP): the built-in card-number (Luhn)
// and iban (ISO 13616 mod-97, per-country length) scanners, and the policy
// file's own regular expressions. JavaScript regexes backtrack, so a custom
// pattern is checked when the policy is loaded (nested or overlapping
// repetition, backreferences and lookaround are refused), the text scanned is
// bounded (MAX_SCAN_CHARS), and the match itself runs under a time limit
// (vm timeout) as a backstop: a pattern that still runs too long fails closed.
import { Script, createContext } from 'node:vm';

/** One span of text a detector found: [start, end) in the part scanned. */
export interface Finding {
  start: number;
  end: number;
}

export interface Detector {
  readonly name: string;
  /** What replaces a match when a rule redacts, e.g. "[redacted card number]". */
  readonly replacement: string;
  readonly builtin: boolean;
}

/** Text the classifier takes from a message for content rules, with its kind. */
export interface ContentPart {
  part: 'body' | 'subject' | 'xhtml';
  text: string;
}

/** The most text of one message the detectors read (all parts together); longer messages are not inspected, and content rules fail closed on them. */
export const MAX_SCAN_CHARS = 65_536;
/** Wall-clock limit for the custom patterns over one message. */
export const CUSTOM_TIMEOUT_MS = 50;
const MAX_PATTERN_CHARS = 500;

export const BUILTIN_DETECTORS: readonly Detector[] = [
  { name: 'card-number', replacement: '[redacted card number]', builtin: true },
  { name: 'iban', replacement: '[redacted IBAN]', builtin: true },
];

// ---------------------------------------------------------------- card numbers

/** A run of 13 to 19 digits, single spaces or dashes allowed between them, not part of a longer run of digits. */
const CARD_CANDIDATE = /(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)/g;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function findCardNumbers(text: string): Finding[] {
  const out: Finding[] = [];
  for (const m of text.matchAll(CARD_CANDIDATE)) {
    const digits = m[0].replace(/[ -]/g, '');
    // All-same digits (0000 0000 0000 0000) pass Luhn but are placeholders, not cards.
    if (luhnValid(digits) && !/^(\d)\1*$/.test(digits)) out.push({ start: m.index, end: m.index + m[0].length });
  }
  return out;
}

// ---------------------------------------------------------------- IBAN

/** IBAN lengths by country (SWIFT IBAN registry). */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28, CH: 21, CR: 22,
  CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FK: 18, FO: 18, FR: 27, GB: 22,
  GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30,
  KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20, LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27,
  MT: 31, MU: 30, NI: 28, NL: 18, NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33,
  SA: 24, SC: 31, SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20, YE: 30,
};

/** Country code and check digits at a word start; the rest is read by hand (groups of four separated by single spaces are usual). */
const IBAN_START = /(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})/g;

/** ISO 13616 / ISO 7064 mod-97-10 over a compact IBAN (letters A=10 … Z=35). */
export function ibanValid(compact: string): boolean {
  const s = compact.toUpperCase();
  const len = IBAN_LENGTHS[s.slice(0, 2)];
  if (len === undefined || s.length !== len || !/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(s)) return false;
  const rearranged = s.slice(4) + s.slice(0, 4);
  let rest = 0;
  for (const c of rearranged) {
    const v = c <= '9' ? c.charCodeAt(0) - 48 : c.charCodeAt(0) - 55;
    rest = v > 9 ? (rest * 100 + v) % 97 : (rest * 10 + v) % 97;
  }
  return rest === 1;
}

export function findIbans(text: string): Finding[] {
  const out: Finding[] = [];
  IBAN_START.lastIndex = 0;
  for (let m = IBAN_START.exec(text); m !== null; m = IBAN_START.exec(text)) {
    const len = IBAN_LENGTHS[m[1]!.toUpperCase()];
    if (len === undefined) continue;
    let compact = m[0];
    let i = m.index + m[0].length;
    while (compact.length < len && i < text.length) {
      const c = text[i]!;
      if (isAlnum(c)) compact += c;
      else if (c !== ' ' || !isAlnum(text[i + 1] ?? '')) break;
      i++;
    }
    // The IBAN must end where the word ends, or a longer string was only partly read.
    if (compact.length === len && !isAlnum(text[i] ?? '') && ibanValid(compact)) {
      out.push({ start: m.index, end: i });
      IBAN_START.lastIndex = i;
    }
  }
  return out;
}

function isAlnum(c: string): boolean {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

// ---------------------------------------------------------------- custom patterns

export const CUSTOM_FLAGS = /^[ims]*$/;

/**
 * Why a custom pattern is refused, or undefined when it is accepted. Refused:
 * what JavaScript cannot compile; a repeated group that itself contains a
 * repetition of varying count or an alternation (`(a+)+`, `(a|a)*`, `(\d+-?){5}` — the shapes
 * of catastrophic backtracking); backreferences and lookaround (they defeat
 * the analysis); patterns longer than 500 characters; a pattern that matches
 * the empty string (it would match every message).
 */
export function regexProblem(source: string, flags = ''): string | undefined {
  if (source.length > MAX_PATTERN_CHARS) return `is longer than ${MAX_PATTERN_CHARS} characters`;
  let re: RegExp;
  try {
    re = new RegExp(source, `${flags}u`);
  } catch (err) {
    return `is not a valid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
  const shape = shapeProblem(source);
  if (shape) return shape;
  if (re.test('')) return 'matches the empty string, so it would match every message';
  return undefined;
}

interface GroupInfo {
  /** Contains a repetition whose count varies (*, +, ?, {n,m}) or an alternation: a place where matching can choose. */
  choice: boolean;
  alternation: boolean;
}

/** A small walk over the pattern's syntax (already known to compile with the u flag). */
function shapeProblem(src: string): string | undefined {
  const stack: GroupInfo[] = [{ choice: false, alternation: false }];
  // What the next quantifier applies to: a group (with what it contains) or a single atom.
  let last: GroupInfo | 'atom' | undefined;
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\\') {
      const n = src[i + 1] ?? '';
      if (/[1-9]/.test(n) || n === 'k') return 'uses a backreference, which can make matching take exponential time';
      if ((n === 'p' || n === 'P' || n === 'u') && src[i + 2] === '{') i = src.indexOf('}', i) + 1;
      else if (n === 'u') i += 6;
      else if (n === 'x') i += 4;
      else if (n === 'c') i += 3;
      else i += 2;
      last = 'atom';
      continue;
    }
    if (c === '[') {
      i = classEnd(src, i);
      last = 'atom';
      continue;
    }
    if (c === '(') {
      if (src.startsWith('(?=', i) || src.startsWith('(?!', i) || src.startsWith('(?<=', i) || src.startsWith('(?<!', i)) {
        return 'uses lookahead or lookbehind, which is not accepted in detectors';
      }
      stack.push({ choice: false, alternation: false });
      i = src.startsWith('(?<', i) ? src.indexOf('>', i) + 1 : src.startsWith('(?:', i) ? i + 3 : i + 1;
      last = undefined;
      continue;
    }
    if (c === ')') {
      const g = stack.pop()!;
      const parent = stack[stack.length - 1]!;
      parent.choice ||= g.choice || g.alternation;
      last = g;
      i++;
      continue;
    }
    if (c === '|') {
      stack[stack.length - 1]!.alternation = true;
      last = undefined;
      i++;
      continue;
    }
    const q = quantifierAt(src, i);
    if (q) {
      if (q.repeats && last !== undefined && last !== 'atom' && (last.choice || last.alternation)) {
        return `repeats a group that contains ${last.alternation ? 'alternatives' : 'a repetition'} (a nested quantifier, as in (a+)+ or (a|b)*): matching can take exponential time`;
      }
      if (q.variable) stack[stack.length - 1]!.choice = true;
      i = q.end;
      if (src[i] === '?') i++; // lazy
      last = undefined;
      continue;
    }
    last = 'atom';
    i++;
  }
  return undefined;
}

function classEnd(src: string, start: number): number {
  let i = start + 1;
  if (src[i] === '^') i++;
  if (src[i] === ']') i++;
  while (i < src.length && src[i] !== ']') i += src[i] === '\\' ? 2 : 1;
  return i + 1;
}

/** A quantifier at i: whether it can repeat its atom, whether its count varies, and where it ends. */
function quantifierAt(src: string, i: number): { repeats: boolean; variable: boolean; end: number } | undefined {
  const c = src[i];
  if (c === '*' || c === '+') return { repeats: true, variable: true, end: i + 1 };
  if (c === '?') return { repeats: false, variable: true, end: i + 1 };
  if (c !== '{') return undefined;
  const m = /^\{(\d+)(,(\d*))?\}/.exec(src.slice(i, i + 24));
  if (!m) return undefined;
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
  return { repeats: max > 1, variable: max !== min, end: i + m[0].length };
}

/** A custom detector compiled for scanning. */
export interface CustomDetector extends Detector {
  readonly regex: RegExp;
}

export function customDetector(name: string, spec: { regex: string; flags?: string; replacement?: string }): CustomDetector {
  return {
    name,
    builtin: false,
    replacement: spec.replacement ?? `[redacted ${name}]`,
    regex: new RegExp(spec.regex, `${spec.flags ?? ''}gu`),
  };
}

// One context for all custom scans: the patterns run inside it so the vm
// timeout can interrupt a match that backtracks for too long.
const sandbox = createContext({ patterns: [] as RegExp[], texts: [] as string[], out: [] as number[][][] });
const SCAN = new Script(`
  out = patterns.map((re) => texts.map((t) => {
    const spans = [];
    re.lastIndex = 0;
    for (let m = re.exec(t); m !== null && spans.length < 2000; m = re.exec(t)) {
      if (m[0].length === 0) { re.lastIndex++; continue; }
      spans.push(m.index, m.index + m[0].length);
    }
    return spans;
  }));
`);

/**
 * Runs the custom detectors over the parts: findings per detector per part,
 * or 'timeout' when they did not finish within CUSTOM_TIMEOUT_MS.
 */
export function scanCustom(detectors: readonly CustomDetector[], texts: readonly string[]): Finding[][][] | 'timeout' {
  sandbox.patterns = detectors.map((d) => d.regex);
  sandbox.texts = texts;
  try {
    SCAN.runInContext(sandbox, { timeout: CUSTOM_TIMEOUT_MS });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return 'timeout';
    throw err;
  } finally {
    sandbox.patterns = [];
    sandbox.texts = [];
  }
  const raw = sandbox.out as number[][][];
  sandbox.out = [];
  return raw.map((perPart) =>
    perPart.map((spans) => {
      const out: Finding[] = [];
      for (let k = 0; k < spans.length; k += 2) out.push({ start: spans[k]!, end: spans[k + 1]! });
      return out;
    }),
  );
}

/** The text with each finding replaced by its detector's replacement (overlaps merged, the earliest finding's replacement kept). */
export function redact(text: string, findings: readonly { start: number; end: number; replacement: string }[]): string {
  const sorted = [...findings].sort((a, b) => a.start - b.start || b.end - a.end);
  let out = '';
  let at = 0;
  for (const f of sorted) {
    if (f.end <= at) continue;
    if (f.start >= at) {
      out += text.slice(at, f.start) + f.replacement;
    }
    at = f.end;
  }
  return out + text.slice(at);
}
