// The classify step for blocking: on every routed stanza, whether the sender
// blocks the recipient and whether the recipient blocks the sender. Facts only;
// the rule (verdicts.ts) decides. With every list cached (the lists of online
// accounts always are once used) this is synchronous: two Map lookups, and a Set
// lookup or three for an account that blocks anyone.
import type { Classifier } from '../../core/router.ts';
import type { PolicyRequest } from '../../policy/types.ts';
import type { Element } from '../../xmpp/element.ts';
import type { JID } from '../../xmpp/jid.ts';
import type { BlockListCache } from './cache.ts';
import { BLOCK_LIST_UNAVAILABLE, RECIPIENT_BLOCKS_SENDER, SENDER_BLOCKS_RECIPIENT, STANZA_TYPE } from './verdicts.ts';

export function blockingClassifier(host: string, cache: BlockListCache, onReadError: (err: unknown) => void): Classifier {
  const mark = (req: PolicyRequest, stanza: Element, fact: string) => {
    const facts = (req.facts ??= {});
    facts[fact] = true;
    facts[STANZA_TYPE] ??= stanza.attrs.type ?? '';
  };

  /** Whether owner's list matches peer; a promise only when the list has to be read first. */
  const check = (req: PolicyRequest, stanza: Element, owner: string, peer: JID, fact: string): Promise<void> | undefined => {
    const list = cache.peek(owner);
    if (list !== undefined) {
      if (list.matches(peer)) mark(req, stanza, fact);
      return undefined;
    }
    return cache.load(owner).then(
      (l) => {
        if (l.matches(peer)) mark(req, stanza, fact);
      },
      (err: unknown) => {
        // Not knowing is not "not blocked": the rule refuses the stanza (fail closed).
        onReadError(err);
        (req.facts ??= {})[BLOCK_LIST_UNAVAILABLE] = true;
      },
    );
  };

  return (req, stanza, from, to) => {
    const senderIsAccount = from.local !== '' && from.domain === host;
    const recipientIsAccount = to.local !== '' && to.domain === host;
    if (senderIsAccount) {
      // An account never blocks itself, whatever its list says.
      if (recipientIsAccount && from.local === to.local) return;
    } else if (!recipientIsAccount) return;
    // The server itself (its domain JID, any resource) is never blocked for its own users.
    const out = senderIsAccount && !(to.local === '' && to.domain === host) ? check(req, stanza, from.bareString(), to, SENDER_BLOCKS_RECIPIENT) : undefined;
    const inb = recipientIsAccount && !(from.local === '' && from.domain === host) ? check(req, stanza, to.bareString(), from, RECIPIENT_BLOCKS_SENDER) : undefined;
    if (out && inb) return Promise.all([out, inb]).then(() => undefined);
    return out ?? inb;
  };
}
