import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_XML_LIMITS,
  XmlParseError,
  XmlStreamParser,
  parseElement,
  type XmlErrorCondition,
  type XmlLimits,
} from './xml-stream.ts';
import { Element, x } from '../xmpp/element.ts';
import { NS } from '../xmpp/ns.ts';

const HEADER =
  "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'>";
const SHORT_HEADER = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

interface Run {
  header?: Record<string, string>;
  stanzas: Element[];
  ended: boolean;
  errors: { condition: XmlErrorCondition; text: string }[];
  parser: XmlStreamParser;
}

function run(chunks: (string | Buffer)[], limits?: Partial<XmlLimits>): Run {
  const r: Run = { stanzas: [], ended: false, errors: [], parser: undefined as unknown as XmlStreamParser };
  r.parser = new XmlStreamParser(
    {
      streamStart: (attrs) => {
        r.header = attrs;
      },
      stanza: (el) => r.stanzas.push(el),
      streamEnd: () => {
        r.ended = true;
      },
      error: (condition, text) => r.errors.push({ condition, text }),
    },
    limits,
  );
  for (const c of chunks) r.parser.write(typeof c === 'string' ? Buffer.from(c, 'utf8') : c);
  return r;
}

/** Asserts the input is refused with exactly one error of this condition. */
function refused(chunks: (string | Buffer)[], condition: XmlErrorCondition, limits?: Partial<XmlLimits>, text?: RegExp): Run {
  const r = run(chunks, limits);
  assert.equal(r.errors.length, 1, `expected one error, got ${JSON.stringify(r.errors)}`);
  assert.equal(r.errors[0]!.condition, condition, r.errors[0]!.text);
  if (text) assert.match(r.errors[0]!.text, text);
  return r;
}

function accepted(chunks: (string | Buffer)[], limits?: Partial<XmlLimits>): Run {
  const r = run(chunks, limits);
  assert.deepEqual(r.errors, []);
  return r;
}

