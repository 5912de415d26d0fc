// RFC 6120 framing over TCP: one XML stream per direction, restarted after
// STARTTLS and SASL, with STARTTLS upgrading the socket in place.
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Element } from '../xmpp/element.ts';
import { x } from '../xmpp/element.ts';
import { NS } from '../xmpp/ns.ts';
import type { TlsProvider } from './tls.ts';
import type { StreamTransport, TransportSink } from './transport.ts';
import { XmlStreamParser, type XmlErrorCondition, type XmlLimits, type XmlStreamHandlers } from './xml-stream.ts';

/** It is its own parser's handlers: one object per stream, not four closures more per stream restart. */
export class TcpTransport implements StreamTransport, XmlStreamHandlers {
  readonly kind = 'tcp';
  readonly remoteAddress: string;
  private socket: Socket;
  private sink: TransportSink | undefined;
  private parser: XmlStreamParser | undefined;
  private readonly limits: XmlLimits;
  private readonly tls: TlsProvider;
  private readonly onSocketError: (message: string) => void;
  private corked = false;

  constructor(socket: Socket, opts: { limits: XmlLimits; tls: TlsProvider; onSocketError: (message: string) => void }) {
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress ?? 'unknown';
    this.limits = opts.limits;
    this.tls = opts.tls;
    this.onSocketError = opts.onSocketError;
  }

  get tlsSocket(): TLSSocket | undefined {
    return this.socket instanceof TLSSocket ? this.socket : undefined;
  }

  get canStartTls(): boolean {
    return !(this.socket instanceof TLSSocket);
  }

  /** The first call starts reading; later calls hand the stream to another sink (resumption). */
  attach(sink: TransportSink): void {
    const first = this.sink === undefined;
    this.sink = sink;
    if (!first) return;
    this.listen(this.socket);
    this.restart();
  }

  private listen(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.sink!.received(chunk.length);
      this.parser?.write(chunk);
    });
    socket.on('error', (err) => {
      this.onSocketError(err.message);
      socket.destroy();
    });
    socket.on('close', () => this.sink!.closed());
    socket.on('drain', () => this.sink!.drain());
  }

  restart(): void {
    this.parser = new XmlStreamParser(this, this.limits);
  }

  // XmlStreamHandlers: what the parser reports goes to the sink.

  streamStart(attrs: Record<string, string>): void {
    this.sink!.streamStart(attrs);
  }

  stanza(el: Element): void {
    this.sink!.element(el);
  }

  streamEnd(): void {
    this.sink!.streamEnd();
  }

  error(condition: XmlErrorCondition, text: string): void {
    this.sink!.fault(condition, text);
  }

  startTls(): void {
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('drain');
    const secure = new TLSSocket(raw, { isServer: true, secureContext: this.tls.context(), requestCert: false });
    this.socket = secure;
    this.listen(secure);
    this.restart();
  }

  sendOpen(attrs: Record<string, string>): void {
    const open = x('stream:stream', { xmlns: NS.client, 'xmlns:stream': NS.stream, ...attrs }).toString();
    // An element with no children serialises as '<…/>': open it instead.
    this.write(`<?xml version='1.0'?>${open.slice(0, -2)}>`);
  }

  send(el: Element): void {
    this.write(el.toString());
  }

  sendClose(): void {
    this.write('</stream:stream>');
  }

  private write(data: string): void {
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) return;
    // Everything written in one turn of the event loop leaves as one write: on
    // TLS one record and one system call instead of one per stanza.
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    socket.write(data);
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  get writable(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  get paused(): boolean {
    return this.socket.isPaused();
  }

  end(): void {
    this.socket.end();
    // A peer that never closes its side doesn't keep the socket alive.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
