// SOCKS5 bytestream proxy (XEP-0065) on proxy.<domain>, so that a peer-to-peer
// file transfer the policy allows reveals no one's address: the decision
// point's 'p2p.proxy-only' obligation leaves this proxy as the only streamhost
// (policy/obligations.ts), the offers that name it are remembered here, and
// only their two parties may connect. The activation is decided at the
// decision point as the action 'proxy65.activate' (feature p2p-file-transfer);
// this module enforces the protocol and its limits, never policy. It opens a
// TCP port, so it is loaded only when palisade.yaml lists it.
// Docs: docs/modules/proxy65.md.
import { z } from 'zod';
import { bindAddress, port } from '../../config/schema/common.ts';
import { componentResult, defineModule, type RouteContext } from '../../core/module.ts';
import { setTransferProxy } from '../../policy/obligations.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { parseJID, tryParseJID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';
import { ProxyRelay, type Activation } from './relay.ts';

export const NS_BYTESTREAMS = 'http://jabber.org/protocol/bytestreams';
const NS_JINGLE = 'urn:xmpp:jingle:1';
const NS_JINGLE_S5B = 'urn:xmpp:jingle:transports:s5b:1';
export const ACTION_ACTIVATE = 'proxy65.activate';

const MIB = 1024 * 1024;

const hostName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9.:-]+$/, { message: 'must be a host name or an IP address' });

const options = z.strictObject({
  subdomain: z
    .string()
    .min(1)
    .max(255)
    .refine((s) => tryParseJID(s)?.local === '' && !s.includes('/'), { message: 'must be a domain name (no @ or /), e.g. proxy.example.org' })
    .nullable()
    .default(null)
    .describe("the proxy's JID; null: 'proxy.' followed by the server's domain"),
  name: z.string().min(1).max(100).default('File transfer proxy').describe('the name the proxy shows in service discovery'),
  address: bindAddress().default('0.0.0.0').describe("IP address the SOCKS5 listener binds (as listeners.c2s.address), or 'localhost'"),
  port: port().default(7777).describe('TCP port of the SOCKS5 listener (0 = any free port)'),
  public_host: hostName.nullable().default(null).describe("host name or IP clients connect to; null: the server's domain"),
  max_stream_bytes: z
    .int()
    .min(1)
    .max(2 ** 50)
    .default(100 * MIB)
    .describe('bytes one transfer may carry (default 100 MiB); beyond it the stream is closed'),
  stream_rate: z.int().min(1024).max(2 ** 40).default(10 * MIB).describe('bytes per second one transfer may use (default 10 MiB/s)'),
  total_rate: z.int().min(1024).max(2 ** 40).default(50 * MIB).describe('bytes per second all transfers together may use (default 50 MiB/s)'),
  idle_timeout_seconds: z.int().min(5).max(3600).default(60).describe('a transfer that moves nothing for this long is closed, 5..3600'),
  pending_timeout_seconds: z.int().min(5).max(600).default(60).describe('a connection not activated within this long is closed, 5..600'),
  max_pending: z.int().min(2).max(100_000).default(200).describe('connections waiting for activation at once; more are refused'),
  max_active: z.int().min(1).max(100_000).default(100).describe('transfers relayed at once; more activations are refused'),
});

export type Proxy65Options = z.infer<typeof options>;

/** The proxy's domain: the configured subdomain, or proxy.<host>. */
export function proxyDomain(subdomain: string | null, host: string): string {
  return parseJID(subdomain ?? `proxy.${host}`).domain;
}

const ACTIVATION_ERRORS: Record<Exclude<Activation, 'activated'>, StanzaError> = {
  'item-not-found': new StanzaError('item-not-found', 'No bytestream with this sid was offered through this proxy.'),
  forbidden: new StanzaError('forbidden', 'Only the initiator of the bytestream may activate it, for the target it was offered to.'),
  'not-allowed': new StanzaError('not-allowed', 'Both parties must be connected to the proxy before the bytestream is activated.'),
  'resource-constraint': new StanzaError('resource-constraint', 'The proxy relays as many transfers as it may; try again later.'),
};

