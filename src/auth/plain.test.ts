import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePlain, PLAIN_MAX_PART_BYTES } from './plain.ts';

const msg = (...parts: (string | Buffer)[]): Buffer =>
  Buffer.concat(parts.flatMap((p, i) => [...(i > 0 ? [Buffer.from([0])] : []), Buffer.isBuffer(p) ? p : Buffer.from(p)]));

describe('parsePlain', () => {
  it('parses authcid and password with an empty authzid', () => {
    assert.deepEqual(parsePlain(msg('', 'juliet', 'r0m30')), { authzid: undefined, authcid: 'juliet', password: 'r0m30' });
  });

  it('parses an authzid', () => {
    assert.deepEqual(parsePlain(msg('juliet@example.org', 'juliet', 'r0m30')), {
      authzid: 'juliet@example.org',
      authcid: 'juliet',
      password: 'r0m30',
    });
  });

  it('keeps non-ASCII UTF-8 and spaces as sent (normalisation is the caller\u2019s)', () => {
    assert.deepEqual(parsePlain(msg('', 'j\u00fcliet', ' p\u00e4ss w\u00f6rd ')), {
      authzid: undefined,
      authcid: 'j\u00fcliet',
      password: ' p\u00e4ss w\u00f6rd ',
    });
  });

  it('accepts parts of exactly the limit', () => {
    const long = 'x'.repeat(PLAIN_MAX_PART_BYTES);
    assert.deepEqual(parsePlain(msg(long, long, long)), { authzid: long, authcid: long, password: long });
  });

  const malformed: [string, Buffer][] = [
    ['empty message', Buffer.alloc(0)],
    ['no NUL', Buffer.from('julietr0m30')],
    ['one NUL', msg('juliet', 'r0m30')],
    ['three NULs', msg('', 'juliet', 'r0m30', 'extra')],
    ['NUL inside the password', msg('', 'juliet', 'r0m\u000030')],
    ['empty authcid', msg('', '', 'r0m30')],
    ['empty password', msg('', 'juliet', '')],
    ['only separators', Buffer.from([0, 0])],
    ['authcid over the limit', msg('', 'x'.repeat(PLAIN_MAX_PART_BYTES + 1), 'r0m30')],
    ['password over the limit', msg('', 'juliet', 'x'.repeat(PLAIN_MAX_PART_BYTES + 1))],
    ['authzid over the limit', msg('x'.repeat(PLAIN_MAX_PART_BYTES + 1), 'juliet', 'r0m30')],
    ['multi-byte characters over the byte limit', msg('', 'juliet', '\u00e9'.repeat(512))],
    ['invalid UTF-8 in the password', msg('', 'juliet', Buffer.from([0x72, 0xc3, 0x28]))],
    ['invalid UTF-8 in the authcid', msg('', Buffer.from([0xff, 0xfe]), 'r0m30')],
    ['overlong UTF-8 encoding', msg('', Buffer.from([0xc0, 0xaf]), 'r0m30')],
    ['UTF-16 surrogate encoded as UTF-8', msg('', 'juliet', Buffer.from([0xed, 0xa0, 0x80]))],
  ];
  for (const [name, input] of malformed) {
    it(`${name} → malformed-request`, () => {
      const result = parsePlain(input);
      assert.ok('error' in result, `expected an error for ${name}`);
      assert.equal(result.error, 'malformed-request');
      assert.equal(typeof result.text, 'string');
    });
  }
});
