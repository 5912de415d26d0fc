// The PEP service: each account's nodes, the access check on every read, and
// the notifications of changes to the sessions that want them. Changes to one
// account's nodes run one at a time, their notifications included, so
// subscribers see them in the order they were made. Other modules use it as the
// 'pep' service: they add rules to particular nodes (rules.ts) and publish on an
// account's behalf (publishAs).
import { randomUUID } from 'node:crypto';
import type { ModuleContext } from '../../core/module.ts';
import type { ClientSession } from '../../core/session.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { parseJID, type JID } from '../../xmpp/jid.ts';
// The offline module's per-key queue: the same one-at-a-time-per-account discipline, not its storage.
import { KeyedQueue } from '../offline/queue.ts';
import type { RosterService } from '../roster/service.ts';
import { accessError } from './access.ts';
import { againstFixed, defaultConfig, itemsKept, unmetPreconditions, withChanges, type ConfigChanges, type ItemLimits, type NodeConfig } from './config.ts';
import { noSuchNode, pubsubError } from './errors.ts';
import { eventMessage, publishedEvent, retractedEvent } from './event.ts';
import type { NotifyInterest } from './interest.ts';
import { parseStored, standaloneXml } from '../../xmpp/stored-xml.ts';
import type { NodeChange, NodeRules, PublishedItem } from './rules.ts';
import type { Owner, PepStore, StoredItem } from './store.ts';

export interface PepLimits extends ItemLimits {
  maxPayloadBytes: number;
  maxNodes: number;
}

/** Node names and item ids are keys; PostgreSQL indexes keys of up to about 2700 bytes. */
export const MAX_ID_BYTES = 1024;

export interface PepServiceDeps {
  ctx: ModuleContext<unknown>;
  store: PepStore;
  roster: RosterService;
  interest: NotifyInterest;
  limits: PepLimits;
}

export class PepService {
  private readonly ctx: ModuleContext<unknown>;
  private readonly store: PepStore;
  private readonly roster: RosterService;
  private readonly interest: NotifyInterest;
  readonly limits: PepLimits;
  private readonly queue = new KeyedQueue();
  private readonly rules = new Map<string, NodeRules>();

  constructor(deps: PepServiceDeps) {
    this.ctx = deps.ctx;
    this.store = deps.store;
    this.roster = deps.roster;
    this.interest = deps.interest;
    this.limits = deps.limits;
  }

  /** Adds rules to a node (one module's per node); for modules, while they set up. */
  addRules(node: string, rules: NodeRules): void {
    if (this.rules.has(node)) throw new Error(`the PEP node '${node}' has rules already`);
    this.rules.set(node, rules);
  }

  /** Publishes (XEP-0060 §7.1), creating the node on first use; returns the item id. */
  async publish(owner: JID, node: string, item: { id: string | undefined; payload: Element }, options: ConfigChanges | undefined): Promise<string> {
    return this.put(owner, node, item, { options });
  }

  /**
   * Publishes on the owner's behalf, from the server (same checks, limits and
   * notifications): an existing node keeps its configuration, a missing one is
   * created with `createWith`.
   */
  async publishAs(owner: JID, node: string, item: { id: string | undefined; payload: Element }, createWith: ConfigChanges): Promise<string> {
    if (this.rules.get(node)?.view) throw viewOnly(node);
    return this.put(owner, node, item, { createWith });
  }

