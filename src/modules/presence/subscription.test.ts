// The subscription state machine against RFC 6121 Appendix A, written out
// here as the RFC's tables (not derived from the implementation): every one of
// the nine states × every subscription stanza, outbound and inbound.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NONE, STATES, inbound, outbound, stateName, type SubState, type SubscriptionType } from './subscription.ts';

const S = Object.fromEntries(STATES.map((s) => [stateName(s), s])) as Record<string, SubState>;

test('the nine states of Appendix A.1 have the RFC names', () => {
  assert.deepEqual(Object.keys(S), [
    'None',
    'None + Pending Out',
    'None + Pending In',
    'None + Pending Out+In',
    'To',
    'To + Pending In',
    'From',
    'From + Pending Out',
    'Both',
  ]);
});

// [existing state, route?, new state ('' = no state change)]
type Row = [string, boolean, string];

// A.2: the user's server processing what the user's client sends.
const OUTBOUND: Record<SubscriptionType, Row[]> = {
  // A.2.1 (the table has no ROUTE? column: §3.1.2 always routes the request)
  subscribe: [
    ['None', true, 'None + Pending Out'],
    ['None + Pending Out', true, ''],
    ['None + Pending In', true, 'None + Pending Out+In'],
    ['None + Pending Out+In', true, ''],
    ['To', true, ''],
    ['To + Pending In', true, ''],
    ['From', true, 'From + Pending Out'],
    ['From + Pending Out', true, ''],
    ['Both', true, ''],
  ],
  // A.2.2 (routed in every state, §3.3.2)
  unsubscribe: [
    ['None', true, ''],
    ['None + Pending Out', true, 'None'],
    ['None + Pending In', true, ''],
    ['None + Pending Out+In', true, 'None + Pending In'],
    ['To', true, 'None'],
    ['To + Pending In', true, 'None + Pending In'],
    ['From', true, ''],
    ['From + Pending Out', true, 'From'],
    ['Both', true, 'From'],
  ],
  // A.2.3 (pre-approval rows are checked separately below)
  subscribed: [
    ['None + Pending In', true, 'From'],
    ['None + Pending Out+In', true, 'From + Pending Out'],
    ['To + Pending In', true, 'Both'],
    ['From', false, ''],
    ['From + Pending Out', false, ''],
    ['Both', false, ''],
  ],
  // A.2.4
  unsubscribed: [
    ['None', false, ''],
    ['None + Pending Out', false, ''],
    ['None + Pending In', true, 'None'],
    ['None + Pending Out+In', true, 'None + Pending Out'],
    ['To', false, ''],
    ['To + Pending In', true, 'To'],
    ['From', true, 'None'],
    ['From + Pending Out', true, 'None + Pending Out'],
    ['Both', true, 'To'],
  ],
};

// A.3: the contact's server processing what arrives from the user. [state, deliver?, new state]
const INBOUND: Record<SubscriptionType, Row[]> = {
  // A.3.1 ("From" states: not delivered, the server answers 'subscribed' itself)
  subscribe: [
    ['None', true, 'None + Pending In'],
    ['None + Pending Out', true, 'None + Pending Out+In'],
    ['None + Pending In', false, ''],
    ['None + Pending Out+In', false, ''],
    ['To', true, 'To + Pending In'],
    ['To + Pending In', false, ''],
    ['From', false, ''],
    ['From + Pending Out', false, ''],
    ['Both', false, ''],
  ],
  // A.3.2
  unsubscribe: [
    ['None', false, ''],
    ['None + Pending Out', false, ''],
    ['None + Pending In', true, 'None'],
    ['None + Pending Out+In', true, 'None + Pending Out'],
    ['To', false, ''],
    ['To + Pending In', true, 'To'],
    ['From', true, 'None'],
    ['From + Pending Out', true, 'None + Pending Out'],
    ['Both', true, 'To'],
  ],
  // A.3.3
  subscribed: [
    ['None', false, ''],
    ['None + Pending Out', true, 'To'],
    ['None + Pending In', false, ''],
    ['None + Pending Out+In', true, 'To + Pending In'],
    ['To', false, ''],
    ['To + Pending In', false, ''],
    ['From', false, ''],
    ['From + Pending Out', true, 'Both'],
    ['Both', false, ''],
  ],
  // A.3.4
  unsubscribed: [
    ['None', false, ''],
    ['None + Pending Out', true, 'None'],
    ['None + Pending In', false, ''],
    ['None + Pending Out+In', true, 'None + Pending In'],
    ['To', true, 'None'],
    ['To + Pending In', true, 'None + Pending In'],
    ['From', false, ''],
    ['From + Pending Out', true, 'From'],
    ['Both', true, 'From'],
  ],
};

