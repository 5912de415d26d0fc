// The policy compiled into a matcher: each rule becomes a list of selector
// tests over the request (no lookups, no allocation on the hot path beyond the
// verdict), rules are pre-filtered by action, and the first rule whose
// selectors all hold decides. explain() walks the same selectors, saying why
// each rule did or did not apply.
import type { StanzaErrorCondition } from '../xmpp/errors.ts';
import { tryParseJID } from '../xmpp/jid.ts';
import {
  BUILTIN_DETECTORS,
  MAX_SCAN_CHARS,
  customDetector,
  findCardNumbers,
  findIbans,
  redact,
  scanCustom,
  type CustomDetector,
  type Detector,
  type Finding,
} from './detectors.ts';
import { CompiledArchiving } from './archiving.ts';
import { CLIENT_CHECK, CompiledClients } from './clients.ts';
import { cachedIp, inCidr, parseCidr, type Cidr } from './ip.ts';
import { LinkSafety } from './link-safety.ts';
import type { LoadedPolicy } from './load.ts';
import type { ContentSpec, GroupSpec, PeerSpec, PolicyRuleSpec, WindowRef } from './schema.ts';
import { SubscriptionLimit } from './subscription-limit.ts';
import { compileWindow, inWindow, type CompiledWindow } from './time.ts';
import type { Obligation, PolicyRequest, PolicyRules, Verdict } from './types.ts';

export const E2EE_REQUIRED_TEXT =
  'This conversation must be end-to-end encrypted (OMEMO or OpenPGP); the unencrypted message was not delivered.';
export const E2EE_FORBIDDEN_TEXT =
  'End-to-end encrypted messages are not allowed here (messages must stay readable for the archive); the message was not delivered.';

export const CONTENT_TOO_LONG_TEXT = `The message is too long to be checked by the content rules (more than ${MAX_SCAN_CHARS} characters of text); it was not delivered.`;
export const CONTENT_UNCHECKED_TEXT = 'The message could not be checked by the content rules in time; it was not delivered.';

/** Obligations a content rule puts on an allowed message; the router carries them out (obligations.ts). */
export const OBLIGATION_REDACT = 'content.redact';
export const OBLIGATION_ALERT = 'content.alert';
/** On an allowed peer-to-peer transfer: only the server's SOCKS5 proxy may remain as a streamhost (obligations.ts). */
export const OBLIGATION_PROXY_ONLY = 'p2p.proxy-only';

/**
 * Features only a rule that names them allows (issue #8): a transfer that
 * reveals addresses is refused unless the organisation allowed it explicitly,
 * whatever broader allow rules or an allowing default say.
 */
export const OPT_IN_FEATURES = ['p2p-file-transfer'] as const;
export const P2P_NOT_ALLOWED_TEXT =
  "Peer-to-peer file transfer is not allowed by the organisation's policy (no rule allows p2p-file-transfer for you); send the file through the server's upload instead.";

/** The facts the policy classifier (classify.ts) sets on message requests. */
export const FACT_BODY = 'body';
export const FACT_E2EE = 'e2ee';
export const featureFact = (name: string): string => `feature:${name}`;

interface Selector {
  /** e.g. "subject.groups [staff]", for explanations. */
  readonly label: string;
  test(req: PolicyRequest): boolean;
  /** What the request has for this selector, e.g. "alice@example.org is in staff, it". */
  observed(req: PolicyRequest): string;
  /** Left out of explanations while it holds (the opt-in check, on requests without the feature). */
  quietWhenOk?: boolean;
}

interface CompiledRule {
  readonly index: number;
  readonly name: string;
  readonly decision: 'allow' | 'deny';
  readonly condition: StanzaErrorCondition;
  readonly text: string;
  readonly e2ee: 'required' | 'forbidden' | undefined;
  readonly actions: ActionMatcher;
  readonly selectors: readonly Selector[];
  /** A content rule: it applies only when a detector finds something, and only block ends the evaluation. */
  readonly content: ContentSpec | undefined;
}

export interface ExplainStep {
  index: number;
  rule: string;
  matched: boolean;
  /** One line per selector: "ok|no  label: observed". */
  checks: { ok: boolean; label: string; observed: string }[];
  /** For a matching allow rule with e2ee: whether the message met it. */
  e2ee?: string;
  /** For a content rule whose selectors matched: what the detectors found, and what follows. */
  content?: string;
}

