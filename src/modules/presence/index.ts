// Presence (RFC 6121 §3-4): availability of each session, broadcast to the
// account's own resources and to its subscribers, probes to the contacts it is
// subscribed to, directed presence (tracked per session, §4.6), and the
// subscription state machine (§3, Appendix A) for local accounts.
//
// Who does what: a stanza a client sends is processed as its own server would
// (outbound: the sender's roster), then as the recipient's server would
// (inbound: the recipient's roster, delivery). Stanzas the server sends on an
// account's behalf (ctx.sendAs: broadcasts, probes and their answers,
// automatic replies, the roster module's unsubscribes) arrive here without a
// client session: their outbound side is already done, only the inbound side
// runs. Every stanza that leaves on an account's behalf goes through sendAs,
// so the policy decision point (block lists included) sees each one.
import { defineModule, type ModuleContext, type RouteContext } from '../../core/module.ts';
import type { ClientSession } from '../../core/session.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import type { JID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';
import { parseElement } from '../../net/xml-stream.ts';
import type { RosterService, Roster } from '../roster/service.ts';
import type { StoredItem } from '../roster/store.ts';
import { hasFrom, hasTo, inbound, outbound, type SubState, type SubscriptionType } from './subscription.ts';

const SUBSCRIPTION_TYPES = new Set<string>(['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed']);

/** What the last-activity module provides, used (when loaded) to answer probes for offline accounts. */
export interface LastSeenLookup {
  lastSeen(account: JID): Promise<{ seenAt: Date; status: string | undefined } | undefined>;
}

function parsePriority(presence: Element): number {
  const text = presence.getChildText('priority');
  if (text === undefined) return 0;
  const n = Number(text.trim());
  if (!/^[+-]?\d+$/.test(text.trim()) || n < -128 || n > 127) {
    throw new StanzaError('bad-request', 'The priority must be an integer from -128 to 127.');
  }
  return n;
}

export default defineModule({
  id: 'presence',
  streamFeatures: [{ name: 'sub', ns: 'urn:xmpp:features:pre-approval' }],
  description: 'Presence and presence subscriptions (RFC 6121 §3-4)',
  dependsOn: ['roster'],
  setup(ctx) {
    const roster = ctx.use<RosterService>('roster');
    const p = new PresenceEngine(ctx, roster);

    ctx.hook('presence/bare', (stanza, route) => p.toBare(stanza, route));
    ctx.hook('presence/full', (stanza, route) => p.toFull(stanza, route));
    ctx.hook('presence/remote', (stanza, route) => {
      // No federation yet: a subscription can't be established, so it is refused
      // before anything changes; other presence to remote addresses is dropped.
      if (route.origin && SUBSCRIPTION_TYPES.has(stanza.attrs.type ?? '')) {
        throw new StanzaError('remote-server-not-found', `The server ${route.to.domain} is not reachable from here.`);
      }
      return false;
    });
    ctx.on('session-closed', (session) => {
      p.closed(session).catch((err: unknown) => ctx.log.error({ err, session: session.jid.toString() }, 'presence cleanup failed'));
    });
  },
});

class PresenceEngine {
  private readonly ctx: ModuleContext<unknown>;
  private readonly roster: RosterService;
  /** Per session: the addresses it sent directed available presence to (RFC 6121 §4.6.3). */
  private readonly directed = new Map<ClientSession, Set<string>>();

  constructor(ctx: ModuleContext<unknown>, roster: RosterService) {
    this.ctx = ctx;
    this.roster = roster;
  }

  // --- entry points ------------------------------------------------------------

  async toBare(stanza: Element, route: RouteContext): Promise<boolean> {
    const type = stanza.attrs.type;
    const origin = route.origin;
    if (type === 'error') return true; // a presence error to a bare JID concerns no session: dropped
    if (origin) {
      if (stanza.attrs.to === undefined && (type === undefined || type === 'unavailable')) {
        if (type === undefined) await this.broadcastAvailable(origin, stanza);
        else await this.broadcastUnavailable(origin, stanza, false);
        return true;
      }
      if (type !== undefined && SUBSCRIPTION_TYPES.has(type)) {
        await this.outboundSubscription(origin, stanza, type as SubscriptionType, route.to.bare);
        return true;
      }
      if (type === 'probe') {
        await this.probe(origin.jid, route.to.bare);
        return true;
      }
      this.track(origin, stanza, route.to);
      this.deliverToAvailable(route.to, stanza);
      return true;
    }
    // On an account's behalf (or from the server): the inbound side only.
    if (type !== undefined && SUBSCRIPTION_TYPES.has(type)) {
      await this.inboundSubscription(stanza, type as SubscriptionType, route.from.bare, route.to.bare);
    } else if (type === 'probe') {
      await this.probe(route.from, route.to.bare);
    } else {
      this.deliverToAvailable(route.to, stanza);
    }
    return true;
  }

