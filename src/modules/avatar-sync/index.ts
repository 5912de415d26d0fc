// User avatars (XEP-0084) in PEP kept in step with the vCard photo (XEP-0153),
// as XEP-0398 describes; the pep and vcard modules do the storing, notifying
// and access checks, this module only converts.
//
// - Data node items are checked: base64 image bytes, at most max_image_bytes,
//   under their SHA-1 as item id. The node takes payloads that large even when
//   pep's max_payload_bytes is smaller.
// - Metadata items are checked before they are stored: each <info/> without a
//   URL names a data item that holds that image (SHA-1 and size). Then the
//   image becomes the vCard's PHOTO, and so the XEP-0153 hash in presence.
//   An empty <metadata/> removes the PHOTO.
// - A vCard set by a client with a PHOTO is published as data and metadata
//   items; nodes that don't exist yet are created with access_model 'open'
//   (XEP-0084 avatars are meant to be seen), existing ones keep theirs.
// - Both directions compare the SHA-1 first, so each conversion happens once.
import { z } from 'zod';
import { defineModule } from '../../core/module.ts';
import type { Element } from '../../xmpp/element.ts';
import type { JID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';
import { pubsubError } from '../pep/errors.ts';
import { parseStored } from '../../xmpp/stored-xml.ts';
import type { PepService } from '../pep/service.ts';
import type { VCardService } from '../vcard/index.ts';
import { photoHash, photoOf } from '../vcard/vcard.ts';
import {
  base64Length,
  checkedData,
  checkInfoAgainstData,
  dataPayload,
  decodeBase64,
  metadataInfos,
  metadataPayload,
  sha1Hex,
  sniffType,
  storedInfo,
  type Image,
} from './avatar.ts';

export default defineModule({
  id: 'avatar-sync',
  description: 'User avatars (XEP-0084) converted to and from vCard photos (XEP-0398)',
  dependsOn: ['pep', 'vcard'],
  options: z.strictObject({
    max_image_bytes: z.int().min(1024).max(12_582_912).default(131_072).describe('largest avatar image kept (bytes, before base64), 1024..12582912'),
  }),
  accountFeatures: [NS.pepVcardConversion],
  setup(ctx) {
    const pep = ctx.use<PepService>('pep');
    const vcard = ctx.use<VCardService>('vcard');
    const maxImage = ctx.options.max_image_bytes;

    /** The image in the owner's data node under this id; undefined when there is none. */
    const storedImage = async (owner: JID, id: string): Promise<Image | undefined> => {
      const [item] = await pep.ownItems(owner, NS.avatarData, { ids: [id] });
      return item && decodeBase64(parseStored(item.xml).text);
    };

    pep.addRules(NS.avatarData, {
      // Base64 grows the image by a third; line breaks and the element around it take a little more.
      maxPayloadBytes: Math.max(pep.limits.maxPayloadBytes, Math.ceil(base64Length(maxImage) * 1.05) + 1024),
      check: (_owner, item) => void checkedData(item.id, item.payload, maxImage),
    });

    pep.addRules(NS.avatarMetadata, {
      async check(owner, item) {
        for (const info of metadataInfos(item.payload)) {
          if (info.url !== undefined) continue;
          const image = await storedImage(owner, info.id);
          if (!image) {
            throw pubsubError('bad-request', 'invalid-payload', `There is no item '${info.id}' in ${NS.avatarData}: publish the image data first (XEP-0084 §4.1).`);
          }
          checkInfoAgainstData(info, image);
        }
      },
      async changed(owner, change) {
        if (change.kind === 'published') await toVCard(owner, change.item.payload);
      },
    });

    /** XEP-0398 §3.1: the published avatar becomes the vCard photo. */
    const toVCard = async (owner: JID, metadata: Element) => {
      const infos = metadataInfos(metadata);
      const current = await vcard.get(owner);
      const currentHash = current ? photoHash(current) : '';
      if (infos.length === 0) {
        if (currentHash !== '') await vcard.setPhoto(owner, null);
        return;
      }
      const info = storedInfo(infos);
      if (!info || info.id === currentHash) return;
      const image = await storedImage(owner, info.id);
      if (image) await vcard.setPhoto(owner, { type: info.type, base64: image.base64 });
    };

    /** XEP-0398 §3.2: a vCard photo becomes the published avatar, data first. */
    vcard.onSet(async (owner, card) => {
      const photo = photoOf(card);
      const image = photo && decodeBase64(photo.base64);
      if (!image) return; // no photo: a vCard without one leaves the PEP avatar alone
      if (image.bytes.length > maxImage) {
        ctx.log.info({ owner: owner.bareString(), bytes: image.bytes.length }, 'vCard photo larger than max_image_bytes: not published as a PEP avatar');
        return;
      }
      const id = sha1Hex(image.bytes);
      const published = await pep.ownItems(owner, NS.avatarMetadata, { max: 1 });
      if (published[0]?.id === id) return;
      const type = photo.type || sniffType(image.bytes) || 'image/png';
      const open = { accessModel: 'open' } as const;
      await pep.publishAs(owner, NS.avatarData, { id, payload: dataPayload(image) }, open);
      await pep.publishAs(owner, NS.avatarMetadata, { id, payload: metadataPayload({ id, type, bytes: image.bytes.length }) }, open);
    });
  },
});
