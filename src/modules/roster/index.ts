// Contact lists (RFC 6121 §2) with roster versioning (XEP-0237). Provides the
// 'roster' service the presence module drives subscriptions through, and the
// classifier that tells the policy engine how sender and recipient are related.
import { z } from 'zod';
import { defineModule } from '../../core/module.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { JidError, parseJID, type JID } from '../../xmpp/jid.ts';
import type { PolicyRequest } from '../../policy/types.ts';
import { RosterStore, type Subscription } from './store.ts';
import { NS_ROSTER, RosterService, itemElement, type Roster } from './service.ts';
import { changesSince, planFor } from './versioning.ts';

export { NS_ROSTER, RosterService, type Roster } from './service.ts';

const options = z.strictObject({
  max_items: z.number().int().min(1).max(100_000).default(1000).describe('most contacts one roster may hold'),
  max_name_bytes: z.number().int().min(1).max(4096).default(1024).describe("longest item name (UTF-8 bytes); longer gets not-acceptable"),
  max_group_bytes: z.number().int().min(1).max(4096).default(1024).describe('longest group name (UTF-8 bytes); longer gets not-acceptable'),
  max_groups: z.number().int().min(1).max(1000).default(100).describe('most groups one item may be in'),
});
export type RosterOptions = z.infer<typeof options>;

export default defineModule({
  id: 'roster',
  description: 'Contact lists and roster versioning (RFC 6121 §2, XEP-0237)',
  options,
  hostFeatures: [NS_ROSTER],
  streamFeatures: [{ name: 'ver', ns: 'urn:xmpp:features:rosterver' }],
  setup(ctx) {
    const opts = ctx.options;
    const service = new RosterService({
      store: new RosterStore(ctx.storage.db),
      sessions: ctx.sessions,
      log: ctx.log,
      maxItems: opts.max_items,
    });
    ctx.provide('roster', service);
    ctx.on('session-closed', (session) => service.forget(session));
    ctx.every(15_000, () => service.sweep());

    // RFC 6121 §2.1.5: only the account itself reads or changes its roster.
    const ownOnly = (route: { from: JID; to: JID }) => {
      if (route.from.bareString() !== route.to.bareString()) throw new StanzaError('forbidden', "You can't see or change another account's roster.");
    };

    ctx.iq({ type: 'get', ns: NS_ROSTER, name: 'query', targets: ['account'] }, async (iq, route) => {
      ownOnly(route);
      const roster = await service.reconcile(route.from.bare);
      const ver = iq.elements[0]!.attrs.ver;
      if (route.origin) service.markInterested(route.origin, ver !== undefined);
      const plan = planFor(ver, roster.version, roster.floor);
      if (plan.kind === 'unchanged') return undefined;
      if (plan.kind === 'since' && route.origin) {
        const tombstones = await service.store.tombstonesSince({ domain: roster.owner.domain, localpart: roster.owner.local }, plan.since);
        const changes = changesSince(roster.items.values(), tombstones, plan.since);
        if (changes) {
          service.sendInterim(
            route.origin,
            changes.map((c) => ({ version: c.version, item: c.item ? itemElement(c.item) : x('item', { jid: c.jid, subscription: 'remove' }) })),
          );
          return x('query', { xmlns: NS_ROSTER, ver: String(roster.version) });
        }
      }
      return fullRoster(roster, ver !== undefined);
    });

    ctx.iq({ type: 'set', ns: NS_ROSTER, name: 'query', targets: ['account'] }, async (iq, route) => {
      ownOnly(route);
      const user = route.from.bare;
      const request = parseSet(iq.elements[0]!, user, opts);
      if (request.remove) {
        await removeItem(user, request.jid);
        return undefined;
      }
      await service.exclusive(user, async (r) => {
        const existing = r.items.get(request.jid);
        if (!existing && r.items.size >= service.maxItems) throw rosterFull(service.maxItems);
        // RFC 6121 §2.4: an update changes name and groups; the subscription state stays.
        // Even an unchanged item is written and pushed again (with a new version), as §2.4.2 asks.
        await service.put(r, {
          jid: request.jid,
          name: request.name,
          groups: request.groups,
          subscription: existing?.subscription ?? 'none',
          ask: existing?.ask ?? false,
          approved: existing?.approved ?? false,
        });
      });
      return undefined;
    });

    /**
     * RFC 6121 §2.5.2: removing an item also ends the subscriptions both ways:
     * 'unsubscribe' if the account had (or asked for) the contact's presence,
     * 'unsubscribed' if the contact had (or asked for) the account's, followed
     * by unavailable presence from the account's available resources.
     */
    async function removeItem(user: JID, jid: string): Promise<void> {
      const before = await service.exclusive(user, async (r) => {
        const item = r.items.get(jid);
        if (!item) throw new StanzaError('item-not-found', `${jid} is not on your roster.`);
        const state = { subscription: item.subscription, ask: item.ask, pendingIn: r.pending.has(jid) };
        await service.remove(r, jid);
        return state;
      });
      const contact = parseJID(jid);
      if (contact.domain !== ctx.host || contact.local === '') return; // no federation yet: nothing to tell
      if (has(before.subscription, 'to') || before.ask) await ctx.sendAs(x('presence', { to: jid, type: 'unsubscribe' }), user);
      if (has(before.subscription, 'from') || before.pendingIn) {
        await ctx.sendAs(x('presence', { to: jid, type: 'unsubscribed' }), user);
        if (has(before.subscription, 'from')) {
          for (const s of ctx.sessions.ofAccount(user)) {
            if (s.available) await ctx.sendAs(x('presence', { to: jid, type: 'unavailable' }), s.jid);
          }
        }
      }
    }

    // Classify step: how the sender relates to the recipient, for the policy
    // engine. facts.subscription is the sender's subscription with the
    // recipient as the sender's own roster says it; relation is 'contact' for a
    // mutual subscription with a local account. Rosters of online accounts are
    // in memory, so this is usually a map lookup.
    ctx.classify((req, _stanza, from, to) => {
      if (to.local === '' || from.bareString() === to.bareString()) return;
      const toLocal = to.domain === ctx.host;
      if (from.domain === ctx.host && from.local !== '') {
        const r = service.peek(from);
        if (r) return relate(req, r.items.get(to.bareString())?.subscription ?? 'none', toLocal);
        return service.load(from.bare).then((loaded) => relate(req, loaded.items.get(to.bareString())?.subscription ?? 'none', toLocal));
      }
      if (toLocal) {
        // A sender from elsewhere (federation, later): the recipient's roster, seen from the other side.
        return service.subscription(to.bare, from.bareString()).then((s) => relate(req, invert(s), true));
      }
      return undefined;
    });
  },
});

