// Offline message storage (XEP-0160). A chat or normal message to an existing
// account with no available resource of non-negative priority is written to the
// database before its hook returns (so before the sender's next stanza is
// processed, and before any acknowledgement); when the account next sends
// available presence with a non-negative priority, the stored messages go to
// that session, in order, each with an XEP-0203 delay stamp, and are deleted
// once written to its socket. Everything else stays with the message module.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { defineModule, type RouteContext } from '../../core/module.ts';
import type { ClientSession } from '../../core/session.ts';
import { StanzaError, RECIPIENT_UNAVAILABLE_TEXT } from '../../xmpp/errors.ts';
import type { Element } from '../../xmpp/element.ts';
import { KeyedQueue } from './queue.ts';
import { FEATURE_MSGOFFLINE, dispositionOf, fromStoredXml, toStoredXml } from './stanza.ts';
import { OfflineStore, type OfflineTables } from './store.ts';

/** A full offline store answers like an unavailable or nonexistent account, so a sender cannot tell them apart. */
export const NOT_AVAILABLE_TEXT = RECIPIENT_UNAVAILABLE_TEXT;

/** Stored messages read per query while delivering. */
const DELIVERY_BATCH = 100;

export default defineModule({
  id: 'offline',
  description: 'Offline message storage (XEP-0160)',
  // Takes over from the message module only when nobody is available; presence
  // (a dependency of message) says when a session becomes available.
  dependsOn: ['message'],
  options: z.strictObject({
    max_messages: z.int().min(1).max(1_000_000).default(500).describe('messages kept per account while it is offline, 1..1000000'),
    max_bytes: z
      .int()
      .min(1024)
      .max(1_073_741_824)
      .default(4_194_304)
      .describe('bytes of stored messages (XML text) per account, 1024..1073741824'),
  }),
  hostFeatures: [FEATURE_MSGOFFLINE],
  setup(ctx) {
    const store = new OfflineStore(ctx.storage.db as unknown as Kysely<OfflineTables>);
    const limits = { maxMessages: ctx.options.max_messages, maxBytes: ctx.options.max_bytes };
    // Per account: storing, delivering stored messages, and live messages that
    // arrive while stored ones are being delivered, in that order.
    const queue = new KeyedQueue();
    // Accounts whose full store has been written to the audit log since it last shrank.
    const reportedFull = new Set<string>();

    const deliverable = (bare: string) => ctx.sessions.deliverable(bare).length > 0;
    const accountExists = async (localpart: string) => {
      const account = await ctx.storage.accounts.get(ctx.host, localpart);
      return account !== undefined && !account.disabled;
    };

    /** No one to deliver to (or stored messages still on their way): store, wait, or hand back. */
    const takeOver = async (stanza: Element, route: RouteContext, disposition: 'store' | 'drop'): Promise<boolean> => {
      const key = route.to.bareString();
      // A missing (or disabled) account: the message module answers, with its usual words.
      if (!(await accountExists(route.to.local))) return false;
      const outcome = await queue.run(key, async () => {
        // Became available while we waited: delivered live, after the stored ones.
        if (deliverable(key)) return 'live' as const;
        if (disposition === 'drop') return 'dropped' as const;
        const r = await store.add(ctx.host, route.to.local, toStoredXml(stanza, ctx.host), limits);
        if (r.stored) return 'stored' as const;
        reportFull(key, route.from.bareString(), r.usage);
        return 'full' as const;
      });
      if (outcome === 'live') return false;
      if (outcome === 'full') throw new StanzaError('service-unavailable', NOT_AVAILABLE_TEXT);
      return true;
    };

    ctx.hook(
      'message/bare',
      (stanza, route) => {
        const disposition = dispositionOf(stanza);
        if (disposition === 'pass') return false;
        // The common case, without a wait: someone is available and no stored messages are on their way.
        if (queue.idle(route.to.bareString()) === undefined && deliverable(route.to.bareString())) return false;
        return takeOver(stanza, route, disposition);
      },
      10,
    );

    // A live message to a full JID waits for the stored ones being delivered to that account.
    ctx.hook(
      'message/full',
      (_stanza, route) => {
        const busy = queue.idle(route.to.bareString());
        return busy ? busy.then(() => false) : false;
      },
      10,
    );

    const reportFull = (key: string, sender: string, usage: { messages: number; bytes: number }) => {
      ctx.log.info({ recipient: key, messages: usage.messages, bytes: usage.bytes }, 'offline storage full; message refused');
      if (reportedFull.has(key)) return;
      reportedFull.add(key);
      void ctx.storage.audit
        .append({
          actor: sender,
          action: 'offline.store',
          decision: 'deny',
          reason: 'offline storage of the recipient is full',
          details: { recipient: key, messages: usage.messages, bytes: usage.bytes, max_messages: limits.maxMessages, max_bytes: limits.maxBytes },
        })
        .catch((err: unknown) => ctx.log.error({ err }, 'audit append failed'));
    };

    const stillConnected = (session: ClientSession) => session.available && ctx.sessions.get(session.jid) === session;

    /** Sends the account's stored messages to this session, oldest first, deleting each batch once written. */
    const deliverStored = (session: ClientSession) => {
      const key = session.jid.bareString();
      const local = session.jid.local;
      return queue
        .run(key, async () => {
          let after: number | undefined;
          for (;;) {
            const batch = await store.list(ctx.host, local, { after, limit: DELIVERY_BATCH });
            const written: number[] = [];
            for (const m of batch) {
              if (!stillConnected(session)) break;
              let message: Element;
              try {
                message = fromStoredXml(m.xml, m.storedAt, ctx.host);
              } catch (err) {
                // Never the content: it is the user's.
                ctx.log.error({ id: m.id, account: key, reason: (err as Error).message }, 'discarding an unreadable stored message');
                written.push(m.id);
                continue;
              }
              session.send(message);
              written.push(m.id);
            }
            // Deleted only after the write: a crash in between delivers twice, never loses.
            await store.remove(ctx.host, local, written);
            if (written.length > 0) reportedFull.delete(key);
            if (written.length < batch.length || batch.length < DELIVERY_BATCH) return;
            after = batch.at(-1)!.id;
          }
        })
        .catch((err: unknown) => ctx.log.error({ err, account: key }, 'delivering offline messages failed'));
    };

    // XEP-0160 §2: delivered to the resource that sends available presence with a non-negative priority.
    ctx.on('session-available', (session) => {
      if (session.priority >= 0) void deliverStored(session);
    });

    // An available session raising its priority from negative to non-negative is that moment too.
    ctx.hook(
      'presence/bare',
      (stanza, route) => {
        const session = route.origin;
        if (!session || stanza.attrs.to !== undefined || stanza.attrs.type !== undefined) return false;
        if (!session.available || session.priority >= 0) return false; // initial presence: 'session-available'
        const next = priorityOf(stanza);
        if (next !== undefined && next >= 0) void deliverStored(session);
        return false;
      },
      10,
    );
  },
});

/** The presence's priority, or undefined when it is not a valid one (the presence module refuses those). */
function priorityOf(presence: Element): number | undefined {
  const text = presence.getChildText('priority')?.trim() ?? '0';
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n >= -128 && n <= 127 ? n : undefined;
}