  private async put(
    owner: JID,
    node: string,
    item: { id: string | undefined; payload: Element },
    how: { options?: ConfigChanges; createWith?: ConfigChanges },
  ): Promise<string> {
    checkKey('node name', node);
    if (item.id !== undefined) checkKey('item id', item.id);
    const rules = this.rules.get(node);
    const xml = standaloneXml(item.payload);
    const bytes = Buffer.byteLength(xml, 'utf8');
    const max = rules?.maxPayloadBytes ?? this.limits.maxPayloadBytes;
    if (bytes > max) throw pubsubError('not-acceptable', 'payload-too-big', `The item is ${bytes} bytes; this server keeps items of up to ${max} bytes on this node.`);
    const published: PublishedItem = { id: item.id ?? randomUUID(), payload: parseStored(xml) }; // what is stored must read back
    if (rules?.view) return rules.view.publish(owner, item);
    const { id } = published;
    const o = ownerOf(owner);
    await this.exclusive(owner, async () => {
      const existing = await this.store.getNode(o, node);
      if (existing && how.options) {
        const unmet = unmetPreconditions(existing.config, how.options);
        if (unmet.length > 0) {
          throw pubsubError('conflict', 'precondition-not-met', `The node '${node}' exists with other values of ${unmet.join(', ')}; configure it, or publish without those options.`);
        }
      }
      const config = existing?.config ?? this.newConfig(node, how.options ?? how.createWith ?? {});
      if (rules?.check) await rules.check(owner, published, existing ? (await this.store.items(o, node)).map((i) => i.id) : []);
      const r = await this.store.publish(o, node, { id, xml, publisher: owner.bareString() }, {
        create: existing ? undefined : config,
        maxNodes: this.limits.maxNodes,
        keep: itemsKept(config, this.limits.maxItemsCap),
      });
      if (r.outcome === 'node-limit') throw this.nodeLimit();
      if (r.outcome === 'no-node') throw noSuchNode(node);
      await this.notify(owner, node, config, publishedEvent(node, { id, xml }));
    });
    await this.changed(owner, node, { kind: 'published', item: published });
    return id;
  }

  /** Retracts items (XEP-0060 §7.2); notifies when asked to. */
  async retract(owner: JID, node: string, ids: readonly string[], notify: boolean): Promise<void> {
    this.notView(node);
    const o = ownerOf(owner);
    const gone = await this.exclusive(owner, async () => {
      const n = await this.store.getNode(o, node);
      if (!n) throw noSuchNode(node);
      const gone = await this.store.retract(o, node, ids);
      if (gone.length === 0) throw new StanzaError('item-not-found', `The node '${node}' has no item '${ids[0] ?? ''}'.`);
      if (notify) await this.notify(owner, node, n.config, retractedEvent(node, gone));
      return gone;
    });
    await this.changed(owner, node, { kind: 'retracted', ids: gone });
  }

  /** Items of a node for a reader (XEP-0060 §6.5), after the access check. */
  async read(owner: JID, reader: JID, node: string, opts: { max?: number; ids?: readonly string[] }): Promise<StoredItem[]> {
    const o = ownerOf(owner);
    const isOwner = reader.bareString() === owner.bareString();
    const view = this.rules.get(node)?.view;
    if (view) {
      const denied = accessError('whitelist', { owner: isOwner, subscription: 'none' });
      if (denied) throw denied;
      let items = await view.items(owner);
      if (opts.ids) items = items.filter((i) => opts.ids!.includes(i.id));
      else if (opts.max !== undefined) items = items.slice(-opts.max);
      const now = new Date();
      return items.map((i) => ({ id: i.id, xml: standaloneXml(i.payload), publisher: owner.bareString(), publishedAt: now }));
    }
    const n = await this.store.getNode(o, node);
    if (!n) throw noSuchNode(node);
    const denied = accessError(n.config.accessModel, {
      owner: isOwner,
      subscription: isOwner ? 'none' : await this.roster.subscription(owner, reader.bareString()),
    });
    if (denied) throw denied;
    const items = await this.store.items(o, node, opts);
    if (opts.ids && items.length === 0) throw new StanzaError('item-not-found', `The node '${node}' has none of the requested items.`);
    return items;
  }

  /** The owner's own items, for modules: none when the node or the items don't exist. */
  async ownItems(owner: JID, node: string, opts: { max?: number; ids?: readonly string[] } = {}): Promise<StoredItem[]> {
    try {
      return await this.read(owner, owner, node, opts);
    } catch (err) {
      if (err instanceof StanzaError && err.condition === 'item-not-found') return [];
      throw err;
    }
  }

