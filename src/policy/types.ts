// The vocabulary of the one policy decision point (DESIGN.md "The stanza pipeline").
// Feature modules add actions and features; they never decide themselves.
import type { StanzaErrorCondition } from '../xmpp/errors.ts';
import type { Element } from '../xmpp/element.ts';
import type { ContentPart } from './detectors.ts';

export interface SessionSecurity {
  tls: boolean;
  tlsVersion?: string;
  /** SASL mechanism used to authenticate, e.g. SCRAM-SHA-256-PLUS. */
  mechanism?: string;
  channelBinding?: string;
}

export interface Subject {
  /** Bare JID of the account, or undefined before authentication. */
  jid?: string;
  domain: string;
  groups: readonly string[];
  ip?: string;
  security?: SessionSecurity;
  client?: { software?: string; version?: string };
}

/** Where a routed stanza goes, relative to the sender. */
/** 'service': a subdomain this server serves through a module (group chat rooms), not the server itself. */
export type PeerScope = 'self' | 'host' | 'service' | 'local' | 'remote';

export interface PolicyResource {
  jid?: string;
  scope?: PeerScope;
  /** Roster relationship, filled in once rosters exist; 'unknown' until then. */
  relation?: 'contact' | 'none' | 'unknown';
  /** Groups of the peer's bare JID (the policy classifier fills them). */
  groups?: readonly string[];
}

export interface PolicyRequest {
  /** e.g. 'login', 'bind', 'stanza.message', 'stanza.presence', 'stanza.iq'. */
  action: string;
  /**
   * Facts that classifiers registered by modules established about this request,
   * e.g. 'sender-blocks-recipient' from the blocking module or 'contact' from the
   * roster. Rules read them; they never look anything up themselves.
   */
  facts?: Record<string, boolean | string>;
  subject: Subject;
  resource?: PolicyResource;
  /** Derived from the payload: 'chat', 'groupchat', 'headline', 'presence', 'iq:<ns>' … */
  feature?: string;
  time: Date;
  /**
   * A message's readable text for content rules (body, subject, XHTML-IM), as
   * the classifier took it; truncated when the message had more than the
   * detectors read, and content rules then fail closed.
   */
  content?: { parts: ContentPart[]; truncated: boolean };
}

export interface Obligation {
  kind: string;
  [key: string]: unknown;
}

export interface Verdict {
  decision: 'allow' | 'deny';
  /** Which rule matched, for the audit log and for explaining a decision. */
  rule: string;
  condition?: StanzaErrorCondition;
  /** Readable reason returned to the user on deny. */
  text?: string;
  obligations?: Obligation[];
  /** Drop without answering (e.g. stanzas from a blocked contact, XEP-0191 §3.4). */
  silent?: boolean;
  /** An application-specific error condition to include, e.g. XEP-0191's <blocked/>. */
  appCondition?: Element;
  /** Denials are audited unless the rule says the refusal is a user's own choice, not policy. */
  audit?: boolean;
  /** More for the audit entry of a denial, e.g. the detectors of a content rule (never the content). */
  details?: Record<string, unknown>;
}

export interface PolicyRules {
  readonly name: string;
  evaluate(req: PolicyRequest): Verdict | Promise<Verdict>;
}

/**
 * A rule a module contributes (e.g. a user's block list). Module rules are asked
 * first, in registration order; undefined means "no opinion", and the
 * organisation's rules then decide.
 */
export interface ModuleRule {
  readonly name: string;
  evaluate(req: PolicyRequest): Verdict | undefined | Promise<Verdict | undefined>;
}
