// An item's payload as stored: XML text that parses on its own, the way the
// element was published (its namespace and the prefixes it uses declared on it).
import { parseElement } from '../../net/xml-stream.ts';
import type { Element } from '../../xmpp/element.ts';

export function standaloneXml(el: Element): string {
  const copy = el.clone();
  copy.attrs = { xmlns: el.ns, ...copy.attrs };
  for (let a = el.parent; a; a = a.parent) {
    for (const [k, v] of Object.entries(a.attrs)) if (k.startsWith('xmlns:') && !(k in copy.attrs)) copy.attrs[k] = v;
  }
  return copy.toString();
}

/** What was stored passed the stanza limits once; reading it back must not fail on them. */
export function parseStored(xml: string): Element {
  return parseElement(xml, { maxStanzaBytes: 64 * 1024 * 1024, maxDepth: 1024, maxAttributes: 16384, maxAttributeBytes: 16 * 1024 * 1024, maxNameBytes: 65536 });
}