function relate(req: PolicyRequest, subscription: Subscription, toLocal: boolean): void {
  (req.facts ??= {}).subscription = subscription;
  if (toLocal && req.resource) req.resource.relation = subscription === 'both' ? 'contact' : 'none';
}

function invert(s: Subscription): Subscription {
  return s === 'to' ? 'from' : s === 'from' ? 'to' : s;
}

function has(s: Subscription, which: 'to' | 'from'): boolean {
  return s === 'both' || s === which;
}

function fullRoster(roster: Roster, versioned: boolean): Element {
  const query = x('query', versioned ? { xmlns: NS_ROSTER, ver: String(roster.version) } : { xmlns: NS_ROSTER });
  for (const item of roster.items.values()) query.append(itemElement(item));
  return query;
}

export function rosterFull(max: number): StanzaError {
  return new StanzaError('not-allowed', `Your contact list is full: it can hold at most ${max} contacts. Remove one first.`);
}

type SetRequest = { remove: true; jid: string } | { remove: false; jid: string; name: string | undefined; groups: string[] };

/**
 * Validates a roster set (RFC 6121 §2.3.3, §2.1.2). Attributes a client must
 * not set ('subscription' other than 'remove', 'ask', 'approved') are ignored,
 * as §2.1.2 requires of the server.
 */
export function parseSet(query: Element, user: JID, opts: RosterOptions): SetRequest {
  const items = query.elements.filter((e) => e.name === 'item' && e.ns === NS_ROSTER);
  if (items.length !== 1) throw new StanzaError('bad-request', 'A roster set must contain exactly one <item/>.');
  const item = items[0]!;
  const raw = item.attrs.jid;
  if (raw === undefined || raw === '') throw new StanzaError('bad-request', "The <item/> needs a 'jid' attribute.");
  let contact: JID;
  try {
    contact = parseJID(raw);
  } catch (err) {
    if (err instanceof JidError) throw new StanzaError('jid-malformed', `The item's address is not a valid JID: ${err.reason}`);
    throw err;
  }
  if (contact.resource !== '') throw new StanzaError('bad-request', 'Roster items are bare JIDs (no /resource).');
  const jid = contact.bareString();
  if (jid === user.bareString()) throw new StanzaError('not-allowed', "You can't add yourself to your roster: you always see your own presence.");
  if (item.attrs.subscription === 'remove') return { remove: true, jid };

  let name = item.attrs.name;
  if (name === '') name = undefined;
  if (name !== undefined && Buffer.byteLength(name) > opts.max_name_bytes) {
    throw new StanzaError('not-acceptable', `The name is too long (at most ${opts.max_name_bytes} bytes).`);
  }
  const groups: string[] = [];
  for (const g of item.getChildren('group', NS_ROSTER)) {
    const text = g.text;
    if (text === '') throw new StanzaError('not-acceptable', 'A group name must not be empty (leave out <group/> to put the item in no group).');
    if (Buffer.byteLength(text) > opts.max_group_bytes) {
      throw new StanzaError('not-acceptable', `A group name is too long (at most ${opts.max_group_bytes} bytes).`);
    }
    if (groups.includes(text)) throw new StanzaError('bad-request', `The group "${text}" is listed twice.`);
    groups.push(text);
  }
  if (groups.length > opts.max_groups) throw new StanzaError('not-acceptable', `An item can be in at most ${opts.max_groups} groups.`);
  return { remove: false, jid, name, groups };
}
