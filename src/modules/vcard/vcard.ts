// The vCard element as the vcard module handles it: written out on its own
// (XML text that parses by itself), read back, and its XEP-0153 photo hash.
import { createHash } from 'node:crypto';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { NS } from '../../xmpp/ns.ts';

/** An empty vCard: what an account without one has (XEP-0054 §3.1 allows it for one's own). */
export function emptyVCard(): Element {
  return x('vCard', { xmlns: NS.vcard });
}

/** True when the vCard holds nothing: no child element and no text. */
export function isEmptyVCard(vcard: Element): boolean {
  return vcard.elements.length === 0 && vcard.text.trim() === '';
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * XEP-0153: the SHA-1 (hex) of the image bytes in PHOTO/BINVAL, '' when there is
 * no image. Whitespace in the base64 is ignored (XEP-0153 §4.6). Data that is not
 * base64 is refused with bad-request rather than hashed as something else.
 */
export function photoHash(vcard: Element): string {
  const binval = vcard.getChild('PHOTO', NS.vcard)?.getChild('BINVAL', NS.vcard);
  if (!binval) return '';
  const b64 = binval.text.replace(/[ \t\r\n]+/g, '');
  if (b64 === '') return '';
  if (!BASE64.test(b64) || b64.length % 4 === 1 || (b64.includes('=') && b64.length % 4 !== 0)) {
    throw new StanzaError('bad-request', 'The PHOTO/BINVAL of the vCard is not base64 data.');
  }
  return createHash('sha1').update(Buffer.from(b64, 'base64')).digest('hex');
}

/** An image as a vCard's PHOTO holds it (XEP-0153 §3.1). */
export interface Photo {
  type: string;
  base64: string;
}

/** The vCard's PHOTO, when it holds image data (not an EXTVAL link). */
export function photoOf(vcard: Element): Photo | undefined {
  const photo = vcard.getChild('PHOTO', NS.vcard);
  const base64 = photo?.getChild('BINVAL', NS.vcard)?.text.replace(/[ \t\r\n]+/g, '') ?? '';
  if (!photo || base64 === '') return undefined;
  return { type: photo.getChildText('TYPE', NS.vcard)?.trim() ?? '', base64 };
}

/** A copy of the vCard with this PHOTO instead of its own (null: without one). */
export function withPhoto(vcard: Element, photo: Photo | null): Element {
  const copy = vcard.clone();
  copy.attrs = { ...copy.attrs, xmlns: NS.vcard };
  for (const old of copy.getChildren('PHOTO', NS.vcard)) copy.removeChild(old);
  if (photo) copy.append(x('PHOTO', {}, x('TYPE').t(photo.type), x('BINVAL').t(photo.base64)));
  return copy;
}
