// The vocabulary of the one policy decision point (DESIGN.md "The stanza pipeline").
// Feature modules add actions and features; they never decide themselves.
import type { StanzaErrorCondition } from '../xmpp/errors.ts';

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
export type PeerScope = 'self' | 'host' | 'local' | 'remote';

export interface PolicyResource {
  jid?: string;
  scope?: PeerScope;
  /** Roster relationship, filled in once rosters exist; 'unknown' until then. */
  relation?: 'contact' | 'none' | 'unknown';
}

export interface PolicyRequest {
  /** e.g. 'login', 'bind', 'stanza.message', 'stanza.presence', 'stanza.iq'. */
  action: string;
  subject: Subject;
  resource?: PolicyResource;
  /** Derived from the payload: 'chat', 'groupchat', 'headline', 'presence', 'iq:<ns>' … */
  feature?: string;
  time: Date;
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
}

export interface PolicyRules {
  readonly name: string;
  evaluate(req: PolicyRequest): Verdict | Promise<Verdict>;
}
