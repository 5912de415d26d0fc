// @xmpp/client (xmpp.js 0.14) for the client-library integration tests: connects
// a user, records the SASL mechanism it chose (from the SASL <auth/> or SASL2
// <authenticate/> it sent) and collects the messages it receives.
//
// Certificate trust: xmpp.js passes no TLS options through (STARTTLS upgrades with
// only { host: domain }, direct TLS with { host, port }), so the only supported
// ways to accept a private CA are process-wide (NODE_EXTRA_CA_CERTS at start-up or
// NODE_TLS_REJECT_UNAUTHORIZED=0). Instead, trustCertificates() wraps the TLS
// socket class both paths use so that it connects with `ca` = the test server's
// certificate: verification stays on (chain and host name are checked).
import tls from 'node:tls';
import { client, xml, type XmlElement, type XmppClient } from '@xmpp/client';
import XmppTlsSocket from '@xmpp/tls/lib/Socket.js';

let trusted: string[] = [];
let patched = false;

/** Makes every xmpp.js TLS connection (STARTTLS and direct TLS) trust exactly these PEM certificates. */
export function trustCertificates(pems: string[]): void {
  trusted = pems;
  if (patched) return;
  patched = true;
  XmppTlsSocket.prototype.connect = function connect(this: XmppTlsSocket, options: tls.ConnectionOptions) {
    this._attachSocket(tls.connect({ ...options, ca: trusted }));
  };
}

export interface ConnectedClient {
  xmpp: XmppClient;
  /** The full JID bound by the server. */
  jid: string;
  /** The mechanism attribute of the SASL <auth/> or SASL2 <authenticate/> xmpp.js sent last. */
  mechanism: string | undefined;
  /** Whether the stream ended up on a TLS socket. */
  secure: boolean;
  /** Messages received so far (in order). */
  messages: XmlElement[];
  /** Resolves with the first received message (already received or future) that matches. */
  nextMessage(match?: (m: XmlElement) => boolean, timeoutMs?: number): Promise<XmlElement>;
  stop(): Promise<void>;
}

export interface ConnectOptions {
  service: string;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  /** Send initial presence after binding (needed to receive messages to the bare JID). */
  presence?: boolean;
}

/** A configured, not yet started xmpp.js client with automatic reconnection off. */
export function makeClient(o: ConnectOptions): { xmpp: XmppClient; mechanisms: string[] } {
  const xmpp = client({ service: o.service, domain: o.domain, username: o.username, password: o.password, resource: o.resource, timeout: 5000 });
  xmpp.reconnect.stop();
  avoidOpenRace(xmpp);
  const mechanisms: string[] = [];
  xmpp.on('send', (el: XmlElement) => {
    const sasl = el.name === 'auth' && el.attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-sasl';
    const sasl2 = el.name === 'authenticate' && el.attrs.xmlns === 'urn:xmpp:sasl:2';
    if ((sasl || sasl2) && el.attrs.mechanism) mechanisms.push(el.attrs.mechanism);
  });
  // Errors are reported through start()'s rejection; an unhandled 'error' event would crash the test process.
  xmpp.on('error', () => undefined);
  return { xmpp, mechanisms };
}

export async function connect(o: ConnectOptions): Promise<ConnectedClient> {
  const { xmpp, mechanisms } = makeClient(o);
  const messages: XmlElement[] = [];
  const waiters: { match: (m: XmlElement) => boolean; resolve: (m: XmlElement) => void }[] = [];
  xmpp.on('stanza', (st: XmlElement) => {
    if (st.name !== 'message') return;
    messages.push(st);
    for (const w of [...waiters]) {
      if (w.match(st)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(st);
      }
    }
  });
  const bound = await xmpp.start();
  if (o.presence !== false) {
    await xmpp.send(xml('presence'));
    // The server handles one stream's stanzas in order: once this ping is answered,
    // the initial presence has been processed and messages to the bare JID reach us.
    await xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), o.domain);
  }
  const secure = xmpp.isSecure();
  return {
    xmpp,
    jid: bound.toString(),
    mechanism: mechanisms.at(-1),
    secure,
    messages,
    nextMessage(match = () => true, timeoutMs = 5000) {
      const found = messages.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(entry), 1);
          reject(new Error(`no matching message within ${timeoutMs} ms (got ${messages.length}: ${messages.map(String).join(' ')})`));
        }, timeoutMs);
        const entry = {
          match,
          resolve: (m: XmlElement) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        waiters.push(entry);
      });
    },
    async stop() {
      await stopQuietly(xmpp);
    },
  };
}

/**
 * xmpp.js 0.14 race: Connection.open() awaits the socket's write callback for the
 * stream header and only then listens for the server's header ('open'). On TLS
 * sockets that callback can run after the server's header and features have been
 * read, so 'open' is missed; a later stream restart (after SASL) hides it on
 * success, but when SASL fails open() rejects too and start() leaves its internal
 * 'online' promise rejected and unhandled (node:test reports that as a failure).
 * Resolving the header write at once lets open() listen before any reply can be
 * read (a failed write still surfaces as the socket's 'error').
 */
function avoidOpenRace(xmpp: XmppClient): void {
  const write = xmpp.write.bind(xmpp);
  xmpp.write = (data: string) => {
    if (xmpp.status !== 'opening') return write(data);
    write(data).catch(() => undefined);
    return Promise.resolve();
  };
}

/** Ends the stream if it is still up; never throws (for finally blocks and after hooks). */
export async function stopQuietly(xmpp: XmppClient): Promise<void> {
  xmpp.reconnect.stop();
  if (xmpp.status === 'offline' || xmpp.status === 'disconnect') return;
  try {
    await xmpp.stop();
  } catch {
    // already gone
  }
}

export { xml };