export interface Explanation {
  verdict: Verdict;
  steps: ExplainStep[];
  /** Rules after the deciding one, not evaluated. */
  notReached: number;
}

export interface CompileOptions {
  /** The served domain (for `local: true`). */
  domain: string;
  /** Group memberships from the database: bare JID → group names. */
  dbMembers?: ReadonlyMap<string, readonly string[]>;
}

export class CompiledPolicy implements PolicyRules {
  readonly name: string;
  readonly source: LoadedPolicy;
  readonly ruleCount: number;
  private readonly rules: readonly CompiledRule[];
  private readonly byAction = new Map<string, readonly CompiledRule[]>();
  private readonly defaultVerdict: { decision: 'allow' | 'deny'; condition: StanzaErrorCondition; text: string };
  private readonly fileGroups: readonly FileGroup[];
  private readonly dbMembers: ReadonlyMap<string, readonly string[]>;
  private readonly groupCache = new Map<string, readonly string[]>();
  private readonly detectors: ReadonlyMap<string, Detector>;
  private readonly customs: readonly CustomDetector[];
  private readonly domain: string;
  /** The archiving section: an 'archive' obligation on allowed messages and archive queries (archiving.ts). */
  readonly archiving: CompiledArchiving;
  /** Applied after the rules allowed a message or a subscription request (link-safety.ts, subscription-limit.ts). */
  private readonly linkSafety: LinkSafety;
  private readonly subscriptionLimit: SubscriptionLimit;
  /** The clients section: decides 'client.check' alone (clients.ts). */
  readonly clients: CompiledClients;

  constructor(loaded: LoadedPolicy, opts: CompileOptions) {
    const doc = loaded.doc;
    this.source = loaded;
    this.name = loaded.builtin ? 'built-in policy' : `policy ${loaded.source}`;
    const windows = new Map(Object.entries(doc.time_windows).map(([n, w]) => [n, compileWindow(n, w, doc.time_zone)]));
    const windowOf = (ref: WindowRef): CompiledWindow => (typeof ref === 'string' ? windows.get(ref)! : compileWindow('inline', ref, doc.time_zone));
    this.customs = Object.entries(doc.detectors).map(([n, d]) => customDetector(n, d));
    this.detectors = new Map([...BUILTIN_DETECTORS, ...this.customs].map((d) => [d.name, d]));
    this.rules = doc.rules.map((r, i) => compileRule(r, i, opts.domain, windowOf));
    this.ruleCount = this.rules.length;
    this.defaultVerdict = {
      decision: doc.default.decision,
      condition: doc.default.condition ?? 'policy-violation',
      text: doc.default.text ?? "Refused by the organisation's policy.",
    };
    this.fileGroups = Object.entries(doc.groups).map(([n, g]) => compileGroup(n, g));
    this.dbMembers = opts.dbMembers ?? new Map();
    this.domain = opts.domain;
    this.archiving = new CompiledArchiving(doc.archiving, opts.domain);
    this.linkSafety = new LinkSafety(doc.link_safety, opts.domain);
    this.subscriptionLimit = new SubscriptionLimit(doc.subscription_limit, opts.domain);
    this.clients = new CompiledClients(doc.clients);
  }

  evaluate(req: PolicyRequest): Verdict {
    if (req.action === CLIENT_CHECK) return this.clients.evaluate(req);
    const candidates = this.candidates(req.action);
    let scan: ContentScan | undefined;
    for (let i = 0; i < candidates.length; i++) {
      const rule = candidates[i]!;
      if (!matches(rule, req)) continue;
      if (rule.content) {
        const block = (scan ??= new ContentScan(this.detectors, this.customs, req)).apply(rule, rule.content);
        if (block) return block;
        continue;
      }
      return this.qualify(this.archiving.attach(withObligations(verdictOf(rule, req), scan, this.transferOf(req)), req), req);
    }
    return this.qualify(this.archiving.attach(withObligations(this.defaultVerdictFor(req), scan, this.transferOf(req)), req), req);
  }

