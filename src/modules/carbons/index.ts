// Message carbons (XEP-0280): a session that enables them gets a copy of every
// chat message its account sends or receives on its other sessions, so all of
// a user's clients show both sides of every conversation. The server is the
// only source of carbons: a message carrying one is refused before any other
// hook sees it. Docs: docs/modules/carbons.md.
import { defineModule, type RouteContext, type StanzaHook } from '../../core/module.ts';
import type { ClientSession } from '../../core/session.ts';
import type { CarbonsHost } from '../../net/c2s.ts';
import { onceMark, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import type { JID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';
import { carbonCopy } from './copy.ts';
import { FEATURE_RULES, carriesCarbon, isEligible, type Direction } from './eligibility.ts';

export const FORGED_CARBON_TEXT = 'Only the server sends message carbons.';

/** Before every other message hook: a forged carbon reaches no one, not even the archive. */
const GUARD_PRIORITY = 1000;
/** After the archive (100) has added its stanza id, before delivery (offline 10, message 0). */
const COPY_PRIORITY = 50;

export default defineModule({
  id: 'carbons',
  description: 'Message carbons (XEP-0280)',
  hostFeatures: [NS.carbons, FEATURE_RULES],
  accountFeatures: [NS.carbons],
  setup(ctx) {
    // Keyed by the session object: a new session with the same full JID starts without carbons.
    const enabled = new WeakSet<ClientSession>();
    // A message to a resource that went away comes round again, the same object, as one to the bare JID.
    const firstCopy = onceMark('carbons');

    const toggle =
      (on: boolean) =>
      (_iq: Element, route: RouteContext): void => {
        const session = route.origin;
        // Another account's request answers as for an account that does not exist (as the router does).
        if (!session || session.jid.bareString() !== route.to.bareString()) throw new StanzaError('service-unavailable');
        if (on) enabled.add(session);
        else enabled.delete(session);
      };
    ctx.iq({ type: 'set', ns: NS.carbons, name: 'enable', targets: ['account'] }, toggle(true));
    ctx.iq({ type: 'set', ns: NS.carbons, name: 'disable', targets: ['account'] }, toggle(false));
    // Bind 2 (XEP-0386) enables carbons inline, for the session it binds.
    ctx.provide<CarbonsHost>('carbons', { enable: (session) => void enabled.add(session) });

    const guard: StanzaHook = (stanza, route) => {
      if (!carriesCarbon(stanza)) return false;
      ctx.log.warn({ from: route.from.toString(), to: route.to.toString() }, 'refused a message carrying a carbon copy');
      throw new StanzaError('not-acceptable', FORGED_CARBON_TEXT);
    };
    for (const event of ['message/bare', 'message/full', 'message/remote', 'message/host'] as const) ctx.hook(event, guard, GUARD_PRIORITY);

    /** Copies to the account's carbons-enabled sessions, except those that have the message already. */
    const copyTo = (direction: Direction, stanza: Element, route: RouteContext, account: JID, except: readonly ClientSession[]) => {
      const bare = account.bareString();
      for (const session of ctx.sessions.ofAccount(bare)) {
        if (!enabled.has(session) || except.includes(session)) continue;
        session.send(carbonCopy(direction, stanza, route.to.toString(), bare, session.jid.toString()));
      }
    };

    /** The local sessions normal delivery gives the message to (none: offline storage or an error takes it). */
    const recipientsOf = (route: RouteContext): ClientSession[] => {
      if (route.target === 'full') {
        const session = ctx.sessions.get(route.to);
        return session ? [session] : [];
      }
      return route.target === 'bare' ? ctx.sessions.deliverable(route.to) : [];
    };

    const copy: StanzaHook = (stanza, route) => {
      // The resource is gone: the router hands the message on to the bare JID, and it is copied there.
      if (route.target === 'full' && !ctx.sessions.get(route.to)) return false;
      if (!firstCopy(stanza)) return false;
      const local = route.target !== 'remote';
      const privateMark = stanza.getChild('private', NS.carbons);
      if (privateMark) {
        // XEP-0280 §9: no copies either side; the receiving server removes the mark before delivery.
        if (local) stanza.removeChild(privateMark);
        return false;
      }
      const recipients = local ? recipientsOf(route) : [];
      const sender = route.origin;
      if (sender && isEligible(stanza, 'sent')) copyTo('sent', stanza, route, sender.jid, [sender, ...recipients]);
      // Within one account the sent copies already reach every other session; a received one would be a second copy.
      const ownAccount = route.to.bareString() === route.from.bareString();
      if (recipients.length > 0 && !ownAccount && isEligible(stanza, 'received')) copyTo('received', stanza, route, route.to, recipients);
      return false;
    };
    for (const event of ['message/bare', 'message/full', 'message/remote'] as const) ctx.hook(event, copy, COPY_PRIORITY);
  },
});
