// The SOCKS5 side of the proxy (XEP-0065): it accepts a connection only for a
// bytestream that an allowed offer named (the offer passed the decision point
// first), holds the two parties until the initiator's activation (decided at
// the decision point too), then relays bytes between them with backpressure,
// a byte limit per stream, rate limits per stream and in total, and an idle
// timeout. Nothing here decides policy; it enforces the protocol and limits.
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { METHOD_REPLY, REPLY, parseGreeting, parseRequest, reply } from './socks5.ts';

export interface RelayLimits {
  /** Bytes one stream may carry, both directions together. */
  maxStreamBytes: number;
  /** Bytes per second, per stream and over all streams. */
  streamRate: number;
  totalRate: number;
  /** An active stream that moves no byte for this long is closed. */
  idleMs: number;
  /** A connection not activated within this long is closed (the handshake included). */
  pendingMs: number;
  /** Connections not yet activated (handshaking or waiting), and active streams. */
  maxPending: number;
  maxActive: number;
  /** How long an offer stays valid, and how many are remembered. */
  offerMs: number;
  maxOffers: number;
}

export type Activation = 'activated' | 'item-not-found' | 'forbidden' | 'not-allowed' | 'resource-constraint';

/** XEP-0065 §6: DST.ADDR = hex SHA-1 of (SID + initiator's full JID + target's full JID). */
export function streamHash(sid: string, initiator: string, target: string): string {
  return createHash('sha1').update(sid + initiator + target, 'utf8').digest('hex');
}

interface Offer {
  sid: string;
  expires: number;
}

interface Waiting {
  socket: Socket;
  /** Bytes that came after the request, before activation: kept (XEP-0065 §8.1), sent on. */
  early: Buffer;
  /** Activation takes the socket over: its close is then the stream's business. */
  claim(): void;
}

/** Handshake data a client may send beyond a complete greeting and request. */
const MAX_HANDSHAKE_BYTES = 1024;

/** A token bucket of one second's worth; take() says how long to wait before reading more. */
export class RateLimit {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = rate;
    this.last = now();
  }

  /** Spends n bytes; returns the milliseconds to pause so the rate holds (0: go on). */
  take(n: number): number {
    const t = this.now();
    this.tokens = Math.min(this.rate, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.rate);
  }
}

export class ProxyRelay {
  private readonly server: Server;
  private readonly offers = new Map<string, Offer>();
  /** Offers by sid, so an activation can tell an unknown sid from a wrong activator. */
  private readonly sids = new Map<string, Set<string>>();
  private readonly waiting = new Map<string, Waiting[]>();
  /** Every open connection, handshaking, waiting or relaying, so close() ends them all. */
  private readonly sockets = new Set<Socket>();
  private pending = 0;
  private active = 0;
  private readonly total: RateLimit;

  constructor(
    private readonly limits: RelayLimits,
    private readonly log: Logger,
  ) {
    this.total = new RateLimit(limits.totalRate);
    this.server = createServer({ noDelay: true }, (s) => this.accept(s));
  }

