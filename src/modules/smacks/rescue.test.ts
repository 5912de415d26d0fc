// What happens to unacknowledged stanzas when a session ends for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rescue, type RescueContext } from './rescue.ts';
import { x } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';

const nobodyElse: RescueContext = { domain: 'example.org', othersAvailable: () => false };

test('messages with content are routed again, in order; the ones rescue cannot help are dropped', () => {
  const chat = x('message', { from: 'a@example.org/x', to: 'b@example.org/phone', type: 'chat', id: '1' }, x('body', {}, 'hi'));
  const normal = x('message', { from: 'a@example.org/x', to: 'b@example.org/phone', id: '2' }, x('body', {}, 'yo'));
  const dropped = [
    x('message', { from: 'a@example.org/x', to: 'b@example.org/phone', type: 'error', id: 'e' }),
    x('message', { from: 'room@muc.example.org/a', to: 'b@example.org/phone', type: 'groupchat', id: 'g' }, x('body', {}, 'x')),
    x('message', { from: 'news.example.org', to: 'b@example.org/phone', type: 'headline', id: 'h' }, x('body', {}, 'x')),
    x('message', { from: 'b@example.org', to: 'b@example.org/phone', id: 'c' }, x('sent', { xmlns: 'urn:xmpp:carbons:2' })),
    x('message', { from: 'b@example.org', to: 'b@example.org/phone', id: 'r' }, x('received', { xmlns: 'urn:xmpp:carbons:2' })),
    x('message', { from: 'b@example.org', to: 'b@example.org/phone', id: 'm' }, x('result', { xmlns: 'urn:xmpp:mam:2' })),
    x('presence', { from: 'a@example.org/x', to: 'b@example.org/phone' }),
    x('iq', { from: 'a@example.org/x', to: 'b@example.org/phone', type: 'result', id: 'res' }),
    x('iq', { from: 'a@example.org/x', to: 'b@example.org/phone', type: 'error', id: 'err' }),
  ];
  const out = rescue([dropped[0]!, chat, ...dropped.slice(1, 4), normal, ...dropped.slice(4)], nobodyElse);
  assert.deepEqual(out, [chat, normal]);
});

test('a request gets an error reply from the address it was sent to; the server\'s own requests are dropped', () => {
  const ask = x('iq', { from: 'a@example.org/x', to: 'b@example.org/phone', type: 'get', id: 'v1' }, x('query', { xmlns: NS.version }));
  const ping = x('iq', { from: 'example.org', to: 'b@example.org/phone', type: 'get', id: 'idle' }, x('ping', { xmlns: NS.ping }));
  const noFrom = x('iq', { to: 'b@example.org/phone', type: 'set', id: 'nf' }, x('ping', { xmlns: NS.ping }));
  const [reply, ...rest] = rescue([ping, ask, noFrom], nobodyElse);
  assert.deepEqual(rest, []);
  assert.equal(reply!.name, 'iq');
  assert.deepEqual(reply!.attrs, { type: 'error', id: 'v1', from: 'b@example.org/phone', to: 'a@example.org/x' });
  assert.ok(reply!.getChild('error')?.getChild('recipient-unavailable', NS.stanzas), reply!.toString());
});

test('a message to the bare JID is not routed again while another resource is available (it got its own copy)', () => {
  const bare = x('message', { from: 'a@example.org/x', to: 'b@example.org', type: 'chat', id: 'bare' }, x('body', {}, 'hi'));
  const full = x('message', { from: 'a@example.org/x', to: 'b@example.org/phone', type: 'chat', id: 'full' }, x('body', {}, 'hi'));
  const asked: string[] = [];
  const deskOnline: RescueContext = {
    domain: 'example.org',
    othersAvailable: (b) => {
      asked.push(b);
      return b === 'b@example.org';
    },
  };
  assert.deepEqual(rescue([bare, full], deskOnline), [full]);
  assert.deepEqual(asked, ['b@example.org']);
  assert.deepEqual(rescue([bare, full], nobodyElse), [bare, full]);
});
