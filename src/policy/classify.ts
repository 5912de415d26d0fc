// The policy's own classifier (the router's classify step): it fills in who
// the sender and the peer are (groups, from the compiled policy's snapshot of
// the group memberships), the time from the policy clock, and facts derived
// from the payload: whether a message has a body and carries an end-to-end
// encrypted payload, and the named features (voice, video, p2p file transfer,
// invitations, whiteboard, remote control, upload, external contacts,
// presence visibility) that rules name; and the readable text of a message
// (body, subject, XHTML-IM) for content rules. It decides nothing.
import type { Element } from '../xmpp/element.ts';
import type { Classifier } from '../core/router.ts';
import { FACT_BODY, FACT_E2EE, bareOf, featureFact } from './compile.ts';
import { MAX_SCAN_CHARS, type ContentPart } from './detectors.ts';
import { linkFacts } from './link-safety.ts';
import type { PolicyRequest } from './types.ts';

// Namespaces the policy recognises (candidates for xmpp/ns.ts when a module speaks them).
export const POLICY_NS = {
  omemoLegacy: 'eu.siacs.conversations.axolotl',
  omemo2: 'urn:xmpp:omemo:2',
  openpgp: 'urn:xmpp:openpgp:0',
  legacyPgp: 'jabber:x:encrypted',
  jingle: 'urn:xmpp:jingle:1',
  jingleMessage0: 'urn:xmpp:jingle-message:0',
  jingleMessage1: 'urn:xmpp:jingle-message:1',
  jingleRtp: 'urn:xmpp:jingle:apps:rtp:1',
  jingleFileTransfer: ['urn:xmpp:jingle:apps:file-transfer:5', 'urn:xmpp:jingle:apps:file-transfer:4', 'urn:xmpp:jingle:apps:file-transfer:3'],
  si: 'http://jabber.org/protocol/si',
  bytestreams: 'http://jabber.org/protocol/bytestreams',
  ibb: 'http://jabber.org/protocol/ibb',
  iqOob: 'jabber:iq:oob',
  jingleS5b: 'urn:xmpp:jingle:transports:s5b:1',
  jingleIbb: 'urn:xmpp:jingle:transports:ibb:1',
  httpUpload: 'urn:xmpp:http:upload:0',
  commands: 'http://jabber.org/protocol/commands',
  directInvite: 'jabber:x:conference',
  mucUser: 'http://jabber.org/protocol/muc#user',
  sxe: 'urn:xmpp:sxe:0',
  swb: 'http://jabber.org/protocol/swb',
  xhtmlIm: 'http://jabber.org/protocol/xhtml-im',
} as const;

export interface PolicyView {
  groupsOf(bareJid: string | undefined): readonly string[];
  now(): Date;
}

export function policyClassifier(view: () => PolicyView): Classifier {
  return (req, stanza) => {
    const v = view();
    req.time = v.now();
    req.subject.groups = v.groupsOf(req.subject.jid);
    if (req.resource?.jid !== undefined) req.resource.groups = v.groupsOf(bareOf(req.resource.jid));
    classifyPayload(req, stanza);
  };
}