  /** What an allowing verdict is still subject to: link and file safety, the subscription request limit. */
  private qualify(verdict: Verdict, req: PolicyRequest): Verdict {
    return this.subscriptionLimit.apply(this.linkSafety.apply(verdict, req), req);
  }

  /** The same decision as evaluate(), with the reasons, for `palisade policy explain`. */
  explain(req: PolicyRequest): Explanation {
    if (req.action === CLIENT_CHECK) return { verdict: this.clients.evaluate(req), steps: [], notReached: 0 };
    const steps: ExplainStep[] = [];
    let scan: ContentScan | undefined;
    for (const rule of this.rules) {
      const actionOk = rule.actions.test(req.action);
      const checks = [{ ok: actionOk, label: `action ${rule.actions.label}`, observed: req.action }];
      for (const s of rule.selectors) {
        const ok = s.test(req);
        if (!(ok && s.quietWhenOk)) checks.push({ ok, label: s.label, observed: s.observed(req) });
      }
      const matched = checks.every((c) => c.ok);
      const step: ExplainStep = { index: rule.index, rule: rule.name, matched, checks };
      steps.push(step);
      if (matched && rule.content) {
        scan ??= new ContentScan(this.detectors, this.customs, req);
        const block = scan.apply(rule, rule.content);
        step.content = scan.describe(rule, rule.content, block);
        step.matched = scan.lastFound.length > 0;
        if (block) return { verdict: block, steps, notReached: this.rules.length - rule.index - 1 };
        continue;
      }
      if (matched) {
        const verdict = this.linkSafety.apply(this.archiving.attach(withObligations(verdictOf(rule, req), scan, this.transferOf(req)), req), req);
        if (rule.e2ee) step.e2ee = e2eeNote(rule.e2ee, req, verdict);
        return { verdict, steps, notReached: this.rules.length - rule.index - 1 };
      }
    }
    return { verdict: this.linkSafety.apply(this.archiving.attach(withObligations(this.defaultVerdictFor(req), scan, this.transferOf(req)), req), req), steps, notReached: 0 };
  }

  /** Groups of a bare JID: the database's and the policy file's (members, domains, patterns). */
  groupsOf(bareJid: string | undefined): readonly string[] {
    if (!bareJid) return NO_GROUPS;
    let groups = this.groupCache.get(bareJid);
    if (groups) return groups;
    const found = new Set(this.dbMembers.get(bareJid) ?? NO_GROUPS);
    const domain = domainOf(bareJid);
    for (const g of this.fileGroups) {
      if (g.members.has(bareJid) || g.domains.has(domain) || g.patterns.some((p) => p.test(bareJid))) found.add(g.name);
    }
    groups = found.size === 0 ? NO_GROUPS : Object.freeze([...found].sort());
    if (this.groupCache.size >= GROUP_CACHE_MAX) this.groupCache.clear();
    this.groupCache.set(bareJid, groups);
    return groups;
  }

  /** Every group name the file defines. */
  fileGroupNames(): string[] {
    return this.fileGroups.map((g) => g.name);
  }

  /** A peer-to-peer transfer that is allowed goes through this server's proxy only. */
  private transferOf(req: PolicyRequest): Obligation | undefined {
    return req.facts?.[P2P_FACT] === true ? { kind: OBLIGATION_PROXY_ONLY, domain: this.domain } : undefined;
  }

  private candidates(action: string): readonly CompiledRule[] {
    let list = this.byAction.get(action);
    if (!list) {
      list = this.rules.filter((r) => r.actions.test(action));
      // Actions are a small vocabulary; a flood of invented ones must not grow the map without bound.
      if (this.byAction.size < 1000) this.byAction.set(action, list);
    }
    return list;
  }

  private defaultVerdictFor(req: PolicyRequest): Verdict {
    const d = this.defaultVerdict;
    if (OPT_IN_FEATURES.some((f) => req.facts?.[featureFact(f)] === true)) {
      return { decision: 'deny', rule: 'default', condition: d.decision === 'deny' ? d.condition : 'policy-violation', text: P2P_NOT_ALLOWED_TEXT };
    }
    return d.decision === 'allow' ? { decision: 'allow', rule: 'default' } : { decision: 'deny', rule: 'default', condition: d.condition, text: d.text };
  }
}

