// Headers on every HTTP answer of this listener. The policy allows only this
// origin: the web client is served whole from here and needs nothing else.
import type { FastifyInstance } from 'fastify';

/** The Content-Security-Policy; `origin` is the configured public origin (see public-origin.ts). */
export function contentSecurityPolicy(origin: URL): string {
  return [
    "default-src 'none'",
    // 'wasm-unsafe-eval' lets OMEMO compile its WebAssembly crypto; it does not allow eval().
    "script-src 'self' 'wasm-unsafe-eval'",
    // Converse.js (Lit templates) sets style attributes and <style> elements at run time.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "media-src 'self' blob:",
    // 'self' covers wss:// to the same host in CSP 3 browsers; the public origin is named for older ones.
    `connect-src 'self' wss://${origin.host}`,
    "worker-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export function securityHeaders(origin: URL): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(origin),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    // Applies to the whole host name (every port); no includeSubDomains, to affect nothing else.
    'strict-transport-security': 'max-age=31536000',
    'cross-origin-opener-policy': 'same-origin',
  };
}

export function registerSecurityHeaders(app: FastifyInstance, origin: () => URL): void {
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.headers(securityHeaders(origin()));
    return payload;
  });
}
