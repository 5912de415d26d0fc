// Bookmarks (XEP-0402) with XEP-0048 compatibility, as Prosody's
// mod_bookmarks does it. The XEP-0402 node 'urn:xmpp:bookmarks:1' in the
// account's PEP is the one copy kept; the XEP-0048 forms are views of it:
//
// - Private XML storage (XEP-0049) of <storage xmlns='storage:bookmarks'/>:
//   a set publishes each changed conference to the XEP-0402 node and retracts
//   the rooms no longer listed (unchanged ones are left alone, so no
//   notification for them, XEP-0402 §5.2); a get builds the list from the node.
// - The PEP node 'storage:bookmarks' (XEP-0048 over XEP-0223): the same, with
//   the list as its one item 'current'; sessions with its '+notify' are sent
//   the new list whenever the XEP-0402 node changes.
// - The XEP-0402 node is whitelist (only the owner reads it), keeps every
//   item, and holds at most max_bookmarks rooms; items are <conference/>s
//   under room JIDs. A malformed list or item changes nothing.
// - A <storage/> a client kept in private storage before this module was
//   loaded is moved into the node when the account next binds a session.
import { z } from 'zod';
import { defineModule } from '../../core/module.ts';
import type { Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import type { JID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';
import { KeyedQueue } from '../offline/queue.ts';
import type { NodeConfig } from '../pep/config.ts';
import { pubsubError } from '../pep/errors.ts';
import { parseStored } from '../../xmpp/stored-xml.ts';
import type { PepService } from '../pep/service.ts';
import type { PrivateService } from '../private/index.ts';
import { fromStorage, roomJid, sameConference, toStorage, type Bookmark } from './convert.ts';

/** XEP-0402 §3.2's publish-options: what the node is created with. */
const NODE_CONFIG = { persistItems: true, maxItems: 'max', sendLast: 'never', accessModel: 'whitelist' } as const satisfies Partial<NodeConfig>;

export default defineModule({
  id: 'bookmarks',
  description: 'Bookmarks (XEP-0402) kept in step with XEP-0048 private storage and PEP',
  dependsOn: ['pep', 'private'],
  options: z.strictObject({
    max_bookmarks: z.int().min(1).max(10_000).default(256).describe('rooms bookmarked per account, 1..10000 (at most pep.max_items_per_node)'),
  }),
  accountFeatures: [`${NS.bookmarks}#compat`, `${NS.bookmarks}#compat-pep`],
  setup(ctx) {
    const pep = ctx.use<PepService>('pep');
    const privateStorage = ctx.use<PrivateService>('private');
    const max = ctx.options.max_bookmarks;
    if (max > pep.limits.maxItemsCap) {
      // Else the node would silently drop the oldest bookmarks beyond pep's cap.
      throw new Error(`modules.bookmarks.max_bookmarks (${max}) is more than modules.pep.max_items_per_node (${pep.limits.maxItemsCap})`);
    }
    // One change of an account's bookmarks at a time, so two lists set at once don't mix.
    const queue = new KeyedQueue();
    const tooMany = (n: number) => new StanzaError('policy-violation', `An account keeps at most ${max} bookmarks here; this would make ${n}.`);

    const current = async (owner: JID): Promise<Bookmark[]> =>
      (await pep.ownItems(owner, NS.bookmarks)).map((i) => ({ jid: i.id, conference: parseStored(i.xml) }));

    /** Makes the node hold exactly these bookmarks: retracts the others, publishes what changed. */
    const replace = (owner: JID, wanted: readonly Bookmark[]) =>
      queue.run(owner.bareString(), async () => {
        if (wanted.length > max) throw tooMany(wanted.length);
        const have = new Map((await current(owner)).map((b) => [b.jid, b.conference]));
        const listed = new Set(wanted.map((b) => b.jid));
        const gone = [...have.keys()].filter((jid) => !listed.has(jid));
        // Retractions first, so the count never passes the limit on the way.
        if (gone.length > 0) await pep.retract(owner, NS.bookmarks, gone, true);
        for (const b of wanted) {
          const before = have.get(b.jid);
          if (!before || !sameConference(before, b.conference)) await pep.publishAs(owner, NS.bookmarks, { id: b.jid, payload: b.conference }, NODE_CONFIG);
        }
      });

    const checkedList = (storage: Element): Bookmark[] => {
      const list = fromStorage(storage);
      if (list.length > max) throw tooMany(list.length);
      return list;
    };

    pep.addRules(NS.bookmarks, {
      fixed: { accessModel: 'whitelist', persistItems: true, maxItems: 'max' },
      check(_owner, item, existingIds) {
        if (item.payload.name !== 'conference' || item.payload.ns !== NS.bookmarks) {
          throw pubsubError('bad-request', 'invalid-payload', `Bookmarks are <conference xmlns='${NS.bookmarks}'/> items.`);
        }
        if (roomJid(item.id) !== item.id) throw pubsubError('bad-request', 'invalid-payload', `A bookmark's item id is the room's bare JID, not '${item.id}'.`);
        if (!existingIds.includes(item.id) && existingIds.length >= max) throw tooMany(existingIds.length + 1);
      },
      changed: (owner) => pep.refreshView(owner, NS.legacyBookmarks),
    });

    pep.addRules(NS.legacyBookmarks, {
      view: {
        items: async (owner) => [{ id: 'current', payload: toStorage(await current(owner)) }],
        async publish(owner, item) {
          await replace(owner, checkedList(item.payload));
          return 'current';
        },
      },
    });

    privateStorage.handle(NS.legacyBookmarks, 'storage', {
      get: async (owner) => toStorage(await queue.run(owner.bareString(), () => current(owner))),
      check: (_owner, el) => void checkedList(el),
      set: (owner, el) => replace(owner, fromStorage(el)),
    });

    /** Moves a list kept in private storage before this module ran into the node, next to what is there. */
    const migrate = (owner: JID) =>
      queue.run(owner.bareString(), async () => {
        const stored = await privateStorage.stored(owner, NS.legacyBookmarks, 'storage');
        if (!stored) return;
        const have = new Set((await current(owner)).map((b) => b.jid));
        for (const b of fromStorage(stored)) {
          if (have.has(b.jid) || have.size >= max) continue;
          await pep.publishAs(owner, NS.bookmarks, { id: b.jid, payload: b.conference }, NODE_CONFIG);
          have.add(b.jid);
        }
        await privateStorage.forget(owner, NS.legacyBookmarks, 'storage');
      });
    // Once per account and process: after it, this module's private-storage handler keeps legacy lists out of storage.
    const migrated = new Set<string>();
    ctx.on('session-bound', (session) => {
      const account = session.jid.bareString();
      if (migrated.has(account)) return;
      migrate(session.jid.bare)
        .then(() => migrated.add(account))
        .catch((err: unknown) => ctx.log.warn({ err, account }, 'could not move XEP-0048 bookmarks to XEP-0402'));
    });
  },
});