const NO_GROUPS: readonly string[] = Object.freeze([]);
const P2P_FACT = featureFact('p2p-file-transfer');
const GROUP_CACHE_MAX = 100_000;

function matches(rule: CompiledRule, req: PolicyRequest): boolean {
  const s = rule.selectors;
  for (let i = 0; i < s.length; i++) if (!s[i]!.test(req)) return false;
  return true;
}

function verdictOf(rule: CompiledRule, req: PolicyRequest): Verdict {
  if (rule.decision === 'deny') return { decision: 'deny', rule: rule.name, condition: rule.condition, text: rule.text };
  if (rule.e2ee !== undefined && req.action === 'stanza.message') {
    const e2ee = req.facts?.[FACT_E2EE];
    const encrypted = e2ee !== undefined && e2ee !== 'none' && e2ee !== false;
    if (rule.e2ee === 'required' && req.facts?.[FACT_BODY] === true && !encrypted) {
      return { decision: 'deny', rule: rule.name, condition: 'policy-violation', text: rule.text || E2EE_REQUIRED_TEXT };
    }
    if (rule.e2ee === 'forbidden' && encrypted) {
      return { decision: 'deny', rule: rule.name, condition: 'policy-violation', text: rule.text || E2EE_FORBIDDEN_TEXT };
    }
  }
  return { decision: 'allow', rule: rule.name };
}

/** An allowed message carries what the content rules before the deciding rule asked for; a refused one needs nothing. */
function withObligations(verdict: Verdict, scan: ContentScan | undefined, transfer: Obligation | undefined): Verdict {
  if (verdict.decision === 'deny' || (scan === undefined && transfer === undefined)) return verdict;
  const obligations = scan?.obligations() ?? [];
  if (transfer) obligations.push(transfer);
  return obligations.length === 0 ? verdict : { ...verdict, obligations };
}

type Scanned = Finding[][] | 'too-long' | 'timeout';

/**
 * The detectors over one message, each run at most once (several content rules
 * may name the same detector), and what the content rules that found something
 * ask for.
 */
class ContentScan {
  /** The detectors the last apply() found something with (explain). */
  lastFound: string[] = [];
  private readonly found = new Map<string, Scanned>();
  private readonly redactions: { part: number; start: number; end: number; replacement: string }[] = [];
  private readonly redactedBy: { rule: string; detectors: string[] }[] = [];
  private readonly alerts: { rule: string; detectors: string[]; unchecked?: string }[] = [];
  private readonly detectors: ReadonlyMap<string, Detector>;
  private readonly customs: readonly CustomDetector[];
  private readonly req: PolicyRequest;

  constructor(detectors: ReadonlyMap<string, Detector>, customs: readonly CustomDetector[], req: PolicyRequest) {
    this.detectors = detectors;
    this.customs = customs;
    this.req = req;
  }

  /** Runs a content rule: a deny verdict when it blocks, otherwise undefined (its redaction or alert is remembered). */
  apply(rule: CompiledRule, spec: ContentSpec): Verdict | undefined {
    this.lastFound = [];
    let unchecked: 'too-long' | 'timeout' | undefined;
    for (const name of spec.detectors) {
      const r = this.scan(name);
      if (r === 'too-long' || r === 'timeout') unchecked = r;
      if (typeof r === 'string' || r.some((p) => p.length > 0)) this.lastFound.push(name);
    }
    const detectors = this.lastFound;
    if (detectors.length === 0) return undefined;
    if (spec.action === 'block' || (spec.action === 'redact' && unchecked)) {
      // What can't be read can't be redacted either: fail closed.
      const text = unchecked === 'too-long' ? CONTENT_TOO_LONG_TEXT : unchecked === 'timeout' ? CONTENT_UNCHECKED_TEXT : rule.text;
      return {
        decision: 'deny',
        rule: rule.name,
        condition: rule.condition,
        text,
        details: { content_action: spec.action, detectors, ...(unchecked ? { unchecked } : {}) },
      };
    }
    if (spec.action === 'alert') {
      this.alerts.push({ rule: rule.name, detectors, ...(unchecked ? { unchecked } : {}) });
      return undefined;
    }
    for (const name of detectors) {
      const replacement = this.detectors.get(name)!.replacement;
      (this.found.get(name) as Finding[][]).forEach((spans, part) => {
        for (const f of spans) this.redactions.push({ part, start: f.start, end: f.end, replacement });
      });
    }
    this.redactedBy.push({ rule: rule.name, detectors });
    return undefined;
  }

