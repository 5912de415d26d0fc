import type { z } from 'zod';
import { closest } from './suggest.ts';
import { isInteger, objectShape, schemaAt, unwrap, type Unwrapped } from './walk.ts';

export interface ConfigIssue {
  /** Dotted key path, e.g. "listeners.c2s.port"; "" for the file as a whole. */
  path: string;
  message: string;
  /** A suggestion for the fix, e.g. "did you mean 'max_stanza_bytes'?". */
  hint?: string;
  /** Position in the file, for YAML syntax errors. */
  line?: number;
  column?: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(
    /** The file (or other source) the configuration came from, as named in messages. */
    readonly source: string | undefined,
    readonly issues: ConfigIssue[],
  ) {
    super(issues.map((issue) => formatIssue(source, issue)).join('\n'));
  }
}

/** One line: `palisade.yaml: listeners.c2s.port: must be at most 65535 (got 70000)`. */
export function formatIssue(source: string | undefined, issue: ConfigIssue): string {
  const parts: string[] = [];
  if (source !== undefined) parts.push(issue.line === undefined ? source : `${source}:${issue.line}:${issue.column ?? 1}`);
  if (issue.path) parts.push(issue.path);
  parts.push(issue.message);
  return parts.join(': ') + (issue.hint ? `; ${issue.hint}` : '');
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/** Turns zod issues into config issues, using the schema for known keys, nullability and secrecy. */
export function issuesFromZod(
  issues: readonly z.core.$ZodIssue[],
  root: z.core.$ZodType,
  prefix: readonly string[] = [],
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      // zod reports all unknown keys of an object at once; each gets its own line and hint.
      const at = schemaAt(root, issue.path);
      const known = Object.keys((at && objectShape(at)) ?? {});
      for (const key of issue.keys) {
        out.push({ path: formatPath([...prefix, ...issue.path, key]), message: 'unknown key', ...hintFor(unknownKeyHint(key, known)) });
      }
      continue;
    }
    const target = schemaAt(root, issue.path);
    out.push({ path: formatPath([...prefix, ...issue.path]), ...describe(issue, target ? unwrap(target) : undefined) });
  }
  return out;
}

function unknownKeyHint(key: string, known: string[]): string | undefined {
  const suggestion = closest(key, known);
  if (suggestion) return `did you mean '${suggestion}'?`;
  return known.length > 0 ? `known keys: ${known.join(', ')}` : undefined;
}

const hintFor = (hint: string | undefined): { hint?: string } => (hint ? { hint } : {});

function describe(issue: z.core.$ZodIssue, target: Unwrapped | undefined): { message: string; hint?: string } {
  // Secrets (e.g. a database URL with its password) are never echoed back.
  const secret = target?.meta?.['secret'] === true;
  const value = (v: unknown): string => (secret ? kind(v) : show(v));
  switch (issue.code) {
    case 'invalid_type': {
      // zod reports a non-finite number as input null with a `received` note.
      const received = (issue as { received?: unknown }).received;
      const got = typeof received === 'string' ? received : secret ? kind(issue.input) : showTyped(issue.input);
      // z.int() reports a string as "expected number"; the schema knows better.
      const expected = issue.expected === 'number' && target && isInteger(target.core) ? EXPECTED['int'] : (EXPECTED[issue.expected] ?? issue.expected);
      return {
        message: `expected ${expected}${target?.nullable ? ' or null' : ''} (got ${got})`,
        ...hintFor(typeHint(issue.expected, issue.input)),
      };
    }
    case 'too_big':
    case 'too_small':
      return { message: rangeMessage(issue) + gotSuffix(issue.input, value) };
    case 'invalid_value': {
      const allowed = issue.values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v)));
      const suggestion = typeof issue.input === 'string' ? closest(issue.input, issue.values.filter((v): v is string => typeof v === 'string')) : undefined;
      return {
        message: `must be one of ${allowed.join(', ')} (got ${value(issue.input)})`,
        ...hintFor(suggestion ? `did you mean '${suggestion}'?` : undefined),
      };
    }
    case 'invalid_key':
      // The path already names the key; the key schema's own message says what is wrong.
      return { message: (issue.issues[0]?.message ?? issue.message) + gotSuffix(issue.input, value) };
    case 'custom': {
      const hint = issue.params?.['hint'];
      return { message: issue.message + gotSuffix(issue.input, value), ...hintFor(typeof hint === 'string' ? hint : undefined) };
    }
    default:
      return { message: issue.message + gotSuffix(issue.input, value) };
  }
}

const EXPECTED: Record<string, string> = {
  int: 'an integer',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  null: 'null',
};

function typeHint(expected: string, input: unknown): string | undefined {
  if ((expected === 'int' || expected === 'number') && typeof input === 'string' && input.trim() !== '' && Number.isFinite(Number(input))) {
    return 'write numbers without quotes';
  }
  if (expected === 'boolean' && typeof input === 'string') return 'write true or false, without quotes';
  if (expected === 'object' && input === null) return 'a key with nothing after it is null: remove it to use the defaults';
  return undefined;
}

function rangeMessage(issue: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall): string {
  const big = issue.code === 'too_big';
  const limit = big ? (issue as z.core.$ZodIssueTooBig).maximum : (issue as z.core.$ZodIssueTooSmall).minimum;
  switch (issue.origin) {
    case 'number':
    case 'int':
      if (issue.inclusive === false) return `must be ${big ? 'less' : 'greater'} than ${limit}`;
      return `must be at ${big ? 'most' : 'least'} ${limit}`;
    case 'array':
      if (!big && Number(limit) === 1) return 'must not be empty';
      return `must have at ${big ? 'most' : 'least'} ${limit} entries`;
    case 'string':
      if (!big && Number(limit) === 1) return 'must not be empty';
      return `must be at ${big ? 'most' : 'least'} ${limit} characters long`;
    default:
      return issue.message;
  }
}

/** " (got …)" for a plain value; nothing for mappings and lists, which the path already locates. */
function gotSuffix(input: unknown, value: (v: unknown) => string): string {
  return typeof input === 'string' || typeof input === 'number' || typeof input === 'boolean' ? ` (got ${value(input)})` : '';
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 77)}...` : v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

/** What a value is, without what it says. */
function kind(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

function showTyped(v: unknown): string {
  if (typeof v === 'string') return `the string ${show(v)}`;
  if (typeof v === 'number') return `the number ${show(v)}`;
  if (v === undefined) return 'nothing';
  return show(v);
}
