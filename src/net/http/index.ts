// The HTTPS listener (default port 5443): XMPP over WebSocket (RFC 7395),
// connection discovery (XEP-0156), the user web client (Converse.js), and the
// routes modules add (ModuleContext.http). Small: short header limits, and no
// request bodies except on modules' PUT routes, which stream them unparsed.
import { STATUS_CODES } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyReply } from 'fastify';
import type { Server } from '../../core/server.ts';
import { refuseBadRequest } from './client-errors.ts';
import { registerHostMeta } from './host-meta.ts';
import { registerInvitations } from './invite.ts';
import { publicOrigin, websocketUrl } from './public-origin.ts';
import { registerSecurityHeaders } from './security-headers.ts';
import { registerWebClient } from './web-client.ts';
import { WEBSOCKET_PATH, registerWebSocket } from './websocket.ts';

export { WEBSOCKET_PATH };

export interface HttpsListener {
  address: AddressInfo;
  /** Where clients reach it (public-origin.ts). */
  origin: URL;
  close(): Promise<void>;
}

/** Request line and headers together; browsers send far less, and nothing here needs more. */
const MAX_HEADER_BYTES = 8 * 1024;

function text(reply: FastifyReply, code: number, message: string): FastifyReply {
  return reply.code(code).type('text/plain; charset=utf-8').send(`${message}\n`);
}

export async function startHttps(server: Server, opts: { admit(socket: Socket): boolean }): Promise<HttpsListener> {
  const cfg = server.loaded.config;
  const listener = cfg.listeners.https;
  // Like the XMPP stream header: a client that has not sent its request by then is cut off (slowloris).
  const requestTimeout = cfg.limits.header_timeout * 1000;
  const log = server.log.child({ component: 'https' });
  const routes = [...server.httpRoutes];
  // An upload lasts longer than the header timeout: with body routes the whole-request
  // timeout is off, headers are still cut off after it, and each body route keeps its own idle limit.
  const wholeRequestTimeout = routes.some((r) => r.method === 'PUT') ? 0 : requestTimeout;
  const app = Fastify({
    https: {
      ...server.tls.serverOptions(['http/1.1']),
      maxHeaderSize: MAX_HEADER_BYTES,
      headersTimeout: requestTimeout,
      requestTimeout: wholeRequestTimeout,
    },
    requestTimeout: wholeRequestTimeout,
    bodyLimit: 1024,
    routerOptions: { maxParamLength: 256 },
    clientErrorHandler: refuseBadRequest,
    loggerInstance: log as FastifyBaseLogger,
    // Requests are not logged one by one; errors are.
    logController: new LogController({ disableRequestLogging: true }),
  });
  server.tls.follow(app.server);
  app.server.on('connection', (raw: Socket) => void opts.admit(raw));
  app.server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));
  // Only module routes (below) take a body: elsewhere, without parsers, a request that carries one is refused (415) unread.
  app.removeAllContentTypeParsers();
  app.setNotFoundHandler((_req, reply) => text(reply, 404, 'Not found.'));
  app.setErrorHandler((err: { statusCode?: number }, _req, reply) => {
    const code = err.statusCode ?? 500;
    if (code >= 500) log.error({ err }, 'HTTP request failed');
    // The status says enough; internals stay in the log.
    return text(reply, code, `${STATUS_CODES[code] ?? 'Error'}.`);
  });

  let origin: URL | undefined;
  const publicBase = () => (origin ??= publicOrigin(listener.public_url, cfg.domain, (app.server.address() as AddressInfo).port));
  registerSecurityHeaders(app, publicBase);
  await registerWebSocket(app, server);
  if (wholeRequestTimeout === 0) {
    // Node's whole-request timeout is off for the sake of uploads and downloads (module routes, which
    // stream with their own idle limits) and WebSocket streams; every other request keeps one, so a
    // body trickled to another route cannot hold a connection open.
    // After the WebSocket plugin's own hook, which marks upgrade requests (request.ws).
    app.addHook('onRequest', async (request, reply) => {
      if ((request.routeOptions.config as { streams?: boolean }).streams || (request as { ws?: boolean }).ws) return;
      const timer = setTimeout(() => request.raw.socket.destroy(), requestTimeout);
      reply.raw.once('close', () => clearTimeout(timer));
    });
  }

  registerHostMeta(app, () => websocketUrl(publicBase(), WEBSOCKET_PATH));
  await registerWebClient(app, cfg.domain, WEBSOCKET_PATH);
  if (cfg.registration.invitations) await registerInvitations(app, server);
  await app.register(async (scope) => {
    // Bodies reach these routes unread (request.raw): the module streams them with its own limits.
    scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
    // HEAD named explicitly: the handler answers it with the real Content-Length and no body.
    for (const r of routes) {
      scope.route({ method: r.method === 'GET' ? ['GET', 'HEAD'] : r.method, url: r.url, handler: r.handler, config: { streams: true } });
    }
  });

  await app.listen({ host: listener.address, port: listener.port });
  return {
    address: app.server.address() as AddressInfo,
    origin: publicBase(),
    close: () => app.close(),
  };
}
