// The CSI queue: what waits while the client is inactive, how it collapses, and
// that whatever is released keeps the order the stanzas arrived in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeldStanzas, canWait } from './held.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';

const presence = (from: string, show?: string, type?: string) =>
  x('presence', type ? { from, to: 'me@example.org/phone', type } : { from, to: 'me@example.org/phone' }, ...(show ? [x('show', {}, show)] : []));
const chatState = (from: string, state = 'composing') =>
  x('message', { from, to: 'me@example.org/phone', type: 'chat' }, x(state, { xmlns: NS.chatStates }));
const chat = (from: string, body: string) =>
  x('message', { from, to: 'me@example.org/phone', type: 'chat' }, x('body', {}, body), x('active', { xmlns: NS.chatStates }));
const carbon = (inner: Element) =>
  x('message', { from: 'me@example.org', to: 'me@example.org/phone' }, x('received', { xmlns: 'urn:xmpp:carbons:2' }, x('forwarded', { xmlns: 'urn:xmpp:forward:0' }, inner)));

test('what can wait: presence updates and chat states, also carried in a carbon; nothing else', () => {
  assert.equal(canWait(presence('a@example.org/x')), true);
  assert.equal(canWait(presence('a@example.org/x', 'away')), true);
  assert.equal(canWait(presence('a@example.org/x', undefined, 'unavailable')), true);
  for (const type of ['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'error', 'probe']) {
    assert.equal(canWait(presence('a@example.org', undefined, type)), false, type);
  }
  assert.equal(canWait(chatState('a@example.org/x')), true);
  assert.equal(canWait(carbon(chatState('a@example.org/x'))), true);
  assert.equal(canWait(chat('a@example.org/x', 'hi')), false);
  assert.equal(canWait(carbon(chat('a@example.org/x', 'hi'))), false);
  assert.equal(canWait(x('message', { from: 'a@example.org/x' })), false, 'an empty message is not a chat state');
  assert.equal(
    canWait(x('message', { from: 'a@example.org/x' }, x('composing', { xmlns: NS.chatStates }), x('x', { xmlns: 'jabber:x:oob' }))),
    false,
    'a chat state with other payload',
  );
  assert.equal(canWait(x('iq', { type: 'get', id: '1' }, x('ping', { xmlns: NS.ping }))), false);
});

test('while active everything passes at once', () => {
  const q = new HeldStanzas(10);
  const p = presence('a@example.org/x');
  assert.deepEqual(q.offer(p), [p]);
  assert.equal(q.size, 0);
});

test('inactive: held, collapsed per sender to the latest, released in order before the stanza that cannot wait', () => {
  const q = new HeldStanzas(10);
  q.deactivate();
  const a1 = presence('a@example.org/x', 'away');
  const b1 = presence('b@example.org/y', 'dnd');
  const a2 = presence('a@example.org/x', 'xa');
  const typing = chatState('b@example.org/y');
  const paused = chatState('b@example.org/y', 'paused');
  for (const s of [a1, b1, a2, typing, paused]) assert.deepEqual(q.offer(s), []);
  assert.equal(q.size, 3);
  const msg = chat('c@example.org/z', 'hello');
  // a2 replaced a1 and moved behind b1; 'paused' replaced 'composing'.
  assert.deepEqual(q.offer(msg), [b1, a2, paused, msg]);
  assert.equal(q.size, 0);
  const sub = presence('d@example.org', undefined, 'subscribe');
  const a3 = presence('a@example.org/x');
  assert.deepEqual(q.offer(a3), []);
  assert.deepEqual(q.offer(sub), [a3, sub]);
});

test('activate releases what was held, in order, and stops holding', () => {
  const q = new HeldStanzas(10);
  q.deactivate();
  const a = presence('a@example.org/x');
  const b = presence('b@example.org/y', undefined, 'unavailable');
  q.offer(a);
  q.offer(b);
  assert.deepEqual(q.activate(), [a, b]);
  assert.deepEqual(q.activate(), []);
  const c = presence('c@example.org/z');
  assert.deepEqual(q.offer(c), [c]);
});

test('past max_held everything held is released (in order)', () => {
  const q = new HeldStanzas(2);
  q.deactivate();
  const [p1, p2, p3] = ['1', '2', '3'].map((n) => presence(`u${n}@example.org/r`));
  assert.deepEqual(q.offer(p1!), []);
  assert.deepEqual(q.offer(p2!), []);
  assert.deepEqual(q.offer(p3!), [p1, p2, p3]);
  assert.equal(q.size, 0);
  // Still inactive: holding starts again.
  assert.deepEqual(q.offer(p1!), []);
});
