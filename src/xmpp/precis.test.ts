import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  PrecisError,
  isMixedScript,
  nickname,
  nicknameKey,
  opaqueString,
  usernameCaseMapped,
  widthMap,
} from './precis.ts';

function refused(fn: () => unknown, reason: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PrecisError, `expected PrecisError, got ${String(err)}`);
    assert.match(err.reason, reason);
    assert.equal(err.message, err.reason);
    return true;
  });
}

describe('usernameCaseMapped (RFC 8265 §3.3)', () => {
  it('maps case with toLowerCase()', () => {
    assert.equal(usernameCaseMapped('Juliet'), 'juliet');
    assert.equal(usernameCaseMapped('ÉLODIE'), 'élodie');
    assert.equal(usernameCaseMapped('Σ'), 'σ');
    // toLowerCase keeps ß and the final sigma (Default Case Folding would not).
    assert.equal(usernameCaseMapped('fußball'), 'fußball');
    assert.notEqual(usernameCaseMapped('fußball'), usernameCaseMapped('fussball'));
    assert.equal(usernameCaseMapped('ΟΔΟΣ'), 'οδος');
    assert.equal(usernameCaseMapped('\u1E9E'), 'ß'); // capital sharp s
  });

  it('maps fullwidth and halfwidth forms to their decompositions', () => {
    assert.equal(usernameCaseMapped('ｊｕｌｉｅｔ'), 'juliet');
    assert.equal(usernameCaseMapped('ＪＵＬＩＥＴ'), 'juliet');
    assert.equal(usernameCaseMapped('\uFF76\uFF80\uFF76\uFF85'), 'カタカナ'); // halfwidth katakana
    refused(() => usernameCaseMapped('ab\u3000cd'), /U\+0020 \(space\)/); // ideographic space → space
  });

  it('width mapping gives each decomposition mapping, a single code point', () => {
    assert.equal(widthMap('\uFFE3'), '\u00AF');
    assert.equal(widthMap('\uFFA1\uFFDC\uFFA0'), '\u3131\u3163\u3164');
    assert.equal(widthMap('\uFF5F\uFFE6\uFFEE'), '\u2985\u20A9\u25CB');
    for (let cp = 0xff01; cp <= 0xffee; cp++) {
      const ch = String.fromCharCode(cp);
      if (ch.normalize('NFKC') === ch || /\p{Cn}/u.test(ch)) continue;
      const mapped = widthMap(ch);
      assert.equal(Array.from(mapped).length, 1, `U+${cp.toString(16)}`);
      assert.equal(mapped.normalize('NFKC'), ch.normalize('NFKC'), `U+${cp.toString(16)}`);
    }
    assert.equal(widthMap('abc é'), 'abc é');
  });

  it('normalizes to NFC, so composed and decomposed forms are one username', () => {
    const composed = 'caf\u00E9';
    const decomposed = 'cafe\u0301';
    assert.notEqual(composed, decomposed);
    assert.equal(usernameCaseMapped(decomposed), composed);
    assert.equal(usernameCaseMapped('CAFE\u0301'), composed);
  });

  it('keeps confusable scripts distinct', () => {
    assert.equal(usernameCaseMapped('\u0430dmin'), '\u0430dmin');
    assert.notEqual(usernameCaseMapped('\u0430dmin'), usernameCaseMapped('admin'));
  });

  it('refuses what the IdentifierClass disallows, saying which code point and why', () => {
    refused(() => usernameCaseMapped(''), /^username is empty$/);
    refused(() => usernameCaseMapped('foo bar'), /^username contains a disallowed character U\+0020 \(space\)$/);
    refused(() => usernameCaseMapped('a\u0000'), /U\+0000 \(control character\)/);
    refused(() => usernameCaseMapped('a\u007F'), /U\+007F \(control character\)/);
    refused(() => usernameCaseMapped('a\u0085'), /U\+0085 \(control character\)/);
    refused(() => usernameCaseMapped('a\u0378'), /U\+0378 \(unassigned code point\)/);
    refused(() => usernameCaseMapped('a\uE000'), /U\+E000 \(private-use character\)/);
    refused(() => usernameCaseMapped('a\u{F0000}'), /U\+F0000 \(private-use character\)/);
    refused(() => usernameCaseMapped('a\uD800'), /U\+D800 \(surrogate\)/);
    refused(() => usernameCaseMapped('a\uFDD0'), /U\+FDD0 \(noncharacter\)/);
    refused(() => usernameCaseMapped('a\u{10FFFF}'), /U\+10FFFF \(noncharacter\)/);
    refused(() => usernameCaseMapped('a\u200B'), /U\+200B \(default-ignorable character\)/);
    refused(() => usernameCaseMapped('a\u00AD'), /U\+00AD \(default-ignorable character\)/);
    refused(() => usernameCaseMapped('\u1100\u1161'), /U\+1100 \(conjoining Hangul jamo\)/);
    refused(() => usernameCaseMapped('henry\u2163'), /U\+2163 \(compatibility character\)/);
    refused(() => usernameCaseMapped('\u212A'), /U\+212A \(compatibility character\)/); // Kelvin sign
    refused(() => usernameCaseMapped('\u265A'), /U\+265A \(symbol\)/);
    refused(() => usernameCaseMapped('a\u2028b'), /U\+2028 \(format or separator character\)/);
    refused(() => usernameCaseMapped('ab\u0640'), /U\+0640 \(excluded by RFC 5892\)/);
    refused(() => usernameCaseMapped('\u00BFqu\u00E9'), /U\+00BF \(punctuation\)/);
  });

  it('accepts letters, digits and marks of many scripts', () => {
    for (const s of ['π', 'жюльетта', 'ジュリエット', '朱丽叶', '줄리엣', 'जूलियट', 'ஜூலியட்', 'ⴰⵣⵓⵍ', '१२३']) {
      assert.equal(usernameCaseMapped(s), s.normalize('NFC'));
    }
  });

  it('applies the contextual rules of RFC 5892', () => {
    assert.equal(usernameCaseMapped('col\u00B7lecci\u00F3'), 'col\u00B7lecci\u00F3'); // Catalan middle dot
    refused(() => usernameCaseMapped('a\u00B7b'), /U\+00B7 in a context/);
    assert.equal(usernameCaseMapped('\u0375\u03B1'), '\u0375\u03B1'); // keraia before Greek
    refused(() => usernameCaseMapped('\u03B1\u0375'), /U\+0375 in a context/);
    assert.equal(usernameCaseMapped('\u05D0\u05F3'), '\u05D0\u05F3'); // geresh after Hebrew
    assert.equal(usernameCaseMapped('\u30A2\u30FB\u30A2'), '\u30A2\u30FB\u30A2');
    refused(() => usernameCaseMapped('a\u30FBb'), /U\+30FB in a context/);
    assert.equal(usernameCaseMapped('\u0628\u0661\u0662'), '\u0628\u0661\u0662');
    refused(() => usernameCaseMapped('\u0628\u0661\u06F2'), /U\+0661 in a context/);
  });

  it('allows ZWJ/ZWNJ only where RFC 5892 says they join', () => {
    assert.equal(usernameCaseMapped('\u0915\u094D\u200D\u0937'), '\u0915\u094D\u200D\u0937'); // after virama
    assert.equal(usernameCaseMapped('\u1B05\u1B44\u200C\u1B13'), '\u1B05\u1B44\u200C\u1B13'); // spacing virama
    assert.equal(usernameCaseMapped('\u0645\u06CC\u200C\u062E'), '\u0645\u06CC\u200C\u062E'); // Persian ZWNJ
    refused(() => usernameCaseMapped('a\u200Db'), /U\+200D in a context/);
    refused(() => usernameCaseMapped('a\u200Cb'), /U\+200C in a context/);
    refused(() => usernameCaseMapped('\u200Cab'), /U\+200C in a context/);
  });

  it('applies the Bidi Rule (RFC 5893) to strings with right-to-left text', () => {
    assert.equal(usernameCaseMapped('\u05E9\u05DC\u05D5\u05DD'), '\u05E9\u05DC\u05D5\u05DD');
    assert.equal(usernameCaseMapped('\u05D0\u05D1-7'), '\u05D0\u05D1-7');
    assert.equal(usernameCaseMapped('\u0633\u0644\u0627\u0645\u0661\u0662'), '\u0633\u0644\u0627\u0645\u0661\u0662');
    assert.equal(usernameCaseMapped('\u05D0\u05B8'), '\u05D0\u05B8'); // trailing mark
    refused(() => usernameCaseMapped('abc\u05D0'), /bidi rule \(RFC 5893 rule 5\)/);
    refused(() => usernameCaseMapped('\u05D0abc'), /bidi rule \(RFC 5893 rule 2\)/);
    refused(() => usernameCaseMapped('1\u05D0'), /bidi rule \(RFC 5893 rule 1\)/);
    refused(() => usernameCaseMapped('\u0661\u0662'), /bidi rule \(RFC 5893 rule 1\)/);
    refused(() => usernameCaseMapped('\u05D0\u05D1!'), /bidi rule \(RFC 5893 rule 3\)/);
    refused(() => usernameCaseMapped('\u0633\u0661\u0031'), /bidi rule \(RFC 5893 rule 4\)/);
    // Left-to-right-only strings are not constrained.
    assert.equal(usernameCaseMapped('1abc!'), '1abc!');
  });
});

