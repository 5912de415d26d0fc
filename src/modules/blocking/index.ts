// Blocking Command (XEP-0191). Each account keeps a list of blocked addresses.
// The module decides nothing in its handlers: a classifier establishes the facts
// 'sender-blocks-recipient' / 'recipient-blocks-sender' on every routed stanza,
// and a module rule turns them into the XEP's verdicts (verdicts.ts) at the one
// policy decision point. Docs: docs/modules/blocking.md.
import { setImmediate } from 'node:timers';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { defineModule, type ModuleContext, type RouteContext } from '../../core/module.ts';
import type { ClientSession } from '../../core/session.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { JidError, parseJID, type JID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';
import { BlockList } from './block-list.ts';
import { BlockListCache } from './cache.ts';
import type { RosterService } from '../roster/index.ts';
import { BlockingStore, type BlockingTables } from './store.ts';
import { blockingClassifier } from './classifier.ts';
import { blockingVerdict } from './verdicts.ts';

export const options = z.strictObject({
  max_items: z.int().min(1).max(100_000).default(1000).describe('most addresses one account may block, 1..100000'),
  cache_size: z
    .int()
    .min(0)
    .max(1_000_000)
    .default(10_000)
    .describe('block lists of accounts without a session kept in memory (least recently used go first), 0..1000000'),
});
export type BlockingOptions = z.output<typeof options>;

export default defineModule<BlockingOptions>({
  id: 'blocking',
  description: 'Blocking Command (XEP-0191)',
  // The roster says who may receive an account's presence (XEP-0191 §3.3, §3.4).
  dependsOn: ['roster'],
  options,
  hostFeatures: [NS.blocking],
  setup(ctx) {
    const host = ctx.host;
    const roster = ctx.use<RosterService>('roster');
    const max = ctx.options.max_items;
    const store = new BlockingStore(ctx.storage.db as unknown as Kysely<BlockingTables>);
    const cache = new BlockListCache({
      read: (bare) => store.list(host, localOf(bare)),
      isOnline: (bare) => ctx.sessions.ofAccount(bare).length > 0,
      capacity: ctx.options.cache_size,
    });
    // Sessions that asked for the block list get the pushes (XEP-0191 §3.3, §3.4).
    const interested = new WeakSet<ClientSession>();
    const locks = new Map<string, Promise<unknown>>();
    const later = effectsQueue(ctx);

    ctx.on('session-bound', (s) => cache.accountOnline(s.jid.bareString()));
    ctx.on('session-closed', (s) => {
      if (ctx.sessions.ofAccount(s.jid.bare).length === 0) cache.accountOffline(s.jid.bareString());
    });

    // Classify establishes the facts; the rule turns them into verdicts at the one decision point.
    ctx.classify(blockingClassifier(host, cache, (err) => ctx.log.error({ err }, 'could not read a block list')));
    ctx.policyRule({ name: 'blocking', evaluate: blockingVerdict });

    // ---- the protocol -----------------------------------------------------------
    /** One change at a time per account, so the limit and the cache stay exact. */
    const serial = async <T>(bare: string, fn: () => Promise<T>): Promise<T> => {
      const before = locks.get(bare) ?? Promise.resolve();
      const run = before.then(fn, fn);
      const tail = run.then(
        () => undefined,
        () => undefined,
      );
      locks.set(bare, tail);
      try {
        return await run;
      } finally {
        if (locks.get(bare) === tail) locks.delete(bare);
      }
    };

    ctx.iq({ type: 'get', ns: NS.blocking, name: 'blocklist', targets: ['account'] }, async (_iq, route) => {
      const account = ownAccount(route);
      if (route.origin) interested.add(route.origin);
      const list = await cache.get(account.bareString());
      const result = x('blocklist', { xmlns: NS.blocking });
      for (const item of list.items()) result.c('item', { jid: item });
      return result;
    });

    ctx.iq({ type: 'set', ns: NS.blocking, name: 'block', targets: ['account'] }, async (iq, route) => {
      const account = ownAccount(route);
      const items = parseItems(iq.elements[0]!);
      if (items.length === 0) throw new StanzaError('bad-request', 'A <block/> needs at least one <item/> (XEP-0191 §3.3).');
      const bare = account.bareString();
      await serial(bare, async () => {
        const list = await cache.get(bare);
        const added = items.filter((i) => !list.has(i));
        const size = list.size + added.length;
        if (size > max) {
          throw new StanzaError('policy-violation', `A block list holds at most ${max} addresses; this request would make it ${size}.`);
        }
        if (added.length === 0) return;
        await store.add(host, account.local, added);
        cache.set(bare, list.with(added));
        later(bare, () => afterChange(ctx, roster, interested, account, 'block', added, false));
      });
    });

    ctx.iq({ type: 'set', ns: NS.blocking, name: 'unblock', targets: ['account'] }, async (iq, route) => {
      const account = ownAccount(route);
      const items = parseItems(iq.elements[0]!);
      const bare = account.bareString();
      const all = items.length === 0; // XEP-0191 §3.5: an empty <unblock/> unblocks everything
      await serial(bare, async () => {
        const list = await cache.get(bare);
        // Unblocking an address that is not blocked changes nothing and is not an error.
        const removed = all ? list.items() : items.filter((i) => list.has(i));
        if (all) await store.clear(host, account.local);
        if (removed.length === 0) return;
        if (!all) await store.remove(host, account.local, removed);
        cache.set(bare, all ? BlockList.EMPTY : list.without(removed));
        later(bare, () => afterChange(ctx, roster, interested, account, 'unblock', removed, all));
      });
    });
  },
});

