import { z } from 'zod';
import { bindAddress, port } from './common.ts';

const listenerKeys = (defaultPort: number) => ({
  enabled: z.boolean().default(true).describe('open this listener at start-up'),
  address: bindAddress().default('0.0.0.0').describe("IP address to bind (0.0.0.0 or :: = all interfaces) or 'localhost'"),
  port: port().default(defaultPort).describe('TCP port, 0..65535 (0 = any free port)'),
});

const listener = (defaultPort: number, what: string) => z.strictObject(listenerKeys(defaultPort)).prefault({}).describe(what);

/** Where clients reach the HTTPS listener from outside (a reverse proxy or port mapping may differ from the bind). */
const publicUrl = () =>
  z.string().superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return void ctx.addIssue({ code: 'custom', message: 'must be an absolute URL', params: { hint: 'e.g. https://chat.example.org' } });
    }
    if (url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must start with https://' });
    else if (url.username || url.password || url.search || url.hash || url.pathname !== '/') {
      ctx.addIssue({ code: 'custom', message: 'must be only https://host or https://host:port (no path, query or credentials)' });
    }
  });

const WILDCARDS = new Set(['0.0.0.0', '::']);

export const listeners = z
  .strictObject({
    c2s: listener(5222, 'client connections; STARTTLS is required before authentication (RFC 6120)'),
    c2s_direct_tls: listener(5223, 'client connections with TLS from the first byte (XEP-0368)'),
    https: z
      .strictObject({
        ...listenerKeys(5443),
        public_url: publicUrl()
          .nullable()
          .default(null)
          .describe('https://host[:port] clients use to reach this listener, for host-meta; null = https://<domain>:<port>'),
      })
      .prefault({})
      .describe('HTTPS: WebSocket, web client, file upload and the admin console'),
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
