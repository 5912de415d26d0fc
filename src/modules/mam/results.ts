// What an archive query sends back (XEP-0313 §4.2–4.3): one <message/> per
// archived message, wrapping it as XEP-0297 forwards it with the XEP-0203 time
// it was archived, then the <fin/> with the XEP-0059 page description.
import { parseStored } from '../../xmpp/stored-xml.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';
import type { ArchivePage, ArchivePosition, Archived } from './store.ts';

/** The archived message parsed back; throws when the row is not a jabber:client message. */
export function fromArchivedXml(xml: string): Element {
  const message = parseStored(xml);
  if (message.name !== 'message' || message.attrs.xmlns !== NS.client) throw new Error('an archived row is not a jabber:client message');
  return message;
}

/**
 * The results of a page for the querier, in the order they go out (newest
 * first with <flip-page/>). A row that does not parse is left out and
 * reported through `unreadable` (its content is the user's: never logged).
 */
export function pageResults(
  items: readonly Archived[],
  o: { flip: boolean; to: string; archive: string; queryId: string | undefined; unreadable(item: Archived, reason: string): void },
): Element[] {
  const out: Element[] = [];
  for (const item of o.flip ? [...items].reverse() : items) {
    try {
      out.push(resultMessage(o.to, o.archive, o.queryId, item, fromArchivedXml(item.xml)));
    } catch (err) {
      o.unreadable(item, (err as Error).message);
    }
  }
  return out;
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