  listen(address: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, address, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** An offer naming this proxy passed the decision point: its two parties may connect. */
  expect(sid: string, initiator: string, target: string): void {
    if (this.offers.size >= this.limits.maxOffers) this.purge();
    if (this.offers.size >= this.limits.maxOffers) this.forget(this.offers.keys().next().value!);
    const hash = streamHash(sid, initiator, target);
    this.forget(hash);
    this.offers.set(hash, { sid, expires: Date.now() + this.limits.offerMs });
    let set = this.sids.get(sid);
    if (!set) this.sids.set(sid, (set = new Set()));
    set.add(hash);
  }

  /** Drops expired offers. */
  purge(): void {
    const now = Date.now();
    for (const [hash, o] of this.offers) if (o.expires <= now) this.forget(hash);
  }

  /** The initiator's activation (XEP-0065 §6.3.5), already allowed by the decision point. */
  activate(sid: string, initiator: string, target: string): Activation {
    if (!this.sids.has(sid)) return 'item-not-found';
    const hash = streamHash(sid, initiator, target);
    const offer = this.offers.get(hash);
    // Someone other than the initiator (or for another target): the hash is not one the offer made.
    if (!offer || offer.sid !== sid) return 'forbidden';
    const list = this.waiting.get(hash);
    if (!list || list.length < 2) return 'not-allowed';
    if (this.active >= this.limits.maxActive) return 'resource-constraint';
    this.waiting.delete(hash);
    this.forget(hash);
    this.pending -= 2;
    this.relay(list[0]!, list[1]!);
    return 'activated';
  }

  private forget(hash: string): void {
    const o = this.offers.get(hash);
    if (!o) return;
    this.offers.delete(hash);
    const set = this.sids.get(o.sid);
    set?.delete(hash);
    if (set?.size === 0) this.sids.delete(o.sid);
  }

  private accept(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    if (this.pending >= this.limits.maxPending) {
      this.log.warn({ limit: this.limits.maxPending }, 'proxy65: too many connections waiting; refused one');
      socket.destroy();
      return;
    }
    this.pending++;
    this.sockets.add(socket);
    let state: 'greeting' | 'request' | 'waiting' | 'done' = 'greeting';
    let buf: Buffer = Buffer.alloc(0);
    let hash = '';
    const timer = setTimeout(() => socket.destroy(), this.limits.pendingMs);
    timer.unref();
    const refuse = (answer: Buffer | undefined) => {
      state = 'done';
      if (answer) socket.end(answer);
      else socket.destroy();
    };
    socket.on('close', () => {
      this.sockets.delete(socket);
      clearTimeout(timer);
      if (state === 'done' && hash === '') this.pending--;
      else if (state !== 'done') {
        this.pending--;
        const list = this.waiting.get(hash);
        const i = list?.findIndex((w) => w.socket === socket) ?? -1;
        if (list && i >= 0) list.splice(i, 1);
        if (list?.length === 0) this.waiting.delete(hash);
      }
    });
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (state === 'greeting') {
        const g = parseGreeting(buf);
        if (!g.done) return;
        if ('error' in g) return refuse(g.reply);
        socket.write(METHOD_REPLY);
        state = 'request';
        buf = g.rest;
      }
      if (state !== 'request') return;
      const r = parseRequest(buf);
      if (!r.done) {
        if (buf.length > MAX_HANDSHAKE_BYTES) refuse(undefined);
        return;
      }
      if ('error' in r) return refuse(r.reply);
      const list = this.waiting.get(r.value) ?? [];
      // Only a bytestream an allowed offer named, and at most its two parties.
      if (!this.offers.has(r.value) || list.length >= 2) return refuse(reply(REPLY.notAllowed, r.value));
      hash = r.value;
      state = 'waiting';
      socket.off('data', onData);
      socket.pause();
      const claim = () => {
        state = 'done';
        clearTimeout(timer);
      };
      list.push({ socket, early: Buffer.from(r.rest), claim });
      this.waiting.set(hash, list);
      socket.write(reply(REPLY.succeeded, hash));
    };
    socket.on('data', onData);
  }

  private relay(a: Waiting, b: Waiting): void {
    this.active++;
    a.claim();
    b.claim();
    const stream = new RateLimit(this.limits.streamRate);
    let bytes = 0;
    let open = 2;
    const closeBoth = () => {
      a.socket.destroy();
      b.socket.destroy();
    };
    const idle = setTimeout(closeBoth, this.limits.idleMs);
    idle.unref();
    const pipe = (src: Socket, dst: Socket) => {
      const forward = (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > this.limits.maxStreamBytes) {
          this.log.info({ limit: this.limits.maxStreamBytes }, 'proxy65: stream closed at its byte limit');
          return closeBoth();
        }
        idle.refresh();
        const flushed = dst.write(chunk);
        const wait = Math.max(stream.take(chunk.length), this.total.take(chunk.length));
        if (flushed && wait === 0) return;
        // Backpressure: read nothing more until the other side took this and the rates allow.
        src.pause();
        let holds = (flushed ? 0 : 1) + (wait > 0 ? 1 : 0);
        const release = () => {
          idle.refresh();
          if (--holds === 0 && !src.destroyed) src.resume();
        };
        if (!flushed) dst.once('drain', release);
        if (wait > 0) setTimeout(release, wait).unref();
      };
      src.on('data', forward);
      src.on('end', () => dst.end());
      src.on('close', (hadError) => {
        if (hadError) dst.destroy();
        else dst.end();
        if (--open === 0) {
          clearTimeout(idle);
          this.active--;
        }
      });
    };
    pipe(a.socket, b.socket);
    pipe(b.socket, a.socket);
    if (a.early.length > 0) b.socket.write(a.early);
    if (b.early.length > 0) a.socket.write(b.early);
    bytes += a.early.length + b.early.length;
    a.socket.resume();
    b.socket.resume();
  }
}
