// Link and file safety (docs/policy.md "Link and file safety"): what happens to
// an allowed message that carries links or files, depending on who sent it
// relative to the recipient. The classifier sets the facts has-link and
// has-file (linkFacts, below); the compiled policy applies the first matching
// entry of `link_safety:` after the ordered rules allowed the message: refuse
// (a denial, audited), flag (an obligation: the warning goes in front of every
// body before delivery and archiving) or allow.
import { z } from 'zod';
import type { Element } from '../xmpp/element.ts';
import { STANZA_ERROR_TYPES, type StanzaErrorCondition } from '../xmpp/errors.ts';
import type { Obligation, PolicyRequest, Verdict } from './types.ts';

export const FACT_HAS_LINK = 'has-link';
export const FACT_HAS_FILE = 'has-file';
/** The obligation of a flagging entry; obligations.ts carries it out. */
export const OBLIGATION_LINK_FLAG = 'link.flag';

const NS_OOB = 'jabber:x:oob';
const NS_SFS = 'urn:xmpp:sfs:0';
const NS_ESFS = 'urn:xmpp:esfs:0';
const NS_XHTML_IM = 'http://jabber.org/protocol/xhtml-im';

// A scheme or www. at the start of a word, followed by something that is not
// white space. Every alternative is a fixed string, so a test is linear in the
// text (no backtracking beyond a few characters at each position).
const LINK = /(?<![\p{L}\p{N}_.+-])(?:https?:\/\/|aesgcm:\/\/|xmpp:|www\.)\S/iu;
const AESGCM = /(?<![\p{L}\p{N}_.+-])aesgcm:\/\/\S/iu;
/** Attributes of XHTML-IM elements that hold an address. */
const URL_ATTRS = ['href', 'src'] as const;
/** XHTML-IM is walked at most this deep and this wide (the parser's limits are larger). */
const MAX_XHTML_NODES = 10_000;

/**
 * Sets has-link when a <body/> (any language) or the XHTML-IM copy holds an
 * address (http(s)://, xmpp:, aesgcm://, www.), and has-file when the message
 * carries a file: an out-of-band URL (XEP-0066), stateless file sharing or its
 * sources (XEP-0447, XEP-0448), or an aesgcm:// link (encrypted upload). Facts
 * are only set when true.
 */
export function linkFacts(stanza: Element, facts: Record<string, boolean | string>): void {
  let link = false;
  let file = false;
  for (const c of stanza.elements) {
    const ns = c.ns;
    if (c.name === 'body' && ns === 'jabber:client') {
      const text = c.text;
      if (LINK.test(text)) link = true;
      if (AESGCM.test(text)) file = true;
    } else if ((c.name === 'x' && ns === NS_OOB) || ((c.name === 'file-sharing' || c.name === 'sources') && (ns === NS_SFS || ns === NS_ESFS))) {
      file = true;
    } else if (c.name === 'html' && ns === NS_XHTML_IM && !link) {
      link = xhtmlHasLink(c);
    }
  }
  if (link) facts[FACT_HAS_LINK] = true;
  if (file) facts[FACT_HAS_FILE] = true;
}

function xhtmlHasLink(html: Element): boolean {
  let budget = MAX_XHTML_NODES;
  const walk = (e: Element): boolean => {
    for (const a of URL_ATTRS) if (e.attrs[a] !== undefined && e.attrs[a] !== '') return true;
    for (const c of e.children) {
      // Past the budget, assume a link: the copy is stripped on flag anyway.
      if (--budget < 0) return true;
      if (typeof c === 'string' ? LINK.test(c) : walk(c)) return true;
    }
    return false;
  };
  return walk(html);
}

// ---------------------------------------------------------------- policy syntax

export const LINK_SENDERS = ['anyone', 'contacts', 'non-contacts', 'external', 'local'] as const;
export const LINK_ACTIONS = ['allow', 'flag', 'refuse'] as const;
type LinkSender = (typeof LINK_SENDERS)[number];
type LinkAction = (typeof LINK_ACTIONS)[number];

const CONDITION_NAMES = Object.keys(STANZA_ERROR_TYPES) as [StanzaErrorCondition, ...StanzaErrorCondition[]];