describe('normal streams', () => {
  test('header attributes, stanzas, end', () => {
    const r = accepted([
      "<?xml version='1.0' encoding='UTF-8'?>",
      HEADER,
      "<message to='juliet@example.com' type='chat'><body>hi</body></message>",
      ' \n\t ',
      "<presence/><iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
      '</stream:stream>',
    ]);
    assert.deepEqual(r.header, {
      xmlns: 'jabber:client',
      'xmlns:stream': NS.stream,
      to: 'example.com',
      version: '1.0',
      'xml:lang': 'en',
    });
    assert.deepEqual(
      r.stanzas.map(String),
      [
        '<message to="juliet@example.com" type="chat"><body>hi</body></message>',
        '<presence/>',
        '<iq type="get" id="1"><ping xmlns="urn:xmpp:ping"/></iq>',
      ],
    );
    assert.equal(r.ended, true);
    const iq = r.stanzas[2]!;
    assert.equal(iq.parent, undefined);
    assert.equal(iq.ns, NS.client);
    assert.equal(iq.getChild('ping', NS.ping)?.parent, iq);
  });

  test('namespaces are normalised: prefixes dropped, xmlns only where the namespace changes', () => {
    const r = accepted([
      HEADER,
      "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
      "<message xmlns='jabber:client'><p:x xmlns:p='urn:a' xmlns='urn:b'><p:y/><z/><w xmlns='urn:a'/></p:x></message>",
      "<c:message xmlns:c='jabber:client'><c:body>x</c:body></c:message>",
    ]);
    assert.deepEqual(r.stanzas.map(String), [
      `<features xmlns="${NS.stream}"><starttls xmlns="${NS.tls}"><required/></starttls></features>`,
      // z is in urn:b (the default declared on x), which differs from its parent's urn:a
      '<message><x xmlns="urn:a" xmlns:p="urn:a"><y/><z xmlns="urn:b"/><w/></x></message>',
      '<message xmlns:c="jabber:client"><body>x</body></message>',
    ]);
    const x = r.stanzas[1]!.getChild('x')!;
    assert.equal(x.ns, 'urn:a');
    assert.equal(x.getChild('z')!.ns, 'urn:b');
    assert.equal(r.stanzas[0]!.ns, NS.stream);
  });

  test('xml:lang and other prefixed attributes keep their qualified names', () => {
    const r = accepted([
      "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:s='urn:s'>",
      "<message xml:lang='de'><body xml:lang='fr' s:flag='1'>bonjour</body><e xmlns:q='urn:q' q:a='2'><f q:b='3'/></e></message>",
    ]);
    // s: is declared on the stream header, so its declaration moves onto the stanza.
    assert.equal(
      r.stanzas[0]!.toString(),
      '<message xml:lang="de" xmlns:s="urn:s"><body xml:lang="fr" s:flag="1">bonjour</body><e xmlns:q="urn:q" q:a="2"><f q:b="3"/></e></message>',
    );
    const again = accepted([HEADER, r.stanzas[0]!.toString()]);
    assert.equal(again.stanzas[0]!.toString(), r.stanzas[0]!.toString());
  });

  test('escaping round-trips through Element.toString()', () => {
    const tricky = `a&b<c>d"e'f\r\ng\th]]>i ünï €𝄞`;
    const original = x('message', { to: 'a@b', id: tricky }, x('body', {}, tricky), x('x', { xmlns: 'urn:x', v: tricky }));
    const first = accepted([HEADER, original.toString()]).stanzas[0]!;
    assert.equal(first.attrs.id, tricky);
    assert.equal(first.getChildText('body'), tricky);
    assert.equal(first.getChild('x')!.attrs.v, tricky);
    assert.equal(first.toString(), original.toString());
    const second = accepted([HEADER, first.toString()]).stanzas[0]!;
    assert.deepEqual(second, first);
  });

  test('predefined entities, character references and CDATA become text', () => {
    const r = accepted([HEADER, '<message><body>&amp;&lt;&gt;&quot;&apos;&#65;&#x42;&#x1D11E;<![CDATA[<not-a-tag>&amp;]]>!</body></message>']);
    assert.deepEqual(r.stanzas[0]!.getChild('body')!.children, [`&<>"'AB𝄞<not-a-tag>&amp;!`]);
  });

  test('whitespace keepalives before and between stanzas are ignored', () => {
    const r = accepted([HEADER, ' ', '\n', '<presence/>', '\r\n \t', ' ', '<presence/>', ' ']);
    assert.equal(r.stanzas.length, 2);
  });

  test('chunks split inside tags and inside UTF-8 sequences', () => {
    const whole = Buffer.from(`${HEADER}<message><body>é€𝄞</body></message><presence/>`, 'utf8');
    const expected = accepted([whole]).stanzas.map(String);
    const bytes = [...whole].map((b) => Buffer.from([b]));
    assert.deepEqual(accepted(bytes).stanzas.map(String), expected);
    assert.equal(expected[0], '<message><body>é€𝄞</body></message>');
  });

  test('a UTF-8 byte order mark at the start is skipped, however it is split', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const input = Buffer.concat([bom, Buffer.from(`<?xml version='1.0'?>${HEADER}<presence/>`)]);
    assert.equal(accepted([input]).stanzas.length, 1);
    assert.equal(accepted([input.subarray(0, 1), input.subarray(1, 2), input.subarray(2)]).stanzas.length, 1);
    // invalid UTF-8 later on still reports exactly the stanzas that preceded it
    const r = refused([input, Buffer.from('<message>é'), Buffer.from([0x3c, 0x2f, 0xff])], 'not-well-formed');
    assert.deepEqual(r.stanzas.map(String), ['<presence/>']);
  });

  test('after </stream:stream> further input is ignored', () => {
    const r = accepted([HEADER, '<presence/></stream:stream>', ' <message/> junk', '<<<']);
    assert.equal(r.ended, true);
    assert.equal(r.stanzas.length, 1);
  });

  test('a self-closing stream header is a stream that starts and ends', () => {
    const r = accepted(["<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'/>"]);
    assert.ok(r.header);
    assert.equal(r.ended, true);
  });

  test('stanzas before an error are delivered, nothing after it', () => {
    const r = refused([HEADER, '<presence/><message><!-- x --></message><presence/>'], 'restricted-xml');
    assert.equal(r.stanzas.length, 1);
    r.parser.write(Buffer.from('<presence/>'));
    assert.equal(r.stanzas.length, 1);
    assert.equal(r.errors.length, 1);
  });

  test('an exception from a handler propagates and stops the parser', () => {
    let calls = 0;
    const p = new XmlStreamParser({
      streamStart: () => undefined,
      stanza: () => {
        calls++;
        throw new Error('boom');
      },
      streamEnd: () => undefined,
      error: () => assert.fail('no error expected'),
    });
    assert.throws(() => p.write(Buffer.from(`${HEADER}<presence/>`)), /boom/);
    p.write(Buffer.from('<presence/>'));
    assert.equal(calls, 1);
  });
});