export default defineModule({
  id: 'proxy65',
  description: 'SOCKS5 bytestream proxy: peer-to-peer file transfer without revealing addresses (XEP-0065)',
  options,
  actions: [ACTION_ACTIVATE],
  async setup(ctx) {
    const opts = ctx.options;
    const domain = proxyDomain(opts.subdomain, ctx.host);
    const relay = new ProxyRelay(
      {
        maxStreamBytes: opts.max_stream_bytes,
        streamRate: opts.stream_rate,
        totalRate: opts.total_rate,
        idleMs: opts.idle_timeout_seconds * 1000,
        pendingMs: opts.pending_timeout_seconds * 1000,
        maxPending: opts.max_pending,
        maxActive: opts.max_active,
        offerMs: opts.pending_timeout_seconds * 1000,
        maxOffers: opts.max_pending * 10,
      },
      ctx.log,
    );
    const listening = await relay.listen(opts.address, opts.port);
    const streamhost = { jid: domain, host: opts.public_host ?? ctx.host, port: listening };
    const unregister = setTransferProxy(ctx.host, streamhost);
    ctx.on('stopping', () => {
      unregister();
      void relay.close();
    });
    ctx.log.info({ address: opts.address, port: listening, jid: domain }, 'proxy65: SOCKS5 listener open');

    // The activation is its own action, so rules can name it; the decision point decides it like any iq.
    ctx.classify((req, stanza, _from, to) => {
      if (to.domain === domain && stanza.name === 'iq' && stanza.attrs.type === 'set' && stanza.getChild('query', NS_BYTESTREAMS)?.getChild('activate')) {
        req.action = ACTION_ACTIVATE;
      }
    });

    // Offers that reach their target with this proxy (after the obligation step) open the door for their two parties.
    ctx.hook(
      'iq/full',
      (iq, route) => {
        for (const sid of offeredSids(iq, domain)) relay.expect(sid, route.from.toString(), route.to.toString());
        return false;
      },
      1000,
    );
    ctx.every(60_000, () => relay.purge());

    const reply = (iq: Element, route: RouteContext, payload?: Element) =>
      ctx.send(componentResult(iq, route, payload));

    ctx.component(domain, opts.name, (stanza, route) => {
      const type = stanza.attrs.type;
      // Errors and results are never answered (RFC 6120 §8.3.1); messages and presence have nothing to do here.
      if (stanza.name !== 'iq' || type === 'error' || type === 'result') return;
      if (route.to.local !== '' || route.to.resource !== '') throw new StanzaError('service-unavailable');
      const payload = stanza.elements[0];
      const key = `${type} ${payload?.ns} ${payload?.name}`;
      if (key === `get ${NS.discoInfo} query` && payload!.attrs.node === undefined) {
        const info = x('query', { xmlns: NS.discoInfo }, x('identity', { category: 'proxy', type: 'bytestreams', name: opts.name }));
        for (const f of [NS.discoInfo, NS.discoItems, NS_BYTESTREAMS].sort()) info.c('feature', { var: f });
        return reply(stanza, route, info);
      }
      if (key === `get ${NS.discoItems} query` && payload!.attrs.node === undefined) return reply(stanza, route, x('query', { xmlns: NS.discoItems }));
      // Only this server's own accounts use the proxy.
      if (payload?.ns === NS_BYTESTREAMS && (route.origin === undefined || route.from.domain !== ctx.host)) {
        throw new StanzaError('forbidden', 'Only accounts of this server may use this proxy.');
      }
      if (key === `get ${NS_BYTESTREAMS} query`) {
        // XEP-0065 §6.3.2: the proxy's network address.
        const h = { jid: streamhost.jid, host: streamhost.host, port: String(streamhost.port) };
        return reply(stanza, route, x('query', { xmlns: NS_BYTESTREAMS }, x('streamhost', h)));
      }
      if (key === `set ${NS_BYTESTREAMS} query`) {
        const sid = payload!.attrs.sid;
        const target = tryParseJID(payload!.getChildText('activate') ?? '');
        if (!sid || !target || target.resource === '') throw new StanzaError('bad-request', 'An activation names the sid and the target\'s full JID in <activate/>.');
        const result = relay.activate(sid, route.from.toString(), target.toString());
        if (result !== 'activated') throw ACTIVATION_ERRORS[result];
        return reply(stanza, route);
      }
      throw new StanzaError('service-unavailable');
    });
  },
});

/** The sids of bytestreams an iq offers through this proxy: XEP-0065 streamhosts, XEP-0260 proxy candidates. */
export function offeredSids(iq: Element, proxyJid: string): string[] {
  const out: string[] = [];
  for (const payload of iq.elements) {
    if (payload.name === 'query' && payload.ns === NS_BYTESTREAMS) {
      const sid = payload.attrs.sid;
      if (sid && payload.getChildren('streamhost').some((h) => h.attrs.jid === proxyJid)) out.push(sid);
    } else if (payload.name === 'jingle' && payload.ns === NS_JINGLE) {
      for (const content of payload.getChildren('content', NS_JINGLE)) {
        for (const t of content.getChildren('transport', NS_JINGLE_S5B)) {
          if (t.attrs.sid && t.getChildren('candidate').some((c) => c.attrs.type === 'proxy' && c.attrs.jid === proxyJid)) out.push(t.attrs.sid);
        }
      }
    }
  }
  return out;
}
