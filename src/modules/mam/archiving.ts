// What the archive does to a routed message: which ones it keeps (XEP-0313
// §5.1.1, XEP-0334 hints), the XEP-0359 ids it removes and adds, and the form
// a message is stored in.
import { randomBytes } from 'node:crypto';
import { x, type Element } from '../../xmpp/element.ts';
import { tryParseJID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';

/** Chat and normal messages with something a user would want in their history; never groupchat, headline or error. */
export function isArchivable(message: Element): boolean {
  const type = message.attrs.type ?? 'normal';
  return (type === 'chat' || type === 'normal') && hasArchivableContent(message);
}

/**
 * What the compliance archive keeps: chat and normal messages with content,
 * whatever the hints say. Its copy is the organisation's record, not the
 * sender's to veto; the hints still keep the message out of the users' own
 * archives.
 */
export function isComplianceArchivable(message: Element): boolean {
  const type = message.attrs.type ?? 'normal';
  return (type === 'chat' || type === 'normal') && hasContent(message);
}

/** A body, an OMEMO payload or a <store/> hint, and no hint against storing: what any archive keeps, whatever the type. */
export function hasArchivableContent(message: Element): boolean {
  if (message.getChild('no-store', NS.hints) || message.getChild('no-permanent-store', NS.hints)) return false;
  return hasContent(message);
}

function hasContent(message: Element): boolean {
  return (
    message.getChild('body', NS.client) !== undefined ||
    message.getChild('encrypted', NS.omemo) !== undefined ||
    message.getChild('encrypted', NS.omemoLegacy) !== undefined ||
    message.getChild('store', NS.hints) !== undefined
  );
}

/**
 * Removes every <stanza-id/> a client put in that claims to come from this
 * server (by= the domain or any account of it) or names no archive at all:
 * only the archive may say under which id it keeps a message (XEP-0359 §5).
 * Returns how many.
 */
export function stripForgedIds(message: Element, domain: string): number {
  let removed = 0;
  for (const sid of message.getChildren('stanza-id', NS.stanzaId)) {
    // An unparseable 'by' cannot name this server; a malformed one is not ours to judge.
    const by = tryParseJID(sid.attrs.by ?? '');
    if (sid.attrs.by === undefined || by?.domain === domain) {
      message.removeChild(sid);
      removed++;
    }
  }
  return removed;
}

/** Removes every <stanza-id/> a sender put in that claims `archive` (a room's bare JID) or names no archive; returns how many. */
export function stripIdsClaiming(message: Element, archive: string): number {
  let removed = 0;
  for (const sid of message.getChildren('stanza-id', NS.stanzaId)) {
    const by = sid.attrs.by === undefined ? undefined : tryParseJID(sid.attrs.by);
    if (sid.attrs.by === undefined || by?.toString() === archive) {
      message.removeChild(sid);
      removed++;
    }
  }
  return removed;
}

/** Whether the message carries this archive's id already (the server routing one of its own stanzas again). */
export function hasArchiveId(message: Element, archive: string): boolean {
  return message.getChildren('stanza-id', NS.stanzaId).some((s) => s.attrs.by === archive);
}

const ID_BYTES = 12;
/** Random bytes are drawn for many ids at once: one call per id cost more than the rest of the id's work. */
const ID_POOL_BYTES = ID_BYTES * 512;
let idPool = Buffer.alloc(0);
let idOffset = 0;

/** An archive id: 96 random bits, so no one can guess another message's id. */
export function newStanzaId(): string {
  if (idOffset + ID_BYTES > idPool.length) {
    idPool = randomBytes(ID_POOL_BYTES);
    idOffset = 0;
  }
  const id = idPool.toString('base64url', idOffset, idOffset + ID_BYTES);
  idOffset += ID_BYTES;
  return id;
}

export function stanzaIdElement(id: string, archive: string): Element {
  return x('stanza-id', { xmlns: NS.stanzaId, id, by: archive });
}

/** The XML text kept for a message: as routed, its namespace stated so the text parses on its own. */
export function toArchivedXml(message: Element): string {
  const copy = message.clone();
  const { xmlns: _inherited, ...attrs } = copy.attrs;
  copy.attrs = { xmlns: NS.client, ...attrs };
  return copy.toString();
}
