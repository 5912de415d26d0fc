// XEP-0474 SASL SCRAM downgrade protection (SSDP): the server puts a hash of the
// mechanism and channel-binding lists it advertised into its SCRAM
// server-first-message. The hash is covered by the SCRAM proofs, so a client
// that compares it with what it saw detects a list stripped in transit.
import { digest, type ScramHash } from './credentials.ts';

/** The SCRAM attribute name XEP-0474 (v0.4+) uses. */
export const SSDP_ATTRIBUTE = 'h';

/** What the client was offered on this stream, in the SASL profile it authenticates with. */
export interface AdvertisedLists {
  mechanisms: readonly string[];
  /** The XEP-0440 channel-binding types; undefined when the stream carried no <sasl-channel-binding/>. */
  channelBindings: readonly string[] | undefined;
}

/** i;octet collation: plain byte order (our names are ASCII, where UTF-16 order is the same). */
function octetSort(list: readonly string[]): string[] {
  return [...list].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The string XEP-0474 §5.1 hashes: mechanisms joined by 0x1E, then 0x1F and the binding types. */
export function ssdpInput(lists: AdvertisedLists): string {
  let s = octetSort(lists.mechanisms).join('\x1e');
  if (lists.channelBindings !== undefined) s += '\x1f' + octetSort(lists.channelBindings).join('\x1e');
  return s;
}

/** Base64 of the hash of the advertised lists, with the hash of the SCRAM mechanism in use. */
export function ssdpHash(hash: ScramHash, lists: AdvertisedLists): string {
  return digest(hash, Buffer.from(ssdpInput(lists), 'utf8')).toString('base64');
}
