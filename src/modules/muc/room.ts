// One room's state (XEP-0045 §4-§10): configuration, affiliations by bare JID,
// occupants by nickname, recent history and subject. Kept in memory; the
// service writes what must outlive a restart (persistent rooms and their
// affiliations) to the store.
import type { Element } from '../../xmpp/element.ts';
import type { JID } from '../../xmpp/jid.ts';
import type { RoomConfig } from './config.ts';
import type { Nick } from './nick.ts';
import { defaultRole, type Affiliation, type Role } from './roles.ts';

export interface Occupant {
  nick: Nick;
  /** The occupant's real full JID (one session per occupant: multi-session joins are refused). */
  jid: JID;
  role: Role;
  /** The user's latest presence to the room (its show, status, caps … go to the others). */
  presence: Element;
}

export interface HistoryEntry {
  /** The groupchat message as broadcast (from room/nick), without 'to'. */
  message: Element;
  at: Date;
  /** Its XML length, for <history maxchars/>. */
  chars: number;
}

/** What a joining user asks of the history (§7.2.14); each limit narrows the rest. */
export interface HistoryRequest {
  maxStanzas?: number;
  maxChars?: number;
  seconds?: number;
  since?: Date;
}

export interface Subject {
  text: string;
  /** The nickname that set it ('' when the room did). */
  nick: string;
}

export class Room {
  readonly jid: JID;
  /** Bare JID of the user who created the room (counted against their room limit). */
  readonly creator: string;
  readonly createdAt: Date;
  config: RoomConfig;
  /** §10.1: a new room admits no one but its owners until they configure it. */
  locked: boolean;
  subject: Subject | undefined;
  /** Affiliations other than none, by bare JID. */
  readonly affiliations = new Map<string, Affiliation>();
  /** Occupants by nickname key. */
  readonly occupants = new Map<string, Occupant>();
  private history: HistoryEntry[] = [];

  constructor(jid: JID, creator: string, config: RoomConfig, locked: boolean, createdAt = new Date()) {
    this.jid = jid;
    this.creator = creator;
    this.createdAt = createdAt;
    this.config = config;
    this.locked = locked;
  }

  affiliationOf(bare: string): Affiliation {
    return this.affiliations.get(bare) ?? 'none';
  }

  setAffiliation(bare: string, affiliation: Affiliation): void {
    if (affiliation === 'none') this.affiliations.delete(bare);
    else this.affiliations.set(bare, affiliation);
  }

  /** Everyone with the affiliation, by bare JID. */
  withAffiliation(affiliation: Affiliation): string[] {
    return [...this.affiliations].filter(([, a]) => a === affiliation).map(([jid]) => jid);
  }

  occupantByJid(full: JID): Occupant | undefined {
    for (const o of this.occupants.values()) if (o.jid.equals(full)) return o;
    return undefined;
  }

  /** The occupants a bare JID is in the room as (one per joined session). */
  occupantsOf(bare: string): Occupant[] {
    return [...this.occupants.values()].filter((o) => o.jid.bareString() === bare);
  }

  /** The role the occupant's affiliation gives it in this room now. */
  roleFor(bare: string): Role {
    return defaultRole(this.affiliationOf(bare), this.config.moderated);
  }

  record(message: Element, at: Date): void {
    if (this.config.historyLength === 0) return;
    this.history.push({ message, at, chars: message.toString().length });
    if (this.history.length > this.config.historyLength) this.history.splice(0, this.history.length - this.config.historyLength);
  }

  /** After a configuration change: keep at most the new history length. */
  trimHistory(): void {
    if (this.history.length > this.config.historyLength) this.history.splice(0, this.history.length - this.config.historyLength);
  }

  /** The newest history entries the request allows, oldest first. */
  historyFor(req: HistoryRequest, now: Date): HistoryEntry[] {
    let out = this.history;
    if (req.since !== undefined) out = out.filter((e) => e.at > req.since!);
    if (req.seconds !== undefined) out = out.filter((e) => now.getTime() - e.at.getTime() <= req.seconds! * 1000);
    if (req.maxStanzas !== undefined) out = req.maxStanzas === 0 ? [] : out.slice(-req.maxStanzas);
    if (req.maxChars !== undefined) {
      let budget = req.maxChars;
      let from = out.length;
      while (from > 0 && out[from - 1]!.chars <= budget) budget -= out[--from]!.chars;
      out = out.slice(from);
    }
    return out;
  }
}
