// What the offline module does to message stanzas: which ones it stores
// (XEP-0160 §3, RFC 6121 §8.5.2.2, XEP-0334 hints), how one is written to
// storage, and how a stored one is delivered with its XEP-0203 delay stamp.
import { parseStored } from '../../xmpp/stored-xml.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';

/** XEP-0160's disco feature. */
export const FEATURE_MSGOFFLINE = 'msgoffline';

/**
 * - `store`: keep it for the account's next session.
 * - `drop`: not worth keeping and not worth an error either (XEP-0160 §3: a
 *   message carrying only XEP-0085 chat states SHOULD NOT be stored).
 * - `pass`: offline storage does not apply; the message module answers as it
 *   would without this module (headline dropped, groupchat/other refused,
 *   error dropped; XEP-0334 <no-store/> gets service-unavailable, since the
 *   message was not delivered).
 */
export type Disposition = 'store' | 'drop' | 'pass';

export function dispositionOf(message: Element): Disposition {
  const type = message.attrs.type ?? 'normal';
  if (type === 'groupchat' || type === 'headline' || type === 'error') return 'pass';
  if (message.getChild('no-store', NS.hints)) return 'pass';
  if (isChatStateOnly(message)) return 'drop';
  return 'store';
}

/** A chat state with nothing else of substance: thread, hints and stanza ids don't count. */
function isChatStateOnly(message: Element): boolean {
  let state = false;
  for (const child of message.elements) {
    const ns = child.ns;
    if (ns === NS.chatStates) state = true;
    else if (ns === NS.hints || ns === NS.stanzaId) continue;
    else if (ns === NS.client && child.name === 'thread') continue;
    else return false;
  }
  return state;
}

/**
 * The XML text stored for a message: the stanza as routed (with the 'from' the
 * router stamped), its namespace stated so the text parses on its own, and
 * without any delay element claiming to come from this server (only the server
 * may say when it stored a message).
 */
export function toStoredXml(message: Element, domain: string): string {
  const copy = message.clone();
  for (const d of copy.getChildren('delay', NS.delay)) if (d.attrs.from === domain) copy.removeChild(d);
  const { xmlns: _inherited, ...attrs } = copy.attrs;
  copy.attrs = { xmlns: NS.client, ...attrs };
  return copy.toString();
}

/** A stored message as it is delivered: parsed back, with the XEP-0203 stamp of when it was stored. */
export function fromStoredXml(xml: string, storedAt: Date, domain: string): Element {
  const message = parseStored(xml);
  if (message.name !== 'message' || message.attrs.xmlns !== NS.client) throw new Error('a stored offline message is not a jabber:client message');
  delete message.attrs.xmlns; // the stream's content namespace
  message.append(x('delay', { xmlns: NS.delay, from: domain, stamp: storedAt.toISOString() }).t('Offline Storage'));
  return message;
}
