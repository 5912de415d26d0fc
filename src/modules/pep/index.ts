// Personal eventing (XEP-0163) on publish-subscribe (XEP-0060): every account
// is a pubsub service at its bare JID, with nodes created on first publish
// (OMEMO device lists and bundles, XEP-0402 bookmarks, XEP-0084 avatars …).
//
// - Owner only: publish, retract, create, configure, delete, purge; to anyone
//   else's address: forbidden, whether or not that account exists.
// - Reads (items) by anyone the node's access model admits: 'presence'
//   (default: contacts with a presence subscription to the owner), 'open'
//   (anyone the decision point lets through), 'whitelist' (the owner).
// - Notifications go to the owner's and subscribed contacts' available
//   sessions whose entity capabilities (XEP-0115) list '<node>+notify', each
//   through the decision point (sendAs), so block lists and policy apply.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { defineModule } from '../../core/module.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { NS } from '../../xmpp/ns.ts';
import type { RosterService } from '../roster/service.ts';
import { NotifyInterest } from './interest.ts';
import { PepProtocol } from './protocol.ts';
import { PepService, type PepLimits } from './service.ts';
import { PepStore, type PepTables } from './store.ts';

/** What this service implements, as XEP-0060 §10 names it. */
export const PUBSUB_FEATURES = [
  'access-open',
  'access-presence',
  'access-whitelist',
  'auto-create',
  'auto-subscribe',
  'config-node',
  'create-and-configure',
  'create-nodes',
  'delete-items',
  'delete-nodes',
  'filtered-notifications',
  'item-ids',
  'last-published',
  'multi-items',
  'persistent-items',
  'presence-notifications',
  'publish',
  'publish-options',
  'purge-nodes',
  'retract-items',
  'retrieve-default',
  'retrieve-items',
].map((f) => `${NS.pubsub}#${f}`);

const options = z
  .strictObject({
    max_payload_bytes: z.int().min(1024).max(16_777_216).default(65_536).describe('largest item payload kept (XML text), in bytes, 1024..16777216'),
    max_items_per_node: z.int().min(1).max(10_000).default(256).describe("most items one node keeps; what max_items 'max' means, 1..10000"),
    default_max_items: z.int().min(1).max(10_000).default(1).describe('items a node keeps when its owner did not say (XEP-0163 nodes hold one), 1..10000'),
    max_nodes: z.int().min(1).max(100_000).default(256).describe('nodes per account, 1..100000'),
    caps_cache_size: z.int().min(16).max(1_000_000).default(10_000).describe('verified entity capabilities (XEP-0115) remembered, 16..1000000'),
  })
  .refine((o) => o.default_max_items <= o.max_items_per_node, {
    message: 'default_max_items cannot be more than max_items_per_node',
    path: ['default_max_items'],
  });

/** How long a client has to answer the disco#info query behind its caps. */
const CAPS_QUERY_TIMEOUT_MS = 10_000;

export default defineModule({
  id: 'pep',
  description: 'Personal eventing via pubsub (XEP-0163)',
  dependsOn: ['roster', 'presence'],
  options,
  // XEP-0163 §6.1 puts the identity on the account; clients such as Converse.js also look on the server.
  hostIdentities: [{ category: 'pubsub', type: 'pep' }],
  accountIdentities: [{ category: 'pubsub', type: 'pep' }],
  hostFeatures: PUBSUB_FEATURES,
  accountFeatures: PUBSUB_FEATURES,
  setup(ctx) {
    const opts = ctx.options;
    const limits: PepLimits = {
      maxPayloadBytes: opts.max_payload_bytes,
      maxItemsCap: opts.max_items_per_node,
      defaultMaxItems: opts.default_max_items,
      maxNodes: opts.max_nodes,
    };
    const interest = new NotifyInterest({
      host: ctx.host,
      send: (stanza) => ctx.send(stanza),
      cacheSize: opts.caps_cache_size,
      queryTimeoutMs: CAPS_QUERY_TIMEOUT_MS,
      onInterest: (session, nodes) => {
        service.announce(session, nodes).catch((err: unknown) => ctx.log.warn({ err, session: session.jid.toString() }, 'could not send last published items'));
      },
    });
    const service = new PepService({
      ctx,
      store: new PepStore(ctx.storage.db as unknown as Kysely<PepTables>),
      roster: ctx.use<RosterService>('roster'),
      interest,
      limits,
    });
    const protocol = new PepProtocol(service, limits);
    ctx.provide('pep', service);

    // Only the owner changes or configures nodes: answered before the router
    // would tell an existing account (forbidden) from a missing one.
    ctx.hook(
      'iq/bare',
      (iq, route) => {
        const type = iq.attrs.type;
        const payload = iq.elements[0];
        if ((type !== 'get' && type !== 'set') || !route.origin || !payload || payload.name !== 'pubsub') return false;
        if (route.to.bareString() === route.from.bareString()) return false;
        const ownerOnly = payload.ns === NS.pubsubOwner || (payload.ns === NS.pubsub && (type === 'set' || payload.getChild('configure', NS.pubsub)));
        if (!ownerOnly) return false;
        throw new StanzaError('forbidden', "Only the owner of these personal eventing nodes can change or configure them.");
      },
      10,
    );

    ctx.iq({ type: 'get', ns: NS.pubsub, name: 'pubsub', targets: ['account'] }, (iq, route) => protocol.get(iq.elements[0]!, route.to.bare, route.from));
    ctx.iq({ type: 'set', ns: NS.pubsub, name: 'pubsub', targets: ['account'] }, (iq, route) => protocol.set(iq.elements[0]!, route.to.bare));
    ctx.iq({ type: 'get', ns: NS.pubsubOwner, name: 'pubsub', targets: ['account'] }, (iq, route) => protocol.ownerGet(iq.elements[0]!, route.to.bare));
    ctx.iq({ type: 'set', ns: NS.pubsubOwner, name: 'pubsub', targets: ['account'] }, (iq, route) => protocol.ownerSet(iq.elements[0]!, route.to.bare));

    // Caps arrive with broadcast presence (seen here before the presence module
    // handles it); the disco#info answers come back to the server.
    ctx.hook(
      'presence/bare',
      (presence, route) => {
        if (!route.origin || presence.attrs.to !== undefined) return false;
        if (presence.attrs.type === undefined) interest.presence(route.origin, presence);
        else if (presence.attrs.type === 'unavailable') interest.unavailable(route.origin);
        return false;
      },
      5,
    );
    ctx.hook('iq/host', (iq, route) => (iq.attrs.type === 'result' || iq.attrs.type === 'error') && interest.answer(iq, route.from.toString()));
    ctx.on('session-available', (session) => interest.available(session));
    ctx.on('session-closed', (session) => interest.closed(session));
  },
});
