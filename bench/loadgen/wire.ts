// How the load generator's bytes reach a server: one TCP stream (STARTTLS or TLS
// from the first byte), or RFC 7395 XMPP over WebSocket, where TLS is the wss
// layer and every top-level element is a WebSocket message of its own.
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import WebSocket, { type ClientOptions } from 'ws';
import { NS } from '../../src/xmpp/ns.ts';

/** How a session reaches the server: the c2s port with STARTTLS, the XEP-0368 port, or WebSocket on the HTTPS port. */
export type Transport = 'starttls' | 'direct' | 'websocket';

export const WEBSOCKET_PATH = '/xmpp-websocket';
const HOST = '127.0.0.1';

export interface WireEvents {
  /** Incoming text (latin1: only ASCII markup is matched, and latin1 never splits a character). */
  data: (text: string) => void;
  /** The connection failed or the server closed it. */
  fail: (error: Error) => void;
}

/** TLS session resumption on TCP wires: offer `session`, and hand over each ticket the server sends. */
export interface TlsResumption {
  session: Buffer | undefined;
  onSession(session: Buffer): void;
}

export interface Wire {
  /** One top-level element per send(), each with its own namespace; otherwise send() takes any run of stanzas. */
  readonly framed: boolean;
  /** What a stanza's start tag must declare on this wire ('' where the stream header declares it). */
  readonly stanzaXmlns: string;
  readonly destroyed: boolean;
  /** The TLS socket once the handshake is done (on a STARTTLS wire, only after startTls()). */
  secured(): Promise<TLSSocket>;
  startTls(servername: string): void;
  openStream(domain: string): void;
  send(data: string): void;
  endStream(): void;
  /** endStream(), then closes; a server that does not answer must not keep the bench alive. */
  close(): void;
  destroy(): void;
}

export function openWire(transport: Transport, port: number, domain: string, events: WireEvents, resumption?: TlsResumption): Wire {
  return transport === 'websocket' ? new WebSocketWire(port, domain, events) : new TcpWire(transport, port, domain, events, resumption);
}

/** Self-signed certificates are accepted (rejectUnauthorized: false) on both wires: bench only. */
class TcpWire implements Wire {
  readonly framed = false;
  readonly stanzaXmlns = '';
  private socket: Socket;
  private handshake: Promise<TLSSocket> | undefined;

  constructor(
    mode: 'starttls' | 'direct',
    port: number,
    domain: string,
    private readonly events: WireEvents,
    private readonly resumption?: TlsResumption,
  ) {
    this.socket =
      mode === 'direct'
        ? this.secure(tlsConnect({ host: HOST, port, servername: domain, ALPNProtocols: ['xmpp-client'], rejectUnauthorized: false, session: resumption?.session }))
        : tcpConnect({ host: HOST, port });
    this.attach(this.socket);
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  secured(): Promise<TLSSocket> {
    return this.handshake ?? Promise.reject(new Error('TLS was not started'));
  }

  startTls(servername: string): void {
    const raw = this.socket;
    raw.removeListener('data', this.events.data);
    raw.removeAllListeners('close');
    raw.removeAllListeners('error');
    this.socket = this.secure(tlsConnect({ socket: raw, servername, rejectUnauthorized: false, session: this.resumption?.session }));
    this.attach(this.socket);
  }

  openStream(domain: string): void {
    this.socket.write(`<?xml version='1.0'?><stream:stream to='${domain}' xmlns='${NS.client}' xmlns:stream='${NS.stream}' version='1.0'>`);
  }

  send(data: string): void {
    this.socket.write(data);
  }

  endStream(): void {
    this.socket.write('</stream:stream>');
  }

  close(): void {
    this.socket.end('</stream:stream>');
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private secure(socket: TLSSocket): TLSSocket {
    const resumption = this.resumption;
    if (resumption) socket.on('session', (session: Buffer) => resumption.onSession(session));
    this.handshake = new Promise((resolve) => socket.once('secureConnect', () => resolve(socket)));
    return socket;
  }

  private attach(socket: Socket): void {
    socket.setNoDelay(true);
    socket.setEncoding('latin1');
    socket.on('data', this.events.data);
    socket.on('error', (e) => this.events.fail(e));
    socket.on('close', () => this.events.fail(new Error('connection closed by server')));
  }
}

class WebSocketWire implements Wire {
  readonly framed = true;
  readonly stanzaXmlns = ` xmlns='${NS.client}'`;
  private readonly ws: WebSocket;
  private readonly upgraded: Promise<TLSSocket>;
  private socket: TLSSocket | undefined;
  private corked = false;

  constructor(port: number, domain: string, events: WireEvents) {
    // ws passes servername (SNI) on to tls.connect, though its types leave it out.
    const options: ClientOptions & Pick<ConnectionOptions, 'servername'> = {
      servername: domain,
      rejectUnauthorized: false,
      // Neither server compresses XMPP frames; the load generator need not check UTF-8 it only counts.
      perMessageDeflate: false,
      skipUTF8Validation: true,
    };
    this.ws = new WebSocket(`wss://${HOST}:${port}${WEBSOCKET_PATH}`, 'xmpp', options);
    this.ws.on('upgrade', (res) => (this.socket = res.socket as TLSSocket));
    this.upgraded = new Promise((resolve) => this.ws.once('open', () => resolve(this.socket!)));
    this.ws.on('message', (data: Buffer) => events.data(data.toString('latin1')));
    this.ws.on('error', (e) => events.fail(e));
    this.ws.on('close', (code, reason) => events.fail(new Error(`connection closed by server (WebSocket ${code}${reason.length > 0 ? ` ${reason}` : ''})`)));
  }

  get destroyed(): boolean {
    return this.ws.readyState === WebSocket.CLOSED;
  }

  secured(): Promise<TLSSocket> {
    return this.upgraded;
  }

  startTls(): void {
    throw new Error('STARTTLS is not available on a WebSocket (TLS is the wss layer)');
  }

  openStream(domain: string): void {
    this.send(`<open xmlns='${NS.framing}' to='${domain}' version='1.0'/>`);
  }

  /**
   * One WebSocket message. Messages sent in one tick leave in one write (one
   * TLS record), as a run of stanzas does on TCP: the socket is corked until
   * the next tick, and ws's own cork/uncork per frame nests inside.
   */
  send(data: string): void {
    if (!this.corked && this.socket) {
      this.corked = true;
      const socket = this.socket;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    this.ws.send(data);
  }

  endStream(): void {
    this.send(`<close xmlns='${NS.framing}'/>`);
  }

  close(): void {
    if (this.ws.readyState !== WebSocket.OPEN) {
      this.ws.terminate();
      return;
    }
    this.endStream();
    this.ws.close(1000);
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }

  destroy(): void {
    this.ws.terminate();
  }
}
