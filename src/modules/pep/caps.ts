// Entity capabilities (XEP-0115): the <c/> a client puts in its presence, and
// the verification string (§5.1) that checks a disco#info answer against the
// 'ver' it claims, so that a verified answer can be cached for every client
// sending the same 'ver'.
import { createHash } from 'node:crypto';
import { ownString, type Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';

export interface Caps {
  node: string;
  ver: string;
  /** IANA hash name as sent ('sha-1'); undefined for legacy caps, which can't be verified. */
  hash: string | undefined;
}

/** Hashes a 'ver' may be computed with (XEP-0115 §5.1 mandates sha-1; §9 allows stronger ones); MD5 is not accepted. */
const HASHES: Record<string, string> = { 'sha-1': 'sha1', 'sha-224': 'sha224', 'sha-256': 'sha256', 'sha-384': 'sha384', 'sha-512': 'sha512' };

export function parseCaps(presence: Element): Caps | undefined {
  const c = presence.getChild('c', NS.caps);
  const node = c?.attrs.node;
  const ver = c?.attrs.ver;
  if (!c || !node || !ver) return undefined;
  // Caps outlive the presence (a session's state, pending queries, the cache): strings of their own, not slices of its chunk.
  const hash = c.attrs.hash;
  return { node: ownString(node), ver: ownString(ver), hash: hash === undefined ? undefined : ownString(hash) };
}

export function isSupportedHash(hash: string): boolean {
  return hash in HASHES;
}

/** The features of a disco#info <query/>. */
export function featuresOf(query: Element): string[] {
  return query.getChildren('feature', NS.discoInfo).map((f) => f.attrs.var ?? '');
}

/**
 * The 'ver' a disco#info <query/> hashes to (XEP-0115 §5.1), or undefined when
 * the answer is one §5.4 says must not be accepted (duplicate identities,
 * features or form types; a form whose FORM_TYPE is not hidden) or the hash
 * is unknown.
 */
export function capsVer(query: Element, hash: string): string | undefined {
  const algorithm = HASHES[hash];
  if (!algorithm) return undefined;

  const identities = query
    .getChildren('identity', NS.discoInfo)
    .map((i) => `${i.attrs.category ?? ''}/${i.attrs.type ?? ''}/${i.attrs['xml:lang'] ?? ''}/${i.attrs.name ?? ''}`);
  const features = featuresOf(query);
  if (hasDuplicates(identities) || hasDuplicates(features)) return undefined;

  const forms: { formType: string; fields: string[] }[] = [];
  for (const form of query.getChildren('x', NS.dataForms)) {
    const fields = form.getChildren('field', NS.dataForms);
    const typeField = fields.find((f) => f.attrs.var === 'FORM_TYPE');
    if (!typeField) continue; // §5.4 3.6: only forms with a FORM_TYPE take part
    if (typeField.attrs.type !== 'hidden') return undefined;
    const formType = typeField.getChildText('value', NS.dataForms) ?? '';
    const rest = fields
      .filter((f) => f !== typeField)
      .map((f) => ({ name: f.attrs.var ?? '', values: sortOctets(f.getChildren('value', NS.dataForms).map((v) => v.text)) }))
      .sort((a, b) => compareOctets(a.name, b.name));
    forms.push({ formType, fields: rest.flatMap((f) => [f.name, ...f.values]) });
  }
  if (hasDuplicates(forms.map((f) => f.formType))) return undefined;
  forms.sort((a, b) => compareOctets(a.formType, b.formType));

  let s = '';
  for (const i of sortOctets(identities)) s += `${i}<`;
  for (const f of sortOctets(features)) s += `${f}<`;
  for (const form of forms) {
    s += `${form.formType}<`;
    for (const part of form.fields) s += `${part}<`;
  }
  return createHash(algorithm).update(s, 'utf8').digest('base64');
}

function hasDuplicates(list: readonly string[]): boolean {
  return new Set(list).size !== list.length;
}

/** i;octet collation (RFC 4790): UTF-8 byte order, which UTF-16 comparison isn't for characters beyond the BMP. */
function compareOctets(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function sortOctets(list: readonly string[]): string[] {
  return [...list].sort(compareOctets);
}
