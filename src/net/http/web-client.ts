// The user web client: Converse.js 14 from node_modules, served whole and
// read-only (nothing is fetched from the internet), behind a page of our own.
import { createRequire } from 'node:module';
import { dirname, extname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { readOnly, refuseOtherMethods } from './methods.ts';
import { CONVERSE_PATH, INIT_SCRIPT_PATH, indexPage, initScript } from './web-client-page.ts';

/** node_modules/converse.js/dist, wherever the package manager put it. */
export function converseDist(): string {
  return dirname(createRequire(import.meta.url).resolve('converse.js/dist/converse.min.js'));
}

/** Types the browser must get exactly: wasm for streaming compilation, JavaScript for module scripts. */
const CONTENT_TYPES: Record<string, string> = {
  '.wasm': 'application/wasm',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
};

export async function registerWebClient(app: FastifyInstance, domain: string, websocketPath: string): Promise<void> {
  await app.register(fastifyStatic, {
    root: converseDist(),
    prefix: CONVERSE_PATH,
    decorateReply: false,
    index: false,
    list: false,
    redirect: false,
    dotfiles: 'deny',
    setHeaders: (reply, path) => {
      const type = CONTENT_TYPES[extname(path)];
      if (type) reply.header('content-type', type);
    },
  });
  refuseOtherMethods(app, `${CONVERSE_PATH}*`);
  const page = indexPage(domain);
  const script = initScript(domain, websocketPath);
  readOnly(app, '/', (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page));
  readOnly(app, INIT_SCRIPT_PATH, (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(script));
}
