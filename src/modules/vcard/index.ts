// vCards (XEP-0054, vcard-temp) and avatar hashes in presence (XEP-0153).
//
// - Get/set one's own vCard: iq without 'to' or to one's own bare JID. An
//   account without a vCard gets an empty <vCard/> (XEP-0054 §3.1 allows either
//   that or item-not-found; clients handle the empty one better).
// - Get another account's vCard: iq to its bare JID, answered by the server.
//   No vCard gets service-unavailable, the very error the router gives for an
//   account that does not exist, so a vCard query never tells them apart.
// - Set on someone else's address: forbidden, whether or not the account exists.
// - XEP-0153: the SHA-1 of PHOTO/BINVAL is kept with the vCard and added to the
//   account's broadcast presence as <x xmlns='vcard-temp:x:update'><photo/></x>
//   unless the client put a <photo/> there itself; when a vCard set changes the
//   photo, each available session's last presence is routed again (as if that
//   session had re-sent it) so contacts learn the new hash.
// - The 'vcard' service lets another module (avatar-sync, XEP-0398) read a
//   vCard, replace its PHOTO, and hear of the vCards clients set.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { defineModule } from '../../core/module.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import type { JID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';
import { VCardStore, type VCardTables } from './store.ts';
import { parseStored, standaloneXml } from '../../xmpp/stored-xml.ts';
import { emptyVCard, isEmptyVCard, photoHash, withPhoto, type Photo } from './vcard.ts';

export interface VCardService {
  /** The account's vCard; undefined when it has none. */
  get(owner: JID): Promise<Element | undefined>;
  /**
   * Replaces the vCard's PHOTO (null: removes it), the rest kept, as if the
   * owner had set it (presence hash included). The photo's size is the
   * caller's to bound; max_bytes limits what clients set.
   */
  setPhoto(owner: JID, photo: Photo | null): Promise<void>;
  /** Told after a client set its vCard (not after setPhoto), before the client is answered. */
  onSet(listener: (owner: JID, vcard: Element) => Promise<void>): void;
}