/** The block list is the account's own: another account's address answers as if nothing were there. */
function ownAccount(route: RouteContext): JID {
  if (route.to.bareString() !== route.from.bareString()) throw new StanzaError('service-unavailable');
  return route.from.bare;
}

/** The <item jid='…'/> children, prepared and without repeats. */
export function parseItems(command: Element): string[] {
  const out = new Set<string>();
  let n = 0;
  for (const child of command.elements) {
    if (child.name !== 'item' || child.ns !== NS.blocking) continue;
    n++;
    const raw = child.attrs.jid;
    if (raw === undefined) throw new StanzaError('bad-request', `Item ${n} has no 'jid' attribute.`);
    try {
      out.add(parseJID(raw).toString());
    } catch (err) {
      // The address is not echoed back: it could be anything.
      if (err instanceof JidError) throw new StanzaError('jid-malformed', `Item ${n} is not a valid address: ${err.reason}.`);
      throw err;
    }
  }
  return [...out];
}

function localOf(bare: string): string {
  return bare.slice(0, bare.indexOf('@'));
}

/**
 * Runs a change's pushes and presence after the iq result has gone out (the
 * order of XEP-0191's examples), one change after another per account, so that
 * a quick block and unblock can't deliver their presence the wrong way round.
 */
function effectsQueue(ctx: ModuleContext<BlockingOptions>): (bare: string, fn: () => Promise<void>) => void {
  const queues = new Map<string, Promise<void>>();
  return (bare, fn) => {
    const next = (queues.get(bare) ?? Promise.resolve())
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(fn)
      .catch((err: unknown) => ctx.log.error({ err }, 'block list change: pushes or presence failed'));
    queues.set(bare, next);
    void next.then(() => {
      if (queues.get(bare) === next) queues.delete(bare);
    });
  };
}

let pushCounter = 0;

async function afterChange(
  ctx: ModuleContext<BlockingOptions>,
  roster: RosterService,
  interested: WeakSet<ClientSession>,
  account: JID,
  kind: 'block' | 'unblock',
  items: readonly string[],
  all: boolean,
): Promise<void> {
  // The push: to every resource of the account that asked for the list.
  const payload = x(kind, { xmlns: NS.blocking });
  if (!all) for (const jid of items) payload.c('item', { jid });
  for (const s of ctx.sessions.ofAccount(account)) {
    if (interested.has(s)) s.send(x('iq', { type: 'set', id: `block-push-${++pushCounter}`, to: s.jid.toString() }, payload.clone()));
  }

  const available = ctx.sessions.ofAccount(account).filter((s) => s.available);
  if (available.length === 0) return; // an unavailable user has nothing to withdraw or restore
  const targets = await presenceTargets(roster, account, items);
  for (const target of targets) {
    for (const s of available) {
      if (kind === 'block') {
        // Server-originated: the block itself must not stop it (the rule would drop it if sent as the user).
        await ctx.send(x('presence', { type: 'unavailable', from: s.jid.toString(), to: target.toString() }));
      } else if (s.presence) {
        // The user's own current presence, routed (and decided) like any other.
        const p = s.presence.clone();
        p.attrs.to = target.toString();
        await ctx.sendAs(p, s.jid);
      }
    }
  }
}

/**
 * Who gets presence when these items are blocked or unblocked: the contacts the
 * items match that may receive the account's presence, i.e. with a subscription
 * of 'from' or 'both' (XEP-0191 §3.3, §3.4: "only if the contact is allowed to
 * receive presence notifications", RFC 6121 §4). A full-JID item concerns that
 * one resource of a subscribed contact.
 */
async function presenceTargets(roster: RosterService, account: JID, items: readonly string[]): Promise<JID[]> {
  const subscribers: JID[] = [];
  for (const item of (await roster.load(account)).items.values()) {
    if (item.subscription === 'from' || item.subscription === 'both') subscribers.push(parseJID(item.jid));
  }
  const out = new Map<string, JID>();
  for (const jid of items.map((i) => parseJID(i))) {
    if (jid.resource !== '') {
      if (subscribers.some((m) => m.bareString() === jid.bareString())) out.set(jid.toString(), jid);
      continue;
    }
    const one = new BlockList([jid.toString()]);
    for (const m of subscribers) if (one.matches(m)) out.set(m.toString(), m);
  }
  out.delete(account.bareString());
  return [...out.values()];
}