  async toFull(stanza: Element, route: RouteContext): Promise<boolean> {
    const type = stanza.attrs.type;
    // Subscription stanzas and probes concern the account: handled as if sent to the bare JID (RFC 6121 §3.1.1, §4.3).
    if ((type !== undefined && SUBSCRIPTION_TYPES.has(type)) || type === 'probe') {
      stanza.attrs.to = route.to.bareString();
      return this.toBare(stanza, { ...route, to: route.to.bare, target: 'bare' });
    }
    if (route.origin && type !== 'error') this.track(route.origin, stanza, route.to);
    return false; // the router delivers it to that resource if it is online
  }

  async closed(session: ClientSession): Promise<void> {
    await this.broadcastUnavailable(session, x('presence', { type: 'unavailable', from: session.jid.toString() }), true);
  }

  // --- availability ------------------------------------------------------------

  /** Initial or updated broadcast presence (RFC 6121 §4.2, §4.4). */
  private async broadcastAvailable(origin: ClientSession, stanza: Element): Promise<void> {
    origin.priority = parsePriority(stanza);
    const initial = !origin.available;
    origin.available = true;
    origin.presence = stanza.detached(); // kept for the session's life: not slices of the chunk it came in
    this.toOwnResources(origin, stanza);
    if (initial) {
      // The account's other available resources, as a probe of itself would answer.
      for (const s of this.ctx.sessions.ofAccount(origin.jid.bare)) {
        if (s !== origin && s.available && s.presence) origin.send(withTo(s.presence, origin.jid.toString()));
      }
    }
    const r = await this.roster.load(origin.jid.bare);
    const subscribers: string[] = [];
    const subscriptions: string[] = [];
    for (const item of r.items.values()) {
      if (!isLocal(this.ctx, item.jid)) continue; // no federation yet
      if (item.subscription === 'from' || item.subscription === 'both') subscribers.push(item.jid);
      if (initial && (item.subscription === 'to' || item.subscription === 'both')) subscriptions.push(item.jid);
    }
    // §4.2.2: probe the contacts whose presence the account receives; the
    // answers come back to this resource (the probe is sent from its full JID).
    for (const contact of subscriptions) await this.ctx.sendAs(x('presence', { to: contact, type: 'probe' }), origin.jid);
    for (const contact of subscribers) await this.ctx.sendAs(withTo(stanza, contact), origin.jid);
    if (initial) {
      // §3.1.3: subscription requests waiting for an answer, at every login until answered.
      for (const request of r.pending.values()) origin.send(revive(request.stanza));
      this.ctx.emit('session-available', origin);
    }
  }

  /** Unavailable presence, sent by the client or because its session ended (RFC 6121 §4.5). */
  private async broadcastUnavailable(origin: ClientSession, stanza: Element, closing: boolean): Promise<void> {
    const wasAvailable = origin.available;
    origin.available = false;
    origin.presence = undefined;
    if (!closing || wasAvailable) this.toOwnResources(origin, stanza);
    const targets = this.directed.get(origin);
    this.directed.delete(origin);
    const told = new Set<string>();
    if (wasAvailable) {
      const r = await this.roster.load(origin.jid.bare);
      for (const item of r.items.values()) {
        if (!hasFrom(stateOf(item, false)) || !isLocal(this.ctx, item.jid)) continue;
        told.add(item.jid);
        await this.ctx.sendAs(withTo(stanza, item.jid), origin.jid);
      }
    }
    // §4.6.3: everyone it sent directed presence to hears it is gone.
    for (const target of targets ?? []) {
      if (told.has(bareOf(target))) continue;
      await this.ctx.sendAs(withTo(stanza, target), origin.jid);
    }
    if (wasAvailable && !this.ctx.sessions.ofAccount(origin.jid.bare).some((s) => s.available)) {
      this.ctx.emit('account-unavailable', origin.jid.bare, stanza.getChildText('status'));
    }
  }

