// What becomes of stanzas a client never acknowledged when its session ends for
// good (XEP-0198 §5: treat them as if sent to an unavailable resource).
import type { Element } from '../../xmpp/element.ts';
import { StanzaError, errorReply } from '../../xmpp/errors.ts';
import { tryParseJID } from '../../xmpp/jid.ts';

const CARBONS = 'urn:xmpp:carbons:2';
const MAM = 'urn:xmpp:mam:2';

export interface RescueContext {
  /** The server's domain: requests from it (idle pings) have nobody to answer to. */
  domain: string;
  /** Whether the account still has an available resource a message to its bare JID goes to. */
  othersAvailable(bare: string): boolean;
}

/**
 * The stanzas to route again: messages go back to the router (to the account's
 * other resources, or offline storage), a request gets an error reply so its
 * sender is not left waiting. Presence, errors, results, carbon copies and
 * archive results are dropped: each is either stale or already stored elsewhere.
 * So is a message sent to the bare JID while another resource is available: the
 * router gave that resource its own copy, and a second one would be a duplicate.
 */
export function rescue(stanzas: readonly Element[], ctx: RescueContext): Element[] {
  const out: Element[] = [];
  for (const stanza of stanzas) {
    const type = stanza.attrs.type ?? (stanza.name === 'message' ? 'normal' : '');
    if (stanza.name === 'message') {
      if (type === 'error' || type === 'groupchat' || type === 'headline') continue;
      if (stanza.getChild('sent', CARBONS) || stanza.getChild('received', CARBONS) || stanza.getChild('result', MAM)) continue;
      const to = tryParseJID(stanza.attrs.to ?? '');
      if (to && to.resource === '' && ctx.othersAvailable(to.bareString())) continue;
      out.push(stanza);
    } else if (stanza.name === 'iq' && (type === 'get' || type === 'set')) {
      if (stanza.attrs.from === undefined || stanza.attrs.from === ctx.domain) continue;
      out.push(errorReply(stanza, new StanzaError('recipient-unavailable', 'The recipient disconnected before answering.')));
    }
  }
  return out;
}
