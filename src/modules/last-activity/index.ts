// Last Activity (XEP-0012): when an account last went offline (and the status
// it left with), told to its presence subscribers; the server's uptime.
// Provides the 'last-activity' service the presence module uses to answer
// probes for offline accounts.
import { defineModule } from '../../core/module.ts';
import { x } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import type { JID } from '../../xmpp/jid.ts';
import type { RosterService } from '../roster/service.ts';
import type { LastSeenLookup } from '../presence/index.ts';
import { LastActivityStore } from './store.ts';

export const NS_LAST = 'jabber:iq:last';

export default defineModule({
  id: 'last-activity',
  description: 'Last Activity (XEP-0012)',
  dependsOn: ['roster', 'presence'],
  hostFeatures: [NS_LAST],
  accountFeatures: [NS_LAST],
  setup(ctx) {
    const store = new LastActivityStore(ctx.storage.db);
    const roster = ctx.use<RosterService>('roster');
    const ref = (account: JID) => ({ domain: account.domain, localpart: account.local });
    const isOnline = (account: JID) => ctx.sessions.ofAccount(account).some((s) => s.available);

    const lookup: LastSeenLookup = { lastSeen: (account) => store.get(ref(account)) };
    ctx.provide('last-activity', lookup);

    ctx.on('account-unavailable', (account, status) => {
      store.set(ref(account), { seenAt: new Date(), status }).catch((err: unknown) => ctx.log.error({ err }, 'could not record last activity'));
    });
    // Sessions cut by a shutdown end after the modules are unloaded: record everyone online now.
    ctx.on('stopping', () => {
      const now = new Date();
      const online = new Map<string, JID>();
      for (const s of ctx.sessions.all()) if (s.available) online.set(s.jid.bareString(), s.jid.bare);
      store
        .setMany([...online.values()].map((a) => ({ ...ref(a), seenAt: now, status: undefined })))
        .catch((err: unknown) => ctx.log.warn({ err }, 'could not record last activity at shutdown'));
    });

    // §4: the server's uptime.
    ctx.iq({ type: 'get', ns: NS_LAST, name: 'query', targets: ['host'] }, () =>
      x('query', { xmlns: NS_LAST, seconds: String(Math.floor((Date.now() - ctx.server.startedAt.getTime()) / 1000)) }),
    );

    // §3: an account's last logout, for the account itself and those subscribed to its presence.
    ctx.iq({ type: 'get', ns: NS_LAST, name: 'query', targets: ['account'] }, async (_iq, route) => {
      const target = route.to.bare;
      const requester = route.from.bare;
      if (requester.bareString() !== target.bareString()) {
        const sub = await roster.subscription(target, requester.bareString());
        if (sub !== 'from' && sub !== 'both') {
          throw new StanzaError('forbidden', "Only contacts subscribed to this account's presence may see its last activity.");
        }
      }
      if (isOnline(target)) return x('query', { xmlns: NS_LAST, seconds: '0' });
      const last = await store.get(ref(target));
      if (!last) throw new StanzaError('service-unavailable', 'No last activity is recorded for this account.');
      const query = x('query', { xmlns: NS_LAST, seconds: String(Math.max(0, Math.floor((Date.now() - last.seenAt.getTime()) / 1000))) });
      if (last.status) query.t(last.status);
      return query;
    });
  },
});
