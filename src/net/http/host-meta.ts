// XEP-0156: how a client that knows only the domain finds the WebSocket
// endpoint. Both forms RFC 6415 defines: XRD (XML) and JRD (JSON).
import type { FastifyInstance } from 'fastify';
import { x } from '../../xmpp/element.ts';
import { readOnly } from './methods.ts';

export const WEBSOCKET_REL = 'urn:xmpp:alt-connections:websocket';
const XRD_NS = 'http://docs.oasis-open.org/ns/xri/xrd-1.0';

export function hostMetaXml(websocketUrl: string): string {
  return `<?xml version='1.0' encoding='utf-8'?>\n${x('XRD', { xmlns: XRD_NS }, x('Link', { rel: WEBSOCKET_REL, href: websocketUrl })).toString()}\n`;
}

export function hostMetaJson(websocketUrl: string): string {
  return `${JSON.stringify({ links: [{ rel: WEBSOCKET_REL, href: websocketUrl }] })}\n`;
}

export function registerHostMeta(app: FastifyInstance, websocketUrl: () => string): void {
  // Web clients on other origins read it, so it is open to CORS (it holds nothing private).
  readOnly(app, '/.well-known/host-meta', (_req, reply) =>
    reply.type('application/xrd+xml; charset=utf-8').header('access-control-allow-origin', '*').header('cache-control', 'max-age=3600').send(hostMetaXml(websocketUrl())),
  );
  readOnly(app, '/.well-known/host-meta.json', (_req, reply) =>
    reply.type('application/json; charset=utf-8').header('access-control-allow-origin', '*').header('cache-control', 'max-age=3600').send(hostMetaJson(websocketUrl())),
  );
}
