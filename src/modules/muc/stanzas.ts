// The stanzas a room sends (XEP-0045 §7, §15.6 status codes): occupant
// presence with its muc#user item, the subject, history with delay stamps.
import { x, type Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';
import type { Occupant, Room } from './room.ts';

export const NS_MUC = 'http://jabber.org/protocol/muc';
export const NS_MUC_USER = `${NS_MUC}#user`;
export const NS_MUC_ADMIN = `${NS_MUC}#admin`;
export const NS_MUC_OWNER = `${NS_MUC}#owner`;
export const NS_SELF_PING_OPTIMIZATION = `${NS_MUC}#self-ping-optimization`;
export const NS_DIRECT_INVITE = 'jabber:x:conference';

/** XEP-0045 §15.6 status codes this service sends. */
export const STATUS = {
  nonAnonymous: 100,
  configChanged: 104,
  self: 110,
  logged: 170,
  notLogged: 171,
  nowNonAnonymous: 172,
  nowSemiAnonymous: 173,
  created: 201,
  nickModified: 210,
  banned: 301,
  nickChanged: 303,
  kicked: 307,
  affiliationRemoved: 321,
  membersOnlyRemoved: 322,
} as const;

export interface PresenceExtras {
  type?: 'unavailable';
  codes?: readonly number[];
  /** §7.6: the new nickname, on the unavailable presence of a nick change. */
  newNick?: string;
  reason?: string;
  /** The nickname of the moderator who kicked or banned. */
  actorNick?: string;
  /** §10.9: the room is gone (with an alternative, if the owner named one). */
  destroy?: Element;
}

/** Whether `recipient` sees the real JIDs of the room's occupants (§7.2.3, §7.2.4). */
export function seesRealJids(room: Room, recipient: Occupant): boolean {
  return room.config.whois === 'anyone' || recipient.role === 'moderator';
}

/** The occupant's presence as `recipient` gets it (from room/nick). */
export function occupantPresence(room: Room, occupant: Occupant, recipient: Occupant, extras: PresenceExtras = {}): Element {
  const attrs: Record<string, string> = {
    from: `${room.jid.bareString()}/${occupant.nick.display}`,
    to: recipient.jid.toString(),
  };
  if (extras.type) attrs.type = extras.type;
  const presence = x('presence', attrs);
  if (!extras.type) {
    // What the user said about themselves goes along; their MUC join element does not.
    for (const child of occupant.presence.elements) if (child.ns !== NS_MUC && child.ns !== NS_MUC_USER) presence.append(child.clone());
  } else {
    const status = occupant.presence.attrs.type === 'unavailable' ? occupant.presence.getChild('status') : undefined;
    if (status) presence.append(status.clone());
  }
  // A nick change (§7.6) is not a departure: the role stays on its unavailable presence.
  const role = extras.type === 'unavailable' && extras.newNick === undefined ? 'none' : occupant.role;
  const affiliation = room.affiliationOf(occupant.jid.bareString());
  const itemAttrs: Record<string, string> = { affiliation, role };
  if (seesRealJids(room, recipient) || recipient === occupant) itemAttrs.jid = occupant.jid.toString();
  if (extras.newNick !== undefined) itemAttrs.nick = extras.newNick;
  const item = x('item', itemAttrs);
  if (extras.actorNick !== undefined) item.append(x('actor', { nick: extras.actorNick }));
  if (extras.reason) item.append(x('reason').t(extras.reason));
  const user = x('x', { xmlns: NS_MUC_USER }, item);
  if (extras.destroy) user.append(extras.destroy);
  const codes = [...(extras.codes ?? [])];
  if (recipient === occupant) codes.push(STATUS.self);
  for (const code of [...new Set(codes)].sort((a, b) => a - b)) user.append(x('status', { code: String(code) }));
  presence.append(user);
  return presence;
}

/** §7.2.15: the subject, sent last on joining (an empty one when none is set). */
export function subjectMessage(room: Room, to: string): Element {
  const subject = room.subject;
  const from = subject && subject.nick ? `${room.jid.bareString()}/${subject.nick}` : room.jid.bareString();
  return x('message', { from, to, type: 'groupchat', id: `subject-${Date.now().toString(36)}` }, x('subject').t(subject?.text ?? ''));
}

/** A history entry as sent to a joining user: with its XEP-0203 stamp (from the room). */
export function historyMessage(room: Room, message: Element, at: Date, to: string): Element {
  const copy = message.clone();
  copy.attrs.to = to;
  copy.append(
    x('delay', {
      xmlns: NS.delay,
      from: room.jid.bareString(),
      stamp: at.toISOString(),
    }),
  );
  return copy;
}

/** A message from the room itself with status codes (e.g. 104 configuration changed). */
export function statusMessage(room: Room, to: string, codes: readonly number[]): Element {
  const user = x('x', { xmlns: NS_MUC_USER });
  for (const code of codes) user.append(x('status', { code: String(code) }));
  return x('message', { from: room.jid.bareString(), to, type: 'groupchat' }, user);
}
