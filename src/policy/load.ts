// Reading a policy file: YAML 1.2 (as palisade.yaml), the zod schema, then the
// checks that need the whole file (names referenced, duplicate or unreachable
// rules) and the groups of the database. Problems come back as a ConfigError
// with the file, the path inside it and a hint, like configuration errors.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError, formatPath, issuesFromZod, type ConfigIssue } from '../config/errors.ts';
import { parseYaml, type LoadedConfig } from '../config/load.ts';
import { closest } from '../config/suggest.ts';
import { BUILTIN_DETECTORS } from './detectors.ts';
import { PolicyFileSchema, type PeerSpec, type PolicyFile, type PolicyRuleSpec } from './schema.ts';

/**
 * The policy in force when there is no policy file: every authenticated
 * account of this server may do everything; anything else is refused. It is
 * written in the policy language itself (docs/policy.md shows it).
 */
export const BUILTIN_POLICY = `# Palisade's built-in policy, in force when there is no policy file.
version: 1
rules:
  - name: local-accounts
    description: every authenticated account of this server may use every feature, with anyone
    subject: { local: true }
    decision: allow
default:
  decision: deny
  text: Refused by the organisation's policy.
`;

export interface LoadedPolicy {
  doc: PolicyFile;
  /** The file read, or 'built-in'. */
  source: string;
  builtin: boolean;
  /** SHA-256 of the text, for the audit entry of a reload. */
  sha256: string;
}

export interface PolicyLoadOptions {
  /**
   * Groups that exist in the database. When given, a group name that neither
   * the file nor the database defines is an error; when absent, only groups
   * of the file are known and other names are not checked.
   */
  dbGroups?: ReadonlySet<string>;
}

/**
 * The policy file palisade.yaml names: policy.file resolved against the
 * configuration's folder (it must exist), or by default policy.yaml next to
 * palisade.yaml if there is one. Undefined means the built-in policy.
 */
export function policyPath(loaded: LoadedConfig): string | undefined {
  const configured = loaded.config.policy.file;
  if (configured !== null) return resolve(loaded.baseDir, configured);
  if (loaded.file === undefined) return undefined;
  const beside = resolve(dirname(loaded.file), 'policy.yaml');
  return existsSync(beside) ? beside : undefined;
}

/** Reads and validates a policy file, or the built-in policy when path is undefined. */
export function loadPolicy(path: string | undefined, opts: PolicyLoadOptions = {}): LoadedPolicy {
  if (path === undefined) return { ...parsePolicy(BUILTIN_POLICY, 'built-in', opts), source: 'built-in', builtin: true };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(path, [
      code === 'ENOENT'
        ? { path: '', message: 'file not found', hint: "remove policy.file from palisade.yaml to use the built-in policy ('palisade policy default' prints it)" }
        : { path: '', message: `cannot read the file: ${(err as Error).message}` },
    ]);
  }
  return { ...parsePolicy(text, path, opts), source: path, builtin: false };
}

export function parsePolicy(text: string, source: string, opts: PolicyLoadOptions = {}): Omit<LoadedPolicy, 'source' | 'builtin'> {
  const raw = parseYaml(text, source);
  const result = PolicyFileSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(source, issuesFromZod(flattenUnions(result.error.issues), PolicyFileSchema));
  const doc = result.data;
  const issues = crossCheck(doc, opts);
  if (issues.length > 0) throw new ConfigError(source, issues);
  return { doc, sha256: createHash('sha256').update(text).digest('hex') };
}


/**
 * zod reports a value that fits no branch of a union (e.g. `peer: contacts` or
 * `peer: {groups: [...]}`) as one opaque issue. Report instead the problems of
 * the branch that has the value's type, at their full paths.
 */
function flattenUnions(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): z.core.$ZodIssue[] {
  const out: z.core.$ZodIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code !== 'invalid_union') {
      out.push({ ...issue, path } as z.core.$ZodIssue);
      continue;
    }
    const branch = issue.errors.find((b) => !wrongType(b));
    if (branch) {
      out.push(...flattenUnions(branch, path));
      continue;
    }
    const names: Record<string, string> = { string: 'a name', array: 'a list', object: 'a mapping' };
    const expected = [...new Set(expectedTypes(issue.errors).map((e) => names[e] ?? e))];
    out.push({ code: 'custom', path, input: issue.input, message: `expected ${expected.join(' or ')}` } as z.core.$ZodIssue);
  }
  return out;
}

/** Whether a union branch failed only because the value has another type (so its other problems don't apply). */
function wrongType(branch: readonly z.core.$ZodIssue[]): boolean {
  if (branch.length !== 1 || branch[0]!.path.length !== 0) return false;
  const i = branch[0]!;
  if (i.code === 'invalid_type') return true;
  // An enum given a list or a mapping reports a wrong value, not a wrong type.
  if (i.code === 'invalid_value') return typeof i.input !== 'string';
  if (i.code === 'invalid_union') return i.errors.every(wrongType);
  return false;
}

function expectedTypes(branches: readonly (readonly z.core.$ZodIssue[])[]): string[] {
  return branches.flatMap((b) =>
    b.flatMap((i) => (i.code === 'invalid_type' ? [i.expected] : i.code === 'invalid_value' ? ['string'] : i.code === 'invalid_union' ? expectedTypes(i.errors) : [])),
  );
}

