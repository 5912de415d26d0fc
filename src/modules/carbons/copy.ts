// The carbon copy itself (XEP-0280 §7, §8): the original message, forwarded
// (XEP-0297) inside <sent/> or <received/>, from the account's bare JID to one
// of its sessions.
import { x, type Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';
import type { Direction } from './eligibility.ts';

/**
 * A copy of `original` as it is now (with whatever ids the archive added) for
 * the session `to` of the account `account`. `originalTo` fills in a missing
 * 'to' (a client writing to its own account may leave it out), so the copy
 * always says who the message was for.
 */
export function carbonCopy(direction: Direction, original: Element, originalTo: string, account: string, to: string): Element {
  const inner = original.clone();
  const { xmlns: _inherited, ...attrs } = inner.attrs;
  // Inside <forwarded/> the message would otherwise inherit urn:xmpp:forward:0.
  inner.attrs = { xmlns: NS.client, ...attrs, to: attrs.to ?? originalTo };
  const wrapper: Record<string, string> = { from: account, to };
  if (original.attrs.type !== undefined) wrapper.type = original.attrs.type;
  return x('message', wrapper, x(direction, { xmlns: NS.carbons }, x('forwarded', { xmlns: NS.forward }, inner)));
}
