// XEP-0198 stream management. The counters, the queue of unacknowledged stanzas
// and hibernation live in the stream layer (src/net/c2s.ts,
// src/net/stream-management.ts); this module switches it on, holds the
// resumption tokens, and decides what happens to stanzas a client never
// acknowledged once its session is gone for good.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { defineModule } from '../../core/module.ts';
import type { C2SConnection, SmacksHost } from '../../net/c2s.ts';
import { NS } from '../../xmpp/ns.ts';
import { rescue } from './rescue.ts';

export default defineModule({
  id: 'smacks',
  description: 'Stream management: acknowledgements and resumption (XEP-0198)',
  options: z.strictObject({
    resume_timeout: z
      .int()
      .min(0)
      .max(86_400)
      .default(300)
      .describe('seconds a session whose connection broke waits to be resumed, 0..86400 (0 = no resumption)'),
    max_unacked: z
      .int()
      .min(10)
      .max(100_000)
      .default(1000)
      .describe('stanzas a client may leave unacknowledged before its stream is closed, 10..100000'),
  }),
  streamFeatures: [{ name: 'sm', ns: NS.sm }],
  setup(ctx) {
    const resumable = new Map<string, C2SConnection>();
    /** Re-routings still running. */
    const rescues = new Set<Promise<void>>();
    const host: SmacksHost = {
      resumeTimeoutMs: ctx.options.resume_timeout * 1000,
      maxUnacked: ctx.options.max_unacked,
      register(session) {
        // 144 bits from the CSPRNG: the token is all a thief would need besides the account's password.
        const token = randomBytes(18).toString('base64url');
        resumable.set(token, session);
        return token;
      },
      find(token, username) {
        const session = resumable.get(token);
        return session && session.jid.local === username ? session : undefined;
      },
      forget(token) {
        resumable.delete(token);
      },
      unacknowledged(session, stanzas) {
        // Runs after the session was unregistered: 'others' are the account's remaining sessions.
        const othersAvailable = (bare: string) => ctx.sessions.deliverable(bare).length > 0;
        const again = rescue(stanzas, { domain: ctx.host, othersAvailable });
        // One at a time: routes differ in length (full JID, then bare; offline storage), and the order must hold.
        const running = (async () => {
          for (const stanza of again) {
            await ctx.send(stanza).catch((err: unknown) => ctx.log.warn({ err, session: session.jid.toString() }, 'could not re-route an unacknowledged stanza'));
          }
        })();
        rescues.add(running);
        void running.then(() => rescues.delete(running));
      },
      async settled() {
        // A rescued stanza may reach a session that then ends with its own unacknowledged ones: wait for those too.
        while (rescues.size) await Promise.all(rescues);
      },
    };
    ctx.provide('smacks', host);
  },
});