describe('opaqueString (RFC 8265 §4.2)', () => {
  it('preserves case, width and ASCII spaces', () => {
    assert.equal(opaqueString('Balcony'), 'Balcony');
    assert.equal(opaqueString(' foo  bar '), ' foo  bar ');
    assert.equal(opaqueString('ｊｕｌｉｅｔ'), 'ｊｕｌｉｅｔ');
    assert.equal(opaqueString('king ♚ Ⅳ'), 'king ♚ Ⅳ');
    assert.equal(opaqueString('a@b/c'), 'a@b/c');
  });

  it('maps non-ASCII spaces to U+0020 and normalizes to NFC', () => {
    assert.equal(opaqueString('a\u00A0b\u3000c\u2003d'), 'a b c d');
    assert.equal(opaqueString('cafe\u0301'), 'caf\u00E9');
    assert.equal(opaqueString('\u212B'), '\u00C5'); // Angstrom sign, a singleton decomposition
  });

  it('refuses controls, ignorables, unassigned and private-use code points', () => {
    refused(() => opaqueString(''), /^string is empty$/);
    refused(() => opaqueString('a\tb', 'resourcepart'), /^resourcepart contains a disallowed character U\+0009 \(control character\)$/);
    refused(() => opaqueString('a\u200Bb'), /U\+200B/);
    refused(() => opaqueString('a\u202Eb'), /U\+202E/); // right-to-left override
    refused(() => opaqueString('a\u0378'), /unassigned/);
    refused(() => opaqueString('\uE000'), /private-use/);
    refused(() => opaqueString('\uDFFF'), /surrogate/);
    refused(() => opaqueString('\uFFFE'), /noncharacter/);
    refused(() => opaqueString('a\u2029b'), /U\+2029/);
  });

  it('follows RFC 5892 for ZWJ, which refuses emoji ZWJ sequences', () => {
    assert.equal(opaqueString('\u{1F600}'), '\u{1F600}');
    refused(() => opaqueString('\u{1F468}\u200D\u{1F469}'), /U\+200D in a context/);
  });
});

