// The archiving section of the policy (docs/policy.md "Archiving") compiled:
// for each party of a routed message that is an account of this server, the
// first entry naming it says how the message is archived for it — compliance
// (the organisation keeps a copy for N days whatever the user's preferences),
// user (the user's XEP-0441 preferences decide) or none (nothing). The verdict
// carries the result as an 'archive' obligation; the mam module obeys it and
// never reads the policy itself. Each party is decided on its own: a copy is
// kept for an account by its own entry, so one party's 'none' never removes
// the other party's compliance copy, and one party's compliance never puts a
// copy in the other's archive.
import { tryParseJID } from '../xmpp/jid.ts';
import type { ArchivingSpec } from './schema.ts';
import type { Obligation, PolicyRequest, Verdict } from './types.ts';

export const OBLIGATION_ARCHIVE = 'archive';

export type ArchivingMode = 'compliance' | 'user' | 'none';

/** How one party's copy is kept. */
export interface ArchiveSide {
  mode: ArchivingMode;
  /** Compliance only: days the compliance copy is kept. */
  retention_days?: number;
  /** Which entry decided, e.g. 'archiving[0]'; 'implicit' when none named the account. */
  entry: string;
}

export interface ArchiveObligation extends Obligation {
  kind: typeof OBLIGATION_ARCHIVE;
  /** The sending (or, for an archive query, the querying) account; absent when it is not an account of this server. */
  sender?: ArchiveSide;
  /** The receiving account; absent when it is not an account of this server, and on archive queries. */
  recipient?: ArchiveSide;
}

/** An account no entry names is archived as its preferences say. */
const IMPLICIT: ArchiveSide = Object.freeze({ mode: 'user', entry: 'implicit' });
/** Payload namespaces of archive queries and preferences (XEP-0313, XEP-0441): 'iq:urn:xmpp:mam:2' and its kin. */
const MAM_IQ_PREFIX = 'iq:urn:xmpp:mam:';

interface CompiledEntry {
  side: ArchiveSide;
  users: ReadonlySet<string> | undefined;
  groups: ReadonlySet<string> | undefined;
  domains: ReadonlySet<string> | undefined;
}

export class CompiledArchiving {
  private readonly entries: readonly CompiledEntry[];
  private readonly domain: string;

  constructor(specs: readonly ArchivingSpec[], domain: string) {
    this.domain = domain;
    this.entries = specs.map((s, i) => ({
      side: Object.freeze({ mode: s.mode, entry: `archiving[${i}]`, ...(s.retention_days !== undefined ? { retention_days: s.retention_days } : {}) }),
      users: s.users && new Set(s.users.map((u) => tryParseJID(u)?.bareString() ?? u)),
      groups: s.groups && new Set(s.groups),
      domains: s.domains && new Set(s.domains),
    }));
  }

  /** How messages of this account (bare JID, prepared) with these groups are archived: the first entry naming it. */
  sideOf(bareJid: string, groups: readonly string[]): ArchiveSide {
    const domain = bareJid.slice(bareJid.indexOf('@') + 1);
    for (const e of this.entries) {
      if (e.users && !e.users.has(bareJid)) continue;
      if (e.domains && !e.domains.has(domain)) continue;
      if (e.groups && !groups.some((g) => e.groups!.has(g))) continue;
      return e.side;
    }
    return IMPLICIT;
  }

  /**
   * The archive obligation of an allowed request: for a message, each local
   * party's side; for an archive query or preferences request, the querying
   * account's. Undefined when the section is empty (every account: user).
   */
  obligation(req: PolicyRequest): ArchiveObligation | undefined {
    if (this.entries.length === 0) return undefined;
    const sender = this.local(req.subject.jid) ? this.sideOf(bare(req.subject.jid!), req.subject.groups) : undefined;
    if (req.action === 'stanza.iq') {
      return req.feature?.startsWith(MAM_IQ_PREFIX) && sender ? { kind: OBLIGATION_ARCHIVE, sender } : undefined;
    }
    if (req.action !== 'stanza.message') return undefined;
    const to = req.resource?.jid;
    const recipient = to !== undefined && this.local(to) ? this.sideOf(bare(to), req.resource?.groups ?? []) : undefined;
    if (!sender && !recipient) return undefined;
    return { kind: OBLIGATION_ARCHIVE, ...(sender ? { sender } : {}), ...(recipient ? { recipient } : {}) };
  }

  /** The verdict with the archive obligation added (allowed requests only). */
  attach(verdict: Verdict, req: PolicyRequest): Verdict {
    if (verdict.decision === 'deny') return verdict;
    const o = this.obligation(req);
    return o ? { ...verdict, obligations: [...(verdict.obligations ?? []), o] } : verdict;
  }

  private local(jid: string | undefined): boolean {
    if (jid === undefined) return false;
    const b = bare(jid);
    const at = b.indexOf('@');
    return at > 0 && b.slice(at + 1) === this.domain;
  }
}

/** The archive obligation a verdict carries, if any (what the mam module reads). */
export function archiveObligation(verdict: Verdict | undefined): ArchiveObligation | undefined {
  return verdict?.obligations?.find((o): o is ArchiveObligation => o.kind === OBLIGATION_ARCHIVE);
}

function bare(jid: string): string {
  const slash = jid.indexOf('/');
  return slash < 0 ? jid : jid.slice(0, slash);
}
