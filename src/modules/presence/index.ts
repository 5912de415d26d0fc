// Availability of each session (RFC 6121 §4): initial and unavailable presence,
// priority, broadcast to the account's own resources, directed presence to other
// accounts' available resources. Subscriptions and rosters come with 'roster'.
import { defineModule } from '../../core/module.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import type { ClientSession } from '../../core/session.ts';

function parsePriority(presence: Element): number {
  const text = presence.getChildText('priority');
  if (text === undefined) return 0;
  const n = Number(text.trim());
  if (!/^[+-]?\d+$/.test(text.trim()) || n < -128 || n > 127) {
    throw new StanzaError('bad-request', 'The priority must be an integer from -128 to 127.');
  }
  return n;
}

export default defineModule({
  id: 'presence',
  description: 'Session availability and presence broadcast (RFC 6121 §4)',
  setup(ctx) {
    // RFC 6121 §4.2.2: to every available resource of the account, the sender included.
    const toOwnResources = (from: ClientSession, stanza: Element) => {
      for (const s of ctx.sessions.ofAccount(from.jid.bare)) {
        if (s === from || s.available) s.send(withTo(stanza, s.jid.toString()));
      }
    };

    ctx.hook('presence/bare', (stanza, route) => {
      const type = stanza.attrs.type;
      const origin = route.origin;
      if (stanza.attrs.to === undefined && origin) {
        // Broadcast presence (no 'to').
        if (type === undefined) {
          origin.priority = parsePriority(stanza);
          const initial = !origin.available;
          origin.available = true;
          origin.presence = stanza;
          toOwnResources(origin, stanza);
          if (initial) ctx.emit('session-available', origin);
        } else if (type === 'unavailable') {
          origin.available = false;
          origin.presence = undefined;
          toOwnResources(origin, stanza);
        }
        return true;
      }
      if (type === undefined || type === 'unavailable') {
        // Directed presence to an account: every available resource (RFC 6121 §8.5.2.1.2).
        for (const s of ctx.sessions.ofAccount(route.to)) if (s.available) s.send(stanza);
        return true;
      }
      // probe and the subscription types need rosters: the 'roster' module will handle them.
      return true;
    });

    ctx.on('session-closed', (session) => {
      if (!session.available) return;
      session.available = false;
      toOwnResources(session, x('presence', { type: 'unavailable', from: session.jid.toString() }));
    });
  },
});

function withTo(stanza: Element, to: string): Element {
  const copy = stanza.clone();
  copy.attrs.to = to;
  return copy;
}