describe('refusals', () => {
  test('comments', () => {
    refused(['<!-- hello -->', HEADER], 'restricted-xml', undefined, /comment/);
    refused([HEADER, '<message><!-- hello --></message>'], 'restricted-xml');
    refused([HEADER, '<!-- keepalive? -->'], 'restricted-xml');
  });

  test('processing instructions', () => {
    refused(['<?xml-stylesheet href="a"?>', HEADER], 'restricted-xml', undefined, /processing instruction/);
    refused([HEADER, '<message><?php echo 1; ?></message>'], 'restricted-xml');
  });

  test('DTDs, including entity definitions', () => {
    refused(['<!DOCTYPE stream>', HEADER], 'restricted-xml', undefined, /DTD/);
    const laughs =
      '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;">]>';
    refused([`<?xml version="1.0"?>${laughs}${HEADER}<message><body>&lol3;</body></message>`], 'restricted-xml');
    refused([`<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${HEADER}<message>&xxe;</message>`], 'restricted-xml');
    refused([HEADER, '<!DOCTYPE x [<!ENTITY a "b">]>'], 'restricted-xml');
    refused([HEADER, '<message><!DOCTYPE x></message>'], 'restricted-xml');
  });

  test('entity references other than the five predefined', () => {
    refused([HEADER, '<message><body>&nbsp;</body></message>'], 'restricted-xml', undefined, /entity/);
    refused([HEADER, "<message to='&foo;'/>"], 'restricted-xml');
    refused([HEADER, '<message>&AMP;</message>'], 'restricted-xml');
  });

  test('character references to characters XML forbids', () => {
    for (const ref of ['&#0;', '&#x0;', '&#8;', '&#xD800;', '&#xDFFF;', '&#xFFFE;', '&#xFFFF;', '&#x110000;', '&#xZZ;']) {
      refused([HEADER, `<message><body>${ref}</body></message>`], 'not-well-formed');
    }
  });

  test('the XML declaration: only at the start, version 1.0, UTF-8', () => {
    accepted(['<?xml version="1.0" encoding="utf-8" standalone="yes"?>', HEADER]);
    refused(['<?xml version="1.0" encoding="ISO-8859-1"?>', HEADER], 'unsupported-encoding');
    refused(['<?xml version="1.1"?>', HEADER], 'not-well-formed', undefined, /version/);
    refused([' <?xml version="1.0"?>', HEADER], 'not-well-formed');
    refused([HEADER, '<?xml version="1.0"?>'], 'not-well-formed');
  });

  test('the root must be <stream> in the streams namespace, with a content namespace', () => {
    refused(["<message xmlns='jabber:client'/>"], 'invalid-namespace');
    refused(["<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong'>"], 'invalid-namespace');
    refused(["<stream:features xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"], 'invalid-namespace');
    refused(["<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"], 'invalid-namespace', undefined, /content namespace/);
    refused(["<stream xmlns='http://etherx.jabber.org/streams'>"], 'invalid-namespace');
  });

  test('non-whitespace text between stanzas', () => {
    refused([HEADER, '<presence/>hello<presence/>'], 'bad-format');
    refused([HEADER, '&amp;<presence/>'], 'bad-format');
    refused([HEADER, '<![CDATA[x]]><presence/>'], 'bad-format');
  });

  test('malformed XML', () => {
    refused(['hello', HEADER], 'not-well-formed');
    refused([HEADER, '<message><body></message>'], 'not-well-formed');
    refused([HEADER, '<message a="1" a="2"/>'], 'not-well-formed');
    refused([HEADER, '<message a=1/>'], 'not-well-formed');
    refused([HEADER, '<p:message/>'], 'not-well-formed', undefined, /unbound/);
    refused([HEADER, '<message p:a="1"/>'], 'not-well-formed', undefined, /unbound/);
    refused([HEADER, '<message>\u0001</message>'], 'not-well-formed');
    refused([HEADER, '<message>]]></message>'], 'not-well-formed');
    refused([Buffer.from([0x3c, 0x00])], 'not-well-formed');
  });

  test('a mismatched end tag does not deliver the element it closed', () => {
    const r = refused([HEADER, '<presence/><message></presence>'], 'not-well-formed');
    assert.equal(r.stanzas.length, 1);
    const s = refused([HEADER, '<presence/></stream:streams>'], 'not-well-formed');
    assert.equal(s.ended, false);
  });

  test('invalid UTF-8', () => {
    refused([Buffer.from(HEADER), Buffer.from([0x3c, 0x61, 0x3e, 0xc0, 0xaf, 0x3c, 0x2f, 0x61, 0x3e])], 'not-well-formed', undefined, /UTF-8/);
    refused([Buffer.from(HEADER), Buffer.from('<a>'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('</a>')], 'not-well-formed');
  });
});

describe('limits', () => {
  // A message of exactly n bytes, with some multi-byte characters and a CRLF
  // right after the element name to exercise byte counting.
  function messageOf(n: number): string {
    const head = '<message\r\n><body>ü€';
    const tail = '</body></message>';
    const fill = n - Buffer.byteLength(head + tail);
    assert.ok(fill >= 0);
    return head + 'x'.repeat(fill) + tail;
  }

  test('maxStanzaBytes: at the limit accepted, one over refused', () => {
    for (const n of [100, 1000]) {
      const ok = messageOf(n);
      assert.equal(Buffer.byteLength(ok), n);
      assert.equal(accepted([SHORT_HEADER, ' ', ok, ' ', ok], { maxStanzaBytes: n }).stanzas.length, 2);
      refused([SHORT_HEADER, ok, messageOf(n + 1)], 'policy-violation', { maxStanzaBytes: n }, new RegExp(`stanza exceeds ${n} bytes`));
    }
    const big = messageOf(DEFAULT_XML_LIMITS.maxStanzaBytes);
    accepted([HEADER, big]);
    const bytes = Buffer.from(HEADER + messageOf(DEFAULT_XML_LIMITS.maxStanzaBytes + 1));
    refused([bytes], 'policy-violation');
    // split into small chunks, including inside multi-byte characters
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 777) chunks.push(bytes.subarray(i, i + 777));
    refused(chunks, 'policy-violation');
  });

  test('maxStanzaBytes also caps the stream header', () => {
    const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${'a'.repeat(100)}'>`;
    const n = Buffer.byteLength(header);
    accepted([header, '<presence/>'], { maxStanzaBytes: n });
    refused([header], 'policy-violation', { maxStanzaBytes: n - 1 }, /stream header exceeds/);
    // a header that never completes is refused once it passes the limit
    const r = run([header.slice(0, 40)], { maxStanzaBytes: 100 });
    assert.deepEqual(r.errors, []);
    refused([header.slice(0, 40), 'a'.repeat(61)], 'policy-violation', { maxStanzaBytes: 100 });
  });

  test('maxDepth: the stanza is depth 1', () => {
    const nest = (d: number) => '<a>'.repeat(d) + '</a>'.repeat(d);
    accepted([HEADER, nest(32)]);
    refused([HEADER, nest(33)], 'policy-violation', undefined, /depth 32/);
    accepted([HEADER, nest(3)], { maxDepth: 3 });
    refused([HEADER, nest(4)], 'policy-violation', { maxDepth: 3 });
  });

  test('maxAttributes counts namespace declarations too', () => {
    const attrs = (n: number) => Array.from({ length: n }, (_, i) => ` a${i}='v'`).join('');
    accepted([HEADER, `<message${attrs(64)}/>`]);
    refused([HEADER, `<message${attrs(65)}/>`], 'policy-violation', undefined, /more than 64 attributes/);
    accepted([HEADER, `<message xmlns:p='urn:p'${attrs(63)}/>`]);
    refused([HEADER, `<message xmlns:p='urn:p'${attrs(64)}/>`], 'policy-violation');
    refused([HEADER, `<message><body${attrs(65)}/></message>`], 'policy-violation');
    refused([`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'${attrs(63)}>`], 'policy-violation');
  });

  test('maxAttributeBytes counts UTF-8 bytes of the decoded value', () => {
    accepted([HEADER, `<message id='${'x'.repeat(8192)}'/>`]);
    refused([HEADER, `<message id='${'x'.repeat(8193)}'/>`], 'policy-violation', undefined, /attribute value exceeds 8192 bytes/);
    accepted([HEADER, `<message id='${'€'.repeat(20)}'/>`], { maxAttributeBytes: 60 });
    refused([HEADER, `<message id='${'€'.repeat(20)}x'/>`], 'policy-violation', { maxAttributeBytes: 60 });
    accepted([HEADER, `<message id='${'&amp;'.repeat(60)}'/>`], { maxAttributeBytes: 60 });
    refused([HEADER, `<message xmlns:p='urn:${'x'.repeat(60)}'/>`], 'policy-violation', { maxAttributeBytes: 60 });
  });

  test('maxNameBytes applies to element and attribute names, prefix included', () => {
    accepted([HEADER, `<${'m'.repeat(256)}/>`]);
    refused([HEADER, `<${'m'.repeat(257)}/>`], 'policy-violation', undefined, /element name exceeds 256 bytes/);
    accepted([HEADER, `<message ${'a'.repeat(256)}='1'/>`]);
    refused([HEADER, `<message ${'a'.repeat(257)}='1'/>`], 'policy-violation', undefined, /attribute name exceeds 256 bytes/);
    // (the header's longest name, xmlns:stream, is 12 bytes)
    accepted([HEADER, `<p:${'m'.repeat(14)} xmlns:p='urn:p'/>`], { maxNameBytes: 16 });
    refused([HEADER, `<p:${'m'.repeat(15)} xmlns:p='urn:p'/>`], 'policy-violation', { maxNameBytes: 16 });
    accepted([HEADER, `<${'é'.repeat(8)}/>`], { maxNameBytes: 16 });
    refused([HEADER, `<${'é'.repeat(8)}x/>`], 'policy-violation', { maxNameBytes: 16 });
  });

  test('bufferedBytes follows the stanza in progress and drops to 0 between stanzas', () => {
    const r = accepted([HEADER, '<message><body>']);
    assert.equal(r.parser.bufferedBytes, '<message><body>'.length);
    r.parser.write(Buffer.from('12345'));
    assert.equal(r.parser.bufferedBytes, '<message><body>12345'.length);
    r.parser.write(Buffer.from('</body></message>'));
    assert.equal(r.parser.bufferedBytes, 0);
  });

  test('100 MB of text in one element fails early, fed in 64 KiB chunks', () => {
    const r = accepted([HEADER, '<message><body>']);
    const chunk = Buffer.alloc(65536, 'x');
    let fed = 0;
    while (r.errors.length === 0 && fed < 100 * 1024 * 1024) {
      r.parser.write(chunk);
      fed += chunk.length;
      assert.ok(r.parser.bufferedBytes <= DEFAULT_XML_LIMITS.maxStanzaBytes + chunk.length);
    }
    assert.equal(r.errors[0]?.condition, 'policy-violation');
    assert.ok(fed <= DEFAULT_XML_LIMITS.maxStanzaBytes + chunk.length, `fed ${fed}`);
  });

  test('a single huge write is checked piece by piece', () => {
    const r = refused([HEADER, Buffer.concat([Buffer.from('<message><body>'), Buffer.alloc(20 * 1024 * 1024, 'x')])], 'policy-violation');
    assert.equal(r.parser.bufferedBytes, 0);
  });

  test('invalid limits are refused, not clamped', () => {
    assert.throws(() => run([], { maxDepth: 0 }), RangeError);
    assert.throws(() => run([], { maxStanzaBytes: 1.5 }), RangeError);
    assert.throws(() => parseElement('<a/>', { maxNameBytes: -1 }), RangeError);
  });
});

