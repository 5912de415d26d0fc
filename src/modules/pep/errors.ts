// Stanza errors with XEP-0060's application conditions (§7.1.3, §6.5.9 …).
import { x } from '../../xmpp/element.ts';
import { StanzaError, type StanzaErrorCondition } from '../../xmpp/errors.ts';
import { NS } from '../../xmpp/ns.ts';

export function pubsubError(condition: StanzaErrorCondition, app: string, text: string, attrs: Record<string, string> = {}): StanzaError {
  return new StanzaError(condition, text, { appCondition: x(app, { xmlns: NS.pubsubErrors, ...attrs }) });
}

/** XEP-0060 §7.1.3.3, §8.1.3: what this service doesn't do, named by its disco feature. */
export function unsupported(feature: string, text: string): StanzaError {
  return pubsubError('feature-not-implemented', 'unsupported', text, { feature });
}

export function nodeRequired(): StanzaError {
  return pubsubError('bad-request', 'nodeid-required', "The request needs a 'node' attribute.");
}

export function noSuchNode(node: string): StanzaError {
  return new StanzaError('item-not-found', `There is no node '${node}'.`);
}
