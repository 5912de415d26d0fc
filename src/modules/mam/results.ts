// What an archive query sends back (XEP-0313 §4.2–4.3): one <message/> per
// archived message, wrapping it as XEP-0297 forwards it with the XEP-0203 time
// it was archived, then the <fin/> with the XEP-0059 page description.
import { parseElement } from '../../net/xml-stream.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';
import type { ArchivePage, ArchivePosition, Archived } from './store.ts';

// What was archived passed the server's stanza limits when it arrived; these
// only bound the parse of a row, whatever limits are configured now.
const STORED_LIMITS = {
  maxStanzaBytes: 64 * 1024 * 1024,
  maxDepth: 1024,
  maxAttributes: 16384,
  maxAttributeBytes: 16 * 1024 * 1024,
  maxNameBytes: 65536,
};

/** The archived message parsed back; throws when the row is not a jabber:client message. */
export function fromArchivedXml(xml: string): Element {
  const message = parseElement(xml, STORED_LIMITS);
  if (message.name !== 'message' || message.attrs.xmlns !== NS.client) throw new Error('an archived row is not a jabber:client message');
  return message;
}

/** One result for the querying session: `to` the querier, `from` the archive. */
export function resultMessage(to: string, archive: string, queryId: string | undefined, item: Archived, message: Element): Element {
  const result = x('result', queryId === undefined ? { xmlns: NS.mam, id: item.stanzaId } : { xmlns: NS.mam, queryid: queryId, id: item.stanzaId });
  result.append(x('forwarded', { xmlns: NS.forward }, x('delay', { xmlns: NS.delay, stamp: item.storedAt.toISOString() }), message));
  return x('message', { to, from: archive }, result);
}

/** The iq result's payload: whether the page is the last one, and its first and last ids and the total count. */
export function finElement(page: ArchivePage): Element {
  const set = x('set', { xmlns: NS.rsm });
  const first = page.items[0];
  const last = page.items.at(-1);
  if (first && last) {
    set.append(x('first').t(first.stanzaId));
    set.append(x('last').t(last.stanzaId));
  }
  set.append(x('count').t(String(page.count)));
  return x('fin', { xmlns: NS.mam, complete: String(page.complete) }, set);
}

/** The archive's first and last message (XEP-0313 §5); empty for an empty archive. */
export function metadataElement(bounds: { first: ArchivePosition; last: ArchivePosition } | undefined): Element {
  const el = x('metadata', { xmlns: NS.mam });
  if (bounds) {
    el.append(x('start', { id: bounds.first.stanzaId, timestamp: bounds.first.storedAt.toISOString() }));
    el.append(x('end', { id: bounds.last.stanzaId, timestamp: bounds.last.storedAt.toISOString() }));
  }
  return el;
}
