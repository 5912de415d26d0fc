// XEP-0092 Software Version for the server itself. The operating system is not
// told unless the operator asks: it only helps an attacker pick an exploit.
import { release, type } from 'node:os';
import { z } from 'zod';
import { defineModule } from '../../core/module.ts';
import { x } from '../../xmpp/element.ts';

export const NS_VERSION = 'jabber:iq:version';

export default defineModule({
  id: 'version',
  description: 'Software Version (XEP-0092)',
  options: z.strictObject({
    show_os: z.boolean().default(false).describe('include the operating system in answers'),
  }),
  hostFeatures: [NS_VERSION],
  setup(ctx) {
    ctx.iq({ type: 'get', ns: NS_VERSION, name: 'query', targets: ['host'] }, () => {
      const query = x('query', { xmlns: NS_VERSION }, x('name').t(ctx.server.name), x('version').t(ctx.server.version));
      if (ctx.options.show_os) query.append(x('os').t(`${type()} ${release()}`));
      return query;
    });
  },
});