function crossCheck(doc: PolicyFile, opts: PolicyLoadOptions): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const fileGroups = Object.keys(doc.groups);
  const knownGroups = [...new Set([...fileGroups, ...(opts.dbGroups ?? [])])];
  const windows = Object.keys(doc.time_windows);
  const builtinDetectors = BUILTIN_DETECTORS.map((d) => d.name);
  const detectors = [...builtinDetectors, ...Object.keys(doc.detectors)];
  for (const name of Object.keys(doc.detectors)) {
    if (builtinDetectors.includes(name)) {
      issues.push({ path: formatPath(['detectors', name]), message: `'${name}' is a built-in detector`, hint: 'give your own detector another name' });
    }
  }

  const checkGroups = (names: readonly string[] | undefined, at: PropertyKey[]) => {
    names?.forEach((g, i) => {
      if (fileGroups.includes(g) || opts.dbGroups === undefined || opts.dbGroups.has(g)) return;
      const near = closest(g, knownGroups);
      issues.push({
        path: formatPath([...at, i]),
        message: `no group '${g}' is defined`,
        hint: near ? `did you mean '${near}'?` : `define it under groups: in this file, or create it with 'palisade group add ${g}'`,
      });
    });
  };

  const firstByName = new Map<string, number>();
  let catchAll: string | undefined;
  doc.rules.forEach((r, i) => {
    const at: PropertyKey[] = ['rules', i];
    const seen = firstByName.get(r.name);
    if (seen !== undefined) issues.push({ path: formatPath([...at, 'name']), message: `the rule name '${r.name}' is already used by rules[${seen}]`, hint: 'each rule needs its own name (it appears in refusals and the audit log)' });
    else firstByName.set(r.name, i);

    if (catchAll !== undefined) {
      issues.push({ path: formatPath(at), message: `rule '${r.name}' can never apply: rule '${catchAll}' before it matches every request`, hint: 'move it up, or give the earlier rule a selector' });
    }
    checkGroups(r.subject?.groups, [...at, 'subject', 'groups']);
    const peers: PeerSpec[] = r.peer === undefined ? [] : Array.isArray(r.peer) ? r.peer : [r.peer];
    peers.forEach((p, j) => {
      if (typeof p === 'object') checkGroups(p.groups, [...at, 'peer', ...(Array.isArray(r.peer) ? [j] : []), 'groups']);
    });
    for (const key of ['during', 'outside'] as const) {
      const ref = r[key];
      if (typeof ref === 'string' && !windows.includes(ref)) {
        const near = closest(ref, windows);
        issues.push({
          path: formatPath([...at, key]),
          message: `no time window '${ref}' is defined`,
          hint: near ? `did you mean '${near}'?` : 'define it under time_windows:, or write the window here ({days: [...], hours: ...})',
        });
      }
    }
    if (r.during !== undefined && r.outside !== undefined) {
      issues.push({ path: formatPath([...at, 'outside']), message: 'a rule takes during or outside, not both', hint: 'split it into two rules' });
    }
    if (r.content) {
      r.content.detectors.forEach((d, j) => {
        if (detectors.includes(d)) return;
        const near = closest(d, detectors);
        issues.push({
          path: formatPath([...at, 'content', 'detectors', j]),
          message: `no detector '${d}' is defined`,
          hint: near ? `did you mean '${near}'?` : `built-in detectors: ${builtinDetectors.join(', ')}; define others under detectors:`,
        });
      });
      if (r.decision !== undefined) {
        issues.push({ path: formatPath([...at, 'decision']), message: 'a content rule decides by its content.action (block, redact or alert), not by decision', hint: 'remove decision; put the allow or deny rule for these messages after it' });
      }
      if (r.e2ee !== undefined) issues.push({ path: formatPath([...at, 'e2ee']), message: 'e2ee does not apply to a content rule', hint: 'put it on the allow rule for these messages' });
      if (r.content.action !== 'block' && r.condition !== undefined) {
        issues.push({ path: formatPath([...at, 'condition']), message: 'only a blocking content rule has an error condition' });
      }
    } else if (r.decision === undefined) {
      issues.push({ path: formatPath([...at, 'decision']), message: 'is required: allow or deny', hint: 'or give the rule content: {detectors, action} to make it a content rule' });
    }
    if (r.decision === 'allow' && r.condition !== undefined) {
      issues.push({ path: formatPath([...at, 'condition']), message: 'only a deny rule has an error condition' });
    }
    if (r.decision === 'deny' && r.e2ee !== undefined) {
      issues.push({ path: formatPath([...at, 'e2ee']), message: 'e2ee applies to allow rules (what they allow must be encrypted, or must not be)', hint: 'use it on the allow rule for those messages' });
    }
    if (catchAll === undefined && matchesEverything(r)) catchAll = r.name;
  });
  doc.archiving.forEach((a, i) => checkGroups(a.groups, ['archiving', i, 'groups']));
  if (doc.default.decision === 'allow' && doc.default.condition !== undefined) {
    issues.push({ path: 'default.condition', message: 'only a deny default has an error condition' });
  }
  return issues;
}

/** A rule with no selector at all (and no e2ee condition, no content test) decides every request that reaches it. */
function matchesEverything(r: PolicyRuleSpec): boolean {
  const anyone = r.peer === undefined || r.peer === 'anyone' || (Array.isArray(r.peer) && r.peer.includes('anyone'));
  const action = r.action === undefined || r.action === '*' || (Array.isArray(r.action) && r.action.includes('*'));
  return (
    action &&
    anyone &&
    (r.subject === undefined || Object.keys(r.subject).length === 0) &&
    r.feature === undefined &&
    r.during === undefined &&
    r.outside === undefined &&
    r.content === undefined &&
    (r.e2ee === undefined || r.e2ee === 'allowed')
  );
}
