// User avatars (XEP-0084) as PEP items, read and checked, and built from a
// vCard photo (XEP-0153): the image bytes in the data node under their SHA-1,
// described by an <info/> in the metadata node.
import { createHash } from 'node:crypto';
import { x, type Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';
import { pubsubError } from '../pep/errors.ts';
import type { StanzaError } from '../../xmpp/errors.ts';

export interface AvatarInfo {
  /** SHA-1 (lowercase hex) of the image bytes. */
  id: string;
  type: string;
  bytes: number;
  /** Where the image is when it is not in the data node. */
  url: string | undefined;
}

export interface Image {
  bytes: Buffer;
  base64: string;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const SHA1_HEX = /^[0-9a-f]{40}$/;

export function sha1Hex(bytes: Buffer): string {
  return createHash('sha1').update(bytes).digest('hex');
}

function invalid(text: string): StanzaError {
  return pubsubError('bad-request', 'invalid-payload', text);
}

/** Decodes base64 (whitespace ignored, XEP-0153 §4.6); undefined when it isn't base64. */
export function decodeBase64(text: string): Image | undefined {
  const base64 = text.replace(/[ \t\r\n]+/g, '');
  if (!BASE64.test(base64) || base64.length % 4 === 1 || (base64.includes('=') && base64.length % 4 !== 0)) return undefined;
  return { bytes: Buffer.from(base64, 'base64'), base64 };
}

/** The base64 length of an image of n bytes. */
export function base64Length(n: number): number {
  return Math.ceil(n / 3) * 4;
}

/**
 * A data node item (XEP-0084 §4.1): base64 image bytes at most maxBytes long,
 * under the item id that is their SHA-1. Throws the XEP-0060 error otherwise.
 */
export function checkedData(id: string, payload: Element, maxBytes: number): Image {
  if (payload.name !== 'data' || payload.ns !== NS.avatarData) throw invalid(`The ${NS.avatarData} node holds <data xmlns='${NS.avatarData}'/> items.`);
  const image = decodeBase64(payload.text);
  if (!image || image.bytes.length === 0) throw invalid('The avatar data is not base64 image bytes.');
  if (image.bytes.length > maxBytes) {
    throw pubsubError('not-acceptable', 'payload-too-big', `The avatar is ${image.bytes.length} bytes; this server keeps avatars of up to ${maxBytes} bytes.`);
  }
  const hash = sha1Hex(image.bytes);
  if (id !== hash) throw invalid(`The item id of avatar data must be the SHA-1 of the image (XEP-0084 §4.2): ${hash}, not '${id}'.`);
  return image;
}

/** The <info/>s of a metadata item (XEP-0084 §4.2); none means the avatar was switched off. Throws on a malformed one. */
export function metadataInfos(payload: Element): AvatarInfo[] {
  if (payload.name !== 'metadata' || payload.ns !== NS.avatarMetadata) {
    throw invalid(`The ${NS.avatarMetadata} node holds <metadata xmlns='${NS.avatarMetadata}'/> items.`);
  }
  return payload.getChildren('info', NS.avatarMetadata).map((info) => {
    const { id = '', type = '', bytes = '', url } = info.attrs;
    if (!SHA1_HEX.test(id)) throw invalid(`An avatar <info/> needs the image's SHA-1 (40 lowercase hex digits) as 'id', not '${id}'.`);
    if (type === '') throw invalid(`The avatar <info id='${id}'/> needs a 'type' (e.g. image/png).`);
    if (!/^\d{1,10}$/.test(bytes)) throw invalid(`The avatar <info id='${id}'/> needs 'bytes', the image size.`);
    return { id, type, bytes: Number(bytes), url };
  });
}

/** The info whose image is in the data node (XEP-0398 §3.1: the one without a URL). */
export function storedInfo(infos: readonly AvatarInfo[]): AvatarInfo | undefined {
  return infos.find((i) => i.url === undefined);
}

/** Checks that the data item behind an info is that image: its SHA-1 and size. */
export function checkInfoAgainstData(info: AvatarInfo, image: Image): void {
  const hash = sha1Hex(image.bytes);
  if (hash !== info.id) throw invalid(`The avatar data item '${info.id}' holds an image whose SHA-1 is ${hash}.`);
  if (image.bytes.length !== info.bytes) throw invalid(`The avatar <info id='${info.id}'/> says ${info.bytes} bytes; the image has ${image.bytes.length}.`);
}

export function dataPayload(image: Image): Element {
  return x('data', { xmlns: NS.avatarData }).t(image.base64);
}

export function metadataPayload(info: Omit<AvatarInfo, 'url'>): Element {
  return x('metadata', { xmlns: NS.avatarMetadata }, x('info', { id: info.id, type: info.type, bytes: String(info.bytes) }));
}

/** The image type from its first bytes, for a vCard photo without TYPE; undefined when unknown. */
export function sniffType(bytes: Buffer): string | undefined {
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.subarray(0, 4).toString('latin1') === 'GIF8') return 'image/gif';
  if (bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return undefined;
}
