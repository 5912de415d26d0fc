// What becomes of stanzas a client never acknowledged when its session ends for
// good (XEP-0198 §5: treat them as if sent to an unavailable resource).
import type { Element } from '../../xmpp/element.ts';
import { StanzaError, errorReply } from '../../xmpp/errors.ts';

const CARBONS = 'urn:xmpp:carbons:2';
const MAM = 'urn:xmpp:mam:2';

/**
 * The stanzas to route again: messages go back to the router (to the account's
 * other resources, or offline storage), a request gets an error reply so its
 * sender is not left waiting. Presence, errors, results, carbon copies and
 * archive results are dropped: each is either stale or already stored elsewhere.
 */
export function rescue(stanzas: readonly Element[], domain: string): Element[] {
  const out: Element[] = [];
  for (const stanza of stanzas) {
    const type = stanza.attrs.type ?? (stanza.name === 'message' ? 'normal' : '');
    if (stanza.name === 'message') {
      if (type === 'error' || type === 'groupchat' || type === 'headline') continue;
      if (stanza.getChild('sent', CARBONS) || stanza.getChild('received', CARBONS) || stanza.getChild('result', MAM)) continue;
      out.push(stanza);
    } else if (stanza.name === 'iq' && (type === 'get' || type === 'set')) {
      // The server's own requests (idle pings) have nobody to answer to.
      if (stanza.attrs.from === undefined || stanza.attrs.from === domain) continue;
      out.push(errorReply(stanza, new StanzaError('recipient-unavailable', 'The recipient disconnected before answering.')));
    }
  }
  return out;
}
