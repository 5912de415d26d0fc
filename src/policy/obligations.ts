// The obligations step of the router (docs/stanza-lifecycle.md, step 4): what
// an allowing verdict asks to be done to the stanza before any module sees it,
// so that delivery, carbons, offline storage and the archive all get the same
// result. The decision point decided and audited; this only carries it out.
import type { Element } from '../xmpp/element.ts';
import { contentElements } from './classify.ts';
import { OBLIGATION_REDACT } from './compile.ts';
import type { Verdict } from './types.ts';

interface RedactPart {
  index: number;
  text: string;
}

export function applyObligations(stanza: Element, verdict: Verdict): void {
  if (!verdict.obligations) return;
  for (const o of verdict.obligations) {
    if (o.kind === OBLIGATION_REDACT) redactParts(stanza, o.parts as RedactPart[]);
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
