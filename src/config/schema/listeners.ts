import { z } from 'zod';
import { bindAddress, port } from './common.ts';

const listener = (defaultPort: number, what: string) =>
  z
    .strictObject({
      enabled: z.boolean().default(true).describe('open this listener at start-up'),
      address: bindAddress().default('0.0.0.0').describe("IP address to bind (0.0.0.0 or :: = all interfaces) or 'localhost'"),
      port: port().default(defaultPort).describe('TCP port, 0..65535 (0 = any free port)'),
    })
    .prefault({})
    .describe(what);

const WILDCARDS = new Set(['0.0.0.0', '::']);

export const listeners = z
  .strictObject({
    c2s: listener(5222, 'client connections; STARTTLS is required before authentication (RFC 6120)'),
    c2s_direct_tls: listener(5223, 'client connections with TLS from the first byte (XEP-0368)'),
    https: listener(5443, 'HTTPS: WebSocket, file upload and the admin console'),
  })
  .superRefine((all, ctx) => {
    // Two enabled listeners on one port would fail at bind time with a less clear message.
    const seen: [string, { address: string; port: number }][] = [];
    for (const [name, l] of Object.entries(all)) {
      if (!l.enabled || l.port === 0) continue;
      const clash = seen.find(([, o]) => o.port === l.port && (o.address === l.address || WILDCARDS.has(o.address) || WILDCARDS.has(l.address)));
      if (clash) ctx.addIssue({ code: 'custom', path: [name, 'port'], message: `port ${l.port} is also used by listeners.${clash[0]}` });
      seen.push([name, l]);
    }
  })
  .prefault({})
  .describe('network listeners');
