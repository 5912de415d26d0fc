// The per-session queue behind client state indication.
import type { CsiFilter } from '../../net/c2s.ts';
import type { Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';

const CARBONS = 'urn:xmpp:carbons:2';
const FORWARD = 'urn:xmpp:forward:0';

/** Presence that only says how someone is, and messages that carry only a chat state, can wait. */
export function canWait(stanza: Element): boolean {
  if (stanza.name === 'presence') {
    const type = stanza.attrs.type;
    return type === undefined || type === 'unavailable';
  }
  if (stanza.name !== 'message') return false;
  const inner = carried(stanza);
  return inner.getChild('body') === undefined && inner.elements.length > 0 && inner.elements.every((el) => el.ns === NS.chatStates);
}

/** The message a carbon copy carries, or the message itself. */
function carried(message: Element): Element {
  const carbon = message.getChild('sent', CARBONS) ?? message.getChild('received', CARBONS);
  return carbon?.getChild('forwarded', FORWARD)?.getChild('message') ?? message;
}

/** Held stanzas are keyed so that a newer one replaces what it makes stale. */
function staleKey(stanza: Element): string {
  if (stanza.name === 'presence') return `p ${stanza.attrs.from ?? ''}`;
  const inner = carried(stanza);
  return `m ${inner.attrs.from ?? ''} ${inner.attrs.to ?? ''}`;
}

export class HeldStanzas implements CsiFilter {
  private inactive = false;
  private readonly held = new Map<string, Element>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  offer(stanza: Element): Element[] {
    if (!this.inactive) return [stanza];
    if (!canWait(stanza)) return [...this.release(), stanza];
    const key = staleKey(stanza);
    // Delete first so the newer stanza takes the later place in the order.
    this.held.delete(key);
    this.held.set(key, stanza);
    return this.held.size > this.max ? this.release() : [];
  }

  activate(): Element[] {
    this.inactive = false;
    return this.release();
  }

  deactivate(): void {
    this.inactive = true;
  }

  get size(): number {
    return this.held.size;
  }

  private release(): Element[] {
    const out = [...this.held.values()];
    this.held.clear();
    return out;
  }
}
