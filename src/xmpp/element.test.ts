import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getHeapSnapshot } from 'node:v8';
import fc from 'fast-check';
import { XmlStreamParser } from '../net/xml-stream.ts';
import { Element, ownString, x } from './element.ts';

const arbName = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
const arbText = fc.string({ maxLength: 20 });
const arbElement = fc.letrec<{ el: Element }>((tie) => ({
  el: fc
    .tuple(arbName, fc.dictionary(arbName, arbText, { maxKeys: 3 }), fc.array(fc.oneof(arbText, tie('el')), { maxLength: 3 }))
    .map(([name, attrs, children]) => x(name, attrs, ...children)),
})).el;

/** Every string in a heap snapshot of this process (a snapshot collects garbage first). */
async function heapStrings(): Promise<string[]> {
  let json = '';
  for await (const chunk of getHeapSnapshot()) json += chunk;
  return (JSON.parse(json) as { strings: string[] }).strings;
}

describe('Element.detached', () => {
  it('serialises as the original, with its own tree', () => {
    fc.assert(
      fc.property(arbElement, (el) => {
        const copy = el.detached();
        assert.equal(copy.toString(), el.toString());
        assert.notEqual(copy, el);
        copy.attrs['data-changed'] = 'yes';
        copy.c('added');
        assert.equal(el.attrs['data-changed'], undefined);
        assert.ok(!el.toString().includes('<added'));
      }),
    );
  });

  it('keeps children in their namespaces, with parents inside the copy', () => {
    const el = x('presence', {}, x('c', { xmlns: 'http://jabber.org/protocol/caps', ver: 'abc' }), x('status').t('here'));
    const copy = el.detached();
    const c = copy.getChild('c', 'http://jabber.org/protocol/caps')!;
    assert.equal(c.parent, copy);
    assert.equal(c.attrs.ver, 'abc');
    assert.equal(copy.getChildText('status'), 'here');
  });

  it('does not keep alive the chunk its strings were parsed from', async () => {
    const kept = ((): Element => {
      // One read carrying a presence and a large stanza after it, as a client's burst after login does.
      const padding = 'pad-7f3a9c'.repeat(20_000);
      let presence: Element | undefined;
      const parser = new XmlStreamParser({
        streamStart: () => undefined,
        stanza: (el) => {
          presence ??= el;
        },
        streamEnd: () => undefined,
        error: (condition, text) => assert.fail(`${condition}: ${text}`),
      });
      const burst =
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>" +
        "<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://client.example' ver='QaFf9B8Gj8WkWqFzqT0IjcXXfDs='/><status>on the road again</status></presence>" +
        `<iq type='get' id='big'><query xmlns='urn:example:big'>${padding}</query></iq>`;
      parser.write(Buffer.from(burst));
      return presence!.detached();
    })();
    const strings = await heapStrings();
    assert.equal(kept.getChildText('status'), 'on the road again');
    assert.ok(!strings.some((s) => s.includes('pad-7f3a9cpad-7f3a9c')), 'the chunk with the padding is still in the heap');
  });
});

describe('ownString', () => {
  it('is the same text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => assert.equal(ownString(s), s)));
    assert.equal(ownString('lone \ud800 surrogate'), 'lone \ud800 surrogate');
  });
});