describe('nickname (RFC 8266)', () => {
  it('trims and collapses spaces, maps non-ASCII spaces, applies NFKC and keeps case', () => {
    assert.equal(nickname('  Juliet   Capulet '), 'Juliet Capulet');
    assert.equal(nickname('\u00A0Ju\u3000liet\u2003'), 'Ju liet');
    assert.equal(nickname('Ｊｕｌｉｅｔ Ⅳ'), 'Juliet IV');
    assert.equal(nickname('♚ King'), '♚ King');
  });

  it('compares without case through nicknameKey', () => {
    assert.equal(nicknameKey('Juliet'), nicknameKey('JULIET'));
    assert.equal(nicknameKey('Ｊｕｌｉｅｔ'), nicknameKey(' juliet '));
    assert.notEqual(nicknameKey('Juliet'), nicknameKey('Romeo'));
    assert.notEqual(nickname('Juliet'), nickname('juliet'));
  });

  it('refuses empty nicknames and disallowed code points', () => {
    refused(() => nickname(''), /^nickname is empty$/);
    refused(() => nickname('   '), /^nickname is empty$/);
    refused(() => nickname('\u3000'), /^nickname is empty$/);
    refused(() => nickname('a\u0007'), /control character/);
    refused(() => nickname('a\u200Bb'), /default-ignorable/);
  });
});

