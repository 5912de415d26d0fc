// XMPP over WebSocket (RFC 7395): each connection becomes a client stream of
// the server, exactly like a TCP one (see ../websocket-transport.ts).
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import type { Server } from '../../core/server.ts';
import { WebSocketTransport } from '../websocket-transport.ts';
import { refuseOtherMethods } from './methods.ts';

export const WEBSOCKET_PATH = '/xmpp-websocket';
const SUBPROTOCOL = 'xmpp';

function offersXmpp(req: FastifyRequest): boolean {
  const offered = req.headers['sec-websocket-protocol'] ?? '';
  return offered.split(',').some((p) => p.trim() === SUBPROTOCOL);
}

export async function registerWebSocket(app: FastifyInstance, server: Server): Promise<void> {
  const limits = server.xmlLimits();
  await app.register(websocket, {
    options: {
      maxPayload: limits.maxStanzaBytes,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    },
  });
  // Only the XMPP endpoint upgrades; elsewhere the plugin would accept a WebSocket just to close it.
  app.addHook('onRequest', async (req, reply) => {
    if (req.ws && req.routeOptions.url !== WEBSOCKET_PATH) {
      return reply.code(404).type('text/plain; charset=utf-8').send(`WebSocket connections are accepted at ${WEBSOCKET_PATH} only.\n`);
    }
  });
  app.route({
    method: 'GET',
    url: WEBSOCKET_PATH,
    // RFC 7395 §3.2: without the 'xmpp' subprotocol there is no XMPP connection; refused before the upgrade.
    onRequest: async (req, reply) => {
      if (req.ws && !offersXmpp(req)) {
        return reply.code(400).type('text/plain; charset=utf-8').send(`The WebSocket subprotocol '${SUBPROTOCOL}' is required (RFC 7395).\n`);
      }
    },
    handler: (_req, reply) =>
      reply.code(426).header('upgrade', 'websocket').type('text/plain; charset=utf-8').send('This is an XMPP over WebSocket endpoint (RFC 7395).\n'),
    wsHandler: (socket, req) => {
      const transport = new WebSocketTransport(socket, {
        remoteAddress: req.socket.remoteAddress ?? 'unknown',
        tlsSocket: req.socket as TLSSocket,
        limits,
      });
      // The connection reports its own end to the server (C2SHost.detached).
      server.openStream(transport);
    },
  });
  refuseOtherMethods(app, WEBSOCKET_PATH);
}
