// Finding our upload links in a message (sharing.ts) and reading Basic
// credentials (download-auth.ts): what counts as a link, and what does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseElement } from '../../net/xml-stream.ts';
import { parseBasic } from './download-auth.ts';
import { MAX_LINKS_PER_MESSAGE, Sharing } from './sharing.ts';
import type { UploadStore } from './store.ts';

const PREFIX = 'https://example.org:5443/upload/';
const token = (n: number) => `${'A'.repeat(22)}${String(n).padStart(2, '0')}`;
const sharing = new Sharing(undefined as unknown as UploadStore, 'example.org', () => PREFIX);
const tokens = (xml: string) => sharing.tokens(parseElement(`<message xmlns='jabber:client'>${xml}</message>`));

test('links in the body, an out-of-band URL, a file share source and a reference are found', () => {
  assert.deepEqual(tokens(`<body>see ${PREFIX}${token(1)}/a.pdf and ${PREFIX}${token(2)}/b%20c.png.</body>`), [token(1), token(2)]);
  assert.deepEqual(tokens(`<x xmlns='jabber:x:oob'><url>${PREFIX}${token(3)}/x</url></x>`), [token(3)]);
  assert.deepEqual(
    tokens(`<file-sharing xmlns='urn:xmpp:sfs:0'><sources><url-data xmlns='http://jabber.org/protocol/url-data' target='${PREFIX}${token(4)}/f'/></sources></file-sharing>`),
    [token(4)],
  );
  assert.deepEqual(tokens(`<reference xmlns='urn:xmpp:reference:0' type='data' uri='${PREFIX}${token(5)}/r'/>`), [token(5)]);
  assert.deepEqual(tokens(`<body>${PREFIX}${token(1)}/a</body><x xmlns='jabber:x:oob'><url>${PREFIX}${token(1)}/a</url></x>`), [token(1)], 'once');
});

test('other servers, other paths, malformed tokens and a listener that is off are not links', () => {
  assert.deepEqual(tokens(`<body>https://evil.example:5443/upload/${token(1)}/a</body>`), []);
  assert.deepEqual(tokens(`<body>https://example.org:5443/uploads/${token(1)}/a</body>`), []);
  assert.deepEqual(tokens(`<body>${PREFIX}${token(1).slice(1)}/a ${PREFIX}${token(1)}</body>`), []);
  assert.deepEqual(tokens('<body>no links</body>'), []);
  const off = new Sharing(undefined as unknown as UploadStore, 'example.org', () => undefined);
  assert.deepEqual(off.tokens(parseElement(`<message xmlns='jabber:client'><body>${PREFIX}${token(1)}/a</body></message>`)), []);
});

test(`at most ${MAX_LINKS_PER_MESSAGE} links are taken from one message`, () => {
  const many = Array.from({ length: 50 }, (_, i) => `${PREFIX}${token(i)}/f`).join(' ');
  assert.equal(tokens(`<body>${many}</body>`).length, MAX_LINKS_PER_MESSAGE);
});

test('Basic credentials: UTF-8, a colon in the password; anything else is no credential', () => {
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  assert.deepEqual(parseBasic(`Basic ${b64('alice:pa:ss wörd')}`), { user: 'alice', password: 'pa:ss wörd' });
  assert.deepEqual(parseBasic(`basic ${b64('bob@example.org:x')}`), { user: 'bob@example.org', password: 'x' });
  for (const h of [undefined, '', 'Bearer abc', `Basic ${b64('no-colon')}`, `Basic ${b64(':nouser')}`, 'Basic !!!', `Basic ${'A'.repeat(3000)}`]) {
    assert.equal(parseBasic(h), undefined, String(h));
  }
});
