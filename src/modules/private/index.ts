// Private XML storage (XEP-0049, jabber:iq:private): an account keeps XML
// fragments on the server, one per element name and namespace, readable and
// writable by that account only.
//
// - Only iq without 'to' or to one's own bare JID; to anyone else's address:
//   forbidden (XEP-0049 §2.3 prefers it to service-unavailable), whether or not
//   that account exists.
// - Reserved namespaces (jabber:*, http://jabber.org/*, vcard-temp) and a query
//   without a namespaced child: not-acceptable (XEP-0049 §2.3).
// - A get names exactly one element; the answer holds what is stored, or the
//   element empty when nothing is.
// - A set stores each child (an empty one deletes); all of them or none.
// - Another module may keep one element itself (the 'private' service, e.g.
//   bookmarks kept in PEP): gets and sets of it go to that module, the rest of
//   a set is stored here first.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { defineModule } from '../../core/module.ts';
import { parseStored, standaloneXml } from '../../xmpp/stored-xml.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import type { JID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';
import { PrivateLimitError, PrivateStore, type PrivateItem, type PrivateTables } from './store.ts';

/** What a module does with one element (name and namespace) instead of it being stored here. */
export interface PrivateElementHandler {
  /** The element as the owner reads it (empty when there is nothing). */
  get(owner: JID): Promise<Element>;
  /** Throws a StanzaError when the element can't be kept; asked before anything of the request is stored. */
  check(owner: JID, el: Element): void | Promise<void>;
  /** Keeps the checked element (an empty one: nothing). */
  set(owner: JID, el: Element): Promise<void>;
}

export interface PrivateService {
  /** Hands the element with this name and namespace to `handler` (one module per element). */
  handle(ns: string, name: string, handler: PrivateElementHandler): void;
  /** What this module stored of the element (before a handler took it over), to move it elsewhere. */
  stored(owner: JID, ns: string, name: string): Promise<Element | undefined>;
  /** Deletes what this module stored of the element. */
  forget(owner: JID, ns: string, name: string): Promise<void>;
}

/** XEP-0049 §2.3: namespaces a client may not store under. */
export function isReservedNamespace(ns: string): boolean {
  return ns === '' || ns.startsWith('jabber:') || ns.startsWith('http://jabber.org/') || ns === 'vcard-temp';
}

export default defineModule({
  id: 'private',
  description: 'Private XML storage (XEP-0049)',
  options: z.strictObject({
    max_bytes: z.int().min(256).max(16_777_216).default(65_536).describe('largest element kept (XML text), in bytes, 256..16777216'),
    max_items: z.int().min(1).max(100_000).default(100).describe('elements (name + namespace) kept per account, 1..100000'),
  }),
  // No disco feature: XEP-0049 defines none; clients just try it.
  setup(ctx) {
    const store = new PrivateStore(ctx.storage.db as unknown as Kysely<PrivateTables>);
    const { max_bytes: maxBytes, max_items: maxItems } = ctx.options;
    const handlers = new Map<string, PrivateElementHandler>();
    const keyOf = (ns: string, name: string) => `${name} ${ns}`;
    const service: PrivateService = {
      handle(ns, name, handler) {
        if (handlers.has(keyOf(ns, name))) throw new Error(`<${name} xmlns='${ns}'/> is handled already`);
        handlers.set(keyOf(ns, name), handler);
      },
      async stored(owner, ns, name) {
        const xml = await store.get(ctx.host, owner.local, ns, name);
        return xml === undefined ? undefined : parseStored(xml);
      },
      async forget(owner, ns, name) {
        await store.set(ctx.host, owner.local, [{ ns, name, xml: null }], Number.MAX_SAFE_INTEGER);
      },
    };
    ctx.provide('private', service);

    const forbidden = () => new StanzaError('forbidden', 'Private XML storage is readable and writable by its owner only.');

    // Before the router's own check, which would answer service-unavailable for a
    // missing account and so tell it apart from an existing one.
    ctx.hook(
      'iq/bare',
      (iq, route) => {
        const type = iq.attrs.type;
        if ((type !== 'get' && type !== 'set') || !route.origin || iq.elements[0]?.ns !== NS.privateXml) return false;
        if (route.to.bareString() === route.from.bareString()) return false;
        throw forbidden();
      },
      10,
    );

    ctx.iq({ type: 'get', ns: NS.privateXml, name: 'query', targets: ['account'] }, async (iq, route) => {
      if (route.to.bareString() !== route.from.bareString()) throw forbidden();
      const wanted = iq.elements[0]!.elements;
      if (wanted.length === 0) throw new StanzaError('not-acceptable', 'Name the element to retrieve: one child element in its own namespace.');
      if (wanted.length > 1) throw new StanzaError('bad-request', 'Retrieve one element per request.');
      const el = wanted[0]!;
      refuseReserved(el.ns);
      const handler = handlers.get(keyOf(el.ns, el.name));
      if (handler) return x('query', { xmlns: NS.privateXml }, await handler.get(route.to.bare));
      const xml = await store.get(ctx.host, route.to.local, el.ns, el.name);
      return x('query', { xmlns: NS.privateXml }, xml === undefined ? x(el.name, { xmlns: el.ns }) : parseStored(xml));
    });

    ctx.iq({ type: 'set', ns: NS.privateXml, name: 'query', targets: ['account'] }, async (iq, route) => {
      if (route.to.bareString() !== route.from.bareString()) throw forbidden();
      const children = iq.elements[0]!.elements;
      if (children.length === 0) throw new StanzaError('not-acceptable', 'Nothing to store: include at least one child element in its own namespace.');
      const items: PrivateItem[] = [];
      const handled: [PrivateElementHandler, Element][] = [];
      const seen = new Set<string>();
      for (const el of children) {
        refuseReserved(el.ns);
        const key = keyOf(el.ns, el.name);
        if (seen.has(key)) throw new StanzaError('bad-request', `<${el.name} xmlns='${el.ns}'/> appears more than once.`);
        seen.add(key);
        const handler = handlers.get(key);
        if (handler) {
          await handler.check(route.to.bare, el);
          handled.push([handler, el]);
          continue;
        }
        const xml = standaloneXml(el);
        const bytes = Buffer.byteLength(xml, 'utf8');
        if (bytes > maxBytes) {
          throw new StanzaError('not-acceptable', `<${el.name} xmlns='${el.ns}'/> is ${bytes} bytes; this server keeps private elements of up to ${maxBytes} bytes.`);
        }
        parseStored(xml); // what is stored must read back
        items.push({ ns: el.ns, name: el.name, xml: isEmpty(el) ? null : xml });
      }
      try {
        await store.set(ctx.host, route.to.local, items, maxItems);
      } catch (err) {
        if (err instanceof PrivateLimitError) {
          throw new StanzaError('not-acceptable', `This server keeps up to ${maxItems} private elements per account; nothing was stored.`);
        }
        throw err;
      }
      for (const [handler, el] of handled) await handler.set(route.to.bare, el);
    });
  },
});

function refuseReserved(ns: string): void {
  if (isReservedNamespace(ns)) {
    const own = ns === '' || ns === NS.privateXml;
    throw new StanzaError('not-acceptable', own ? 'A stored element needs its own namespace.' : `The namespace '${ns}' is reserved (XEP-0049).`);
  }
}

/** No children, no text and no attribute but its namespace: storing it is the same as storing nothing. */
function isEmpty(el: Element): boolean {
  return el.children.every((c) => typeof c === 'string' && c.trim() === '') && Object.keys(el.attrs).every((k) => k === 'xmlns');
}