/** Facts about the payload; exported for unit tests and `policy explain`. */
export function classifyPayload(req: PolicyRequest, stanza: Element): void {
  const facts = (req.facts ??= {});
  const set = (name: string) => (facts[featureFact(name)] = true);
  const scope = req.resource?.scope;
  const peerIsUser = scope === 'local' || scope === 'remote';
  if (stanza.name === 'message') {
    let body = false;
    let e2ee = 'none';
    for (const c of stanza.elements) {
      const ns = c.ns;
      if (c.name === 'body' && ns === 'jabber:client') body = true;
      else if (c.name === 'encrypted' && (ns === POLICY_NS.omemoLegacy || ns === POLICY_NS.omemo2) && c.getChild('header', ns)) e2ee = 'omemo';
      else if (c.name === 'openpgp' && ns === POLICY_NS.openpgp && c.text.trim() !== '') e2ee = 'openpgp';
      else if (c.name === 'x' && ns === POLICY_NS.legacyPgp && c.text.trim() !== '') e2ee = 'openpgp';
      else if (c.name === 'x' && (ns === POLICY_NS.directInvite || (ns === POLICY_NS.mucUser && c.getChild('invite', ns)))) set('invitations');
      else if (c.name === 'propose' && (ns === POLICY_NS.jingleMessage0 || ns === POLICY_NS.jingleMessage1)) mediaOf(c, set);
      else if (ns === POLICY_NS.sxe || ns === POLICY_NS.swb) set('whiteboard');
    }
    facts[FACT_BODY] = body;
    facts[FACT_E2EE] = e2ee;
    linkFacts(stanza, facts);
    req.content = messageContent(stanza);
  } else if (stanza.name === 'iq') {
    const payload = stanza.elements[0];
    if (!payload) return;
    const ns = payload.ns;
    if (ns === POLICY_NS.jingle) {
      for (const content of payload.getChildren('content', ns)) mediaOf(content, set);
    } else if (ns === POLICY_NS.si || ns === POLICY_NS.bytestreams || ns === POLICY_NS.ibb || ns === POLICY_NS.iqOob) {
      // jabber:iq:oob (XEP-0066) pushes a URL on the sender's own host: as direct as a bytestream.
      set('p2p-file-transfer');
    } else if (ns === POLICY_NS.httpUpload) {
      set('file-transfer');
    } else if (ns === POLICY_NS.commands && peerIsUser && req.resource?.jid?.includes('/')) {
      set('remote-control');
    } else if (ns === POLICY_NS.sxe || ns === POLICY_NS.swb) {
      set('whiteboard');
    }
  } else if (stanza.name === 'presence') {
    const type = stanza.attrs.type;
    if ((type === 'subscribe' || type === 'subscribed') && scope === 'remote') set('external-contacts');
    if ((type === undefined || type === 'unavailable') && peerIsUser) set('presence-visibility');
  }
}

/**
 * The elements of a message whose text content rules read, in document order:
 * every <body/> and <subject/> (all languages) and the XHTML-IM <html/>. The
 * redaction obligation (obligations.ts) walks the same list.
 */
export function contentElements(stanza: Element): Element[] {
  return stanza.elements.filter(
    (c) => ((c.name === 'body' || c.name === 'subject') && c.ns === 'jabber:client') || (c.name === 'html' && c.ns === POLICY_NS.xhtmlIm),
  );
}

/** The message's readable text; beyond MAX_SCAN_CHARS in all only the fact that it was too long. */
export function messageContent(stanza: Element): { parts: ContentPart[]; truncated: boolean } {
  const parts: ContentPart[] = [];
  let total = 0;
  for (const el of contentElements(stanza)) {
    const text = el.name === 'html' ? deepText(el, MAX_SCAN_CHARS - total + 1) : el.text;
    total += text.length;
    if (total > MAX_SCAN_CHARS) return { parts: [], truncated: true };
    parts.push({ part: el.name === 'html' ? 'xhtml' : (el.name as 'body' | 'subject'), text });
  }
  return { parts, truncated: false };
}

/** All text under an element, words of adjacent elements kept apart; stops once past `max` characters. */
function deepText(el: Element, max: number): string {
  let out = '';
  const walk = (e: Element): void => {
    for (const c of e.children) {
      if (out.length > max) return;
      if (typeof c === 'string') out += c;
      else {
        out += ' ';
        walk(c);
      }
    }
  };
  walk(el);
  return out;
}

/** Jingle content or a call proposal: audio → voice, video → video, a file offer or a file transport (XEP-0260, XEP-0261) → p2p-file-transfer. */
function mediaOf(el: Element, set: (name: string) => void): void {
  // transport-info, transport-replace and session-accept name no description, only the transport.
  if (el.getChild('transport', POLICY_NS.jingleS5b) || el.getChild('transport', POLICY_NS.jingleIbb)) set('p2p-file-transfer');
  for (const d of el.getChildren('description')) {
    const ns = d.ns;
    if (ns === POLICY_NS.jingleRtp) {
      if (d.attrs.media === 'audio') set('voice');
      else if (d.attrs.media === 'video') set('video');
    } else if ((POLICY_NS.jingleFileTransfer as readonly string[]).includes(ns)) {
      set('p2p-file-transfer');
    }
  }
}
