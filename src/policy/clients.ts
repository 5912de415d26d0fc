// Client compliance (issue #6, docs/policy.md "Client compliance"): the
// `clients:` section of the policy file, compiled. Once a session's client
// software is known (XEP-0092, asked by the sessions module), the decision
// point is asked the action 'client.check'; the first entry whose selectors
// name the account decides: a client on its allow list at or above the
// minimum version is allowed, any other gets the entry's action — deny (the
// session is closed), warn (a headline to the user) or alert (an audit entry
// only). A client that did not say what it is counts as unknown, which the
// entry's `unknown` decides (allow unless the policy says otherwise).
import { z } from 'zod';
import { tryParseJID } from '../xmpp/jid.ts';
import type { Obligation, PolicyRequest, Verdict } from './types.ts';

export const CLIENT_CHECK = 'client.check';
/** Obligations of an allowing client.check verdict: tell the user (warn) or only the audit log (alert). */
export const OBLIGATION_CLIENT_WARN = 'client.warn';
export const OBLIGATION_CLIENT_ALERT = 'client.alert';

export const CLIENT_ACTIONS = ['deny', 'warn', 'alert'] as const;
export type ClientAction = (typeof CLIENT_ACTIONS)[number];
const UNKNOWN_ACTIONS = ['allow', ...CLIENT_ACTIONS] as const;

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const VERSION = /^v?\d+(\.\d+)*([-+~][0-9A-Za-z.+~-]*)?$/;

const allowEntry = z.strictObject({
  software: z.string().min(1).max(200).describe('the name the client gives in its software version answer (XEP-0092), compared ignoring case'),
  min_version: z
    .string()
    .regex(VERSION, { error: "must be a dotted version number such as '2.13' or '1.8.0'" })
    .optional()
    .describe('the oldest version allowed; any version when absent'),
});

const entry = z
  .strictObject({
    name: z.string().regex(NAME, { error: 'names are 1 to 64 lowercase letters, digits, - or _, starting with a letter or digit' }),
    description: z.string().max(1000).optional(),
    users: z.array(z.string().min(1).max(3071)).min(1).optional(),
    groups: z.array(z.string().regex(NAME)).min(1).optional(),
    domains: z.array(z.string().min(1).max(1023)).min(1).optional(),
    allow: z.array(allowEntry).min(1).max(200),
    action: z.enum(CLIENT_ACTIONS),
    unknown: z.enum(UNKNOWN_ACTIONS).default('allow').describe('what a client that does not say its name and version gets'),
    text: z.string().min(1).max(1000).optional().describe('what the user is told (deny, warn); default: the clients and versions allowed'),
  })
  .superRefine((e, ctx) => {
    for (const [i, u] of (e.users ?? []).entries()) {
      const j = tryParseJID(u);
      if (!j || !j.local || j.resource) ctx.addIssue({ code: 'custom', path: ['users', i], message: 'must be a bare address user@domain', params: { hint: 'e.g. alice@example.org' } });
    }
  });

