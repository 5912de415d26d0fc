// Message carbons (XEP-0280): which messages are copied (§6.1 recommended
// rules), which ones carry a carbon only the server may send, and the shape of
// a copy. The module end to end: test/integration/carbons.clients.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseElement } from '../../net/xml-stream.ts';
import { NS } from '../../xmpp/ns.ts';
import { carbonCopy } from './copy.ts';
import { carriesCarbon, isEligible, refusesCopies } from './eligibility.ts';

const msg = (xml: string) => parseElement(`<message xmlns='jabber:client' from='a@example.org/laptop' to='b@example.org'${xml}</message>`);
const both = (xml: string) => [isEligible(msg(xml), 'sent'), isEligible(msg(xml), 'received')];

describe('eligible messages (XEP-0280 §6.1)', () => {
  test('chat is copied, with or without a body', () => {
    assert.deepEqual(both(` type='chat'><body>hi</body>`), [true, true]);
    assert.deepEqual(both(` type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/>`), [true, true]);
  });

  test('normal (or no type) is copied with a body or an IM payload, not otherwise', () => {
    assert.deepEqual(both(` type='normal'><body>hi</body>`), [true, true]);
    assert.deepEqual(both(`><body>hi</body>`), [true, true]);
    assert.deepEqual(both(`><received xmlns='urn:xmpp:receipts' id='m1'/>`), [true, true]);
    assert.deepEqual(both(`><displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/>`), [true, true]);
    assert.deepEqual(both(`><paused xmlns='http://jabber.org/protocol/chatstates'/>`), [true, true]);
    assert.deepEqual(both(`><subject>only a subject</subject>`), [false, false]);
    assert.deepEqual(both(`><x xmlns='jabber:x:oob'><url>https://example.org/f</url></x>`), [false, false]);
    assert.deepEqual(both(`>`), [false, false]);
  });

  test('a body in another namespace is not a body', () => {
    assert.deepEqual(both(`><body xmlns='urn:example:other'>hi</body>`), [false, false]);
  });

  test('groupchat, headline and error are never copied', () => {
    for (const type of ['groupchat', 'headline', 'error']) assert.deepEqual(both(` type='${type}'><body>hi</body>`), [false, false], type);
  });

  test('<private/> and the <no-copy/> hint opt out', () => {
    assert.deepEqual(both(` type='chat'><body>hi</body><private xmlns='urn:xmpp:carbons:2'/>`), [false, false]);
    assert.deepEqual(both(` type='chat'><body>hi</body><no-copy xmlns='urn:xmpp:hints'/>`), [false, false]);
    assert.equal(refusesCopies(msg(` type='chat'><private xmlns='urn:xmpp:carbons:2'/>`)), true);
    // Same local names in other namespaces mean nothing here.
    assert.deepEqual(both(` type='chat'><body>hi</body><private xmlns='urn:example:x'/><no-copy xmlns='urn:example:x'/>`), [true, true]);
  });

  test('a carbon or an archive result is not copied again', () => {
    const forwarded = `<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat'><body>x</body></message></forwarded>`;
    assert.deepEqual(both(` type='chat'><sent xmlns='urn:xmpp:carbons:2'>${forwarded}</sent>`), [false, false]);
    assert.deepEqual(both(` type='chat'><received xmlns='urn:xmpp:carbons:2'>${forwarded}</received>`), [false, false]);
    assert.deepEqual(both(`><result xmlns='urn:xmpp:mam:2' queryid='q' id='1'>${forwarded}</result>`), [false, false]);
  });

  test('MUC: a private message from an occupant is not copied to the recipient, but one sent to an occupant is', () => {
    const pm = ` type='chat'><body>psst</body><x xmlns='http://jabber.org/protocol/muc#user'/>`;
    assert.deepEqual(both(pm), [true, false]);
  });

  test('MUC: invitations are copied both ways, mediated or direct, even without a body', () => {
    assert.deepEqual(both(`><x xmlns='http://jabber.org/protocol/muc#user'><invite from='c@example.org'/></x>`), [true, true]);
    assert.deepEqual(both(`><x xmlns='jabber:x:conference' jid='room@conference.example.org'/>`), [true, true]);
  });
});

describe('a carbon only the server may send', () => {
  test('<sent/> or <received/> in urn:xmpp:carbons:2 as a direct child', () => {
    assert.equal(carriesCarbon(msg(` type='chat'><received xmlns='urn:xmpp:carbons:2'/>`)), true);
    assert.equal(carriesCarbon(msg(` type='chat'><sent xmlns='urn:xmpp:carbons:2'/>`)), true);
  });

  test('the other carbons elements, other namespaces and nested ones are not carbons', () => {
    assert.equal(carriesCarbon(msg(` type='chat'><private xmlns='urn:xmpp:carbons:2'/><body>hi</body>`)), false);
    assert.equal(carriesCarbon(msg(` type='chat'><received xmlns='urn:xmpp:receipts' id='1'/>`)), false);
    assert.equal(carriesCarbon(msg(` type='chat'><sent xmlns='urn:xmpp:carbons:1'/>`)), false);
    assert.equal(carriesCarbon(msg(` type='chat'><x xmlns='urn:example:x'><received xmlns='urn:xmpp:carbons:2'/></x>`)), false);
  });
});

describe('the copy (XEP-0280 §7, §8)', () => {
  test('from the bare JID to the session, same type, the original forwarded in jabber:client', () => {
    const original = msg(` type='chat' id='m1'><body>Neither, fair saint</body><stanza-id xmlns='urn:xmpp:sid:0' id='s1' by='a@example.org'/>`);
    const copy = carbonCopy('sent', original, 'b@example.org', 'a@example.org', 'a@example.org/phone');
    assert.deepEqual(copy.attrs, { from: 'a@example.org', to: 'a@example.org/phone', type: 'chat' });
    // Serialised and parsed again, as a client reads it.
    const read = parseElement(copy.toString().replace('<message ', `<message xmlns='jabber:client' `));
    const inner = read.getChild('sent', NS.carbons)?.getChild('forwarded', NS.forward)?.getChild('message', NS.client);
    assert.ok(inner, copy.toString());
    assert.equal(inner.attrs.from, 'a@example.org/laptop');
    assert.equal(inner.attrs.to, 'b@example.org');
    assert.equal(inner.attrs.id, 'm1');
    assert.equal(inner.getChildText('body', NS.client), 'Neither, fair saint');
    assert.equal(inner.getChild('stanza-id', NS.stanzaId)?.attrs.id, 's1');
  });

  test('the original is not changed, and a missing type or to is handled', () => {
    const original = parseElement(`<message xmlns='jabber:client' from='a@example.org/laptop'><body>note to self</body></message>`);
    const before = original.toString();
    const copy = carbonCopy('received', original, 'a@example.org', 'a@example.org', 'a@example.org/phone');
    assert.equal(original.toString(), before);
    assert.equal(copy.attrs.type, undefined);
    const inner = copy.getChild('received', NS.carbons)!.getChild('forwarded', NS.forward)!.getChild('message')!;
    assert.equal(inner.ns, NS.client);
    assert.equal(inner.attrs.to, 'a@example.org');
  });
});