  /** Directed presence (§4.6): remembered so that unavailable presence follows it. */
  private track(origin: ClientSession, stanza: Element, to: JID): void {
    if (to.bareString() === origin.jid.bareString()) return;
    const type = stanza.attrs.type;
    const key = to.toString();
    if (type === undefined) {
      let set = this.directed.get(origin);
      if (!set) this.directed.set(origin, (set = new Set()));
      set.add(key);
    } else if (type === 'unavailable') {
      this.directed.get(origin)?.delete(key);
    }
  }

  /** RFC 6121 §4.2.2: the account is implicitly subscribed to itself, the sender included. */
  private toOwnResources(from: ClientSession, stanza: Element): void {
    for (const s of this.ctx.sessions.ofAccount(from.jid.bare)) {
      if (s === from || s.available) s.send(withTo(stanza, s.jid.toString()));
    }
  }

  /** Presence to an account's bare JID: each available resource (§8.5.2.1.1); none → silently dropped. */
  private deliverToAvailable(to: JID, stanza: Element): void {
    for (const s of this.ctx.sessions.ofAccount(to.bare)) if (s.available) s.send(stanza);
  }

  // --- probes ----------------------------------------------------------------

  /**
   * A probe for `contact`'s presence from `from` (RFC 6121 §4.3.2): answered to
   * the prober's address with the last presence of each available resource,
   * or, if none is available, with the unavailable presence of the last logout
   * (with its time in <delay/>), when the prober is subscribed.
   */
  private async probe(from: JID, contact: JID): Promise<void> {
    if (contact.domain !== this.ctx.host || contact.local === '') return;
    const prober = from.bare;
    const self = prober.bareString() === contact.bareString();
    if (!self && !subscribedFrom(await this.roster.subscription(contact, prober.bareString()))) {
      // Not subscribed: nothing is revealed. If the prober's own roster thinks
      // otherwise, tell it so (§4.3.2: 'unsubscribed' resynchronises).
      const mine = from.domain === this.ctx.host ? this.roster.peek(prober) : undefined;
      const item = mine?.items.get(contact.bareString());
      if (item && hasTo(stateOf(item, false))) await this.ctx.sendAs(x('presence', { to: prober.bareString(), type: 'unsubscribed' }), contact);
      return;
    }
    const available = this.ctx.sessions.ofAccount(contact).filter((s) => s.available && s.presence);
    for (const s of available) await this.ctx.sendAs(withTo(s.presence!, from.toString()), s.jid);
    if (available.length > 0 || self) return;
    const last = await this.lastSeenLookup()?.lastSeen(contact);
    if (!last) return;
    const unavailable = x('presence', { to: from.toString(), type: 'unavailable' });
    if (last.status) unavailable.c('status').t(last.status);
    unavailable.c('delay', { xmlns: NS.delay, from: this.ctx.host, stamp: last.seenAt.toISOString() });
    await this.ctx.sendAs(unavailable, contact);
  }

  private lastSeenLookup(): LastSeenLookup | undefined {
    try {
      return this.ctx.use<LastSeenLookup>('last-activity');
    } catch {
      return undefined; // the last-activity module isn't loaded: offline contacts' probes go unanswered
    }
  }

  // --- subscriptions -------------------------------------------------------------

  /** A subscription stanza from a client: its own server's side, then the contact's. */
  private async outboundSubscription(origin: ClientSession, stanza: Element, type: SubscriptionType, to: JID): Promise<void> {
    const user = origin.jid.bare;
    if (to.bareString() === user.bareString()) {
      throw new StanzaError('not-allowed', 'You are always subscribed to your own presence; subscription stanzas to yourself are refused.');
    }
    if (to.local === '') throw new StanzaError('service-unavailable', 'Presence subscriptions are between accounts.');
    const contact = to.bareString();
    const { result, before } = await this.roster.exclusive(user, async (r) => {
      const item = r.items.get(contact);
      const state = stateOf(item, r.pending.has(contact));
      const res = outbound(type, state);
      await this.apply(r, contact, item, state, res.next);
      return { result: res, before: state };
    });
    if (!result.route) return;
    // §3.1.2: the stanza leaves stamped with the account's bare JID.
    const out = stanza.clone();
    out.attrs.from = user.bareString();
    out.attrs.to = contact;
    await this.inboundSubscription(out, type, user, to);
    // §3.1.5, §3.2.2: a new subscriber gets the account's presence; a removed one hears it is gone.
    const after = result.next;
    if (type === 'subscribed' && !hasFrom(before) && hasFrom(after)) await this.sendCurrentPresence(user, contact);
    if (type === 'unsubscribed' && hasFrom(before) && !hasFrom(after)) await this.sendUnavailable(user, contact);
  }