export const linkSafetyEntry = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, { error: 'names are 1 to 100 letters, digits, -, _ or ., starting with a letter or digit' })
      .optional()
      .describe('appears in the audit entry of a refusal; default link-safety-N'),
    from: z
      .union([z.enum(LINK_SENDERS), z.array(z.enum(LINK_SENDERS)).min(1)])
      .describe('who sent the message, relative to the recipient; any one may match'),
    links: z.enum(LINK_ACTIONS).default('allow').describe('messages with a link: allow, flag (warning in front of the body) or refuse'),
    files: z.enum(LINK_ACTIONS).default('allow').describe('messages carrying a file (out-of-band URL, XEP-0447 sources, aesgcm://): allow, flag or refuse'),
    text: z.string().min(1).max(500).optional().describe('the warning put in front of a flagged message, for its recipient'),
    refuse_text: z.string().min(1).max(1000).optional().describe('the reply to the sender of a refused message'),
    condition: z.enum(CONDITION_NAMES).optional().describe('error condition of a refusal (default policy-violation)'),
  })
  .superRefine((e, ctx) => {
    const acts = [e.links, e.files];
    if (!acts.includes('refuse') && (e.refuse_text !== undefined || e.condition !== undefined)) {
      ctx.addIssue({ code: 'custom', path: [e.refuse_text !== undefined ? 'refuse_text' : 'condition'], message: 'only an entry that refuses links or files has a refusal' });
    }
    if (!acts.includes('flag') && e.text !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['text'], message: 'only an entry that flags links or files has a warning text', params: { hint: 'for the reply to a refused sender, write refuse_text' } });
    }
  });

export type LinkSafetySpec = z.output<typeof linkSafetyEntry>;

export const DEFAULT_FLAG_TEXT = '[Caution: this message from someone outside your contacts contains links or files. Check before you open them.]';
const defaultRefuseText = (name: string) =>
  `Messages with links or files to people who have not added you as a contact are not delivered (rule '${name}').`;

interface CompiledEntry {
  name: string;
  test(req: PolicyRequest): boolean;
  links: LinkAction;
  files: LinkAction;
  text: string;
  refuseText: string;
  condition: StanzaErrorCondition;
}

const ORDER: Record<LinkAction, number> = { allow: 0, flag: 1, refuse: 2 };

export class LinkSafety {
  private readonly entries: readonly CompiledEntry[];

  constructor(specs: readonly LinkSafetySpec[], serverDomain: string) {
    this.entries = specs.map((s, i) => {
      const name = s.name ?? `link-safety-${i + 1}`;
      const tests = (typeof s.from === 'string' ? [s.from] : s.from).map((f) => senderTest(f, serverDomain));
      return {
        name,
        test: (req) => tests.some((t) => t(req)),
        links: s.links,
        files: s.files,
        text: s.text ?? DEFAULT_FLAG_TEXT,
        refuseText: s.refuse_text ?? defaultRefuseText(name),
        condition: s.condition ?? 'policy-violation',
      };
    });
  }

  get size(): number {
    return this.entries.length;
  }

  /** An allowed message to a user, with links or files: refused, flagged or left alone by the first entry whose sender matches. */
  apply(verdict: Verdict, req: PolicyRequest): Verdict {
    if (verdict.decision !== 'allow' || req.action !== 'stanza.message' || this.entries.length === 0) return verdict;
    const link = req.facts?.[FACT_HAS_LINK] === true;
    const file = req.facts?.[FACT_HAS_FILE] === true;
    if (!link && !file) return verdict;
    const scope = req.resource?.scope;
    if (scope !== 'local' && scope !== 'remote') return verdict;
    const entry = this.entries.find((e) => e.test(req));
    if (!entry) return verdict;
    const found = [...(link ? [FACT_HAS_LINK] : []), ...(file ? [FACT_HAS_FILE] : [])];
    // A file's address in the body is a link too: the stricter of the two applies.
    const linkAct = link ? entry.links : 'allow';
    const fileAct = file ? entry.files : 'allow';
    const act = ORDER[linkAct] >= ORDER[fileAct] ? linkAct : fileAct;
    if (act === 'refuse') {
      return { decision: 'deny', rule: entry.name, condition: entry.condition, text: entry.refuseText, details: { link_safety: 'refuse', found, allowed_by: verdict.rule } };
    }
    if (act === 'allow') return verdict;
    const flag: Obligation = { kind: OBLIGATION_LINK_FLAG, rule: entry.name, text: entry.text, found };
    return { ...verdict, obligations: [...(verdict.obligations ?? []), flag] };
  }
}

function senderTest(kind: LinkSender, serverDomain: string): (req: PolicyRequest) => boolean {
  switch (kind) {
    case 'anyone':
      return () => true;
    // A contact is a mutual subscription, the same seen from either side.
    case 'contacts':
      return (req) => req.resource?.relation === 'contact';
    case 'non-contacts':
      return (req) => req.resource?.relation !== 'contact';
    case 'external':
      return (req) => req.subject.domain !== serverDomain;
    case 'local':
      return (req) => req.subject.domain === serverDomain;
  }
}

/** The obligation carried out: the warning in front of every body; the XHTML-IM copy is dropped (it would show without it). */
export function flagBodies(stanza: Element, text: string): void {
  for (const c of [...stanza.elements]) {
    if (c.name === 'body' && c.ns === 'jabber:client') c.children = [`${text}\n\n${c.text}`];
    else if (c.name === 'html' && c.ns === NS_XHTML_IM) stanza.removeChild(c);
  }
}