describe('outbound (Appendix A.2)', () => {
  for (const [type, rows] of Object.entries(OUTBOUND) as [SubscriptionType, Row[]][]) {
    for (const [from, route, to] of rows) {
      test(`${type} in "${from}" → ${to || 'no change'}, ${route ? 'routed' : 'not routed'}`, () => {
        const r = outbound(type, S[from]!);
        assert.equal(stateName(r.next), to || from);
        assert.equal(r.route, route);
        assert.equal(r.next.approved, false);
      });
    }
  }

  test('every state × type is covered (subscribed in None, None + Pending Out and To is pre-approval)', () => {
    for (const type of Object.keys(OUTBOUND) as SubscriptionType[]) {
      const covered = new Set(OUTBOUND[type].map((r) => r[0]));
      const missing = Object.keys(S).filter((n) => !covered.has(n));
      assert.deepEqual(missing, type === 'subscribed' ? ['None', 'None + Pending Out', 'To'] : []);
    }
  });
});

describe('inbound (Appendix A.3)', () => {
  for (const [type, rows] of Object.entries(INBOUND) as [SubscriptionType, Row[]][]) {
    for (const [from, deliver, to] of rows) {
      test(`${type} in "${from}" → ${to || 'no change'}, ${deliver ? 'delivered' : 'not delivered'}`, () => {
        const r = inbound(type, S[from]!);
        assert.equal(stateName(r.next), to || from);
        assert.equal(r.deliver, deliver);
        // §3.1.3: a subscriber asking again is answered by the server.
        const autoReply = type === 'subscribe' && ['From', 'From + Pending Out', 'Both'].includes(from) ? 'subscribed' : undefined;
        assert.equal(r.autoReply, autoReply);
      });
    }
    test(`${type}: all nine states`, () => assert.equal(rows.length, 9));
  }
});

describe('pre-approval (RFC 6121 §3.4)', () => {
  for (const name of ['None', 'None + Pending Out', 'To']) {
    test(`subscribed in "${name}" records a pre-approval and is not routed`, () => {
      const r = outbound('subscribed', S[name]!);
      assert.equal(r.route, false);
      assert.equal(stateName(r.next), name);
      assert.equal(r.next.approved, true);
      // Sending it again changes nothing.
      assert.deepEqual(outbound('subscribed', r.next), { next: r.next, route: false });
    });

    test(`a request arriving in "${name}" + approved is accepted without asking`, () => {
      const approved = { ...S[name]!, approved: true };
      const r = inbound('subscribe', approved);
      assert.equal(r.deliver, false);
      assert.equal(r.autoReply, 'subscribed');
      assert.equal(stateName(r.next), { None: 'From', 'None + Pending Out': 'From + Pending Out', To: 'Both' }[name]);
      assert.equal(r.next.approved, false, 'the approval is used up');
    });

    test(`unsubscribed in "${name}" + approved withdraws the approval, not routed`, () => {
      const r = outbound('unsubscribed', { ...S[name]!, approved: true });
      assert.equal(r.route, false);
      assert.deepEqual(r.next, { ...S[name]!, approved: false });
    });
  }

  test('approving a pending request clears any pre-approval flag', () => {
    assert.equal(outbound('subscribed', { ...NONE, pendingIn: true, approved: true }).next.approved, false);
  });
});
