// The blocking rule: the facts the classifier established, turned into the
// verdicts XEP-0191 §3.3 prescribes. A user's block is the user's own choice,
// not an organisational refusal, so none of these denials is audited.
import { x } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';
import type { PolicyRequest, Verdict } from '../../policy/types.ts';
import { RECIPIENT_UNAVAILABLE_TEXT } from '../../xmpp/errors.ts';

/** The sender (a local account) has the recipient's address on its block list. */
export const SENDER_BLOCKS_RECIPIENT = 'sender-blocks-recipient';
/** The recipient (a local account) has the sender's address on its block list. */
export const RECIPIENT_BLOCKS_SENDER = 'recipient-blocks-sender';
/** The stanza's 'type' attribute ('' when absent); set with the facts above, for this rule. */
export const STANZA_TYPE = 'stanza-type';
/** A block list involved could not be read: the stanza is refused rather than let through. */
export const BLOCK_LIST_UNAVAILABLE = 'block-list-unavailable';

export const OUTBOUND_RULE = 'blocking:outbound';
export const INBOUND_RULE = 'blocking:inbound';
export const UNREADABLE_RULE = 'blocking:unreadable';

/** The same words as for an unavailable recipient: a blocked sender learns nothing more. */
export const UNAVAILABLE_TEXT = RECIPIENT_UNAVAILABLE_TEXT;
export const BLOCKED_TEXT = 'You have blocked this address; unblock it to communicate with it.';

const OUTBOUND_DROP: Verdict = Object.freeze({ decision: 'deny', rule: OUTBOUND_RULE, silent: true, audit: false });
const OUTBOUND_REFUSE: Verdict = Object.freeze({
  decision: 'deny',
  rule: OUTBOUND_RULE,
  condition: 'not-acceptable',
  text: BLOCKED_TEXT,
  appCondition: x('blocked', { xmlns: NS.blockingErrors }),
  audit: false,
});
const INBOUND_DROP: Verdict = Object.freeze({ decision: 'deny', rule: INBOUND_RULE, silent: true, audit: false });
const INBOUND_MESSAGE: Verdict = Object.freeze({
  decision: 'deny',
  rule: INBOUND_RULE,
  condition: 'service-unavailable',
  text: UNAVAILABLE_TEXT,
  audit: false,
});
// An iq to an account or resource that is not there is answered without text;
// so is one from a blocked address (empty text: the error carries no <text/>).
// A server fault, not a user's choice: audited like any refusal.
const UNREADABLE: Verdict = Object.freeze({
  decision: 'deny',
  rule: UNREADABLE_RULE,
  condition: 'internal-server-error',
  text: 'The server could not check block lists; the stanza was not delivered.',
});
const INBOUND_IQ: Verdict = Object.freeze({ decision: 'deny', rule: INBOUND_RULE, condition: 'service-unavailable', text: '', audit: false });

/**
 * XEP-0191 §3.3, for a stanza between a local account and an address on a block list:
 *
 * | stanza                      | user → blocked (outbound)         | blocked → user (inbound)  |
 * |-----------------------------|-----------------------------------|---------------------------|
 * | presence (any type)         | dropped                           | dropped                   |
 * | message (chat/normal/groupchat) | not-acceptable + `<blocked/>` | service-unavailable       |
 * | message headline            | not-acceptable + `<blocked/>`     | dropped (as if offline)   |
 * | message error               | dropped                           | dropped                   |
 * | iq get/set                  | not-acceptable + `<blocked/>`     | service-unavailable       |
 * | iq result/error             | dropped                           | dropped                   |
 *
 * The user's own block wins when both block each other. A list that could not
 * be read refuses the stanza (internal-server-error). Undefined: no opinion.
 */
export function blockingVerdict(req: PolicyRequest): Verdict | undefined {
  const facts = req.facts;
  if (facts === undefined) return undefined;
  if (facts[BLOCK_LIST_UNAVAILABLE] === true) return UNREADABLE;
  const outbound = facts[SENDER_BLOCKS_RECIPIENT] === true;
  if (!outbound && facts[RECIPIENT_BLOCKS_SENDER] !== true) return undefined;
  const t = facts[STANZA_TYPE];
  const type = typeof t === 'string' ? t : '';
  switch (req.action) {
    case 'stanza.presence':
      return outbound ? OUTBOUND_DROP : INBOUND_DROP;
    case 'stanza.message':
      if (type === 'error') return outbound ? OUTBOUND_DROP : INBOUND_DROP;
      if (outbound) return OUTBOUND_REFUSE;
      return type === 'headline' ? INBOUND_DROP : INBOUND_MESSAGE;
    case 'stanza.iq':
      if (type === 'result' || type === 'error') return outbound ? OUTBOUND_DROP : INBOUND_DROP;
      return outbound ? OUTBOUND_REFUSE : INBOUND_IQ;
    default:
      return undefined;
  }
}