  obligations(): Obligation[] {
    const out: Obligation[] = [];
    if (this.redactedBy.length > 0) {
      const parts = this.req.content!.parts.flatMap((p, index) => {
        const spans = this.redactions.filter((r) => r.part === index);
        return spans.length === 0 ? [] : [{ index, part: p.part, text: redact(p.text, spans) }];
      });
      out.push({ kind: OBLIGATION_REDACT, rules: this.redactedBy, parts });
    }
    for (const a of this.alerts) out.push({ kind: OBLIGATION_ALERT, ...a });
    return out;
  }

  describe(rule: CompiledRule, spec: ContentSpec, block: Verdict | undefined): string {
    const label = `content [${spec.detectors.join(', ')}] ${spec.action}`;
    if (this.lastFound.length === 0) return `${label}: nothing found; the rule does not apply, evaluation goes on`;
    const unchecked = spec.detectors.map((d) => this.found.get(d)).find((r) => typeof r === 'string');
    const what = unchecked ? `the text could not be checked (${unchecked})` : `found ${this.lastFound.join(', ')}`;
    if (block) return `${label}: ${what} → refused`;
    return `${label}: ${what} → ${spec.action === 'redact' ? 'redacted before delivery and archiving' : 'delivered, alert in the audit log'}; evaluation goes on (rule '${rule.name}')`;
  }

  private scan(name: string): Scanned {
    let r = this.found.get(name);
    if (r !== undefined) return r;
    const content = this.req.content;
    if (content?.truncated) r = 'too-long';
    else if (!content) r = [];
    else if (name === 'card-number') r = content.parts.map((p) => findCardNumbers(p.text));
    else if (name === 'iban') r = content.parts.map((p) => findIbans(p.text));
    else {
      // The custom patterns run together, under one time limit.
      const all = scanCustom(this.customs, content.parts.map((p) => p.text));
      this.customs.forEach((d, i) => this.found.set(d.name, all === 'timeout' ? 'timeout' : all[i]!));
      return this.found.get(name)!;
    }
    this.found.set(name, r);
    return r;
  }
}

function e2eeNote(mode: 'required' | 'forbidden', req: PolicyRequest, verdict: Verdict): string {
  if (req.action !== 'stanza.message') return `e2ee ${mode}: applies to messages only`;
  const payload = String(req.facts?.[FACT_E2EE] ?? 'none');
  const body = req.facts?.[FACT_BODY] === true ? 'a body' : 'no body';
  return `e2ee ${mode}: the message has ${body}, encryption ${payload} → ${verdict.decision}`;
}

// ---------------------------------------------------------------- rules

interface ActionMatcher {
  label: string;
  test(action: string): boolean;
}

function compileActions(spec: string | string[] | undefined): ActionMatcher {
  if (spec === undefined) return { label: '(any)', test: () => true };
  const list = typeof spec === 'string' ? [spec] : spec;
  if (list.includes('*')) return { label: '*', test: () => true };
  const exact = new Set(list.filter((a) => !a.endsWith('.*')));
  const prefixes = list.filter((a) => a.endsWith('.*')).map((a) => a.slice(0, -1));
  return { label: `[${list.join(', ')}]`, test: (a) => exact.has(a) || prefixes.some((p) => a.startsWith(p)) };
}

