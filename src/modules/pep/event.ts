// Event notifications (XEP-0060 §7.1.2.1, §7.2.2.1, §8.4.2, §8.5.2; XEP-0163 §4):
// headline messages from the owner's bare JID carrying <event/>.
import { x, type Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';
import { parseStored } from '../../xmpp/stored-xml.ts';
import type { StoredItem } from './store.ts';

export function itemElement(item: Pick<StoredItem, 'id' | 'xml'>): Element {
  return x('item', { id: item.id }, parseStored(item.xml));
}

export function publishedEvent(node: string, item: Pick<StoredItem, 'id' | 'xml'>): Element {
  return x('items', { node }, itemElement(item));
}

export function retractedEvent(node: string, ids: readonly string[]): Element {
  return x('items', { node }, ...ids.map((id) => x('retract', { id })));
}

/** The message for one recipient; `publishedAt` marks a last published item sent later, with its time (XEP-0203). */
export function eventMessage(owner: string, to: string, content: Element, publishedAt?: Date): Element {
  const message = x('message', { type: 'headline', from: owner, to }, x('event', { xmlns: NS.pubsubEvent }, content));
  if (publishedAt) message.c('delay', { xmlns: NS.delay, from: owner, stamp: publishedAt.toISOString() });
  return message;
}
