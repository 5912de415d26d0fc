// The pubsub requests PEP answers (XEP-0060 §6-8 as XEP-0163 narrows them):
// each <pubsub/> payload read, checked and handed to the service, and the
// result written back.
import type { JID } from '../../xmpp/jid.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { NS } from '../../xmpp/ns.ts';
import { configForm, defaultConfig, parseConfigForm, type ConfigChanges } from './config.ts';
import { nodeRequired, pubsubError, unsupported } from './errors.ts';
import { itemElement } from './event.ts';
import type { PepLimits, PepService } from './service.ts';

/** Requests this service doesn't implement, by element, with the disco feature that names them. */
const UNSUPPORTED: Record<string, string> = {
  subscribe: 'subscribe',
  unsubscribe: 'subscribe',
  options: 'subscription-options',
  subscriptions: 'retrieve-subscriptions',
  affiliations: 'retrieve-affiliations',
};
const UNSUPPORTED_OWNER: Record<string, string> = {
  subscriptions: 'manage-subscriptions',
  affiliations: 'modify-affiliations',
};

export class PepProtocol {
  private readonly service: PepService;
  private readonly limits: PepLimits;

  constructor(service: PepService, limits: PepLimits) {
    this.service = service;
    this.limits = limits;
  }

  /** iq get with <pubsub/>: items, or (as Converse.js asks) the node configuration. */
  async get(pubsub: Element, owner: JID, from: JID): Promise<Element> {
    const [verb, request] = this.verb(pubsub, NS.pubsub, UNSUPPORTED);
    if (verb === 'configure') return this.configuration(request, owner);
    if (verb !== 'items') throw new StanzaError('bad-request', `<${verb}/> is not a pubsub retrieval.`);
    const node = nodeOf(request);
    const ids = request.getChildren('item', NS.pubsub).map((i) => {
      const id = i.attrs.id;
      if (!id) throw new StanzaError('bad-request', "Each requested <item/> needs an 'id'.");
      return id;
    });
    const items = await this.service.read(owner, from, node, ids.length > 0 ? { ids } : { max: maxItemsOf(request) });
    return x('pubsub', { xmlns: NS.pubsub }, x('items', { node }, ...items.map(itemElement)));
  }

  /** iq set with <pubsub/>: publish, retract or create. */
  async set(pubsub: Element, owner: JID): Promise<Element | undefined> {
    const [verb, request] = this.verb(pubsub, NS.pubsub, UNSUPPORTED, ['publish-options', 'configure']);
    const node = request.attrs.node;
    switch (verb) {
      case 'publish': {
        if (node === undefined) throw nodeRequired();
        const items = request.getChildren('item', NS.pubsub);
        if (items.length === 0) throw pubsubError('bad-request', 'item-required', 'Publish one <item/>.');
        if (items.length > 1) throw pubsubError('bad-request', 'invalid-payload', 'Publish one <item/> per request.');
        const item = items[0]!;
        const payloads = item.elements;
        if (payloads.length === 0) throw pubsubError('bad-request', 'payload-required', 'The <item/> needs a payload element.');
        if (payloads.length > 1) throw pubsubError('bad-request', 'invalid-payload', 'The <item/> must hold exactly one payload element.');
        const options = this.options(pubsub.getChild('publish-options', NS.pubsub), 'publish-options');
        const id = await this.service.publish(owner, node, { id: item.attrs.id || undefined, payload: payloads[0]! }, options);
        return x('pubsub', { xmlns: NS.pubsub }, x('publish', { node }, x('item', { id })));
      }
      case 'retract': {
        if (node === undefined) throw nodeRequired();
        const ids = request.getChildren('item', NS.pubsub).map((i) => i.attrs.id ?? '');
        if (ids.length === 0 || ids.some((id) => id === '')) throw pubsubError('bad-request', 'item-required', "Name the items to retract: <item id='…'/>.");
        const notify = request.attrs.notify === 'true' || request.attrs.notify === '1';
        await this.service.retract(owner, node, ids, notify);
        return undefined;
      }
      case 'create': {
        // XEP-0163 nodes have names; an instant node (no name) is something else.
        if (node === undefined) throw pubsubError('not-acceptable', 'nodeid-required', 'Name the node to create.');
        const changes = this.options(pubsub.getChild('configure', NS.pubsub), 'node_config') ?? {};
        await this.service.create(owner, node, changes);
        return undefined;
      }
      default:
        throw new StanzaError('bad-request', `<${verb}/> is not a pubsub request of type set.`);
    }
  }

  /** iq get with <pubsub xmlns='…#owner'/>: the node configuration or the default one. */
  async ownerGet(pubsub: Element, owner: JID): Promise<Element> {
    const [verb, request] = this.verb(pubsub, NS.pubsubOwner, UNSUPPORTED_OWNER);
    if (verb === 'configure') return this.configuration(request, owner);
    if (verb === 'default') {
      return x('pubsub', { xmlns: NS.pubsubOwner }, x('default', {}, configForm(defaultConfig(this.limits))));
    }
    throw new StanzaError('bad-request', `<${verb}/> is not an owner retrieval.`);
  }

  /** iq set with <pubsub xmlns='…#owner'/>: configure, delete or purge. */
  async ownerSet(pubsub: Element, owner: JID): Promise<undefined> {
    const [verb, request] = this.verb(pubsub, NS.pubsubOwner, UNSUPPORTED_OWNER);
    const node = request.attrs.node;
    if (node === undefined) throw nodeRequired();
    switch (verb) {
      case 'configure': {
        const form = request.getChild('x', NS.dataForms);
        if (!form) throw new StanzaError('bad-request', 'Submit the configuration as a data form.');
        if (form.attrs.type === 'cancel') return undefined;
        await this.service.configure(owner, node, parseConfigForm(form, 'node_config', this.limits));
        return undefined;
      }
      case 'delete':
        await this.service.deleteNode(owner, node);
        return undefined;
      case 'purge':
        await this.service.purge(owner, node);
        return undefined;
      default:
        throw new StanzaError('bad-request', `<${verb}/> is not an owner request of type set.`);
    }
  }

  private async configuration(request: Element, owner: JID): Promise<Element> {
    const node = nodeOf(request);
    const config = await this.service.config(owner, node);
    return x('pubsub', { xmlns: NS.pubsubOwner }, x('configure', { node }, configForm(config)));
  }

  /** The one request element of the payload (besides the options that may go with it). */
  private verb(pubsub: Element, ns: string, unsupportedOnes: Record<string, string>, companions: string[] = []): [string, Element] {
    const requests = pubsub.elements.filter((e) => e.ns === ns && !companions.includes(e.name));
    const request = requests[0];
    if (!request || requests.length > 1) throw new StanzaError('bad-request', 'A pubsub request holds exactly one request element.');
    const feature = unsupportedOnes[request.name];
    if (feature) throw unsupported(feature, `<${request.name}/> is not supported on personal eventing nodes.`);
    return [request.name, request];
  }

  private options(wrapper: Element | undefined, kind: 'publish-options' | 'node_config'): ConfigChanges | undefined {
    if (!wrapper) return undefined;
    const form = wrapper.getChild('x', NS.dataForms);
    return form ? parseConfigForm(form, kind, this.limits) : undefined;
  }
}

function nodeOf(request: Element): string {
  const node = request.attrs.node;
  if (node === undefined) throw nodeRequired();
  return node;
}

function maxItemsOf(request: Element): number | undefined {
  const raw = request.attrs.max_items;
  if (raw === undefined) return undefined;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < 1) throw new StanzaError('bad-request', "'max_items' is a positive number.");
  return Number(raw);
}
