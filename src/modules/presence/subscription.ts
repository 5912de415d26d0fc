// The presence subscription state machine of RFC 6121 §3 and Appendix A, as
// pure functions. A state is what one account's server knows about one
// contact: the subscription ('to': the account receives the contact's
// presence; 'from': the contact receives the account's), whether the account
// asked for the contact's presence (Pending Out), whether the contact asked
// for the account's (Pending In), and whether the account pre-approved a
// request from the contact (§3.4).
import type { Subscription } from '../roster/store.ts';

export type SubscriptionType = 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed';
export const SUBSCRIPTION_TYPES: readonly SubscriptionType[] = ['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed'];

export interface SubState {
  subscription: Subscription;
  pendingOut: boolean;
  pendingIn: boolean;
  approved: boolean;
}

export const NONE: Readonly<SubState> = Object.freeze({ subscription: 'none', pendingOut: false, pendingIn: false, approved: false });

/** The account sends this stanza to the contact: its own server's processing (Appendix A.2). */
export interface OutboundResult {
  next: SubState;
  /** Whether the stanza goes on to the contact. */
  route: boolean;
}

/** The stanza arrives from the contact: the receiving account's server's processing (Appendix A.3). */
export interface InboundResult {
  next: SubState;
  /** Whether the stanza is delivered to the account's available resources. */
  deliver: boolean;
  /** An answer the server sends on the account's behalf (§3.1.3: already subscribed, or pre-approved). */
  autoReply?: 'subscribed';
}

export function hasTo(s: SubState): boolean {
  return s.subscription === 'to' || s.subscription === 'both';
}

export function hasFrom(s: SubState): boolean {
  return s.subscription === 'from' || s.subscription === 'both';
}

function withTo(s: Subscription, on: boolean): Subscription {
  const from = s === 'from' || s === 'both';
  return on ? (from ? 'both' : 'to') : from ? 'from' : 'none';
}

function withFrom(s: Subscription, on: boolean): Subscription {
  const to = s === 'to' || s === 'both';
  return on ? (to ? 'both' : 'from') : to ? 'to' : 'none';
}

export function outbound(type: SubscriptionType, s: SubState): OutboundResult {
  switch (type) {
    // A.2.1: ask, unless the subscription exists already; always routed (the
    // contact's server answers for itself, which also resynchronises).
    case 'subscribe':
      return { next: hasTo(s) ? s : { ...s, pendingOut: true }, route: true };
    // A.2.2: cancels the subscription or the request; always routed.
    case 'unsubscribe':
      return { next: { ...s, subscription: withTo(s.subscription, false), pendingOut: false }, route: true };
    // A.2.3: approves a pending request; with none pending and no 'from' yet,
    // it is a pre-approval (§3.4.1), recorded and not routed.
    case 'subscribed':
      if (s.pendingIn) return { next: { ...s, subscription: withFrom(s.subscription, true), pendingIn: false, approved: false }, route: true };
      if (hasFrom(s)) return { next: s, route: false };
      return { next: { ...s, approved: true }, route: false };
    // A.2.4: refuses a pending request or cancels the contact's subscription;
    // it also withdraws a pre-approval (§3.4.1).
    case 'unsubscribed':
      if (s.pendingIn || hasFrom(s)) {
        return { next: { ...s, subscription: withFrom(s.subscription, false), pendingIn: false, approved: false }, route: true };
      }
      return { next: { ...s, approved: false }, route: false };
  }
}

export function inbound(type: SubscriptionType, s: SubState): InboundResult {
  switch (type) {
    // A.3.1 and §3.4.2
    case 'subscribe':
      if (hasFrom(s)) return { next: s, deliver: false, autoReply: 'subscribed' };
      if (s.pendingIn) return { next: s, deliver: false };
      if (s.approved) return { next: { ...s, subscription: withFrom(s.subscription, true), approved: false }, deliver: false, autoReply: 'subscribed' };
      return { next: { ...s, pendingIn: true }, deliver: true };
    // A.3.2
    case 'unsubscribe':
      if (!s.pendingIn && !hasFrom(s)) return { next: s, deliver: false };
      return { next: { ...s, subscription: withFrom(s.subscription, false), pendingIn: false }, deliver: true };
    // A.3.3
    case 'subscribed':
      if (!s.pendingOut) return { next: s, deliver: false };
      return { next: { ...s, subscription: withTo(s.subscription, true), pendingOut: false }, deliver: true };
    // A.3.4
    case 'unsubscribed':
      if (!s.pendingOut && !hasTo(s)) return { next: s, deliver: false };
      return { next: { ...s, subscription: withTo(s.subscription, false), pendingOut: false }, deliver: true };
  }
}

/** The state's name as Appendix A writes it, e.g. "None + Pending Out+In", "To + Pending In". */
export function stateName(s: SubState): string {
  const base = { none: 'None', to: 'To', from: 'From', both: 'Both' }[s.subscription];
  const pending = [s.pendingOut ? 'Out' : '', s.pendingIn ? 'In' : ''].filter(Boolean).join('+');
  return pending ? `${base} + Pending ${pending}` : base;
}

/** The nine states of Appendix A.1 (without pre-approval). */
export const STATES: readonly SubState[] = [
  NONE,
  { ...NONE, pendingOut: true },
  { ...NONE, pendingIn: true },
  { ...NONE, pendingOut: true, pendingIn: true },
  { ...NONE, subscription: 'to' },
  { ...NONE, subscription: 'to', pendingIn: true },
  { ...NONE, subscription: 'from' },
  { ...NONE, subscription: 'from', pendingOut: true },
  { ...NONE, subscription: 'both' },
];

export function sameState(a: SubState, b: SubState): boolean {
  return a.subscription === b.subscription && a.pendingOut === b.pendingOut && a.pendingIn === b.pendingIn && a.approved === b.approved;
}
