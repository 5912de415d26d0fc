// One-to-one messages to an account's bare JID, delivered per RFC 6121 §8.5.2:
// to every available resource with non-negative priority. (A message to an
// online full JID is delivered by the router itself.)
import { defineModule } from '../../core/module.ts';
import { RECIPIENT_UNAVAILABLE_TEXT, StanzaError } from '../../xmpp/errors.ts';

export default defineModule({
  id: 'message',
  description: 'One-to-one message delivery (RFC 6121 §8.5)',
  dependsOn: ['presence'],
  setup(ctx) {
    ctx.hook('message/bare', (stanza, route) => {
      const type = stanza.attrs.type ?? 'normal';
      if (type === 'error') return true; // RFC 6121 §8.5.2.1.1: errors to a bare JID are dropped
      if (type === 'groupchat') throw new StanzaError('service-unavailable', 'This address is not a group chat.');
      const targets = ctx.sessions.deliverable(route.to);
      if (targets.length === 0) {
        if (type === 'headline') return true;
        // Offline storage comes with the 'offline' module; the same error whether or not the account exists.
        throw new StanzaError('service-unavailable', RECIPIENT_UNAVAILABLE_TEXT);
      }
      for (const session of targets) session.send(stanza);
      return true;
    });
  },
});