  /** A subscription stanza arriving for a local account (its server's side, Appendix A.3). */
  private async inboundSubscription(stanza: Element, type: SubscriptionType, from: JID, to: JID): Promise<void> {
    if (to.domain !== this.ctx.host || to.local === '') return;
    const sender = from.bareString();
    if (!(await this.ctx.storage.accounts.get(to.domain, to.local))) {
      // §3.1.3: no such account; the request is refused (for the other types there is nothing to do).
      if (type === 'subscribe') await this.ctx.send(x('presence', { from: to.bareString(), to: sender, type: 'unsubscribed' }));
      return;
    }
    const { result, before } = await this.roster.exclusive(to, async (r) => {
      const item = r.items.get(sender);
      const state = stateOf(item, r.pending.has(sender));
      const res = inbound(type, state);
      if (res.next.pendingIn && !state.pendingIn) {
        // Kept until answered, whether or not the contact is online or has the sender on its roster.
        await this.roster.setPending(r, { from: sender, stanza: freeze(stanza), createdAt: new Date() });
      }
      await this.apply(r, sender, item, state, res.next);
      return { result: res, before: state };
    });
    if (result.deliver) this.deliverToAvailable(to, stanza);
    // §3.3.3: a subscriber that unsubscribed hears the account is unavailable.
    if (type === 'unsubscribe' && hasFrom(before) && !hasFrom(result.next)) await this.sendUnavailable(to, sender);
    if (result.autoReply) {
      await this.ctx.sendAs(x('presence', { to: sender, type: result.autoReply }), to);
      await this.sendCurrentPresence(to, sender);
    }
  }

  /**
   * Writes a state change: the item (created if needed, within the roster
   * limit) when subscription, ask or approval change, and the pending request
   * when it is answered. The state machine never adds Pending In here (the
   * caller stores the request).
   */
  private async apply(r: Roster, contact: string, item: StoredItem | undefined, before: SubState, after: SubState): Promise<void> {
    const itemChanged = before.subscription !== after.subscription || before.pendingOut !== after.pendingOut || before.approved !== after.approved;
    if (itemChanged && !item && r.items.size >= this.roster.maxItems) {
      throw new StanzaError('not-allowed', `Your contact list is full: it can hold at most ${this.roster.maxItems} contacts. Remove one first.`);
    }
    if (before.pendingIn && !after.pendingIn) await this.roster.clearPending(r, contact);
    if (!itemChanged) return;
    await this.roster.put(r, {
      jid: contact,
      name: item?.name,
      groups: item?.groups ?? [],
      subscription: after.subscription,
      ask: after.pendingOut,
      approved: after.approved,
    });
  }

  private async sendCurrentPresence(account: JID, to: string): Promise<void> {
    for (const s of this.ctx.sessions.ofAccount(account)) {
      if (s.available && s.presence) await this.ctx.sendAs(withTo(s.presence, to), s.jid);
    }
  }

  private async sendUnavailable(account: JID, to: string): Promise<void> {
    for (const s of this.ctx.sessions.ofAccount(account)) {
      if (s.available) await this.ctx.sendAs(x('presence', { to, type: 'unavailable' }), s.jid);
    }
  }
}

export function stateOf(item: StoredItem | undefined, pendingIn: boolean): SubState {
  return {
    subscription: item?.subscription ?? 'none',
    pendingOut: item?.ask ?? false,
    pendingIn,
    approved: item?.approved ?? false,
  };
}

function subscribedFrom(s: string): boolean {
  return s === 'from' || s === 'both';
}

function withTo(stanza: Element, to: string): Element {
  const copy = stanza.clone();
  copy.attrs.to = to;
  return copy;
}

function bareOf(address: string): string {
  const slash = address.indexOf('/');
  return slash < 0 ? address : address.slice(0, slash);
}

/** Whether a roster item's (prepared) address is on this server; domain-only JIDs count as remote services. */
function isLocal(ctx: ModuleContext<unknown>, jid: string): boolean {
  const at = jid.indexOf('@');
  return at > 0 && jid.slice(at + 1) === ctx.host;
}

/** A stanza as stored for redelivery: its namespace made explicit so it parses back the same. */
function freeze(stanza: Element): string {
  const copy = stanza.clone();
  copy.attrs.xmlns = NS.client;
  return copy.toString();
}

function revive(xml: string): Element {
  const el = parseElement(xml);
  if (el.attrs.xmlns === NS.client) delete el.attrs.xmlns;
  return el;
}
