// XEP-0199 XMPP Ping: the server answers pings addressed to it (and, on an
// account's behalf, to an account's bare JID).
import { defineModule } from '../../core/module.ts';

export const NS_PING = 'urn:xmpp:ping';

export default defineModule({
  id: 'ping',
  description: 'XMPP Ping (XEP-0199)',
  hostFeatures: [NS_PING],
  setup(ctx) {
    ctx.iq({ type: 'get', ns: NS_PING, name: 'ping', targets: ['host', 'account'] }, () => undefined);
  },
});
