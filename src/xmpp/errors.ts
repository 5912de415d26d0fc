// Stanza errors (RFC 6120 §8.3) and stream errors (RFC 6120 §4.9).
import { Element, x } from './element.ts';
import { NS } from './ns.ts';

/**
 * The one text for "cannot be delivered": used for offline accounts, full
 * offline stores, nonexistent accounts and blocked senders alike, so a sender
 * cannot tell those cases apart.
 */
export const RECIPIENT_UNAVAILABLE_TEXT = 'The recipient is not available.';

export type StanzaErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';

/** Each defined condition with the error type RFC 6120 §8.3.3 recommends. */
export const STANZA_ERROR_TYPES = {
  'bad-request': 'modify',
  conflict: 'cancel',
  'feature-not-implemented': 'cancel',
  forbidden: 'auth',
  gone: 'cancel',
  'internal-server-error': 'cancel',
  'item-not-found': 'cancel',
  'jid-malformed': 'modify',
  'not-acceptable': 'modify',
  'not-allowed': 'cancel',
  'not-authorized': 'auth',
  'policy-violation': 'modify',
  'recipient-unavailable': 'wait',
  redirect: 'modify',
  'registration-required': 'auth',
  'remote-server-not-found': 'cancel',
  'remote-server-timeout': 'wait',
  'resource-constraint': 'wait',
  'service-unavailable': 'cancel',
  'subscription-required': 'auth',
  'undefined-condition': 'cancel',
  'unexpected-request': 'wait',
} as const satisfies Record<string, StanzaErrorType>;

export type StanzaErrorCondition = keyof typeof STANZA_ERROR_TYPES;

/** Thrown by handlers to answer with a stanza error; the router turns it into the reply. */
export class StanzaError extends Error {
  readonly condition: StanzaErrorCondition;
  readonly type: StanzaErrorType;
  readonly text: string | undefined;
  /** Application-specific condition element, e.g. for XEP-defined errors. */
  readonly appCondition: Element | undefined;

  constructor(condition: StanzaErrorCondition, text?: string, opts: { type?: StanzaErrorType; appCondition?: Element } = {}) {
    super(text ? `${condition}: ${text}` : condition);
    this.name = 'StanzaError';
    this.condition = condition;
    this.type = opts.type ?? STANZA_ERROR_TYPES[condition];
    this.text = text;
    this.appCondition = opts.appCondition;
  }

  toElement(by?: string): Element {
    const err = x('error', by ? { type: this.type, by } : { type: this.type });
    err.c(this.condition, { xmlns: NS.stanzas });
    if (this.text) err.c('text', { xmlns: NS.stanzas, 'xml:lang': 'en' }).t(this.text);
    if (this.appCondition) err.append(this.appCondition.clone());
    return err;
  }
}

/**
 * The error reply to a stanza: swaps from/to, keeps id, type="error", and (RFC
 * 6120 §8.3.1) may include the original payload; we include it only for
 * messages/presence small enough, never for iq results, to keep replies cheap.
 */
export function errorReply(stanza: Element, error: StanzaError): Element {
  const attrs: Record<string, string> = { type: 'error' };
  if (stanza.attrs.id !== undefined) attrs.id = stanza.attrs.id;
  if (stanza.attrs.to !== undefined) attrs.from = stanza.attrs.to;
  if (stanza.attrs.from !== undefined) attrs.to = stanza.attrs.from;
  const reply = x(stanza.name, attrs);
  if (stanza.name === 'iq') {
    const payload = stanza.elements[0];
    if (payload) reply.append(payload.clone());
  }
  reply.append(error.toElement());
  return reply;
}

/** Stanzas of type error must never be answered with an error (RFC 6120 §8.3.1). */
export function mayBounce(stanza: Element): boolean {
  return stanza.attrs.type !== 'error' && !(stanza.name === 'iq' && stanza.attrs.type === 'result');
}

export type StreamErrorCondition =
  | 'bad-format'
  | 'bad-namespace-prefix'
  | 'conflict'
  | 'connection-timeout'
  | 'host-gone'
  | 'host-unknown'
  | 'improper-addressing'
  | 'internal-server-error'
  | 'invalid-from'
  | 'invalid-namespace'
  | 'invalid-xml'
  | 'not-authorized'
  | 'not-well-formed'
  | 'policy-violation'
  | 'remote-connection-failed'
  | 'reset'
  | 'resource-constraint'
  | 'restricted-xml'
  | 'see-other-host'
  | 'system-shutdown'
  | 'undefined-condition'
  | 'unsupported-encoding'
  | 'unsupported-feature'
  | 'unsupported-stanza-type'
  | 'unsupported-version';

export function streamErrorElement(condition: StreamErrorCondition, text?: string): Element {
  const el = x('stream:error');
  el.c(condition, { xmlns: NS.streams });
  if (text) el.c('text', { xmlns: NS.streams, 'xml:lang': 'en' }).t(text);
  return el;
}
