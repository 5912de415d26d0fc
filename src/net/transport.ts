// What a client stream runs over: a TCP socket (RFC 6120 framing, optional
// STARTTLS) or a WebSocket (RFC 7395 framing). The connection logic in c2s.ts
// is the same for both; a transport only frames, parses and moves bytes.
import type { TLSSocket } from 'node:tls';
import type { Element } from '../xmpp/element.ts';
import type { StreamErrorCondition } from '../xmpp/errors.ts';

/** What a transport reports to its connection. */
export interface TransportSink {
  /** Bytes arrived (before parsing): for rate limits and idle timers. */
  received(bytes: number): void;
  streamStart(attrs: Record<string, string>): void;
  element(el: Element): void;
  streamEnd(): void;
  /** The input broke the framing or XML rules; the stream ends with this error. */
  fault(condition: StreamErrorCondition, text: string): void;
  /** The outbound buffer drained. */
  drain(): void;
  /** The underlying connection is gone. */
  closed(): void;
}

export interface StreamTransport {
  readonly kind: 'tcp' | 'websocket';
  readonly remoteAddress: string;
  /** The TLS socket under the stream, once TLS is in effect (channel binding, protocol version). */
  readonly tlsSocket: TLSSocket | undefined;
  /** Only a plain TCP stream can be upgraded with STARTTLS. */
  readonly canStartTls: boolean;
  attach(sink: TransportSink): void;
  /** A stream restart (after STARTTLS or SASL): input from the old stream is no longer parsed. */
  restart(): void;
  /** Upgrades to TLS in place (TCP only). */
  startTls(): void;
  /** The server's stream header for this framing. */
  sendOpen(attrs: Record<string, string>): void;
  send(el: Element): void;
  /** The framing's end of stream. */
  sendClose(): void;
  /** Bytes written but not yet flushed to the peer. */
  readonly bufferedBytes: number;
  readonly writable: boolean;
  pause(): void;
  resume(): void;
  readonly paused: boolean;
  /** Ends the connection gracefully. */
  end(): void;
  destroy(): void;
}
