// XEP-0084 items read and checked, and built from a vCard photo; the vCard
// PHOTO helpers the conversion uses.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { parseElement } from '../../net/xml-stream.ts';
import { x } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { NS } from '../../xmpp/ns.ts';
import { photoHash, photoOf, withPhoto } from '../vcard/vcard.ts';
import { checkedData, checkInfoAgainstData, dataPayload, decodeBase64, metadataInfos, metadataPayload, sniffType, storedInfo } from './avatar.ts';

const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from('rest of the image')]);
const SHA1 = createHash('sha1').update(PNG).digest('hex');
const data = (text: string) => parseElement(`<data xmlns="${NS.avatarData}">${text}</data>`);
const metadata = (inner: string) => parseElement(`<metadata xmlns='${NS.avatarMetadata}'>${inner}</metadata>`);

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StanzaError);
    return `${err.condition}+${err.appCondition?.name ?? ''}`;
  }
  return 'no error';
}

describe('avatar items', () => {
  test('data: base64 (line breaks allowed) under its SHA-1; anything else is invalid-payload, too large is payload-too-big', () => {
    const wrapped = PNG.toString('base64').replace(/(.{8})/g, '$1\n');
    assert.deepEqual(checkedData(SHA1, data(wrapped), 1000).bytes, PNG);
    assert.equal(errorOf(() => checkedData('0'.repeat(40), data(PNG.toString('base64')), 1000)), 'bad-request+invalid-payload');
    assert.equal(errorOf(() => checkedData(SHA1, data('not base64!'), 1000)), 'bad-request+invalid-payload');
    assert.equal(errorOf(() => checkedData(SHA1, data(''), 1000)), 'bad-request+invalid-payload');
    assert.equal(errorOf(() => checkedData(SHA1, parseElement(`<other xmlns='urn:x'/>`), 1000)), 'bad-request+invalid-payload');
    assert.equal(errorOf(() => checkedData(SHA1, data(PNG.toString('base64')), 10)), 'not-acceptable+payload-too-big');
  });

  test('metadata: infos with id, type and bytes; the stored one is the first without a URL; empty metadata has none', () => {
    const infos = metadataInfos(
      metadata(`<info id='${'a'.repeat(40)}' type='image/gif' bytes='5' url='https://example.org/a.gif'/><info id='${SHA1}' type='image/png' bytes='${PNG.length}' width='64'/>`),
    );
    assert.deepEqual(storedInfo(infos), { id: SHA1, type: 'image/png', bytes: PNG.length, url: undefined });
    assert.deepEqual(metadataInfos(metadata('')), []);
    assert.equal(errorOf(() => metadataInfos(metadata(`<info id='x' type='image/png' bytes='1'/>`))), 'bad-request+invalid-payload');
    assert.equal(errorOf(() => metadataInfos(metadata(`<info id='${SHA1}' bytes='1'/>`))), 'bad-request+invalid-payload');
    assert.equal(errorOf(() => metadataInfos(metadata(`<info id='${SHA1}' type='image/png'/>`))), 'bad-request+invalid-payload');
    assert.equal(errorOf(() => metadataInfos(data(''))), 'bad-request+invalid-payload');
  });

  test('an info must match the data behind it: SHA-1 and size', () => {
    const image = decodeBase64(PNG.toString('base64'))!;
    checkInfoAgainstData({ id: SHA1, type: 'image/png', bytes: PNG.length, url: undefined }, image);
    assert.equal(errorOf(() => checkInfoAgainstData({ id: 'b'.repeat(40), type: 'image/png', bytes: PNG.length, url: undefined }, image)), 'bad-request+invalid-payload');
    assert.equal(errorOf(() => checkInfoAgainstData({ id: SHA1, type: 'image/png', bytes: 1, url: undefined }, image)), 'bad-request+invalid-payload');
  });

  test('vCard photo → items: data and metadata built from the image; types sniffed when the vCard names none', () => {
    const image = decodeBase64(PNG.toString('base64'))!;
    assert.equal(dataPayload(image).toString(), `<data xmlns="${NS.avatarData}">${PNG.toString('base64')}</data>`);
    assert.equal(metadataPayload({ id: SHA1, type: 'image/png', bytes: PNG.length }).toString(), `<metadata xmlns="${NS.avatarMetadata}"><info id="${SHA1}" type="image/png" bytes="${PNG.length}"/></metadata>`);
    assert.equal(sniffType(PNG), 'image/png');
    assert.equal(sniffType(Buffer.from('ffd8ffe000', 'hex')), 'image/jpeg');
    assert.equal(sniffType(Buffer.from('GIF89a...')), 'image/gif');
    assert.equal(sniffType(Buffer.from('RIFF\0\0\0\0WEBPVP8 ')), 'image/webp');
    assert.equal(sniffType(Buffer.from('plain text')), undefined);
  });

  test('items → vCard: PHOTO replaced (the rest kept) or removed; its hash is the avatar id', () => {
    const card = x('vCard', { xmlns: NS.vcard }, x('FN').t('Alice'), x('PHOTO', {}, x('EXTVAL').t('https://example.org/old.png')));
    assert.equal(photoOf(card), undefined);
    const withImage = withPhoto(card, { type: 'image/png', base64: PNG.toString('base64') });
    assert.equal(withImage.toString(), `<vCard xmlns="${NS.vcard}"><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>${PNG.toString('base64')}</BINVAL></PHOTO></vCard>`);
    assert.equal(photoHash(withImage), SHA1);
    assert.deepEqual(photoOf(withImage), { type: 'image/png', base64: PNG.toString('base64') });
    assert.equal(withPhoto(withImage, null).toString(), `<vCard xmlns="${NS.vcard}"><FN>Alice</FN></vCard>`);
    assert.equal(card.getChildren('PHOTO').length, 1, 'the original is left alone');
  });
});
