// Which messages are carbon-copied: XEP-0280 §6.1 "Recommended Rules", which
// servers that follow them advertise with FEATURE_RULES.
import type { Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';

/** Advertised next to urn:xmpp:carbons:2: the server follows the XEP's recommended rules. */
export const FEATURE_RULES = 'urn:xmpp:carbons:rules:0';

const RECEIPTS = 'urn:xmpp:receipts';
const CHAT_MARKERS = 'urn:xmpp:chat-markers:0';
const DIRECT_INVITE = 'jabber:x:conference';
const MUC_USER = 'http://jabber.org/protocol/muc#user';
const MAM_PREFIX = 'urn:xmpp:mam:';

/** 'sent': a copy for the sender's other clients; 'received': for the recipient's. */
export type Direction = 'sent' | 'received';

/** The message wraps a carbon (<sent/> or <received/> as a direct child): only the server may send one. */
export function carriesCarbon(message: Element): boolean {
  return message.elements.some((el) => el.ns === NS.carbons && (el.name === 'sent' || el.name === 'received'));
}

/** The sender asked for no copies: <private/> (XEP-0280 §9) or a <no-copy/> hint (XEP-0334). */
export function refusesCopies(message: Element): boolean {
  return message.getChild('private', NS.carbons) !== undefined || message.getChild('no-copy', NS.hints) !== undefined;
}

export function isEligible(message: Element, direction: Direction): boolean {
  const type = message.attrs.type ?? 'normal';
  if (type !== 'chat' && type !== 'normal') return false; // groupchat, headline, error (no bounce tracking here)
  if (refusesCopies(message) || carriesCarbon(message)) return false;
  // An archive result is the account's own history, already on its way to the client that asked.
  if (message.elements.some((el) => el.name === 'result' && el.ns.startsWith(MAM_PREFIX))) return false;
  const muc = message.getChild('x', MUC_USER);
  if (muc?.getChild('invite') || message.getChild('x', DIRECT_INVITE)) return true;
  // A private message from a room occupant: the room already sends it to every client joined under the nick.
  if (muc && direction === 'received') return false;
  if (type === 'chat') return true;
  if (message.getChild('body', NS.client) !== undefined) return true;
  return message.elements.some((el) => el.ns === NS.chatStates || el.ns === RECEIPTS || el.ns === CHAT_MARKERS);
}
