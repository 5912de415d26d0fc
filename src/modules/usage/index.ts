// Usage counters for `palisade report usage` (docs/policy.md "Usage reports"):
// after the decision point allowed a stanza, counts per account and hour how
// many messages it sent and received and how many calls it started. Only
// counts: never a body, an address of the peer or any content. The counts
// wait in memory and are added to the usage_counters table every
// flush_seconds and when the server stops.
import { z } from 'zod';
import { defineModule, type RouteContext, type StanzaEvent } from '../../core/module.ts';
import { onceMark, type Element } from '../../xmpp/element.ts';
import { UsageCounters, type UsageMetric } from './store.ts';

const NS_JINGLE = 'urn:xmpp:jingle:1';
const NS_JINGLE_MESSAGE = ['urn:xmpp:jingle-message:0', 'urn:xmpp:jingle-message:1'];

const options = z
  .strictObject({
    flush_seconds: z.int().min(1).max(3600).default(60).describe('how often the counts are written to the database, in seconds, 1..3600'),
  })
  .prefault({});

/** Before every other hook: counting must see the stanza before a handler takes it. */
const FIRST = 1_000_000;
const EVENTS: readonly StanzaEvent[] = ['message/bare', 'message/full', 'message/remote', 'message/component', 'iq/full', 'iq/bare', 'iq/remote'];

export default defineModule({
  id: 'usage',
  description: 'usage counters for reports (messages, calls), counts only',
  options,
  setup(ctx) {
    const counters = new UsageCounters(ctx.storage.db, () => void flush());
    const flush = () => counters.flush().catch((err: unknown) => ctx.log.warn({ err }, 'could not write the usage counters; kept for the next flush'));
    // A stanza the router dispatches again (a full JID without a session, to the bare JID) is counted once.
    const firstCount = onceMark('usage');
    const local = (jid: RouteContext['from']) => jid.domain === ctx.host && jid.local !== '';

    const count = (stanza: Element, route: RouteContext): boolean => {
      // Stanzas the server sends itself (bounces, archive results, copies) were not decided: not usage.
      if (route.verdict.rule === 'server-origin' || stanza.attrs.type === 'error' || !firstCount(stanza)) return false;
      const sent: UsageMetric[] = [];
      let received = false;
      if (stanza.name === 'message') {
        // One message however many bodies (languages) it has; chat states, receipts and markers are not messages here.
        received = stanza.getChild('body', 'jabber:client') !== undefined;
        if (received) sent.push('messages_sent');
        if (stanza.elements.some((c) => c.name === 'propose' && NS_JINGLE_MESSAGE.includes(c.ns))) sent.push('call_proposals');
      } else if (stanza.attrs.type === 'set') {
        const jingle = stanza.getChild('jingle', NS_JINGLE);
        if (jingle?.attrs.action === 'session-initiate') sent.push('call_sessions');
      }
      if (sent.length === 0) return false;
      const self = route.from.bareString() === route.to.bareString();
      if (self) return false;
      const now = Date.now();
      if (local(route.from)) for (const m of sent) counters.add(route.from.bareString(), m, now);
      if (received && local(route.to) && (route.target === 'bare' || route.target === 'full')) counters.add(route.to.bareString(), 'messages_received', now);
      return false;
    };

    for (const event of EVENTS) ctx.hook(event, count, FIRST);
    ctx.every(ctx.options.flush_seconds * 1000, () => void flush());
    ctx.on('stopping', () => void flush());
  },
});
