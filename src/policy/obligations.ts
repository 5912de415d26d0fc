// The obligations step of the router (docs/stanza-lifecycle.md, step 4): what
// an allowing verdict asks to be done to the stanza before any module sees it,
// so that delivery, carbons, offline storage and the archive all get the same
// result. The decision point decided and audited; this only carries it out.
// The 'archive' obligation (archiving.ts) changes nothing in the stanza: it
// travels on the verdict to the mam module, which keeps the copies it names.
import type { Element } from '../xmpp/element.ts';
import { POLICY_NS, contentElements } from './classify.ts';
import { OBLIGATION_PROXY_ONLY, OBLIGATION_REDACT } from './compile.ts';
import { OBLIGATION_LINK_FLAG, flagBodies } from './link-safety.ts';
import type { Verdict } from './types.ts';

interface RedactPart {
  index: number;
  text: string;
}

export function applyObligations(stanza: Element, verdict: Verdict): void {
  if (!verdict.obligations) return;
  for (const o of verdict.obligations) {
    if (o.kind === OBLIGATION_REDACT) redactParts(stanza, o.parts as RedactPart[]);
    // After any redaction (content obligations come first): redaction addresses the parts by their index.
    else if (o.kind === OBLIGATION_LINK_FLAG) flagBodies(stanza, o.text as string);
    else if (o.kind === OBLIGATION_PROXY_ONLY) proxyOnly(stanza, transferProxies.get(o.domain as string));
  }
}

/** Replaces the text of the redacted bodies and subjects; an XHTML-IM copy is dropped (markup can split a match), and clients show the body instead. */
function redactParts(stanza: Element, parts: readonly RedactPart[]): void {
  const elements = contentElements(stanza);
  for (const p of parts) {
    const el = elements[p.index];
    if (!el) continue;
    if (el.name === 'html') stanza.removeChild(el);
    else el.children = [p.text];
  }
}

/** Where a served domain's SOCKS5 proxy (XEP-0065) is reached; the proxy65 module registers it. */
export interface TransferProxy {
  jid: string;
  host: string;
  port: number;
}

const transferProxies = new Map<string, TransferProxy>();

/** Registers the proxy of `domain`; returns its remover. */
export function setTransferProxy(domain: string, proxy: TransferProxy): () => void {
  transferProxies.set(domain, proxy);
  return () => {
    if (transferProxies.get(domain) === proxy) transferProxies.delete(domain);
  };
}

/**
 * Keeps only our proxy among the candidates of a SOCKS5 bytestream (XEP-0065
 * streamhosts, also a fast-mode reply's) or a Jingle s5b transport (XEP-0260:
 * only type='proxy'), with the proxy's own address written over whatever the
 * sender put there: a client must not smuggle its address in under the
 * proxy's JID. Without a proxy no candidate is left (in-band transfer remains).
 */
export function proxyOnly(stanza: Element, proxy: TransferProxy | undefined): void {
  const keep = (parent: Element, name: string, ok: (c: Element) => boolean): void => {
    parent.children = parent.children.filter((c) => typeof c === 'string' || c.name !== name || (proxy !== undefined && c.attrs.jid === proxy.jid && ok(c)));
    for (const c of parent.getChildren(name)) {
      c.attrs.host = proxy!.host;
      c.attrs.port = String(proxy!.port);
    }
  };
  for (const payload of stanza.elements) {
    if (payload.name === 'query' && payload.ns === POLICY_NS.bytestreams) keep(payload, 'streamhost', () => true);
    else if (payload.name === 'jingle' && payload.ns === POLICY_NS.jingle) {
      for (const content of payload.getChildren('content', POLICY_NS.jingle)) {
        for (const t of content.getChildren('transport', POLICY_NS.jingleS5b)) keep(t, 'candidate', (c) => c.attrs.type === 'proxy');
      }
    }
  }
}
