// Where clients reach the HTTPS listener from outside. It comes from the
// configuration only, never from the request's Host header: a forged Host must
// not end up in host-meta (which tells clients where to send passwords) or in
// the Content-Security-Policy.

/** listeners.https.public_url when set, else https://<domain>:<port the listener is bound to>. */
export function publicOrigin(configured: string | null, domain: string, boundPort: number): URL {
  return new URL(configured ?? `https://${domain}:${boundPort}`);
}

/** The RFC 7395 endpoint under that origin (wss:// with the same host and port). */
export function websocketUrl(origin: URL, path: string): string {
  return `wss://${origin.host}${path}`;
}
