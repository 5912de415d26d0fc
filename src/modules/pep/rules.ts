// What other modules add to particular nodes (bookmarks, avatar-sync): a
// payload limit of their own, a check before an item is stored, options the
// node always has, being told of changes, or a view — a node whose items
// another module computes from other data. Reads still pass pep's own access
// check (src/modules/pep/access.ts); a rule cannot widen it.
import type { Element } from '../../xmpp/element.ts';
import type { JID } from '../../xmpp/jid.ts';
import type { NodeConfig } from './config.ts';

export interface PublishedItem {
  id: string;
  payload: Element;
}

export type NodeChange =
  | { kind: 'published'; item: PublishedItem }
  | { kind: 'retracted'; ids: readonly string[] }
  | { kind: 'purged' }
  | { kind: 'deleted' };

export interface NodeView {
  /** The node's items as its owner reads them, oldest first. */
  items(owner: JID): Promise<PublishedItem[]>;
  /** The owner published this item (publish-options don't apply); returns the item id. */
  publish(owner: JID, item: { id: string | undefined; payload: Element }): Promise<string>;
}

export interface NodeRules {
  /** Largest payload this node keeps, instead of max_payload_bytes (e.g. avatar images). */
  maxPayloadBytes?: number;
  /** Options the node always has: a node created without them gets them; asking for other values is refused. */
  fixed?: Partial<NodeConfig>;
  /**
   * Asked before an item is stored (the account's changes wait meanwhile), with
   * the ids the node holds; throws a StanzaError to refuse it, nothing changed.
   */
  check?(owner: JID, item: PublishedItem, existingIds: readonly string[]): void | Promise<void>;
  /** Told after a change was stored and notified, before the publisher's request is answered. */
  changed?(owner: JID, change: NodeChange): void | Promise<void>;
  /** The node is this view: reads (owner only) and publishes go to it; other requests are refused. */
  view?: NodeView;
}
