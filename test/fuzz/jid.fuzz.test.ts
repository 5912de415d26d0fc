// Fuzzing JID parsing and PRECIS preparation (src/xmpp/jid.ts, src/xmpp/precis.ts)
// with random Unicode and mutations of valid JIDs. Properties: the only exceptions
// are JidError / PrecisError with a reason; tryParseJID never throws; a parsed
// JID is a fixed point (its string parses to an equal JID); parts stay within
// RFC 7622's 1023 bytes. Seeded (printed) and bounded; see docs/fuzzing.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JID_PART_MAX_BYTES, JidError, parseJID, tryParseJID } from '../../src/xmpp/jid.ts';
import { PrecisError, nickname, opaqueString, usernameCaseMapped } from '../../src/xmpp/precis.ts';
import { fuzzSettings } from './fuzz-config.ts';

/** Characters that exercise the interesting paths: separators, width/case mapping, bidi, joiners, unassigned, surrogates. */
const tricky = fc.constantFrom(
  '@', '/', '.', '。', '．', ' ', '\u00a0', 'A', 'ß', 'ﬁ', 'Ω', 'İ', 'ｅ', '\u0301', '\u200d', '\u200c', '\u05d0', '\u0627', '\u0660', '1',
  '\ud800', '\udfff', '\u{1f600}', '\u{e0001}', '\ufffd', '\u0000', '\u007f', '[', ']', ':', '%', 'xn--', '-', '\u2028', 'Ⅸ', '\u3000',
);
const unicodeString = fc.array(fc.oneof(tricky, fc.string({ unit: 'binary', maxLength: 4 }), fc.string({ maxLength: 6 })), { maxLength: 24 }).map((a) => a.join(''));
const longString = fc.integer({ min: 1000, max: 1100 }).map((n) => 'a'.repeat(n));
const validJid = fc.constantFrom('user@example.com', 'user@example.com/res', 'example.com', 'Ünïcödé@Éxample.ORG/Phone 1', 'a@b/c@d/e', 'x@[::1]', 'x@127.0.0.1');
const mutated = fc.tuple(validJid, fc.nat(), unicodeString, fc.nat(3)).map(([jid, at, insert, del]) => {
  const i = at % (jid.length + 1);
  return jid.slice(0, i) + insert + jid.slice(i + del);
});
const input = fc.oneof(unicodeString, mutated, longString.map((s) => `${s}@example.com`), longString.map((s) => `u@example.com/${s}`));

/** Runs fn; only the documented error types may come out, each with a reason. */
function expected<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof JidError) assert.ok(err.reason.length > 0, 'a JidError has a reason');
    else if (err instanceof PrecisError) assert.ok(err.message.length > 0, 'a PrecisError has a message');
    else throw new Error(`unexpected ${(err as Error).name}: ${(err as Error).message}`);
    return undefined;
  }
}

test('JIDs and PRECIS: random and mutated input is prepared or refused with a defined error; parsing is stable', (t) => {
  const settings = fuzzSettings();
  t.diagnostic(settings.describe());
  fc.assert(
    fc.property(input, (s) => {
      const parsed = expected(() => parseJID(s));
      const tried = tryParseJID(s);
      assert.equal(tried?.toString(), parsed?.toString(), 'tryParseJID agrees with parseJID');
      if (parsed) {
        const again = parseJID(parsed.toString());
        assert.ok(again.equals(parsed), `not a fixed point: ${JSON.stringify(s)} → ${parsed.toString()} → ${again.toString()}`);
        for (const part of [parsed.local, parsed.domain, parsed.resource]) assert.ok(Buffer.byteLength(part) <= JID_PART_MAX_BYTES);
      }
      for (const prep of [usernameCaseMapped, opaqueString, nickname]) {
        const once = expected(() => prep(s));
        if (once !== undefined) assert.equal(expected(() => prep(once)), once, `${prep.name} is idempotent on ${JSON.stringify(s)}`);
      }
    }),
    settings.params(5000),
  );
});
