// The HTTPS listener (default port 5443): XMPP over WebSocket (RFC 7395).
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Fastify from 'fastify';
import websocket from '@fastify/websocket';
import type { Server } from '../../core/server.ts';
import { WebSocketTransport } from '../websocket-transport.ts';

export interface HttpsListener {
  address: AddressInfo;
  close(): Promise<void>;
}

export const WEBSOCKET_PATH = '/xmpp-websocket';

export async function startHttps(server: Server, opts: { admit(socket: Socket): boolean }): Promise<HttpsListener> {
  const cfg = server.loaded.config;
  const limits = server.xmlLimits();
  const app = Fastify({ https: server.tls.serverOptions(['http/1.1']), logger: false });
  app.server.on('connection', (raw: Socket) => void opts.admit(raw));
  await app.register(websocket, {
    options: {
      maxPayload: limits.maxStanzaBytes,
      // RFC 7395 §3.2: the client must offer the 'xmpp' subprotocol.
      handleProtocols: (protocols) => (protocols.has('xmpp') ? 'xmpp' : false),
    },
  });
  app.get(WEBSOCKET_PATH, { websocket: true }, (socket, req) => {
    const transport = new WebSocketTransport(socket, {
      remoteAddress: req.socket.remoteAddress ?? 'unknown',
      tlsSocket: req.socket as TLSSocket,
      limits,
    });
    const conn = server.openStream(transport);
    socket.once('close', () => server.streamClosed(conn));
  });
  await app.listen({ host: cfg.listeners.https.address, port: cfg.listeners.https.port });
  return {
    address: app.server.address() as AddressInfo,
    close: () => app.close(),
  };
}