function compileRule(r: PolicyRuleSpec, index: number, serverDomain: string, windowOf: (ref: WindowRef) => CompiledWindow): CompiledRule {
  const selectors: Selector[] = [];
  if (r.subject) selectors.push(...subjectSelectors(r.subject, serverDomain));
  if (r.peer !== undefined) {
    const peers = Array.isArray(r.peer) ? r.peer : [r.peer];
    if (!peers.includes('anyone')) selectors.push(peerSelector(peers));
  }
  if (r.feature !== undefined) selectors.push(featureSelector(typeof r.feature === 'string' ? [r.feature] : r.feature));
  if (r.during !== undefined) selectors.push(timeSelector(windowOf(r.during), true));
  if (r.outside !== undefined) selectors.push(timeSelector(windowOf(r.outside), false));
  const e2ee = r.e2ee === 'allowed' ? undefined : r.e2ee;
  // An allow rule covers an opt-in feature only when it names it (OPT_IN_FEATURES).
  const named = r.feature === undefined ? [] : typeof r.feature === 'string' ? [r.feature] : r.feature;
  for (const f of OPT_IN_FEATURES) {
    if (r.decision === 'allow' && !named.includes(f)) {
      selectors.push({ label: `not ${f} (allowed only by a rule naming it)`, test: (req) => req.facts?.[featureFact(f)] !== true, observed: () => f, quietWhenOk: true });
    }
  }
  return {
    index,
    name: r.name,
    // A content rule's only decision is its block (load.ts requires decision on every other rule).
    decision: r.decision ?? 'deny',
    condition: r.condition ?? 'policy-violation',
    text: r.text ?? defaultText(r),
    e2ee,
    actions: compileActions(r.action),
    selectors,
    content: r.content,
  };
}

function defaultText(r: PolicyRuleSpec): string {
  if (r.content) return `The message was not delivered: it contains content the organisation's policy does not allow to be sent here (${r.content.detectors.join(', ')}; rule '${r.name}').`;
  return r.decision === 'deny' ? `Refused by the organisation's policy (rule '${r.name}').` : '';
}

function subjectSelectors(s: NonNullable<PolicyRuleSpec['subject']>, serverDomain: string): Selector[] {
  const out: Selector[] = [];
  const who = (req: PolicyRequest) => req.subject.jid ?? '(not authenticated)';
  if (s.authenticated !== undefined) {
    const want = s.authenticated;
    out.push({ label: `subject.authenticated ${want}`, test: (req) => (req.subject.jid !== undefined) === want, observed: who });
  }
  if (s.local !== undefined) {
    const want = s.local;
    out.push({
      label: `subject.local ${want}`,
      test: (req) => (req.subject.jid !== undefined && domainOf(req.subject.jid) === serverDomain) === want,
      observed: who,
    });
  }
  if (s.users) {
    const users = new Set(s.users.map(prepBare));
    out.push({ label: `subject.users [${s.users.join(', ')}]`, test: (req) => req.subject.jid !== undefined && users.has(req.subject.jid), observed: who });
  }
  if (s.groups) {
    const groups = new Set(s.groups);
    out.push({
      label: `subject.groups [${s.groups.join(', ')}]`,
      test: (req) => someIn(req.subject.groups, groups),
      observed: (req) => `${who(req)} is in [${req.subject.groups.join(', ')}]`,
    });
  }
  if (s.domains) {
    const domains = new Set(s.domains);
    out.push({ label: `subject.domains [${s.domains.join(', ')}]`, test: (req) => domains.has(req.subject.domain), observed: (req) => req.subject.domain });
  }
  if (s.ip) {
    const ranges = s.ip.map((c) => parseCidr(c)!);
    out.push({ label: `subject.ip [${s.ip.join(', ')}]`, test: (req) => ipIn(req.subject.ip, ranges), observed: (req) => req.subject.ip ?? '(no address)' });
  }
  return out;
}

function ipIn(ip: string | undefined, ranges: readonly Cidr[]): boolean {
  if (ip === undefined) return false;
  const addr = cachedIp(ip);
  if (!addr) return false;
  for (const r of ranges) if (inCidr(addr, r)) return true;
  return false;
}

function peerSelector(peers: readonly PeerSpec[]): Selector {
  const tests = peers.map(peerTest);
  const label = `peer [${peers.map((p) => (typeof p === 'string' ? p : JSON.stringify(p).replace(/"/g, ''))).join(', ')}]`;
  return {
    label,
    test: (req) => {
      for (let i = 0; i < tests.length; i++) if (tests[i]!(req)) return true;
      return false;
    },
    observed: (req) => {
      const r = req.resource;
      if (!r) return '(no peer)';
      return `${r.jid ?? '?'} (scope ${r.scope ?? '?'}, relation ${r.relation ?? 'unknown'}, groups [${(r.groups ?? []).join(', ')}])`;
    },
  };
}

