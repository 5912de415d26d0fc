// XEP-0198 counters: acknowledgements drop exactly the acknowledged stanzas,
// 'h' wraps at 2^32 (§4) on both sides, and an 'h' above what was sent is caught
// also across the wrap.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { StreamManagementState, parseH } from './stream-management.ts';
import { x } from '../xmpp/element.ts';

const MAX = 2 ** 32 - 1;

function sendN(sm: StreamManagementState, n: number, from = 1): void {
  for (let i = from; i < from + n; i++) sm.countSent(x('message', { id: `m${i}` }));
}

function ids(sm: StreamManagementState): string[] {
  return sm.unacked.map((el) => el.attrs.id!);
}

describe('StreamManagementState', () => {
  test('acks drop stanzas from the front of the queue, in order; repeating an ack drops nothing', () => {
    const sm = new StreamManagementState();
    sendN(sm, 5);
    assert.equal(sm.sentCount, 5);
    assert.deepEqual(sm.ack(2), { ok: true, acked: 2 });
    assert.deepEqual(ids(sm), ['m3', 'm4', 'm5']);
    assert.deepEqual(sm.ack(2), { ok: true, acked: 0 });
    assert.deepEqual(sm.ack(5), { ok: true, acked: 3 });
    assert.deepEqual(ids(sm), []);
    assert.deepEqual(sm.ack(5), { ok: true, acked: 0 });
  });

  test('an ack above what was sent is refused and changes nothing', () => {
    const sm = new StreamManagementState();
    sendN(sm, 3);
    assert.deepEqual(sm.ack(4), { ok: false, sent: 3 });
    assert.deepEqual(ids(sm), ['m1', 'm2', 'm3']);
    assert.deepEqual(sm.ack(3), { ok: true, acked: 3 });
    // Nothing outstanding: any other value is too high.
    assert.deepEqual(sm.ack(4), { ok: false, sent: 3 });
    assert.deepEqual(sm.ack(MAX), { ok: false, sent: 3 });
  });

  test('handled wraps from 2^32 - 1 to 0', () => {
    const sm = new StreamManagementState(MAX - 1);
    sm.countHandled();
    assert.equal(sm.handled, MAX);
    sm.countHandled();
    assert.equal(sm.handled, 0);
    sm.countHandled();
    assert.equal(sm.handled, 1);
  });

  test('sent count and acks across the wrap', () => {
    const sm = new StreamManagementState(MAX - 2);
    sendN(sm, 6);
    // MAX-2 + 6 = 2^32 + 3 → 3
    assert.equal(sm.sentCount, 3);
    assert.deepEqual(sm.ack(MAX), { ok: true, acked: 2 });
    assert.deepEqual(ids(sm), ['m3', 'm4', 'm5', 'm6']);
    assert.deepEqual(sm.ack(1), { ok: true, acked: 2 });
    assert.deepEqual(ids(sm), ['m5', 'm6']);
    assert.deepEqual(sm.ack(4), { ok: false, sent: 3 }, 'over-ack after the wrap');
    assert.deepEqual(sm.ack(3), { ok: true, acked: 2 });
    assert.deepEqual(ids(sm), []);
  });

  test('an ack from before the wrap point that jumps past the sent count is refused', () => {
    const sm = new StreamManagementState(MAX);
    sendN(sm, 2); // sent: MAX → 0 → 1
    assert.equal(sm.sentCount, 1);
    assert.deepEqual(sm.ack(2), { ok: false, sent: 1 });
    assert.deepEqual(sm.ack(0), { ok: true, acked: 1 });
    assert.deepEqual(sm.ack(MAX), { ok: false, sent: 1 }, 'going backwards is as wrong as going too far');
    assert.deepEqual(ids(sm), ['m2']);
  });
});

describe('parseH', () => {
  test('accepts unsigned 32-bit decimal integers', () => {
    assert.equal(parseH('0'), 0);
    assert.equal(parseH('42'), 42);
    assert.equal(parseH('0042'), 42);
    assert.equal(parseH(String(MAX)), MAX);
  });

  test('refuses anything else', () => {
    for (const bad of [undefined, '', '-1', '+1', '1.0', '1e3', ' 1', '1 ', '0x10', '4294967296', '99999999999', 'abc', '１']) {
      assert.equal(parseH(bad), undefined, String(bad));
    }
  });
});
