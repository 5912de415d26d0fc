// XEP-0352 client state indication: while a client says it is inactive (a phone
// in a pocket), presence updates and chat states are held back and collapsed;
// anything that matters (a message with a body, an iq, a subscription request)
// sends them all, in order, and a client going active gets what was held.
import { z } from 'zod';
import { defineModule } from '../../core/module.ts';
import type { CsiHost } from '../../net/c2s.ts';
import { NS } from '../../xmpp/ns.ts';
import { HeldStanzas } from './held.ts';

export default defineModule({
  id: 'csi',
  description: 'Client state indication (XEP-0352)',
  options: z.strictObject({
    max_held: z
      .int()
      .min(1)
      .max(10_000)
      .default(100)
      .describe('stanzas held back for an inactive client before all are sent anyway, 1..10000'),
  }),
  streamFeatures: [{ name: 'csi', ns: NS.csi }],
  setup(ctx) {
    const host: CsiHost = { filter: () => new HeldStanzas(ctx.options.max_held) };
    ctx.provide('csi', host);
  },
});