  /** Creates a node (XEP-0060 §8.1), with the default configuration changed by `changes`. */
  async create(owner: JID, node: string, changes: ConfigChanges): Promise<void> {
    checkKey('node name', node);
    this.notView(node);
    const config = this.newConfig(node, changes);
    const r = await this.exclusive(owner, () => this.store.createNode(ownerOf(owner), node, config, this.limits.maxNodes));
    if (r === 'exists') throw new StanzaError('conflict', `The node '${node}' exists already.`);
    if (r === 'node-limit') throw this.nodeLimit();
  }

  async config(owner: JID, node: string): Promise<NodeConfig> {
    this.notView(node);
    const n = await this.store.getNode(ownerOf(owner), node);
    if (!n) throw noSuchNode(node);
    return n.config;
  }

  /** Changes a node's configuration (XEP-0060 §8.2); items beyond the new limit are dropped, oldest first. */
  async configure(owner: JID, node: string, changes: ConfigChanges): Promise<void> {
    this.notView(node);
    this.refuseAgainstFixed(node, changes);
    const o = ownerOf(owner);
    await this.exclusive(owner, async () => {
      const n = await this.store.getNode(o, node);
      if (!n) throw noSuchNode(node);
      const config = withChanges(n.config, changes);
      if (!(await this.store.configure(o, node, config, itemsKept(config, this.limits.maxItemsCap)))) throw noSuchNode(node);
    });
  }

  /** Deletes a node (XEP-0060 §8.4) and tells those who could read it. */
  async deleteNode(owner: JID, node: string): Promise<void> {
    this.notView(node);
    const o = ownerOf(owner);
    await this.exclusive(owner, async () => {
      const n = await this.store.getNode(o, node);
      if (!n || !(await this.store.deleteNode(o, node))) throw noSuchNode(node);
      await this.notify(owner, node, n.config, x('delete', { node }));
    });
    await this.changed(owner, node, { kind: 'deleted' });
  }

  /** Deletes every item of a node (XEP-0060 §8.5) and tells those who could read it. */
  async purge(owner: JID, node: string): Promise<void> {
    this.notView(node);
    const o = ownerOf(owner);
    await this.exclusive(owner, async () => {
      const n = await this.store.getNode(o, node);
      if (!n) throw noSuchNode(node);
      await this.store.purge(o, node);
      await this.notify(owner, node, n.config, x('purge', { node }));
    });
    await this.changed(owner, node, { kind: 'purged' });
  }

  /** Sends a view node's current items to the owner's sessions that want it (the data behind it changed). */
  async refreshView(owner: JID, node: string): Promise<void> {
    const view = this.rules.get(node)?.view;
    if (!view) return;
    const items = await view.items(owner);
    const whitelist: NodeConfig = { ...defaultConfig(this.limits), accessModel: 'whitelist' };
    await this.notify(owner, node, whitelist, x('items', { node }, ...items.map((i) => x('item', { id: i.id }, i.payload.clone()))));
  }

  /**
   * XEP-0163 §4.3: a session that now wants these nodes gets the last item of
   * each that it may read — its own account's and those of the contacts whose
   * presence it receives.
   */
  async announce(session: ClientSession, nodes: readonly string[]): Promise<void> {
    const reader = session.jid.bare;
    const roster = await this.roster.load(reader);
    const publishers = [reader.local];
    for (const item of roster.items.values()) {
      if (item.subscription !== 'to' && item.subscription !== 'both') continue;
      const contact = parseJID(item.jid);
      if (contact.domain === this.ctx.host && contact.local !== '') publishers.push(contact.local);
    }
    const found = await this.store.nodesOf(this.ctx.host, publishers, nodes);
    for (const n of found) {
      if (n.config.sendLast === 'never') continue;
      const owner = parseJID(`${n.localpart}@${this.ctx.host}`);
      const isOwner = n.localpart === reader.local;
      const subscription = isOwner ? 'none' : await this.roster.subscription(owner, reader.bareString());
      if (accessError(n.config.accessModel, { owner: isOwner, subscription })) continue;
      const [last] = await this.store.items(ownerOf(owner), n.name, { max: 1 });
      if (!last) continue;
      if (!session.available || this.ctx.sessions.get(session.jid) !== session) return;
      const message = eventMessage(owner.bareString(), session.jid.toString(), publishedEvent(n.name, last), last.publishedAt);
      await this.ctx.sendAs(message, owner);
    }
  }

