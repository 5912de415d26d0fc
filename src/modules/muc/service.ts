// The rooms of one MUC service and what changes them (XEP-0045 §7-§10):
// joining, leaving, nick changes, role and affiliation changes, configuration,
// destruction. Each check runs before anything changes, so a refused request
// leaves the room as it was. Changes to one room run one at a time (a queue
// per room); persistent rooms are written to the store before the change is
// announced.
import type { Verdict } from '../../policy/types.ts';
import type { Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { jid, type JID } from '../../xmpp/jid.ts';
import { KeyedQueue } from '../offline/queue.ts';
import type { RoomArchive } from './archive.ts';
import { defaultConfig, type ConfigLimits, type RoomConfig } from './config.ts';
import type { Nick } from './nick.ts';
import type { JoinRate } from './rate.ts';
import { Room, type HistoryRequest, type Occupant } from './room.ts';
import type { Affiliation, Role } from './roles.ts';
import { historyMessage, occupantPresence, statusMessage, STATUS, subjectMessage, type PresenceExtras } from './stanzas.ts';
import type { MucStore, StoredRoom } from './store.ts';

export interface MucLimits extends ConfigLimits {
  maxRoomsPerUser: number;
  maxNickChars: number;
}

export interface MucDeps {
  /** The service's domain, e.g. conference.example.org. */
  domain: string;
  store: MucStore;
  limits: MucLimits;
  rate: JoinRate;
  /** Sends a stanza from the room (trusted: the user's own stanza to the room was decided already). */
  send(stanza: Element): Promise<void>;
  /** Passes a stanza on for a user (private messages, invitations): decided as that user's. */
  relay(stanza: Element, sender: JID): Promise<Verdict>;
  /** Room archives, when the mam module is loaded. */
  archive?: RoomArchive;
}

export interface JoinRequest {
  user: JID;
  /** The nickname as the user wrote it (to tell whether enforcement changed it: status 210). */
  requested: string;
  nick: Nick;
  presence: Element;
  /** Whether the presence carried <x xmlns='…/muc'/> (a client that knows MUC; otherwise groupchat 1.0). */
  mucAware: boolean;
  password: string | undefined;
  history: HistoryRequest;
}

/** A planned role or affiliation change, checked before any is applied. */
export type Change =
  | { kind: 'role'; occupant: Occupant; role: Role; reason: string | undefined }
  | {
      kind: 'affiliation';
      bare: string;
      affiliation: Affiliation;
      reason: string | undefined;
    };

export class MucService {
  readonly rooms = new Map<string, Room>();
  private readonly deps: MucDeps;
  private readonly queue = new KeyedQueue();

  constructor(deps: MucDeps) {
    this.deps = deps;
  }

  get domain(): string {
    return this.deps.domain;
  }

  get limits(): MucLimits {
    return this.deps.limits;
  }

  get archive(): RoomArchive | undefined {
    return this.deps.archive;
  }

  /** Whether the room's messages go to its archive now. */
  archives(room: Room): boolean {
    return this.deps.archive?.keeps(room) ?? false;
  }

  async load(): Promise<void> {
    for (const stored of await this.deps.store.loadRooms()) {
      // Fields added since the room was stored take their defaults.
      const config = { ...defaultConfig(this.deps.limits), ...stored.config };
      const room = new Room(jid(stored.room, this.deps.domain), stored.creator, config, false, stored.createdAt);
      room.subject = stored.subject;
      for (const [bare, a] of stored.affiliations) room.setAffiliation(bare, a);
      this.rooms.set(stored.room, room);
    }
  }

  /** Runs fn after every earlier change to the room. */
  inRoom<T>(local: string, fn: () => Promise<T>): Promise<T> {
    return this.queue.run(local, fn);
  }

  async join(local: string, req: JoinRequest): Promise<void> {
    const bare = req.user.bareString();
    if (!this.deps.rate.take(bare)) {
      throw new StanzaError('resource-constraint', 'You are joining rooms too quickly; wait a moment and try again.');
    }
    let room = this.rooms.get(local);
    const created = room === undefined;
    if (!room) room = this.create(local, bare, req.mucAware);
    else this.admit(room, req);

    const occupant: Occupant = {
      nick: req.nick,
      jid: req.user,
      role: room.roleFor(bare),
      presence: req.presence.detached(),
    };
    // §7.2.3: the others' presence first, then everyone hears the newcomer, the newcomer last.
    for (const other of room.occupants.values()) await this.deps.send(occupantPresence(room, other, occupant));
    room.occupants.set(req.nick.key, occupant);
    const codes: number[] = [];
    if (room.config.whois === 'anyone') codes.push(STATUS.nonAnonymous);
    // §7.2.12: the newcomer is told that what is said here is kept.
    if (this.archives(room)) codes.push(STATUS.logged);
    if (created) codes.push(STATUS.created);
    if (req.nick.display !== req.requested) codes.push(STATUS.nickModified);
    for (const other of room.occupants.values()) {
      if (other !== occupant) await this.deps.send(occupantPresence(room, occupant, other));
    }
    await this.deps.send(occupantPresence(room, occupant, occupant, { codes }));
    const to = req.user.toString();
    for (const entry of room.historyFor(req.history, new Date())) await this.deps.send(historyMessage(room, entry.message, entry.at, to));
    await this.deps.send(subjectMessage(room, to));
  }

  private create(local: string, bare: string, locked: boolean): Room {
    const { maxNameChars, maxRoomsPerUser } = this.deps.limits;
    if ([...local].length > maxNameChars) {
      throw new StanzaError('not-acceptable', `Room names here are at most ${maxNameChars} characters.`);
    }
    const owned = [...this.rooms.values()].filter((r) => r.creator === bare).length;
    if (owned >= maxRoomsPerUser) {
      throw new StanzaError('not-allowed', `You have created ${owned} rooms, the most one user may have here; destroy one first.`);
    }
    // §10.1: a client that knows MUC gets a locked room to configure; a groupchat 1.0 client an instant room.
    const room = new Room(jid(local, this.deps.domain), bare, defaultConfig(this.deps.limits), locked);
    room.setAffiliation(bare, 'owner');
    this.rooms.set(local, room);
    return room;
  }

  /** §7.2.4-§7.2.10: the checks an existing room makes before letting someone in; each throws its error. */
  private admit(room: Room, req: JoinRequest): void {
    const bare = req.user.bareString();
    const affiliation = room.affiliationOf(bare);
    if (room.locked && affiliation !== 'owner') {
      throw new StanzaError('item-not-found', 'This room is being set up; it opens when its owner has configured it.');
    }
    if (affiliation === 'outcast') throw new StanzaError('forbidden', 'You are banned from this room.');
    if (room.config.membersOnly && affiliation === 'none') throw new StanzaError('registration-required', 'This room is for members only.');
    // Owners set the password, so they are not asked for it.
    if (room.config.password !== '' && affiliation !== 'owner' && req.password !== room.config.password) {
      throw new StanzaError('not-authorized', req.password === undefined ? 'This room needs a password.' : 'The password is wrong.');
    }
    const holder = room.occupants.get(req.nick.key);
    if (holder) {
      const text =
        holder.jid.bareString() === bare
          ? `You are in this room as '${holder.nick.display}' from another client; this server gives each client its own nickname.`
          : `The nickname '${holder.nick.display}' is taken in this room.`;
      throw new StanzaError('conflict', text);
    }
    if (room.occupants.size >= room.config.maxUsers && affiliation !== 'owner' && affiliation !== 'admin') {
      throw new StanzaError('service-unavailable', `This room is full: it admits ${room.config.maxUsers} occupants.`);
    }
  }

  /** The occupant's presence changed (show, status …): everyone hears it. */
  async update(room: Room, occupant: Occupant, presence: Element): Promise<void> {
    occupant.presence = presence.detached();
    await this.broadcastPresence(room, occupant);
  }

  /** §7.6: a new nickname, announced as leaving under the old one (303) and arriving under the new. */
  async changeNick(room: Room, occupant: Occupant, nick: Nick, requested: string, presence: Element): Promise<void> {
    const holder = room.occupants.get(nick.key);
    if (holder && holder !== occupant) throw new StanzaError('conflict', `The nickname '${holder.nick.display}' is taken in this room.`);
    for (const r of room.occupants.values()) {
      await this.deps.send(
        occupantPresence(room, occupant, r, {
          type: 'unavailable',
          codes: [STATUS.nickChanged],
          newNick: nick.display,
        }),
      );
    }
    room.occupants.delete(occupant.nick.key);
    occupant.nick = nick;
    occupant.presence = presence.detached();
    room.occupants.set(nick.key, occupant);
    for (const r of room.occupants.values()) {
      const codes = r === occupant && nick.display !== requested ? [STATUS.nickModified] : [];
      await this.deps.send(occupantPresence(room, occupant, r, { codes }));
    }
  }

  /** The occupant leaves (its own unavailable presence, or its session ended). */
  async leave(room: Room, occupant: Occupant, presence: Element | undefined): Promise<void> {
    if (presence) occupant.presence = presence;
    await this.remove(room, occupant, {});
  }

  /** Takes the occupant out and tells everyone, the occupant included (kick, ban, leave, destroy). */
  private async remove(room: Room, occupant: Occupant, extras: Omit<PresenceExtras, 'type'>): Promise<void> {
    if (room.occupants.get(occupant.nick.key) !== occupant) return;
    room.occupants.delete(occupant.nick.key);
    for (const r of [...room.occupants.values(), occupant]) await this.deps.send(occupantPresence(room, occupant, r, { ...extras, type: 'unavailable' }));
    this.vanishIfEmpty(room);
  }

  /** A temporary room goes when its last occupant does (§10.1: a room nobody configured, too). */
  private vanishIfEmpty(room: Room): void {
    if (room.occupants.size > 0 || room.config.persistent) return;
    if (this.rooms.get(room.jid.local) === room) this.rooms.delete(room.jid.local);
  }

  /** A session ended or went unavailable: it leaves every room it was in. */
  async gone(user: JID): Promise<void> {
    for (const [local, room] of this.rooms) {
      if (!room.occupantByJid(user)) continue;
      await this.inRoom(local, async () => {
        const occupant = room.occupantByJid(user);
        if (occupant) await this.leave(room, occupant, undefined);
      });
    }
  }

  async setSubject(room: Room, occupant: Occupant, subject: Element, message: Element): Promise<void> {
    const text = subject.text;
    const max = this.deps.limits.maxSubjectChars;
    if ([...text].length > max) throw new StanzaError('not-acceptable', `A subject is at most ${max} characters.`);
    const next = { text, nick: occupant.nick.display };
    if (room.config.persistent) await this.deps.store.setSubject(room.jid.local, next);
    room.subject = next;
    await this.broadcast(room, message);
  }

  /**
   * A groupchat message from an occupant: into the room's archive (which adds
   * the room's stanza id; committed first), to everyone in the room (the
   * sender too, §7.4), and into the history.
   */
  async say(room: Room, message: Element): Promise<void> {
    await this.deps.archive?.record(room, message);
    if (message.getChild('body')) room.record(message, new Date());
    await this.broadcast(room, message);
  }

  private async broadcast(room: Room, message: Element): Promise<void> {
    for (const r of room.occupants.values()) {
      const copy = message.clone();
      copy.attrs.to = r.jid.toString();
      await this.deps.send(copy);
    }
  }

  private async broadcastPresence(room: Room, occupant: Occupant, extras: PresenceExtras = {}): Promise<void> {
    for (const r of room.occupants.values()) await this.deps.send(occupantPresence(room, occupant, r, extras));
  }

  send(stanza: Element): Promise<void> {
    return this.deps.send(stanza);
  }

  relay(stanza: Element, sender: JID): Promise<Verdict> {
    return this.deps.relay(stanza, sender);
  }

  /**
   * Applies checked role and affiliation changes (§8, §9, §10): a removed
   * role or an outcast leaves the room with 307 or 301, someone who is no
   * longer a member of a members-only room with 321; the rest get their new
   * role and everyone hears it.
   */
  async apply(room: Room, changes: readonly Change[], actor: Occupant | undefined): Promise<void> {
    const after = new Map(room.affiliations);
    for (const c of changes) {
      if (c.kind === 'affiliation') {
        if (c.affiliation === 'none') after.delete(c.bare);
        else after.set(c.bare, c.affiliation);
      }
    }
    if (![...after.values()].includes('owner')) throw new StanzaError('conflict', 'A room needs at least one owner; name another owner first.');
    if (room.config.persistent) {
      for (const c of changes) if (c.kind === 'affiliation') await this.deps.store.setAffiliation(room.jid.local, c.bare, c.affiliation);
    }
    const actorNick = actor?.nick.display;
    for (const c of changes) {
      if (c.kind === 'role') {
        if (c.role === 'none')
          await this.remove(room, c.occupant, {
            codes: [STATUS.kicked],
            reason: c.reason,
            actorNick,
          });
        else {
          c.occupant.role = c.role;
          await this.broadcastPresence(room, c.occupant, { reason: c.reason });
        }
        continue;
      }
      room.setAffiliation(c.bare, c.affiliation);
      for (const occupant of room.occupantsOf(c.bare)) {
        if (c.affiliation === 'outcast')
          await this.remove(room, occupant, {
            codes: [STATUS.banned],
            reason: c.reason,
            actorNick,
          });
        else if (c.affiliation === 'none' && room.config.membersOnly)
          await this.remove(room, occupant, {
            codes: [STATUS.affiliationRemoved],
            reason: c.reason,
          });
        else {
          occupant.role = room.roleFor(c.bare);
          await this.broadcastPresence(room, occupant, { reason: c.reason });
        }
      }
    }
  }

  /** §10.2: a submitted configuration, stored first when the room is (or was) persistent, then announced. */
  async configure(room: Room, next: RoomConfig): Promise<void> {
    const before = room.config;
    const wasArchived = this.archives(room);
    // A room that stops being persistent loses its stored state, archive included (cascade).
    if (next.persistent) await this.deps.store.saveRoom(this.stored(room, next));
    else if (before.persistent) await this.deps.store.deleteRoom(room.jid.local);
    const wasLocked = room.locked;
    room.config = next;
    room.locked = false;
    room.trimHistory();
    if (next.membersOnly && !before.membersOnly) {
      for (const o of [...room.occupants.values()]) {
        if (room.affiliationOf(o.jid.bareString()) === 'none') await this.remove(room, o, { codes: [STATUS.membersOnlyRemoved] });
      }
    }
    if (!wasLocked) {
      const codes: number[] = [STATUS.configChanged];
      if (next.whois !== before.whois) codes.push(next.whois === 'anyone' ? STATUS.nowNonAnonymous : STATUS.nowSemiAnonymous);
      if (this.archives(room) !== wasArchived) codes.push(wasArchived ? STATUS.notLogged : STATUS.logged);
      for (const o of room.occupants.values()) await this.deps.send(statusMessage(room, o.jid.toString(), codes));
    }
    this.vanishIfEmpty(room);
  }

  /** §10.9: everyone leaves with the reason (and an alternative room, if given); the room is gone. */
  async destroy(room: Room, destroy: Element): Promise<void> {
    if (room.config.persistent) await this.deps.store.deleteRoom(room.jid.local);
    this.rooms.delete(room.jid.local);
    for (const o of [...room.occupants.values()]) {
      room.occupants.delete(o.nick.key);
      await this.deps.send(occupantPresence(room, o, o, { type: 'unavailable', destroy }));
    }
  }

  private stored(room: Room, config: RoomConfig): StoredRoom {
    return {
      room: room.jid.local,
      config,
      subject: room.subject,
      creator: room.creator,
      createdAt: room.createdAt,
      affiliations: room.affiliations,
    };
  }
}
