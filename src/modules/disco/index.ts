// XEP-0030 Service Discovery for the server and, on their behalf, for accounts.
import { defineModule } from '../../core/module.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import type { DiscoIdentity } from '../../core/module.ts';

function info(identities: DiscoIdentity[], features: string[]): Element {
  const query = x('query', { xmlns: NS.discoInfo });
  for (const id of identities) {
    const attrs: Record<string, string> = { category: id.category, type: id.type };
    if (id.name) attrs.name = id.name;
    query.c('identity', attrs);
  }
  for (const f of [...new Set(features)].sort()) query.c('feature', { var: f });
  return query;
}

/** Nodes are for later modules (e.g. caps, commands); an unknown node is an error, not an empty answer. */
function refuseNode(iq: Element): void {
  const node = iq.elements[0]!.attrs.node;
  if (node !== undefined) throw new StanzaError('item-not-found', `No such node: ${node}`);
}

export default defineModule({
  id: 'disco',
  description: 'Service Discovery (XEP-0030)',
  hostFeatures: [NS.discoInfo, NS.discoItems],
  accountFeatures: [NS.discoInfo, NS.discoItems],
  hostIdentities: [{ category: 'server', type: 'im', name: 'Palisade' }],
  setup(ctx) {
    ctx.iq({ type: 'get', ns: NS.discoInfo, name: 'query', targets: ['host'] }, (iq) => {
      refuseNode(iq);
      return info(ctx.disco.hostIdentities(), ctx.disco.hostFeatures());
    });
    ctx.iq({ type: 'get', ns: NS.discoInfo, name: 'query', targets: ['account'] }, (iq) => {
      refuseNode(iq);
      return info([{ category: 'account', type: 'registered' }, ...ctx.disco.accountIdentities()], ctx.disco.accountFeatures());
    });
    ctx.iq({ type: 'get', ns: NS.discoItems, name: 'query', targets: ['host'] }, (iq) => {
      refuseNode(iq);
      // The component hosts modules serve (e.g. conference.<host>) are the server's items.
      const query = x('query', { xmlns: NS.discoItems });
      for (const item of ctx.disco.hostItems()) query.c('item', item.name ? { jid: item.jid, name: item.name } : { jid: item.jid });
      return query;
    });
    ctx.iq({ type: 'get', ns: NS.discoItems, name: 'query', targets: ['account'] }, (iq) => {
      refuseNode(iq);
      return x('query', { xmlns: NS.discoItems });
    });
  },
});