export default defineModule({
  id: 'vcard',
  description: 'vCards (XEP-0054) and avatar hashes in presence (XEP-0153)',
  dependsOn: ['presence'],
  options: z.strictObject({
    max_bytes: z.int().min(1024).max(16_777_216).default(65_536).describe('largest vCard kept (XML text, photo included), in bytes, 1024..16777216'),
  }),
  hostFeatures: [NS.vcard],
  accountFeatures: [NS.vcard],
  setup(ctx) {
    const store = new VCardStore(ctx.storage.db as unknown as Kysely<VCardTables>);
    const maxBytes = ctx.options.max_bytes;
    // Photo hash per account with a session: '' = vCard without image, null = no vCard.
    const hashes = new Map<string, string | null>();

    const hashOf = async (bare: JID): Promise<string | null> => {
      const key = bare.bareString();
      const cached = hashes.get(key);
      if (cached !== undefined) return cached;
      const loaded = (await store.photoHash(ctx.host, bare.local)) ?? null;
      // A vCard set while we were reading has already put the newer value here.
      if (!hashes.has(key) && ctx.sessions.ofAccount(key).length > 0) hashes.set(key, loaded);
      return hashes.get(key) ?? loaded;
    };
    ctx.on('session-closed', (session) => {
      if (ctx.sessions.ofAccount(session.jid.bare).length === 0) hashes.delete(session.jid.bareString());
    });

    // Only the owner changes a vCard: answered before the router would tell an
    // existing account (forbidden) from a missing one (service-unavailable).
    ctx.hook(
      'iq/bare',
      (iq, route) => {
        if (iq.attrs.type !== 'set' || !route.origin || iq.elements[0]?.ns !== NS.vcard) return false;
        if (route.to.bareString() === route.from.bareString()) return false;
        throw new StanzaError('forbidden', 'Only the owner of a vCard can change it.');
      },
      10,
    );

    ctx.iq({ type: 'get', ns: NS.vcard, name: 'vCard', targets: ['account'] }, async (_iq, route) => {
      const own = route.to.bareString() === route.from.bareString();
      const stored = await store.get(ctx.host, route.to.local);
      if (stored) return parseStored(stored.xml);
      if (own) return emptyVCard();
      // XEP-0054 §3.3: no vCard or no such user → an error; the same one for both.
      throw new StanzaError('service-unavailable');
    });

    // The server's own vCard: it has none to tell.
    ctx.iq({ type: 'get', ns: NS.vcard, name: 'vCard', targets: ['host'] }, () => emptyVCard());

    /** Stores the vCard (an empty one deletes it) and tells contacts of a new photo hash. */
    const save = async (owner: JID, vcard: Element, limit: number) => {
      const xml = standaloneXml(vcard);
      const bytes = Buffer.byteLength(xml, 'utf8');
      if (bytes > limit) {
        throw new StanzaError('not-acceptable', `The vCard is ${bytes} bytes; this server keeps vCards of up to ${limit} bytes.`);
      }
      const hash = photoHash(vcard);
      parseStored(xml); // what is stored must read back
      const key = owner.bareString();
      const before = isEmptyVCard(vcard) ? await store.remove(ctx.host, owner.local) : await store.set(ctx.host, owner.local, xml, hash);
      const after = isEmptyVCard(vcard) ? null : hash;
      if (ctx.sessions.ofAccount(key).length > 0) hashes.set(key, after);
      if ((before ?? '') !== (after ?? '')) setImmediate(() => rebroadcast(owner));
    };

    const listeners: ((owner: JID, vcard: Element) => Promise<void>)[] = [];
    const service: VCardService = {
      async get(owner) {
        const stored = await store.get(ctx.host, owner.local);
        return stored && parseStored(stored.xml);
      },
      async setPhoto(owner, photo) {
        const vcard = withPhoto((await service.get(owner)) ?? emptyVCard(), photo);
        await save(owner, vcard, Number.MAX_SAFE_INTEGER);
      },
      onSet(listener) {
        listeners.push(listener);
      },
    };
    ctx.provide('vcard', service);

    ctx.iq({ type: 'set', ns: NS.vcard, name: 'vCard', targets: ['account'] }, async (iq, route) => {
      if (route.to.bareString() !== route.from.bareString()) throw new StanzaError('forbidden', 'Only the owner of a vCard can change it.');
      const vcard = iq.elements[0]!;
      await save(route.to.bare, vcard, maxBytes);
      for (const listener of listeners) {
        // The vCard is stored: what a listener fails to do is logged, not answered.
        await listener(route.to.bare, vcard).catch((err: unknown) => ctx.log.warn({ err }, 'a module could not follow a vCard change'));
      }
    });

    // XEP-0153 §3.1: the hash goes into every presence broadcast of the account.
    ctx.hook(
      'presence/bare',
      async (presence, route) => {
        if (!route.origin || presence.attrs.to !== undefined || presence.attrs.type !== undefined) return false;
        const updates = presence.getChildren('x', NS.vcardUpdate);
        if (updates.some((u) => u.getChild('photo', NS.vcardUpdate))) return false; // the client said it itself
        const hash = await hashOf(route.from.bare);
        if (hash === null) return false; // no vCard: nothing to tell
        for (const u of updates) presence.removeChild(u);
        presence.append(x('x', { xmlns: NS.vcardUpdate }, hash ? x('photo').t(hash) : x('photo')));
        return false;
      },
      10,
    );

    /** Routes each available session's last presence again, as if it had re-sent it, without its old update element. */
    const rebroadcast = (bare: JID) => {
      for (const session of ctx.sessions.ofAccount(bare)) {
        if (!session.available || !session.presence) continue;
        const presence = session.presence.clone();
        for (const u of presence.getChildren('x', NS.vcardUpdate)) presence.removeChild(u);
        ctx.routeFrom(session, presence).catch((err: unknown) => ctx.log.warn({ err, session: session.jid.toString() }, 'could not re-broadcast presence'));
      }
    };
  },
});