function peerTest(p: PeerSpec): (req: PolicyRequest) => boolean {
  if (typeof p === 'object') {
    const users = p.users && new Set(p.users.map(prepBare));
    const groups = p.groups && new Set(p.groups);
    const domains = p.domains && new Set(p.domains);
    return (req) => {
      const jid = req.resource?.jid;
      if (jid === undefined) return false;
      if (users && !users.has(bareOf(jid))) return false;
      if (groups && !someIn(req.resource?.groups ?? NO_GROUPS, groups)) return false;
      if (domains && !domains.has(domainOf(jid))) return false;
      return true;
    };
  }
  switch (p) {
    case 'anyone':
      return () => true;
    case 'self':
      return (req) => req.resource?.scope === 'self';
    case 'server':
      return (req) => req.resource?.scope === 'host';
    case 'services':
      return (req) => req.resource?.scope === 'service';
    case 'same-domain':
      return (req) => req.resource?.jid !== undefined && domainOf(req.resource.jid) === req.subject.domain;
    case 'external':
      return (req) => req.resource?.scope === 'remote';
    case 'contacts':
    case 'contacts-only':
      return (req) => req.resource?.relation === 'contact';
    case 'non-contacts':
      return (req) => (req.resource?.scope === 'local' || req.resource?.scope === 'remote') && req.resource.relation !== 'contact';
  }
}

function featureSelector(features: readonly string[]): Selector {
  const facts = features.map(featureFact);
  // 'presence' and 'iq' cover 'presence:<type>' and 'iq:<ns>'; a name with ':' is exact (namespaces contain ':').
  const covers = features.map((f) => !f.includes(':'));
  const test = (req: PolicyRequest) => {
    const f = req.feature;
    for (let i = 0; i < features.length; i++) {
      const want = features[i]!;
      if (f !== undefined && (f === want || (covers[i] && f.length > want.length && f.charCodeAt(want.length) === 58 /* : */ && f.startsWith(want)))) return true;
      if (req.facts !== undefined && req.facts[facts[i]!] === true) return true;
    }
    return false;
  };
  return {
    label: `feature [${features.join(', ')}]`,
    test,
    observed: (req) => {
      const named = Object.keys(req.facts ?? {}).filter((k) => k.startsWith('feature:') && req.facts![k] === true);
      return [req.feature ?? '(none)', ...named.map((k) => k.slice(8))].join(', ');
    },
  };
}

function timeSelector(w: CompiledWindow, inside: boolean): Selector {
  const name = w.name === 'inline' ? w.text : `${w.name} (${w.text})`;
  return {
    label: `${inside ? 'during' : 'outside'} ${name}`,
    test: (req) => inWindow(w, req.time) === inside,
    observed: (req) => `${req.time.toISOString()} = ${w.clock.describe(req.time)}`,
  };
}

// ---------------------------------------------------------------- groups

interface FileGroup {
  name: string;
  members: ReadonlySet<string>;
  domains: ReadonlySet<string>;
  patterns: readonly RegExp[];
}

function compileGroup(name: string, g: GroupSpec): FileGroup {
  return {
    name,
    members: new Set(g.members.map(prepBare)),
    domains: new Set(g.domains),
    patterns: g.patterns.map(globToRegExp),
  };
}

function globToRegExp(glob: string): RegExp {
  const body = [...glob.toLowerCase()].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 'u');
}

// ---------------------------------------------------------------- helpers

function someIn(list: readonly string[], set: ReadonlySet<string>): boolean {
  for (let i = 0; i < list.length; i++) if (set.has(list[i]!)) return true;
  return false;
}

function prepBare(s: string): string {
  return tryParseJID(s)?.bareString() ?? s;
}

/** The bare part of a (full or bare) JID string; JIDs in requests are already prepared. */
export function bareOf(jid: string): string {
  const slash = jid.indexOf('/');
  return slash < 0 ? jid : jid.slice(0, slash);
}

export function domainOf(jid: string): string {
  const bare = bareOf(jid);
  return bare.slice(bare.indexOf('@') + 1);
}
