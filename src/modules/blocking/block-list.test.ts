// XEP-0191 §"JID Matching" (the order of XEP-0016 §2.1), item by item.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseJID } from '../../xmpp/jid.ts';
import { BlockList } from './block-list.ts';

const blocks = (items: string[], peer: string) => new BlockList(items.map((i) => parseJID(i).toString())).matches(parseJID(peer));

describe('block list matching', () => {
  test('user@domain/resource: only that resource', () => {
    const item = ['romeo@montague.net/orchard'];
    assert.equal(blocks(item, 'romeo@montague.net/orchard'), true);
    assert.equal(blocks(item, 'romeo@montague.net/garden'), false);
    assert.equal(blocks(item, 'romeo@montague.net'), false, 'not the bare JID');
    assert.equal(blocks(item, 'montague.net'), false);
    assert.equal(blocks(item, 'benvolio@montague.net/orchard'), false);
  });

  test('user@domain: the bare JID and any resource of it', () => {
    const item = ['romeo@montague.net'];
    assert.equal(blocks(item, 'romeo@montague.net'), true);
    assert.equal(blocks(item, 'romeo@montague.net/orchard'), true);
    assert.equal(blocks(item, 'romeo@montague.net/any other'), true);
    assert.equal(blocks(item, 'benvolio@montague.net/orchard'), false);
    assert.equal(blocks(item, 'montague.net'), false);
    assert.equal(blocks(item, 'romeo@sub.montague.net/orchard'), false);
  });

  test('domain/resource: only that resource of the domain itself', () => {
    const item = ['montague.net/gateway'];
    assert.equal(blocks(item, 'montague.net/gateway'), true);
    assert.equal(blocks(item, 'montague.net'), false);
    assert.equal(blocks(item, 'montague.net/other'), false);
    assert.equal(blocks(item, 'romeo@montague.net/gateway'), false, 'not a user with the same resource');
  });

  test('domain: the domain, its users and resources, and every subdomain', () => {
    const item = ['montague.net'];
    for (const peer of ['montague.net', 'montague.net/x', 'romeo@montague.net', 'romeo@montague.net/orchard', 'chat.montague.net', 'a@b.c.montague.net/r']) {
      assert.equal(blocks(item, peer), true, peer);
    }
    for (const peer of ['capulet.com', 'romeo@notmontague.net', 'montague.net.evil', 'montague.network', 'net']) {
      assert.equal(blocks(item, peer), false, peer);
    }
  });

  test('items and peers are compared prepared: case and width do not matter', () => {
    assert.equal(blocks(['Romeo@Montague.NET'], 'romeo@montague.net/Orchard'), true);
    assert.equal(blocks(['romeo@montague.net/Orchard'], 'ROMEO@montague.net/orchard'), false, 'resources are case-sensitive');
    assert.equal(blocks(['ｍｏｎｔａｇｕｅ.net'], 'romeo@montague.net'), true, 'full-width letters map to ASCII in a domain');
  });

  test('several items of different kinds; an empty list blocks nothing', () => {
    const list = ['iago@shakespeare.lit', 'montague.net', 'juliet@capulet.com/balcony'];
    assert.equal(blocks(list, 'iago@shakespeare.lit/x'), true);
    assert.equal(blocks(list, 'x@chat.montague.net'), true);
    assert.equal(blocks(list, 'juliet@capulet.com/balcony'), true);
    assert.equal(blocks(list, 'juliet@capulet.com/chamber'), false);
    assert.equal(blocks(list, 'othello@shakespeare.lit'), false);
    assert.equal(BlockList.EMPTY.matches(parseJID('anyone@anywhere.test/r')), false);
  });

  test('with/without make new lists and leave the old one as it was', () => {
    const a = new BlockList(['x@a.test']);
    const b = a.with(['a.test', 'x@a.test']);
    assert.equal(a.size, 1);
    assert.equal(b.size, 2);
    assert.equal(a.matches(parseJID('y@a.test')), false);
    assert.equal(b.matches(parseJID('y@a.test')), true, 'the domain item counts in the new list');
    const c = b.without(['a.test', 'not-there.test']);
    assert.deepEqual(c.items(), ['x@a.test']);
    assert.equal(c.matches(parseJID('y@a.test')), false);
    assert.equal(b.without(['a.test', 'x@a.test']), BlockList.EMPTY);
  });

  test('items() is in code point order, as storage returns it', () => {
    const list = new BlockList(['é@x.test', 'z@x.test', '𝔞@x.test', 'ﬀ@x.test', 'a@x.test']);
    // U+00E9 < U+FB00 < U+1D51E: UTF-16 order would put the astral 𝔞 (D835 …) before ﬀ.
    assert.deepEqual(list.items(), ['a@x.test', 'z@x.test', 'é@x.test', 'ﬀ@x.test', '𝔞@x.test']);
  });
});