describe('isMixedScript (UTS #39 single-script)', () => {
  it('detects Latin mixed with a lookalike from another script', () => {
    assert.equal(isMixedScript('admin'), false);
    assert.equal(isMixedScript('\u0430dmin'), true); // Cyrillic а
    assert.equal(isMixedScript('p\u0430yp\u0430l'), true);
    assert.equal(isMixedScript('\u03BFmega'), true); // Greek omicron
  });

  it('accepts single-script names, including Japanese and Korean writing', () => {
    for (const s of ['juliet', 'juliet_42', 'mañana', 'жюльетта', 'Ελληνικά', '東京タワーとうきょう', '서울中央', '中文注音ㄅㄆ', 'שלום', 'سلام۱۲', 'ஜூலியட்']) {
      assert.equal(isMixedScript(s), false, s);
    }
  });

  it('ignores Common and Inherited code points', () => {
    assert.equal(isMixedScript('1234-_.'), false);
    assert.equal(isMixedScript('e\u0301t\u00E9'), false);
    assert.equal(isMixedScript('\u0436\u0301'), false);
  });

  it('counts Latin with Han or Cyrillic with Greek as mixed', () => {
    assert.equal(isMixedScript('taro田中'), true);
    assert.equal(isMixedScript('\u0436\u03B1'), true);
  });
});

// A generator biased towards the code points that exercise the mappings.
const interesting = fc.constantFrom(
  'a', 'Z', '0', '-', '.', ' ', '!', '@', '/', 'ß', 'Σ', 'σ', 'ς', 'İ', 'ı', 'é', 'e', '\u0301', '\u0308',
  '\u00A0', '\u3000', 'Ａ', 'ｶ', '\uFFE3', '\u212A', '\u212B', 'ǅ', 'Ⅳ', '¨', '\u05D0', '\u05B8', '\u0627',
  '\u0661', '\u06F1', '\u094D', '\u0915', '\u200C', '\u200D', '\u00B7', 'l', '\u0375', '\u30FB', 'ア',
  '\u1100', '\u1161', '\uAC00', '\u0000', '\u200B', '\uE000', '\uD800', '\u{1F600}', '\u0345', 'ﬁ',
);
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.array(interesting, { maxLength: 12 }).map((a) => a.join('')),
);

const PROFILES: Array<[string, (s: string) => string]> = [
  ['usernameCaseMapped', usernameCaseMapped],
  ['opaqueString', opaqueString],
  ['nickname', nickname],
  ['nicknameKey', nicknameKey],
];

describe('properties', () => {
  for (const [name, prep] of PROFILES) {
    it(`${name} is idempotent and throws only PrecisError`, () => {
      fc.assert(
        fc.property(anyString, (s) => {
          let out: string;
          try {
            out = prep(s);
          } catch (err) {
            assert.ok(err instanceof PrecisError, String(err));
            return;
          }
          assert.notEqual(out, '');
          assert.equal(prep(out), out);
        }),
        { numRuns: 3000 },
      );
    });
  }

  it('isMixedScript never throws and ASCII is never mixed', () => {
    fc.assert(
      fc.property(anyString, fc.string({ unit: 'binary-ascii' }), (s, ascii) => {
        assert.equal(typeof isMixedScript(s), 'boolean');
        assert.equal(isMixedScript(ascii), false);
      }),
    );
  });
});
