import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { JID, JID_PART_MAX_BYTES, JidError, jid, parseJID, tryParseJID } from './jid.ts';
import { isMixedScript } from './precis.ts';

function malformed(s: string, reason: RegExp): void {
  assert.throws(
    () => parseJID(s),
    (err: unknown) => {
      assert.ok(err instanceof JidError, `expected JidError for ${JSON.stringify(s)}, got ${String(err)}`);
      assert.match(err.reason, reason);
      return true;
    },
    JSON.stringify(s),
  );
}

function parts(s: string): [string, string, string] {
  const j = parseJID(s);
  return [j.local, j.domain, j.resource];
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

describe('RFC 7622 §3.5 examples', () => {
  it('accepts the valid examples', () => {
    assert.deepEqual(parts('juliet@example.com'), ['juliet', 'example.com', '']);
    assert.deepEqual(parts('juliet@example.com/foo'), ['juliet', 'example.com', 'foo']);
    assert.deepEqual(parts('juliet@example.com/foo bar'), ['juliet', 'example.com', 'foo bar']);
    assert.deepEqual(parts('juliet@example.com/foo@bar'), ['juliet', 'example.com', 'foo@bar']);
    assert.deepEqual(parts('foo\\20bar@example.com'), ['foo\\20bar', 'example.com', '']);
    assert.deepEqual(parts('fussball@example.com'), ['fussball', 'example.com', '']);
    assert.deepEqual(parts('fußball@example.com'), ['fußball', 'example.com', '']);
    assert.deepEqual(parts('π@example.com'), ['π', 'example.com', '']);
    assert.deepEqual(parts('Σ@example.com/foo'), ['σ', 'example.com', 'foo']);
    assert.deepEqual(parts('σ@example.com/foo'), ['σ', 'example.com', 'foo']);
    assert.deepEqual(parts('ς@example.com/foo'), ['ς', 'example.com', 'foo']);
    assert.deepEqual(parts('king@example.com/♚'), ['king', 'example.com', '♚']);
    assert.deepEqual(parts('example.com'), ['', 'example.com', '']);
    assert.deepEqual(parts('example.com/foobar'), ['', 'example.com', 'foobar']);
    assert.deepEqual(parts('a.example.com/b@example.net'), ['', 'a.example.com', 'b@example.net']);
  });

  it('refuses the invalid examples', () => {
    malformed('"juliet"@example.com', /^localpart contains a disallowed character U\+0022/);
    malformed('foo bar@example.com', /^localpart contains a disallowed character U\+0020 \(space\)/);
    malformed('@example.com/', /^localpart is empty$/);
    malformed('henry\u2163@example.com', /^localpart contains a disallowed character U\+2163 \(compatibility character\)/);
    malformed('\u265A@example.com', /^localpart contains a disallowed character U\+265A \(symbol\)/);
    malformed('juliet@', /^domainpart is empty$/);
    malformed('/foobar', /^domainpart is empty$/);
  });
});

describe('preparation and comparison', () => {
  it('compares localpart and domainpart without case, resourcepart with case', () => {
    const a = parseJID('Juliet@Example.COM/Balcony');
    const b = parseJID('juliet@example.com/Balcony');
    assert.ok(a.equals(b));
    assert.equal(a.toString(), 'juliet@example.com/Balcony');
    assert.equal(a.resource, 'Balcony');
    assert.ok(!a.equals(parseJID('juliet@example.com/balcony')));
  });

  it('maps fullwidth characters in localpart and domainpart, not in the resourcepart', () => {
    const j = parseJID('ｊｕｌｉｅｔ@ｅｘａｍｐｌｅ.com/ｒｅｓ');
    assert.equal(j.local, 'juliet');
    assert.equal(j.domain, 'example.com');
    assert.equal(j.resource, 'ｒｅｓ');
    assert.ok(j.bare.equals(parseJID('juliet@example.com')));
  });

  it('keeps confusables distinct, and isMixedScript flags them', () => {
    const cyrillic = parseJID('\u0430dmin@example.com');
    const latin = parseJID('admin@example.com');
    assert.ok(!cyrillic.equals(latin));
    assert.notEqual(cyrillic.toString(), latin.toString());
    assert.equal(isMixedScript(cyrillic.local), true);
    assert.equal(isMixedScript(latin.local), false);
  });

  it('treats composed and decomposed characters as the same JID (NFC)', () => {
    const composed = parseJID('ren\u00E9@caf\u00E9.example/r\u00E9sum\u00E9');
    const decomposed = parseJID('rene\u0301@cafe\u0301.example/re\u0301sume\u0301');
    assert.ok(composed.equals(decomposed));
    assert.equal(decomposed.toString(), 'ren\u00E9@caf\u00E9.example/r\u00E9sum\u00E9');
  });

  it('maps non-ASCII spaces in resources to U+0020', () => {
    assert.equal(parseJID('a@b.example/x\u00A0y').resource, 'x y');
  });

  it('checks the localpart exclusions after width mapping', () => {
    for (const ch of ['"', '&', "'", ':', '<', '>']) {
      malformed(`a${ch}b@example.com`, new RegExp(`^localpart contains a disallowed character U\\+00`));
    }
    malformed('ju\uFF20liet@example.com', /^localpart contains a disallowed character U\+0040 \('@'\)$/);
    malformed('ju\uFF0Fliet@example.com', /^localpart contains a disallowed character U\+002F/);
    assert.equal(parseJID('a!#$%()*+,-.;=?[\\]^_`{|}~@example.com').local, 'a!#$%()*+,-.;=?[\\]^_`{|}~');
  });
});

describe('splitting', () => {
  it('allows "@" and "/" in the resourcepart', () => {
    assert.deepEqual(parts('juliet@example.com/a@b/c'), ['juliet', 'example.com', 'a@b/c']);
    assert.deepEqual(parts('example.com/@'), ['', 'example.com', '@']);
    assert.deepEqual(parts('example.com//'), ['', 'example.com', '/']);
  });

  it('refuses a second "@" before the resourcepart', () => {
    malformed('a@b@example.com', /^domainpart contains a disallowed character U\+0040/);
  });

  it('refuses empty parts', () => {
    malformed('', /^domainpart is empty$/);
    malformed('@', /^localpart is empty$/);
    malformed('@example.com', /^localpart is empty$/);
    malformed('juliet@example.com/', /^resourcepart is empty$/);
    malformed('example.com/', /^resourcepart is empty$/);
    malformed('juliet@/res', /^domainpart is empty$/);
    malformed('.', /^domainpart is empty$/);
    assert.throws(() => jid('juliet', ''), JidError);
  });

  it('refuses control characters in every part', () => {
    malformed('ju\u0000liet@example.com', /^localpart contains a disallowed character U\+0000 \(control character\)$/);
    malformed('juliet@exa\u0007mple.com', /^domainpart /);
    malformed('juliet@example.com/a\u001Bb', /^resourcepart contains a disallowed character U\+001B \(control character\)$/);
    malformed('juliet@example.com/a\nb', /^resourcepart contains a disallowed character U\+000A/);
    malformed('juliet@example.com/a\u0085b', /^resourcepart contains a disallowed character U\+0085/);
  });

  it('refuses bidi violations in localparts and domainparts', () => {
    assert.equal(parseJID('\u05E9\u05DC\u05D5\u05DD@example.com').local, '\u05E9\u05DC\u05D5\u05DD');
    malformed('abc\u05D0@example.com', /^localpart violates the bidi rule \(RFC 5893 rule 5\)/);
    malformed('\u05D0abc@example.com', /^localpart violates the bidi rule \(RFC 5893 rule 2\)/);
    malformed('juliet@a\u05D0.example', /^domainpart violates the bidi rule/);
    malformed('juliet@\u05D0\u05D1.1example', /^domainpart violates the bidi rule \(RFC 5893 rule 1\)/);
    assert.equal(parseJID('x@\u05D0\u05D1.example').domain, '\u05D0\u05D1.example');
    // Resourcepart (OpaqueString) has no directionality rule.
    assert.equal(parseJID('x@example.com/abc\u05D0').resource, 'abc\u05D0');
  });
});

describe('domainparts', () => {
  it('strips one trailing dot', () => {
    assert.equal(parseJID('juliet@example.com.').domain, 'example.com');
    assert.equal(parseJID('example.com./r').toString(), 'example.com/r');
    assert.equal(parseJID('example.com\u3002').domain, 'example.com');
    malformed('example.com..', /^domainpart has an empty label$/);
  });

  it('keeps internationalized domains in U-label form and converts A-labels', () => {
    assert.equal(parseJID('B\u00FCcher.example').domain, 'b\u00FCcher.example');
    assert.equal(parseJID('xn--bcher-kva.example').domain, 'b\u00FCcher.example');
    assert.ok(parseJID('u@XN--BCHER-KVA.example').equals(parseJID('u@bücher.example')));
    assert.equal(parseJID('例え.テスト').domain, '例え.テスト');
    malformed('u@xn--zz.example', /^domainpart is not a valid internationalized domain name$/);
    malformed('u@i\u2764.example', /^domainpart contains a disallowed character U\+2764 \(symbol\)$/);
  });

  it('accepts IPv6 literals in canonical form and IPv4 addresses', () => {
    assert.deepEqual(parts('juliet@[::1]/balcony'), ['juliet', '[::1]', 'balcony']);
    assert.equal(parseJID('[2001:DB8:0:0:0:0:0:1]').domain, '[2001:db8::1]');
    assert.ok(parseJID('[0:0::1]').equals(parseJID('[::1]')));
    assert.equal(parseJID('u@192.0.2.1').domain, '192.0.2.1');
    malformed('[fe80::1%eth0]', /^domainpart is not a valid IPv6 address literal$/);
    malformed('[::1', /^domainpart is not a valid IPv6 address literal$/);
    malformed('[example.com]', /^domainpart is not a valid IPv6 address literal$/);
    malformed('::1', /^domainpart contains a disallowed character U\+003A/);
  });

  it('refuses what could be read as a non-canonical IPv4 address', () => {
    for (const d of ['256.1.1.1', '1.2.3', '0x7f.1', '127.1', 'foo.0x1', '10.08.0.1']) {
      malformed(d, /^domainpart ends with a numeric label but is not an IPv4 address$/);
    }
    malformed('１２７.0.0.1', /^domainpart ends with a numeric label/);
  });

  it('refuses labels that are not LDH', () => {
    malformed('a_b.example', /^domainpart contains a disallowed character U\+005F \('_'\)$/);
    malformed('a b.example', /^domainpart contains a disallowed character U\+0020 \(space\)$/);
    malformed('-ab.example', /^domainpart has a label that starts or ends with a hyphen$/);
    malformed('ab-.example', /^domainpart has a label that starts or ends with a hyphen$/);
    malformed('ab--cd.example', /^domainpart has a reserved label "ab--cd"/);
    malformed('a..b', /^domainpart has an empty label$/);
    malformed('.example', /^domainpart has an empty label$/);
    malformed('u@ex\u200Dample.com', /^domainpart /);
  });

  it('answers the same whatever domain came just before (the last prepared one is remembered)', () => {
    fc.assert(
      fc.property(fc.constantFrom('example.com', 'EXAMPLE.com', 'example.com.', 'b\u00FCcher.example', 'ab-.example', '127.1'), fc.string(), (before, domain) => {
        const cold = tryParseJID(`u@${domain}`)?.toString();
        tryParseJID(`u@${before}`);
        assert.equal(tryParseJID(`u@${domain}`)?.toString(), cold);
        assert.equal(tryParseJID(`u@${domain}`)?.toString(), cold);
      }),
    );
    parseJID('u@example.com');
    assert.equal(parseJID('u@EXAMPLE.com').domain, 'example.com');
    malformed('u@example.com..', /^domainpart has an empty label$/);
  });
});

describe('length limits (1023 bytes per part, after preparation)', () => {
  const max = JID_PART_MAX_BYTES;

  it('is 1023', () => assert.equal(max, 1023));

  it('localpart', () => {
    const cases: Array<[string, number]> = [
      ['a'.repeat(max), max],
      ['\u00E9'.repeat(511) + 'a', max], // 2-byte
      ['\u4E2D'.repeat(341), max], // 3-byte
      ['\u{20000}'.repeat(255) + 'abc', max], // 4-byte
      ['\u0130'.repeat(341), max], // İ (2 bytes) lowercases to i + U+0307 (3 bytes)
      ['\uFF4A'.repeat(max), max], // fullwidth j (3 bytes) maps to j (1 byte)
      ['e\u0301'.repeat(511) + 'a', max], // 3 bytes each, composes to 2
    ];
    for (const [local, prepared] of cases) {
      const j = parseJID(`${local}@example.com`);
      assert.equal(bytes(j.local), prepared);
    }
    malformed(`${'a'.repeat(max + 1)}@example.com`, /^localpart is longer than 1023 bytes$/);
    malformed(`${'\u00E9'.repeat(512)}@example.com`, /^localpart is longer than 1023 bytes$/);
    malformed(`${'\u4E2D'.repeat(341)}a@example.com`, /^localpart is longer than 1023 bytes$/);
    malformed(`${'\u{20000}'.repeat(256)}@example.com`, /^localpart is longer than 1023 bytes$/);
    malformed(`${'\u0130'.repeat(341)}a@example.com`, /^localpart is longer than 1023 bytes$/);
    malformed(`${'\uFF4A'.repeat(max + 1)}@example.com`, /^localpart is longer than 1023 bytes$/);
    malformed(`${'a'.repeat(100_000)}@example.com`, /^localpart is longer than 1023 bytes$/);
  });

  it('resourcepart', () => {
    for (const res of ['r'.repeat(max), '\u{1F600}'.repeat(255) + 'abc', '\u00E9'.repeat(511) + ' ', 'e\u0301'.repeat(511) + 'x']) {
      assert.equal(bytes(parseJID(`example.com/${res}`).resource), max);
    }
    malformed(`example.com/${'r'.repeat(max + 1)}`, /^resourcepart is longer than 1023 bytes$/);
    malformed(`example.com/${'\u{1F600}'.repeat(256)}`, /^resourcepart is longer than 1023 bytes$/);
    malformed(`example.com/${'\u00E9'.repeat(512)}`, /^resourcepart is longer than 1023 bytes$/);
    assert.throws(() => parseJID('example.com').withResource('r'.repeat(max + 1)), JidError);
  });

  it('domainpart, ASCII', () => {
    // 16 labels of 63 bytes and 15 dots: 1023 bytes.
    const label = 'a'.repeat(63);
    const domain = Array(16).fill(label).join('.');
    assert.equal(domain.length, max);
    assert.equal(parseJID(`u@${domain}`).domain, domain);
    assert.equal(parseJID(`u@${domain}.`).domain, domain); // the trailing dot does not count
    malformed(`u@${domain}b`, /^domainpart has a label longer than 63 bytes$/);
    const tooLong = Array(15).fill(label).join('.') + '.' + 'a'.repeat(32) + '.' + 'a'.repeat(31);
    assert.equal(tooLong.length, max + 1);
    malformed(`u@${tooLong}`, /^domainpart is longer than 1023 bytes$/);
    malformed(`u@${'a'.repeat(64)}.example`, /^domainpart has a label longer than 63 bytes$/);
  });

  it('domainpart, internationalized', () => {
    const label = '\u00FC'.repeat(10); // 20 bytes in UTF-8
    const head = Array(48).fill(label).join('.'); // 48 * 21 - 1 = 1007 bytes
    const domain = `${head}.${'a'.repeat(15)}`;
    assert.equal(bytes(domain), max);
    assert.equal(parseJID(`u@${domain}`).domain, domain);
    malformed(`u@${head}.${'a'.repeat(16)}`, /^domainpart is longer than 1023 bytes$/);
  });
});

describe('the JID class', () => {
  it('exposes bare forms', () => {
    const full = parseJID('Juliet@Example.com/Balcony');
    assert.equal(full.isBare, false);
    assert.equal(full.bare.toString(), 'juliet@example.com');
    assert.equal(full.bare.isBare, true);
    assert.equal(full.bareString(), 'juliet@example.com');
    assert.equal(full.bare, full.bare); // cached
    const bare = parseJID('juliet@example.com');
    assert.equal(bare.bare, bare);
    assert.equal(parseJID('example.com/x').bareString(), 'example.com');
    assert.equal(JSON.stringify({ to: full }), '{"to":"juliet@example.com/Balcony"}');
  });

  it('withResource prepares the resource', () => {
    const j = parseJID('juliet@example.com/old').withResource('cafe\u0301\u00A02');
    assert.equal(j.toString(), 'juliet@example.com/caf\u00E9 2');
    assert.throws(() => j.withResource(''), JidError);
    assert.throws(() => j.withResource('a\u0000'), JidError);
  });

  it('jid() prepares each part', () => {
    assert.ok(jid('Juliet', 'EXAMPLE.com', 'Balcony').equals(parseJID('juliet@example.com/Balcony')));
    assert.ok(jid('', 'example.com').equals(parseJID('example.com')));
    assert.equal(jid('juliet', 'example.com', '').isBare, true);
    assert.throws(() => jid('a@b', 'example.com'), JidError);
    assert.throws(() => jid('a', 'example.com/x'), JidError);
  });

  it('tryParseJID returns undefined for malformed JIDs', () => {
    assert.equal(tryParseJID('juliet@'), undefined);
    assert.equal(tryParseJID('juliet@example.com')?.local, 'juliet');
  });

  it('cannot be constructed unprepared', () => {
    const Ctor = JID as unknown as new (...args: unknown[]) => JID;
    assert.throws(() => new Ctor(Symbol('prepared JID'), 'A', 'B', ''), TypeError);
  });
});

// Parts that are valid more often than arbitrary strings.
const localPart = fc.oneof(
  fc.stringMatching(/^[a-zA-Z0-9._-]{1,20}$/),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
  fc.constantFrom('Σ', 'ς', 'fußball', 'ｊｕｌｉｅｔ', 'rene\u0301', '\u05E9\u05DC', 'İ', '\u0430dmin'),
);
const domainPart = fc.oneof(
  fc.domain(),
  fc.constantFrom('bücher.example', 'XN--BCHER-KVA.example', '[::1]', '192.0.2.7', 'example.com.', '例え.テスト'),
);
const resourcePart = fc.oneof(
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
);
const jidString = fc.oneof(
  fc.tuple(fc.option(localPart, { nil: undefined }), domainPart, fc.option(resourcePart, { nil: undefined })).map(
    ([l, d, r]) => (l === undefined ? '' : `${l}@`) + d + (r === undefined ? '' : `/${r}`),
  ),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
);

describe('properties', () => {
  it('parseJID throws only JidError, and parse(toString(j)) equals j', () => {
    let accepted = 0;
    fc.assert(
      fc.property(jidString, (s) => {
        let j: JID;
        try {
          j = parseJID(s);
        } catch (err) {
          assert.ok(err instanceof JidError, String(err));
          return;
        }
        accepted++;
        const again = parseJID(j.toString());
        assert.ok(again.equals(j), `${j} reparsed as ${again}`);
        assert.equal(again.toString(), j.toString());
        assert.ok(jid(j.local, j.domain, j.resource).equals(j));
      }),
      { numRuns: 2000 },
    );
    assert.ok(accepted > 200, `only ${accepted} generated JIDs were valid`);
  });

  it('preparing each part is idempotent', () => {
    fc.assert(
      fc.property(jidString, (s) => {
        const j = tryParseJID(s);
        if (!j) return;
        const again = jid(j.local, j.domain, j.resource);
        assert.equal(again.local, j.local);
        assert.equal(again.domain, j.domain);
        assert.equal(again.resource, j.resource);
      }),
      { numRuns: 2000 },
    );
  });
});
