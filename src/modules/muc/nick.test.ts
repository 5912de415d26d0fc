// Room nicknames: RFC 8266 enforcement for display, case-folded keys for
// uniqueness, readable refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StanzaError } from '../../xmpp/errors.ts';
import { prepareNick } from './nick.ts';

function refusal(raw: string, max = 20): { condition: string; text: string | undefined } {
  try {
    prepareNick(raw, max);
  } catch (err) {
    assert.ok(err instanceof StanzaError, String(err));
    return { condition: err.condition, text: err.text };
  }
  assert.fail(`'${raw}' was accepted`);
}

test('nicknames are enforced for display and folded for comparison', () => {
  assert.deepEqual(prepareNick('Alice', 20), { display: 'Alice', key: 'alice' });
  assert.deepEqual(prepareNick('  Bob   Smith ', 20), { display: 'Bob Smith', key: 'bob smith' });
  assert.deepEqual(prepareNick('ＡＢＣ', 20), { display: 'ABC', key: 'abc' }, 'fullwidth is mapped');
  assert.equal(prepareNick('ÉCOLE', 20).key, prepareNick('école', 20).key, 'case folding beyond ASCII');
  assert.equal(prepareNick('😀 party', 20).display, '😀 party');
});

test('bad nicknames: jid-malformed with the reason; too long: not-acceptable with the limit', () => {
  assert.equal(refusal('').condition, 'jid-malformed');
  const zw = refusal('a\u200bb');
  assert.equal(zw.condition, 'jid-malformed');
  assert.match(zw.text ?? '', /U\+200B/);
  assert.equal(refusal('   ').condition, 'jid-malformed');
  assert.equal(refusal('\u0007bell').condition, 'jid-malformed');
  const long = refusal('x'.repeat(21));
  assert.equal(long.condition, 'not-acceptable');
  assert.match(long.text ?? '', /at most 20 characters; this one has 21/);
  assert.equal(prepareNick('é'.repeat(20), 20).display.length, 20, 'characters, not bytes');
});