describe('parseElement', () => {
  test('parses one element and states its namespace', () => {
    const el = parseElement("<message xmlns='jabber:client' to='a@b'><body>hi</body></message>");
    assert.equal(el.toString(), '<message xmlns="jabber:client" to="a@b"><body>hi</body></message>');
    assert.equal(el.parent, undefined);
    const open = parseElement(Buffer.from(" <open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>\n"));
    assert.equal(open.ns, NS.framing);
    assert.equal(parseElement('<a/>').attrs.xmlns, '');
    const features = parseElement("<stream:features xmlns:stream='http://etherx.jabber.org/streams'><x/></stream:features>");
    assert.equal(features.toString(), `<features xmlns="${NS.stream}" xmlns:stream="${NS.stream}"><x xmlns=""/></features>`);
  });

  test('refusals throw XmlParseError with the condition', () => {
    const cases: [string | Buffer, XmlErrorCondition][] = [
      ['', 'not-well-formed'],
      ['<a>', 'not-well-formed'],
      ['<a/><b/>', 'not-well-formed'],
      ['<a/>text', 'not-well-formed'],
      ['<a/><', 'not-well-formed'],
      ['<a></b>', 'not-well-formed'],
      ['<a/><!-- c -->', 'restricted-xml'],
      ['<!DOCTYPE a><a/>', 'restricted-xml'],
      ['<a>&ent;</a>', 'restricted-xml'],
      ['<a>\uD800</a>', 'not-well-formed'],
      [Buffer.from([0x3c, 0x61, 0x3e, 0xe2, 0x82]), 'not-well-formed'],
      [`<a>${'<b>'.repeat(40)}`, 'policy-violation'],
    ];
    for (const [input, condition] of cases) {
      assert.throws(
        () => parseElement(input),
        (e: unknown) => e instanceof XmlParseError && e.condition === condition,
        `${String(input)} should give ${condition}`,
      );
    }
  });

  test('limits apply to the element', () => {
    const el = '<a>' + 'x'.repeat(93) + '</a>';
    assert.equal(parseElement(el, { maxStanzaBytes: 100 }).text.length, 93);
    assert.throws(() => parseElement(el.replace('x', 'xx'), { maxStanzaBytes: 100 }), (e: unknown) => e instanceof XmlParseError && e.condition === 'policy-violation');
  });
});
