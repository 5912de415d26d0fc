// Everything this listener serves is read-only. Other methods get 405 (with
// Allow), and no content-type parser is registered, so a request body is never
// parsed: a request that carries one is answered 415 before any route runs.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';

const OTHER_METHODS = ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

function methodNotAllowed(_req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(405).header('allow', 'GET, HEAD').type('text/plain; charset=utf-8').send('Method not allowed.\n');
}

/** Answers every method but GET and HEAD on `url` with 405. */
export function refuseOtherMethods(app: FastifyInstance, url: string): void {
  app.route({ method: OTHER_METHODS, url, handler: methodNotAllowed });
}

/** A GET (and HEAD) route; the other methods are refused. */
export function readOnly(app: FastifyInstance, url: string, handler: RouteHandlerMethod): void {
  app.get(url, handler);
  refuseOtherMethods(app, url);
}
