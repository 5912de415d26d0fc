// Who may read a node (XEP-0060 §4.5, XEP-0163 §5): asked on every read —
// items requests, last-item delivery and notifications alike.
import type { StanzaError } from '../../xmpp/errors.ts';
import type { Subscription } from '../roster/store.ts';
import type { AccessModel } from './config.ts';
import { pubsubError } from './errors.ts';

export interface Reader {
  /** The reader is the node's owner (any of the owner's resources). */
  owner: boolean;
  /** The reader's presence subscription as the owner's roster records it. */
  subscription: Subscription;
}

/** undefined when the reader may read, else the error XEP-0060 §6.5.9 prescribes. */
export function accessError(model: AccessModel, reader: Reader): StanzaError | undefined {
  if (reader.owner || model === 'open') return undefined;
  if (model === 'presence') {
    if (reader.subscription === 'from' || reader.subscription === 'both') return undefined;
    return pubsubError('not-authorized', 'presence-subscription-required', "Only the owner's contacts with a presence subscription may read this node.");
  }
  return pubsubError('not-allowed', 'closed-node', 'Only the owner may read this node.');
}
