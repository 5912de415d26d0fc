// SASL2 (XEP-0388) on a RawClient, with Bind 2 and FAST requests, for the raw
// integration tests: builds the exact <authenticate/>, runs SCRAM with our own
// ScramClient or a FAST HT mechanism, and checks what the server proves back.
import { randomUUID } from 'node:crypto';
import type { RawClient } from './raw-client.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { escapeAttr, escapeText } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { ScramClient } from '../../src/auth/scram-client.ts';
import type { ScramHash } from '../../src/auth/credentials.ts';
import type { ChannelBindingType } from '../../src/auth/scram.ts';
import type { AdvertisedLists } from '../../src/auth/ssdp.ts';
import { HT_BINDING, htInitial, htMac, isHtMechanism } from '../../src/auth/ht.ts';
import { NS_BIND2, NS_FAST, NS_SASL2 } from '../../src/auth/sasl2.ts';

export interface Sasl2Options {
  mechanism: string;
  username: string;
  password?: string;
  /** For HT-* mechanisms. */
  token?: string;
  /** For SCRAM-*-PLUS. */
  channelBinding?: ChannelBindingType;
  /** false: no <user-agent/>. */
  userAgent?: { id?: string; software?: string; device?: string } | false;
  /** Bind 2 request; `inner` is raw XML added inside <bind/>. */
  bind?: { tag?: string; inner?: string };
  requestToken?: string;
  fast?: { count?: number; invalidate?: boolean };
  /** XEP-0474: check the server's downgrade hash against these lists. */
  expectAdvertised?: AdvertisedLists;
  /** Raw initial response (base64 text) instead of the mechanism's own. */
  rawInitialResponse?: string;
  /** Raw attributes/children added to <authenticate/>. */
  extraAttrs?: string;
  extraChildren?: string;
}

export type Sasl2Result =
  | { ok: true; success: Element; features: Element; jid: string; token: { token: string; expiry: string } | undefined; serverFirst: string | undefined }
  | { ok: false; condition: string; text: string | undefined; element: Element }
  /** Our client refused the server (e.g. a downgrade hash mismatch). */
  | { ok: false; clientError: string; serverFirst: string };

export const newAgentId = (): string => randomUUID();

const isSasl2 = (el: Element) => el.ns === NS_SASL2 && ['challenge', 'success', 'failure', 'continue'].includes(el.name);

/** The lists a client saw in features: the SASL2 mechanisms and the XEP-0440 binding types. */
export function advertisedIn(features: Element, profile: 1 | 2 = 2): AdvertisedLists {
  const holder = profile === 2 ? features.getChild('authentication', NS_SASL2) : features.getChild('mechanisms', NS.sasl);
  const cb = features.getChild('sasl-channel-binding', NS.channelBinding);
  return {
    mechanisms: holder?.getChildren('mechanism').map((m) => m.text) ?? [],
    channelBindings: cb?.getChildren('channel-binding').map((c) => c.attrs.type!),
  };
}

export async function sasl2(c: RawClient, o: Sasl2Options): Promise<Sasl2Result> {
  let scram: ScramClient | undefined;
  let initial: Buffer | undefined;
  let cbData: Buffer = Buffer.alloc(0);
  if (isHtMechanism(o.mechanism)) {
    const type = HT_BINDING[o.mechanism];
    if (type) cbData = c.channelBindingData(type);
    initial = htInitial(o.username, o.token ?? '', cbData);
  } else if (o.mechanism.startsWith('SCRAM-')) {
    const m = /^SCRAM-(SHA-1|SHA-256|SHA-512)(-PLUS)?$/.exec(o.mechanism);
    const plus = m?.[2] !== undefined;
    scram = new ScramClient({
      hash: (m?.[1] ?? 'SHA-256') as ScramHash,
      username: o.username,
      password: o.password ?? '',
      channelBinding: plus ? { type: o.channelBinding!, data: c.channelBindingData(o.channelBinding!) } : undefined,
      expectAdvertised: o.expectAdvertised,
    });
    initial = scram.first();
  }
  let xml = `<authenticate xmlns='${NS_SASL2}' mechanism='${escapeAttr(o.mechanism)}'${o.extraAttrs ?? ''}>`;
  const ir = o.rawInitialResponse ?? initial?.toString('base64');
  if (ir !== undefined) xml += `<initial-response>${ir}</initial-response>`;
  if (o.userAgent !== false) {
    const ua = o.userAgent ?? {};
    xml += `<user-agent${ua.id === undefined ? '' : ` id='${escapeAttr(ua.id)}'`}>`;
    if (ua.software !== undefined) xml += `<software>${escapeText(ua.software)}</software>`;
    if (ua.device !== undefined) xml += `<device>${escapeText(ua.device)}</device>`;
    xml += '</user-agent>';
  }
  if (o.bind) xml += `<bind xmlns='${NS_BIND2}'>${o.bind.tag === undefined ? '' : `<tag>${escapeText(o.bind.tag)}</tag>`}${o.bind.inner ?? ''}</bind>`;
  if (o.requestToken) xml += `<request-token xmlns='${NS_FAST}' mechanism='${o.requestToken}'/>`;
  if (o.fast) {
    const count = o.fast.count === undefined ? '' : ` count='${o.fast.count}'`;
    xml += `<fast xmlns='${NS_FAST}'${count}${o.fast.invalidate ? " invalidate='true'" : ''}/>`;
  }
  xml += (o.extraChildren ?? '') + '</authenticate>';
  c.send(xml);

  let serverFirst: string | undefined;
  for (;;) {
    const el = await c.next(isSasl2);
    if (el.name === 'failure') {
      const condition = el.elements.find((e) => e.ns === NS.sasl)?.name ?? '(none)';
      return { ok: false, condition, text: el.getChildText('text', NS_SASL2), element: el };
    }
    if (el.name === 'challenge') {
      if (!scram) throw new Error('unexpected challenge');
      const data = Buffer.from(el.text, 'base64');
      serverFirst = data.toString('utf8');
      let final: Buffer;
      try {
        final = await scram.final(data);
      } catch (err) {
        c.send(`<abort xmlns='${NS_SASL2}'/>`);
        return { ok: false, clientError: (err as Error).message, serverFirst };
      }
      c.send(`<response xmlns='${NS_SASL2}'>${final.toString('base64')}</response>`);
      continue;
    }
    if (el.name !== 'success') throw new Error(`unexpected ${el.toString()}`);
    const additional = Buffer.from(el.getChildText('additional-data', NS_SASL2) ?? '', 'base64');
    if (scram && !scram.verify(additional)) throw new Error('server signature did not verify');
    if (isHtMechanism(o.mechanism) && !htMac(o.token ?? '', 'Responder', cbData).equals(additional)) throw new Error('HT responder MAC did not verify');
    const features = await c.features();
    const tokenEl = el.getChild('token', NS_FAST);
    const jid = el.getChildText('authorization-identifier', NS_SASL2) ?? '';
    c.jid = jid;
    return {
      ok: true,
      success: el,
      features,
      jid,
      token: tokenEl ? { token: tokenEl.attrs.token!, expiry: tokenEl.attrs.expiry! } : undefined,
      serverFirst,
    };
  }
}
