// XML kept in the database (vCards, private storage, PEP items, offline and
// archived messages): written as text that parses on its own, read back under
// limits that only bound the parse of a row. What was stored passed the
// server's stanza limits when it arrived, whatever limits are configured now.
import { parseElement } from '../net/xml-stream.ts';
import type { Element } from './element.ts';

const STORED_LIMITS = {
  maxStanzaBytes: 64 * 1024 * 1024,
  maxDepth: 1024,
  maxAttributes: 16384,
  maxAttributeBytes: 16 * 1024 * 1024,
  maxNameBytes: 65536,
};

/**
 * The element as XML text that stands on its own: its namespace stated, and the
 * declarations of prefixes its attributes use that were made on an ancestor
 * (the parser puts those on the stanza) copied onto it.
 */
export function standaloneXml(el: Element): string {
  const copy = el.clone();
  copy.attrs = { xmlns: el.ns, ...copy.attrs };
  for (let a = el.parent; a; a = a.parent) {
    for (const [k, v] of Object.entries(a.attrs)) if (k.startsWith('xmlns:') && !(k in copy.attrs)) copy.attrs[k] = v;
  }
  return copy.toString();
}

/** Parses stored XML text; the element carries its namespace in attrs.xmlns. */
export function parseStored(xml: string): Element {
  return parseElement(xml, STORED_LIMITS);
}