  private exclusive<T>(owner: JID, fn: () => Promise<T>): Promise<T> {
    return this.queue.run(owner.bareString(), fn);
  }

  /** The configuration of a node created now: the defaults, changed as asked, within the node's fixed options. */
  private newConfig(node: string, changes: ConfigChanges): NodeConfig {
    this.refuseAgainstFixed(node, changes);
    return withChanges(withChanges(defaultConfig(this.limits), changes), this.rules.get(node)?.fixed ?? {});
  }

  private refuseAgainstFixed(node: string, changes: ConfigChanges): void {
    const fixed = this.rules.get(node)?.fixed;
    const against = fixed ? againstFixed(fixed, changes) : [];
    if (against.length > 0) throw new StanzaError('not-acceptable', `The node '${node}' keeps its own value of ${against.join(', ')} on this server.`);
  }

  private notView(node: string): void {
    if (this.rules.get(node)?.view) throw viewOnly(node);
  }

  /** Tells the node's rules of a change; a failure there is logged: the change itself is done. */
  private async changed(owner: JID, node: string, change: NodeChange): Promise<void> {
    const changed = this.rules.get(node)?.changed;
    if (!changed) return;
    try {
      await changed(owner, change);
    } catch (err) {
      this.ctx.log.warn({ err, node, owner: owner.bareString() }, 'a module could not follow a change of a node');
    }
  }

  /**
   * Sends the event to each available session that wants the node and may
   * read it: the owner's, and those of contacts with a presence subscription
   * to the owner (XEP-0163 §4.2). Each goes through the decision point.
   */
  private async notify(owner: JID, node: string, config: NodeConfig, content: Element): Promise<void> {
    const to: ClientSession[] = this.ctx.sessions.ofAccount(owner).filter((s) => s.available && this.interest.wants(s, node));
    const roster = await this.roster.load(owner);
    for (const item of roster.items.values()) {
      if (accessError(config.accessModel, { owner: false, subscription: item.subscription })) continue;
      if (item.subscription !== 'from' && item.subscription !== 'both') continue; // open nodes too: PEP notifies contacts, not everyone
      for (const s of this.ctx.sessions.ofAccount(item.jid)) if (s.available && this.interest.wants(s, node)) to.push(s);
    }
    const from = owner.bareString();
    for (const s of to) await this.ctx.sendAs(eventMessage(from, s.jid.toString(), content.clone()), owner);
  }

  private nodeLimit(): StanzaError {
    return new StanzaError('policy-violation', `An account can have at most ${this.limits.maxNodes} nodes here; delete one first.`);
  }
}

export function ownerOf(j: JID): Owner {
  return { domain: j.domain, localpart: j.local };
}

function viewOnly(node: string): StanzaError {
  return new StanzaError('not-allowed', `The node '${node}' is kept by the server from other data: it can be read and published to, nothing else.`);
}

function checkKey(what: string, value: string): void {
  if (value === '') throw new StanzaError('bad-request', `The ${what} must not be empty.`);
  if (Buffer.byteLength(value, 'utf8') > MAX_ID_BYTES) throw new StanzaError('not-acceptable', `The ${what} is longer than ${MAX_ID_BYTES} bytes.`);
}
