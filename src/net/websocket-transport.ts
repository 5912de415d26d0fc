// RFC 7395 framing: every WebSocket text message is one complete XML element;
// <open/> and <close/> in urn:ietf:params:xml:ns:xmpp-framing stand for the
// stream header and footer, and every top-level element carries its own
// namespace declarations.
import type { TLSSocket } from 'node:tls';
import type { WebSocket } from 'ws';
import type { Element } from '../xmpp/element.ts';
import { x } from '../xmpp/element.ts';
import { NS } from '../xmpp/ns.ts';
import type { StreamTransport, TransportSink } from './transport.ts';
import { XmlParseError, parseElement, type XmlLimits } from './xml-stream.ts';

const STANZA_NAMES = new Set(['message', 'presence', 'iq']);

export class WebSocketTransport implements StreamTransport {
  readonly kind = 'websocket';
  readonly canStartTls = false;
  readonly remoteAddress: string;
  readonly tlsSocket: TLSSocket | undefined;
  private readonly ws: WebSocket;
  private readonly limits: XmlLimits;
  private sink: TransportSink | undefined;

  constructor(ws: WebSocket, opts: { remoteAddress: string; tlsSocket: TLSSocket | undefined; limits: XmlLimits }) {
    this.ws = ws;
    this.remoteAddress = opts.remoteAddress;
    this.tlsSocket = opts.tlsSocket;
    this.limits = opts.limits;
  }

  /** The first call starts reading; later calls hand the stream to another sink (resumption). */
  attach(sink: TransportSink): void {
    const first = this.sink === undefined;
    this.sink = sink;
    if (!first) return;
    this.ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    this.ws.on('close', () => this.sink!.closed());
    this.ws.on('error', () => this.sink!.closed());
    this.tlsSocket?.on('drain', () => this.sink!.drain());
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.sink!.received(data.length);
    if (isBinary) return this.sink!.fault('bad-format', 'XMPP over WebSocket uses text messages only (RFC 7395).');
    let el: Element;
    try {
      el = parseElement(data, this.limits);
    } catch (err) {
      if (!(err instanceof XmlParseError)) throw err;
      return this.sink!.fault(err.condition, err.message);
    }
    if (el.attrs.xmlns === NS.framing) {
      if (el.name === 'open') {
        // The framing namespace takes the place of the TCP stream's content namespace.
        const { xmlns: _framing, ...attrs } = el.attrs;
        return this.sink!.streamStart({ ...attrs, xmlns: NS.client });
      }
      if (el.name === 'close') return this.sink!.streamEnd();
      return this.sink!.fault('unsupported-stanza-type', `<${el.name}/> is not an RFC 7395 framing element.`);
    }
    // Inside the stream, jabber:client is the default: drop the redundant declaration.
    if (el.attrs.xmlns === NS.client) delete el.attrs.xmlns;
    this.sink!.element(el);
  }

  restart(): void {
    // Each message stands alone: nothing is carried over from the previous stream.
  }

  startTls(): void {
    throw new Error('STARTTLS is not available on a WebSocket');
  }

  sendOpen(attrs: Record<string, string>): void {
    this.write(x('open', { xmlns: NS.framing, ...attrs }).toString());
  }

  send(el: Element): void {
    this.write(standalone(el));
  }

  sendClose(): void {
    this.write(x('close', { xmlns: NS.framing }).toString());
  }

  private write(data: string): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(data);
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get writable(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  get paused(): boolean {
    return this.ws.isPaused;
  }

  end(): void {
    this.ws.close(1000);
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }

  destroy(): void {
    this.ws.terminate();
  }
}

/** Serialises a top-level element with the namespace declarations it inherits on a TCP stream. */
export function standalone(el: Element): string {
  const s = el.toString();
  const head = el.name.length + 1;
  if (el.name.startsWith('stream:')) return `${s.slice(0, head)} xmlns:stream="${NS.stream}"${s.slice(head)}`;
  if (el.attrs.xmlns === undefined && STANZA_NAMES.has(el.name)) return `${s.slice(0, head)} xmlns="${NS.client}"${s.slice(head)}`;
  return s;
}