export const clientsSchema = z
  .array(entry)
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((e, i) => {
      if (seen.has(e.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate name ${e.name}` });
      seen.add(e.name);
    });
  })
  .default([])
  .describe('client compliance: which client software and versions accounts may use (clients.ts)');

export type ClientsSpec = z.output<typeof clientsSchema>;
type EntrySpec = ClientsSpec[number];

// ---------------------------------------------------------------- versions

interface ParsedVersion {
  numbers: number[];
  /** A pre-release tag ('-beta2', '~rc1', 'a'): sorts before the release it precedes. */
  pre: string;
}

/** '2.13.1+free' → [2,13,1]; '1.8.0-rc2' → [1,8,0] pre 'rc2'; undefined when it does not start with a number. */
export function parseVersion(text: string): ParsedVersion | undefined {
  const m = /^\s*v?(\d+(?:\.\d+)*)([^\s]*)/.exec(text);
  if (!m) return undefined;
  const numbers = m[1]!.split('.').map((n) => Math.min(Number(n), Number.MAX_SAFE_INTEGER));
  let rest = m[2]!;
  // Build metadata (semver '+…', or a distribution's '+git', '+playstore') says nothing about age.
  const plus = rest.indexOf('+');
  if (plus >= 0) rest = rest.slice(0, plus);
  return { numbers, pre: rest.replace(/^[-~.]/, '') };
}

/** Negative when a is older than b, 0 when the same release, positive when newer; undefined when either is not a version. */
export function compareVersions(a: string, b: string): number | undefined {
  const va = parseVersion(a);
  const vb = parseVersion(b);
  if (!va || !vb) return undefined;
  const n = Math.max(va.numbers.length, vb.numbers.length);
  for (let i = 0; i < n; i++) {
    const d = (va.numbers[i] ?? 0) - (vb.numbers[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (va.pre === vb.pre) return 0;
  if (va.pre === '') return 1; // a release is newer than its pre-releases
  if (vb.pre === '') return -1;
  return Math.sign(va.pre.localeCompare(vb.pre, 'en', { numeric: true, sensitivity: 'base' }));
}

// ---------------------------------------------------------------- compiled

interface CompiledEntry {
  spec: EntrySpec;
  users: ReadonlySet<string> | undefined;
  domains: ReadonlySet<string> | undefined;
  allowed: readonly { software: string; minVersion: string | undefined }[];
  text: string;
}

export class CompiledClients {
  private readonly entries: readonly CompiledEntry[];

  constructor(spec: ClientsSpec) {
    this.entries = spec.map((e) => ({
      spec: e,
      users: e.users && new Set(e.users.map((u) => tryParseJID(u)!.bareString())),
      domains: e.domains && new Set(e.domains.map((d) => d.toLowerCase())),
      allowed: e.allow.map((a) => ({ software: a.software.toLowerCase(), minVersion: a.min_version })),
      text: e.text ?? defaultText(e),
    }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The client.check verdict: allowed (perhaps with a warn or alert obligation) or denied. */
  evaluate(req: PolicyRequest): Verdict {
    const e = this.entries.find((c) => this.names(c, req));
    if (!e) return { decision: 'allow', rule: 'clients:none' };
    const client = req.subject.client;
    const software = client?.software?.trim() ?? '';
    const version = client?.version?.trim() ?? '';
    const rule = `clients:${e.spec.name}`;
    const candidates = e.allowed.filter((a) => a.software === software.toLowerCase());
    const versionNeeded = candidates.length > 0 && candidates.every((a) => a.minVersion !== undefined);
    if (software === '' || (versionNeeded && parseVersion(version) === undefined)) {
      return outcome(e.spec.unknown, rule, e.text, { software: software || null, version: version || null, unknown: true });
    }
    const ok = candidates.some((a) => a.minVersion === undefined || (compareVersions(version, a.minVersion) ?? -1) >= 0);
    if (ok) return { decision: 'allow', rule };
    return outcome(e.spec.action, rule, e.text, { software, version: version || null });
  }

  private names(e: CompiledEntry, req: PolicyRequest): boolean {
    const jid = req.subject.jid;
    if (!jid) return false;
    if (e.users && !e.users.has(jid)) return false;
    if (e.domains && !e.domains.has(req.subject.domain.toLowerCase())) return false;
    if (e.spec.groups && !e.spec.groups.some((g) => req.subject.groups.includes(g))) return false;
    return true;
  }
}

function outcome(action: ClientAction | 'allow', rule: string, text: string, details: Record<string, unknown>): Verdict {
  if (action === 'allow') return { decision: 'allow', rule };
  if (action === 'deny') return { decision: 'deny', rule, condition: 'policy-violation', text, details: { client: details } };
  const o: Obligation = { kind: action === 'warn' ? OBLIGATION_CLIENT_WARN : OBLIGATION_CLIENT_ALERT, rule, text, client: details };
  return { decision: 'allow', rule, obligations: [o] };
}

function defaultText(e: EntrySpec): string {
  const list = e.allow.map((a) => (a.min_version ? `${a.software} ${a.min_version} or newer` : a.software)).join(', ');
  return `This client is not supported here; please use ${list}.`;
}
