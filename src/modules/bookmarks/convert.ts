// Bookmarks in their two shapes: XEP-0402 (one <conference/> item per room,
// the room JID as item id) and XEP-0048 (one <storage/> listing every room, the
// JID as an attribute), converted as Prosody's mod_bookmarks does. XEP-0048's
// <url/> bookmarks have no XEP-0402 form and are dropped; other children of a
// conference travel in XEP-0402's <extensions/>.
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { tryParseJID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';

/** A room bookmark as an XEP-0402 item. */
export interface Bookmark {
  /** The room's bare JID (the item id). */
  jid: string;
  conference: Element;
}

const BOOLEAN = new Set(['true', 'false', '1', '0']);

/** The room JID in its prepared form; undefined unless it is a bare JID. */
export function roomJid(s: string): string | undefined {
  const j = tryParseJID(s);
  return j && j.resource === '' ? j.bareString() : undefined;
}

/**
 * The bookmarks of an XEP-0048 <storage/>, in document order, as XEP-0402
 * conferences. A conference without a bare JID, with an autojoin that isn't a
 * boolean, or a room listed twice: bad-request, naming it.
 */
export function fromStorage(storage: Element): Bookmark[] {
  if (storage.name !== 'storage' || storage.ns !== NS.legacyBookmarks) {
    throw new StanzaError('bad-request', `Bookmarks are stored as <storage xmlns='${NS.legacyBookmarks}'/>.`);
  }
  const out: Bookmark[] = [];
  const seen = new Set<string>();
  for (const c of storage.getChildren('conference', NS.legacyBookmarks)) {
    const raw = c.attrs.jid ?? '';
    const jid = roomJid(raw);
    if (!jid) throw new StanzaError('bad-request', `The bookmark jid '${raw}' is not a room JID (XEP-0048 §3.2).`);
    if (seen.has(jid)) throw new StanzaError('bad-request', `The room ${jid} is bookmarked twice.`);
    seen.add(jid);
    const autojoin = c.attrs.autojoin;
    if (autojoin !== undefined && !BOOLEAN.has(autojoin)) throw new StanzaError('bad-request', `The bookmark of ${jid} has autojoin '${autojoin}'; it is true or false.`);
    const conference = x('conference', { xmlns: NS.bookmarks });
    if (c.attrs.name !== undefined) conference.attrs.name = c.attrs.name;
    if (autojoin !== undefined) conference.attrs.autojoin = autojoin === 'true' || autojoin === '1' ? 'true' : 'false';
    const nick = c.getChildText('nick', NS.legacyBookmarks);
    if (nick !== undefined) conference.append(x('nick').t(nick));
    const password = c.getChildText('password', NS.legacyBookmarks);
    if (password !== undefined) conference.append(x('password').t(password));
    const others = c.elements.filter((e) => !(e.ns === NS.legacyBookmarks && (e.name === 'nick' || e.name === 'password')));
    if (others.length > 0) conference.append(x('extensions', {}, ...others.map(standalone)));
    out.push({ jid, conference });
  }
  return out;
}

/** XEP-0048 <storage/> listing the XEP-0402 bookmarks, in their order. */
export function toStorage(bookmarks: readonly Bookmark[]): Element {
  const storage = x('storage', { xmlns: NS.legacyBookmarks });
  for (const { jid, conference } of bookmarks) {
    const c = storage.c('conference', { jid });
    if (conference.attrs.name !== undefined) c.attrs.name = conference.attrs.name;
    if (conference.attrs.autojoin !== undefined) c.attrs.autojoin = conference.attrs.autojoin;
    const nick = conference.getChildText('nick', NS.bookmarks);
    if (nick !== undefined) c.append(x('nick').t(nick));
    const password = conference.getChildText('password', NS.bookmarks);
    if (password !== undefined) c.append(x('password').t(password));
    for (const e of conference.getChild('extensions', NS.bookmarks)?.elements ?? []) c.append(standalone(e));
  }
  return storage;
}

/** Whether two XEP-0402 conferences say the same (so re-publishing one would change nothing). */
export function sameConference(a: Element, b: Element): boolean {
  return canonical(a) === canonical(b);
}

function canonical(c: Element): string {
  const autojoin = c.attrs.autojoin === 'true' || c.attrs.autojoin === '1';
  const parts = [c.attrs.name ?? '', autojoin, c.getChildText('nick', NS.bookmarks) ?? null, c.getChildText('password', NS.bookmarks) ?? null];
  const extensions = c.getChild('extensions', NS.bookmarks)?.elements.map((e) => standalone(e).toString()) ?? [];
  return JSON.stringify([...parts, extensions]);
}

/** A copy that carries its namespace itself, to move under a parent of another namespace. */
function standalone(e: Element): Element {
  const copy = e.clone();
  copy.attrs = { xmlns: e.ns, ...copy.attrs };
  return copy;
}
