// One client-to-server stream: negotiation (RFC 6120 §4–7) on TCP with
// STARTTLS, on direct TLS (XEP-0368) or on a WebSocket (RFC 7395), then stanzas
// handed to the router in the order they arrived. The transport (transport.ts)
// frames and moves bytes; everything else is the same for all three.
//
// With stream management (XEP-0198) a bound session outlives its transport: when
// the transport dies the session hibernates, still registered and queueing what
// is sent to it, until the client resumes it on a new stream (the new stream's
// transport is handed over to this object) or the resumption timeout ends it.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { Element, ownString, x } from '../xmpp/element.ts';
import { NS } from '../xmpp/ns.ts';
import { StanzaError, errorReply, streamErrorElement, type StreamErrorCondition } from '../xmpp/errors.ts';
import { JID, JidError, jid, tryParseJID } from '../xmpp/jid.ts';
import type { XmlLimits } from './xml-stream.ts';
import type { StreamTransport, TransportSink } from './transport.ts';
import type { ClientSession } from '../core/session.ts';
import type { SessionSecurity } from '../policy/types.ts';
import { StreamFault } from '../core/router.ts';
import type { Authenticator, SaslExchange, SaslStepResult } from '../core/authenticator.ts';
import type { ChannelBindingType } from '../auth/scram.ts';
import { NS_BIND2, NS_FAST, NS_SASL2, isRefusal, parseAuthenticate, parseSaslData, type Bind2Request, type Sasl2Request, type UserAgent } from '../auth/sasl2.ts';
import { isHtMechanism } from '../auth/ht.ts';
import type { IssuedToken } from '../auth/fast-store.ts';
import { TokenBucket, type AccountBuckets, type AccountLimits } from './limits.ts';
import { StreamManagementState, parseH } from './stream-management.ts';

export interface C2SHost {
  readonly domain: string;
  readonly limits: XmlLimits;
  readonly headerTimeoutMs: number;
  readonly negotiationTimeoutMs: number;
  readonly traffic: TrafficLimits;
  /** Rates shared by all streams of one account. */
  readonly accountLimits: AccountLimits;
  readonly idleTimeoutMs: number;
  readonly pingTimeoutMs: number;
  readonly auth: Authenticator;
  readonly log: Logger;
  /** Stream management, when the smacks module is loaded. */
  readonly smacks: SmacksHost | undefined;
  /** Client state indication, when the csi module is loaded. */
  readonly csi: CsiHost | undefined;
  /** Message carbons, when the carbons module is loaded (Bind 2 can enable them inline). */
  readonly carbons: CarbonsHost | undefined;
  /** What loaded modules advertise next to <bind/>. */
  streamFeatures(): readonly { name: string; ns: string }[];
  /** After SASL succeeded: account state and the login policy; true or the SASL failure to send. */
  /** likeWrongPassword: answered as a failed password check is (late, counted), e.g. a locked account's guessing address. */
  authorize(username: string, conn: C2SConnection): Promise<true | { condition: string; text: string; likeWrongPassword?: boolean }>;
  /** Records a failed password check; returns the ms to wait before answering it. */
  loginFailed(username: string | undefined, accountExists: boolean, conn: C2SConnection): Promise<number>;
  /** Policy + registration of a freshly bound session; throws StanzaError to refuse. */
  bind(session: C2SConnection): Promise<void>;
  unbind(session: C2SConnection): void;
  /** The connection has a transport (a new stream, or a session resumed onto one): a shutdown must reach it. */
  attached(conn: C2SConnection): void;
  /** Its transport closed, or went to the session it resumed. */
  detached(conn: C2SConnection): void;
  route(session: C2SConnection, stanza: Element): Promise<void>;
}

/** What the smacks module offers the stream layer. */
export interface SmacksHost {
  readonly resumeTimeoutMs: number;
  /**
   * A client that lets this many stanzas go unacknowledged has its session ended
   * (stream error resource-constraint); so does a hibernating session whose queue
   * grows past it. Its unacknowledged stanzas go to unacknowledged().
   */
  readonly maxUnacked: number;
  /** Makes the session resumable; returns its unguessable token. */
  register(session: C2SConnection): string;
  /** The hibernating or live session with this token, if it belongs to the account. */
  find(token: string, username: string): C2SConnection | undefined;
  forget(token: string): void;
  /** The session ended for good with stanzas the client never acknowledged. */
  unacknowledged(session: C2SConnection, stanzas: Element[]): void;
  /** Resolves once what unacknowledged() was given has been routed again (the server waits for it on stop). */
  settled(): Promise<void>;
}

/** Holds back stanzas an inactive client doesn't need at once (XEP-0352). */
export interface CsiFilter {
  /** The stanzas to write now, in order (possibly none, possibly earlier held ones first). */
  offer(stanza: Element): Element[];
  /** Client went active: everything held, in order. */
  activate(): Element[];
  deactivate(): void;
}

export interface CsiHost {
  filter(): CsiFilter;
}

/** What the carbons module offers the stream layer (XEP-0386 inline enable). */
export interface CarbonsHost {
  enable(session: ClientSession): void;
}

export interface TrafficLimits {
  bytesPerSecond: number;
  bytesBurst: number;
  stanzasPerSecond: number;
  stanzasBurst: number;
  unauthenticatedBytesPerSecond: number;
  /** A stream throttled without a break for this long is closed. */
  toleranceMs: number;
}

type State = 'connected' | 'authenticating' | 'authenticated' | 'bound' | 'hibernating' | 'closed';

/** A stream hands the event loop to the others after this many stanzas in a row. */
const STANZAS_PER_TURN = 16;
/** Past this many unprocessed stanzas the transport stops being read (backpressure). */
const MAX_PENDING_STANZAS = 64;
/** A reader that lets this much pile up in its outbound buffer is cut off. */
const MAX_OUTBOUND_BYTES = 8 * 1024 * 1024;
/** A sender held back again within this long of the last hold-back's end is still being throttled. */
const CALM_MS = 1000;
/** Failed password checks per stream. */
const MAX_SASL_FAILURES = 3;
/** Other failed exchanges (unsupported binding, malformed, aborted) per stream. */
const MAX_SASL_EXCHANGES = 10;
const STANZA_NAMES = new Set(['message', 'presence', 'iq']);

export class C2SConnection implements ClientSession, TransportSink {
  readonly id = randomBytes(9).toString('base64url');
  /** A number, not a Date object (about 100 bytes more per session); the Date is rarely asked for. */
  private readonly connectedAtMs = Date.now();
  available = false;
  priority = 0;
  presence: Element | undefined;
  /** The client's SASL2 <user-agent/> (XEP-0388): id, software, device; undefined after SASL1. */
  userAgent: UserAgent | undefined;

  private transport: StreamTransport;
  private readonly host: C2SHost;
  private state: State = 'connected';
  private headerSent = false;
  private secure: boolean;
  private boundJid: JID | undefined;
  private username: string | undefined;
  private mechanism: string | undefined;
  private channelBinding: ChannelBindingType | undefined;
  private sasl: SaslExchange | undefined;
  /** Which SASL profile the current exchange speaks: RFC 6120 (1) or XEP-0388 (2). */
  private saslProfile: 1 | 2 = 1;
  private sasl2Request: Sasl2Request | undefined;
  private saslFailures = 0;
  private saslAttempts = 0;
  private finished = false;
  /**
   * Incremented at every stream restart (STARTTLS, SASL success). Elements parsed
   * from an earlier stream but not yet handled are dropped: nothing sent before
   * TLS took effect or before the restart may act on the new stream (RFC 6120
   * §5.4.3.3, §6.4.6; the STARTTLS command-injection class of bugs).
   */
  private generation = 0;
  private pending = 0;
  private handledInTurn = 0;
  private chain: Promise<void> = Promise.resolve();
  private headerTimer: NodeJS.Timeout | undefined;
  private negotiationTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private hibernationTimer: NodeJS.Timeout | undefined;
  private bytes: TokenBucket;
  private readonly stanzas: TokenBucket;
  /** The account's shared buckets, once it is known (after authentication). */
  private account: AccountBuckets | undefined;
  /** When the current unbroken stretch of throttling began, and when its last hold-back ends. */
  private throttledSince = 0;
  private throttledUntil = 0;
  private resumeTimer: NodeJS.Timeout | undefined;
  private sm: StreamManagementState | undefined;
  private ackRequested = false;
  private csi: CsiFilter | undefined;
  /** The session this stream resumed: elements read after <resume/> but queued here belong to it. */
  private successor: C2SConnection | undefined;

  constructor(transport: StreamTransport, host: C2SHost) {
    this.transport = transport;
    this.host = host;
    this.secure = transport.tlsSocket !== undefined || !transport.canStartTls;
    const t = host.traffic;
    this.bytes = new TokenBucket(t.unauthenticatedBytesPerSecond, t.unauthenticatedBytesPerSecond);
    this.stanzas = new TokenBucket(t.stanzasPerSecond, t.stanzasBurst);
    this.idleTimer = setTimeout(() => this.onIdle(), host.idleTimeoutMs);
    this.negotiationTimer = setTimeout(
      () => this.close('connection-timeout', 'Stream negotiation took too long.'),
      host.negotiationTimeoutMs,
    );
    host.attached(this);
    transport.attach(this);
    this.newStream();
  }

  get connectedAt(): Date {
    return new Date(this.connectedAtMs);
  }

  get ip(): string {
    return this.transport.remoteAddress;
  }

  /**
   * Made for each message rather than kept: a session logs a few times in its
   * life, and a kept child logger costs an idle session about 1 KiB.
   */
  private get log(): Logger {
    const t = this.transport;
    const bindings: Record<string, string> = { conn: this.id, ip: t.remoteAddress, transport: t.kind };
    if (this.boundJid) bindings.session = this.boundJid.toString();
    return this.host.log.child(bindings);
  }

  get jid(): JID {
    if (!this.boundJid) throw new Error('session is not bound');
    return this.boundJid;
  }

  get isBound(): boolean {
    return this.state === 'bound' || this.state === 'hibernating';
  }

  get security(): SessionSecurity {
    return {
      tls: this.secure,
      tlsVersion: this.transport.tlsSocket?.getProtocol() ?? undefined,
      mechanism: this.mechanism,
      channelBinding: this.channelBinding,
    };
  }

  /** Stanzas to the client pass client state indication, then stream management. */
  send(stanza: Element): void {
    if (this.state === 'closed') return;
    if (this.csi && STANZA_NAMES.has(stanza.name)) {
      for (const el of this.csi.offer(stanza)) this.deliver(el);
      return;
    }
    this.deliver(stanza);
  }

  private deliver(stanza: Element): void {
    if (this.sm && STANZA_NAMES.has(stanza.name)) {
      this.sm.countSent(stanza);
      if (this.state === 'hibernating') {
        // Nobody drains this queue until the client is back: it is bounded like a live one.
        if (this.sm.unacked.length > this.host.smacks!.maxUnacked) {
          this.log.info({ unacked: this.sm.unacked.length }, 'queue of a hibernating session full; session ended');
          this.finish();
        }
        return;
      }
      this.write(stanza);
      this.requestAck();
      return;
    }
    this.write(stanza);
  }

  close(condition?: StreamErrorCondition, text?: string): void {
    if (this.state === 'closed') return;
    if (this.state !== 'hibernating') {
      if (condition) {
        this.log.info({ condition, reason: text }, 'closing stream with error');
        if (!this.headerSent) this.sendHeader(undefined);
        this.write(streamErrorElement(condition, text));
      }
      this.transport.sendClose();
      this.transport.end();
    }
    this.finish();
  }

  // TransportSink: what the transport reports.

  received(bytes: number): void {
    this.idleTimer?.refresh();
    if (this.pingTimer) {
      clearTimeout(this.pingTimer);
      this.pingTimer = undefined;
    }
    this.throttle(Math.max(this.bytes.take(bytes), this.account?.bytes.take(bytes) ?? 0));
  }

  streamStart(attrs: Record<string, string>): void {
    clearTimeout(this.headerTimer);
    this.headerTimer = undefined;
    // RFC 6120 §4.7.2: answer with the initiator's 'from' as 'to', if it is a valid address.
    this.sendHeader(attrs.from ? tryParseJID(attrs.from)?.toString() : undefined);
    if (attrs.xmlns !== NS.client) return this.close('invalid-namespace', `The content namespace must be ${NS.client}.`);
    const to = attrs.to?.toLowerCase().replace(/\.$/, '');
    if (to !== undefined && to !== this.host.domain) return this.close('host-unknown', `This server does not serve ${attrs.to}.`);
    if (!attrs.version || !/^1\.\d+$/.test(attrs.version)) {
      return this.close('unsupported-version', 'This server speaks XMPP version 1.0 streams only.');
    }
    this.write(this.features());
  }

  /** Stanzas are processed one at a time, in order; reading pauses while many wait. */
  element(el: Element): void {
    const generation = this.generation;
    const wait = Math.max(this.stanzas.take(1), this.account?.stanzas.take(1) ?? 0);
    if (wait > 0) this.throttle(wait);
    this.pending++;
    if (this.pending > MAX_PENDING_STANZAS) this.transport.pause();
    this.chain = this.chain
      .then(async () => {
        // Handling needs no real I/O (SQLite answers synchronously), so a long run of
        // stanzas from one stream would otherwise hold the event loop from everyone else.
        if (++this.handledInTurn >= STANZAS_PER_TURN) {
          this.handledInTurn = 0;
          await nextTurn();
        }
        if (generation !== this.generation) return;
        // A client may send stanzas right after <resume/>, before <resumed/> arrives.
        if (this.successor) return this.successor.element(el);
        return this.state === 'closed' ? undefined : this.handle(el);
      })
      .catch((err: unknown) => {
        if (err instanceof StreamFault) return this.close(err.condition, err.message);
        this.log.error({ err }, 'unexpected error handling an element');
        this.close('internal-server-error', 'The server failed to process your stream.');
      })
      .finally(() => {
        this.pending--;
        this.maybeResume();
      });
  }

  streamEnd(): void {
    const generation = this.generation;
    // A client that closes its stream on purpose is not coming back: no hibernation.
    this.chain = this.chain.then(() => {
      if (generation !== this.generation) return;
      if (this.successor) this.successor.streamEnd();
      else this.close();
    });
  }

  fault(condition: StreamErrorCondition, text: string): void {
    this.close(condition, text);
  }

  drain(): void {
    this.maybeResume();
  }

  closed(): void {
    this.host.detached(this);
    // A transport may report its end more than once (an error, then the close).
    if (this.state === 'hibernating') return;
    if (this.resumable) return this.hibernate(this.host.smacks!);
    this.finish();
  }

  private get resumable(): boolean {
    return this.state === 'bound' && this.sm?.resumeToken !== undefined && this.host.smacks !== undefined;
  }

  /** An authenticated stream's rates: its own (larger than before authentication) and its account's, shared with its other streams. */
  private authenticatedLimits(username: string): void {
    this.bytes = new TokenBucket(this.host.traffic.bytesPerSecond, this.host.traffic.bytesBurst);
    this.account = this.host.accountLimits.of(username);
  }

  /**
   * Backpressure for fast senders: stop reading for as long as the rate limit
   * says. A stream that stays throttled past the tolerance is abusive and ends.
   */
  private throttle(waitMs: number): void {
    if (waitMs <= 0) return;
    const now = Date.now();
    // A hold-back that starts soon after the previous one ended continues the stretch:
    // a sender that only ever pauses for as long as it is made to has not calmed down
    // (checking for calm per chunk let a stanza flooder reset the stretch at each read).
    if (now - this.throttledUntil > CALM_MS) this.throttledSince = now;
    else if (now - this.throttledSince > this.host.traffic.toleranceMs) {
      return this.close('policy-violation', 'You are sending too fast for too long.');
    }
    this.throttledUntil = Math.max(this.throttledUntil, now + waitMs);
    this.transport.pause();
    clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      this.maybeResume();
    }, waitMs);
  }

  /** Silence: a bound client is pinged (XEP-0199); any data answers it. Unbound streams just end. */
  private onIdle(): void {
    if (this.state !== 'bound') return this.close('connection-timeout', 'The connection was idle too long.');
    // Through deliver(): with stream management the ping counts like any stanza.
    this.deliver(x('iq', { type: 'get', id: `idle-${randomBytes(4).toString('hex')}`, from: this.host.domain, to: this.jid.toString() }, x('ping', { xmlns: NS.ping })));
    this.pingTimer = setTimeout(() => this.pingUnanswered(), this.host.pingTimeoutMs);
  }

  /**
   * The connection is presumed dead. A resumable session is not ended: the
   * transport is, and closed() then hibernates the session (XEP-0198 §5), so a
   * phone that lost its network silently can still resume.
   */
  private pingUnanswered(): void {
    const text = 'No answer to the server ping.';
    if (!this.resumable) return this.close('connection-timeout', text);
    this.log.info('no answer to the server ping; connection dropped, session kept for resumption');
    this.write(streamErrorElement('connection-timeout', text));
    this.transport.sendClose();
    this.transport.end();
  }

  private newStream(): void {
    this.generation++;
    this.headerSent = false;
    this.transport.restart();
    clearTimeout(this.headerTimer);
    this.headerTimer = setTimeout(() => this.close('connection-timeout', 'No stream header received in time.'), this.host.headerTimeoutMs);
  }

  private write(el: Element): void {
    const t = this.transport;
    if (!t.writable) return;
    t.send(el);
    if (t.bufferedBytes > MAX_OUTBOUND_BYTES) {
      this.log.warn({ buffered: t.bufferedBytes }, 'client reads too slowly; disconnecting');
      t.destroy();
    }
  }

  private sendHeader(clientFrom: string | undefined): void {
    const attrs: Record<string, string> = {
      id: randomBytes(12).toString('base64url'),
      from: this.host.domain,
      version: '1.0',
      'xml:lang': 'en',
    };
    if (clientFrom) attrs.to = clientFrom;
    this.transport.sendOpen(attrs);
    this.headerSent = true;
  }

  private features(): Element {
    const features = x('stream:features');
    if (!this.secure) {
      features.c('starttls', { xmlns: NS.tls }).c('required');
    } else if (this.state === 'connected' || this.state === 'authenticating') {
      const mechs = features.c('mechanisms', { xmlns: NS.sasl });
      const tlsSocket = this.transport.tlsSocket;
      for (const m of this.host.auth.mechanisms(tlsSocket)) mechs.c('mechanism').t(m);
      if (this.host.auth.sasl2) features.append(this.sasl2Feature());
      const bindings = this.host.auth.channelBindings(tlsSocket);
      if (bindings.length) {
        const cb = features.c('sasl-channel-binding', { xmlns: NS.channelBinding });
        for (const type of bindings) cb.c('channel-binding', { type });
      }
    } else if (this.state === 'authenticated') {
      features.c('bind', { xmlns: NS.bind });
      features.c('session', { xmlns: NS.session }).c('optional');
      for (const f of this.host.streamFeatures()) features.c(f.name, { xmlns: f.ns });
    }
    return features;
  }

  /** XEP-0388 <authentication/>: the same mechanisms, and what can be done inline (Bind 2, FAST). */
  private sasl2Feature(): Element {
    const tls = this.transport.tlsSocket;
    const feature = x('authentication', { xmlns: NS_SASL2 });
    for (const m of this.host.auth.mechanisms(tls)) feature.c('mechanism').t(m);
    const inline = feature.c('inline');
    const bindInline = inline.c('bind', { xmlns: NS_BIND2 }).c('inline');
    if (this.host.smacks) bindInline.c('feature', { var: NS.sm });
    if (this.host.csi) bindInline.c('feature', { var: NS.csi });
    if (this.host.carbons) bindInline.c('feature', { var: NS.carbons });
    // A session can be resumed inside <authenticate/> (XEP-0198 with SASL2).
    if (this.host.smacks) inline.c('sm', { xmlns: NS.sm });
    const fast = this.host.auth.fastMechanisms(tls);
    if (fast.length) {
      const el = inline.c('fast', { xmlns: NS_FAST });
      for (const m of fast) el.c('mechanism').t(m);
    }
    return feature;
  }

  private maybeResume(): void {
    const t = this.transport;
    if (!this.resumeTimer && this.pending <= MAX_PENDING_STANZAS / 2 && t.paused && t.bufferedBytes < MAX_OUTBOUND_BYTES / 2) {
      t.resume();
    }
  }

  private async handle(el: Element): Promise<void> {
    if (this.state === 'bound') return this.handleBound(el);
    if (!this.secure) return this.handleBeforeTls(el);
    if (this.state === 'connected' || this.state === 'authenticating') return this.handleSasl(el);
    if (this.state === 'authenticated') {
      if (el.name === 'resume' && el.ns === NS.sm) return this.handleResume(el);
      if (el.name === 'enable' && el.ns === NS.sm) {
        return this.write(smFailed('unexpected-request', 'Bind a resource before enabling stream management.'));
      }
      return this.handleBind(el);
    }
  }

  private async handleBound(el: Element): Promise<void> {
    if (el.ns === NS.sm && !STANZA_NAMES.has(el.name)) return this.handleSm(el);
    if (el.ns === NS.csi && (el.name === 'active' || el.name === 'inactive')) return this.handleCsi(el.name);
    await this.host.route(this, el);
    this.sm?.countHandled();
  }

  private handleBeforeTls(el: Element): void {
    if (el.name === 'starttls' && el.ns === NS.tls && this.transport.canStartTls) return this.startTls();
    if (el.ns === NS.sasl) {
      this.write(x('failure', { xmlns: NS.sasl }, x('encryption-required')));
      return this.close('policy-violation', 'STARTTLS is required before authentication.');
    }
    this.close('not-authorized', 'STARTTLS and authentication are required before sending stanzas.');
  }

  private startTls(): void {
    this.write(x('proceed', { xmlns: NS.tls }));
    this.transport.startTls();
    this.secure = true;
    this.newStream();
  }

  private async handleSasl(el: Element): Promise<void> {
    // XEP-0388 §2.4: during a SASL2 exchange nothing but its own elements may arrive.
    if (this.sasl && this.saslProfile === 2 && el.ns !== NS_SASL2) {
      return this.close('not-authorized', 'Only <response/> or <abort/> may be sent during SASL2 authentication.');
    }
    if (el.ns === NS_SASL2 && this.host.auth.sasl2) return this.handleSasl2(el);
    if (el.ns !== NS.sasl) {
      return this.close('not-authorized', 'Authenticate before sending stanzas.');
    }
    if (el.name === 'auth') {
      if (this.sasl) return this.saslFailure('malformed-request', 'An authentication exchange is already in progress.');
      this.saslProfile = 1;
      const mechanism = el.attrs.mechanism ?? '';
      const exchange = this.host.auth.start(mechanism, this.transport.tlsSocket);
      if (!exchange) return this.saslFailure('invalid-mechanism', `${mechanism || 'That mechanism'} is not offered here.`);
      this.sasl = exchange;
      this.state = 'authenticating';
      return this.saslStep(el.text);
    }
    if (el.name === 'response' && this.sasl) return this.saslStep(el.text);
    if (el.name === 'abort') return this.saslFailure('aborted', 'Authentication aborted.');
    return this.saslFailure('malformed-request', `Unexpected <${el.name}/> during authentication.`);
  }

  /** XEP-0388: <authenticate/> with inline requests, <response/>, <abort/>. No tasks are offered. */
  private async handleSasl2(el: Element): Promise<void> {
    // A SASL (RFC 6120) exchange in progress is answered, and ended, in its own namespace.
    if (this.sasl && this.saslProfile === 1) return this.saslFailure('malformed-request', 'Finish the SASL exchange in progress first.');
    if (el.name === 'authenticate') {
      if (this.sasl) return this.saslFailure('malformed-request', 'An authentication exchange is already in progress.');
      this.saslProfile = 2;
      const tls = this.transport.tlsSocket;
      const request = parseAuthenticate(el);
      if (isRefusal(request)) return this.saslFailure(request.condition, request.text);
      if (request.requestToken !== undefined && !(this.host.auth.fastMechanisms(tls) as string[]).includes(request.requestToken)) {
        return this.saslFailure('invalid-mechanism', `${request.requestToken} is not a FAST mechanism offered here.`);
      }
      const fast = request.fast ? { agentId: request.userAgent!.id!, count: request.fast.count } : undefined;
      const exchange = this.host.auth.start(request.mechanism, tls, fast);
      if (!exchange) {
        const ht = isHtMechanism(request.mechanism);
        const hint = ht && !fast ? ' (a token login needs the <fast/> element)' : !ht && fast ? ' with <fast/> (only token mechanisms are)' : '';
        return this.saslFailure('invalid-mechanism', `${request.mechanism} is not offered here${hint}.`);
      }
      this.sasl = exchange;
      this.sasl2Request = request;
      this.state = 'authenticating';
      return this.saslExchange(request.initialResponse ?? Buffer.alloc(0));
    }
    this.saslProfile = 2;
    if (el.name === 'response' && this.sasl) {
      const data = parseSaslData(el.text);
      if (!Buffer.isBuffer(data)) return this.saslFailure(data.condition, data.text);
      return this.saslExchange(data);
    }
    if (el.name === 'abort') return this.saslFailure('aborted', 'Authentication aborted.');
    if (el.name === 'next') return this.saslFailure('malformed-request', 'No task is pending: this server has no SASL2 tasks.');
    return this.saslFailure('malformed-request', `Unexpected <${el.name}/> during authentication.`);
  }

  private async saslStep(text: string): Promise<void> {
    const data = decodeBase64(text);
    if (!data) return this.saslFailure('incorrect-encoding', 'The data is not valid base64.');
    return this.saslExchange(data);
  }

  private async saslExchange(data: Buffer): Promise<void> {
    const ns = this.saslProfile === 2 ? NS_SASL2 : NS.sasl;
    const result = await this.sasl!.step(data);
    if (result.kind === 'challenge') {
      this.write(x('challenge', { xmlns: ns }).t(result.data.toString('base64')));
      return;
    }
    if (result.kind === 'failure') {
      if (result.credentialsChecked) {
        // Answer every failed password check late, the same way for every account (brute force).
        await delay(await this.host.loginFailed(result.username, result.accountExists ?? false, this));
      }
      return this.saslFailure(result.condition, result.text, result.credentialsChecked ?? false);
    }
    const outcome = await this.host.authorize(result.username, this);
    if (outcome !== true) {
      if (outcome.likeWrongPassword) await delay(await this.host.loginFailed(result.username, true, this));
      return this.saslFailure(outcome.condition, outcome.text, true);
    }
    this.sasl = undefined;
    this.username = result.username;
    this.mechanism = ownString(result.mechanism);
    this.channelBinding = result.channelBinding;
    this.state = 'authenticated';
    if (this.saslProfile === 2) return this.sasl2Success(result);
    this.authenticatedLimits(result.username);
    this.log.info({ user: result.username, mechanism: result.mechanism }, 'authenticated');
    this.write(x('success', { xmlns: NS.sasl }).t(result.data.length ? result.data.toString('base64') : ''));
    this.newStream();
  }

  /** A session is bound: what only negotiation needed goes. */
  private negotiated(): void {
    clearTimeout(this.negotiationTimer);
    this.negotiationTimer = undefined;
  }

  /**
   * XEP-0388 success: inline Bind 2, then FAST token handling, then <success/>
   * and the features of the now authenticated stream — no stream restart.
   */
  private async sasl2Success(result: Extract<SaslStepResult, { kind: 'success' }>): Promise<void> {
    const request = this.sasl2Request!;
    this.sasl2Request = undefined;
    this.userAgent = request.userAgent && ownUserAgent(request.userAgent);
    const username = result.username;
    const inline: Element[] = [];
    // XEP-0386 §2.2: a resumption comes first; if it works the bind request is ignored.
    if (request.resume) {
      const old = this.resumableSession(request.resume.previd, request.resume.h);
      if (!(old instanceof Element)) {
        const token = await this.fastToken(request, result);
        this.log.info({ user: username, mechanism: result.mechanism, tokenIssued: token !== undefined }, 'authenticated (SASL2), resuming');
        this.resumeInto(old, (resumed) => [this.sasl2SuccessElement(result, old.jid.toString(), [resumed], token), x('stream:features')]);
        return;
      }
      inline.push(old);
    }
    if (request.bind) {
      const outcome = await this.bind2(request.bind);
      if (!(outcome instanceof Element)) {
        // Authenticated but not allowed a session: the stream goes back to unauthenticated, as after any failure.
        this.username = this.mechanism = this.channelBinding = this.userAgent = undefined;
        return this.saslFailure(outcome.condition, outcome.text);
      }
      inline.push(outcome);
    }
    const token = await this.fastToken(request, result);
    this.authenticatedLimits(username);
    this.log.info({ user: username, mechanism: result.mechanism, bound: this.boundJid !== undefined, tokenIssued: token !== undefined }, 'authenticated (SASL2)');
    this.write(this.sasl2SuccessElement(result, this.boundJid?.toString() ?? `${username}@${this.host.domain}`, inline, token));
    this.write(this.features());
  }

  private sasl2SuccessElement(result: Extract<SaslStepResult, { kind: 'success' }>, authzid: string, inline: Element[], token: IssuedToken | undefined): Element {
    const success = x('success', { xmlns: NS_SASL2 });
    if (result.data.length) success.c('additional-data').t(result.data.toString('base64'));
    success.c('authorization-identifier').t(authzid);
    for (const el of inline) success.append(el);
    if (token) success.append(x('token', { xmlns: NS_FAST, expiry: token.expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z'), token: token.token }));
    return success;
  }

  /** XEP-0484: logout (invalidate), a requested token, or the replacement of one due for rotation. */
  private async fastToken(request: Sasl2Request, result: Extract<SaslStepResult, { kind: 'success' }>): Promise<IssuedToken | undefined> {
    const agentId = request.userAgent?.id;
    if (agentId === undefined || (!request.fast && request.requestToken === undefined)) return undefined;
    if (request.fast?.invalidate) await this.host.auth.revokeClientTokens(result.username, agentId);
    // A token due for rotation is replaced, unless the client is logging out.
    const rotate = result.fast?.rotate === true && !request.fast?.invalidate;
    const mechanism = request.requestToken ?? (rotate ? result.mechanism : undefined);
    return mechanism === undefined ? undefined : this.host.auth.issueToken(result.username, agentId, mechanism);
  }

  /** XEP-0386: a resource from the client's tag and installation, bound through the same checks as RFC 6120 binding. */
  private async bind2(request: Bind2Request): Promise<Element | { condition: string; text: string }> {
    const resource = this.host.auth.deviceResource(this.username!, this.userAgent?.id, request.tag);
    let full: JID;
    try {
      full = jid(this.username!, this.host.domain).withResource(resource);
    } catch (err) {
      if (!(err instanceof JidError)) throw err;
      return { condition: 'malformed-request', text: `That bind tag can't be used: ${err.reason}` };
    }
    this.boundJid = full;
    try {
      await this.host.bind(this);
    } catch (err) {
      this.boundJid = undefined;
      if (err instanceof StanzaError) return { condition: 'not-authorized', text: err.text ?? `Binding a resource was refused (${err.condition}).` };
      throw err;
    }
    this.state = 'bound';
    this.negotiated();
    const bound = x('bound', { xmlns: NS_BIND2 });
    if (request.sm) bound.append(this.enableSm(request.sm.resume));
    if (request.csi) this.handleCsi(request.csi);
    if (request.carbons) this.host.carbons?.enable(this);
    return bound;
  }

  /**
   * Only failed password checks count toward the limit: a client trying its
   * mechanisms in turn (e.g. -PLUS with a binding type we lack) is not guessing.
   */
  private saslFailure(condition: string, text: string, credentialsChecked = false): void {
    this.sasl = undefined;
    this.sasl2Request = undefined;
    this.state = 'connected';
    if (this.saslProfile === 2) {
      this.write(x('failure', { xmlns: NS_SASL2 }, x(condition, { xmlns: NS.sasl }), x('text', { 'xml:lang': 'en' }).t(text)));
    } else {
      this.write(x('failure', { xmlns: NS.sasl }, x(condition), x('text', { 'xml:lang': 'en' }).t(text)));
    }
    if (credentialsChecked) this.saslFailures++;
    else this.saslAttempts++;
    if (this.saslFailures >= MAX_SASL_FAILURES) this.close('policy-violation', 'Too many failed authentication attempts.');
    else if (this.saslAttempts >= MAX_SASL_EXCHANGES) this.close('policy-violation', 'Too many authentication attempts.');
  }

  private async handleBind(el: Element): Promise<void> {
    const bind = el.name === 'iq' && el.ns === NS.client && el.attrs.type === 'set' ? el.getChild('bind', NS.bind) : undefined;
    if (!bind) return this.close('not-authorized', 'Bind a resource before sending stanzas.');
    const reply = (payload: Element) => x('iq', { type: 'result', id: el.attrs.id ?? '' }, payload);
    const requested = bind.getChildText('resource');
    let full: JID;
    try {
      const bare = jid(this.username!, this.host.domain);
      full = requested ? bare.withResource(ownString(requested)) : bare.withResource(generatedResource());
    } catch (err) {
      if (!(err instanceof JidError)) throw err;
      return this.send(errorReply(el, new StanzaError('bad-request', `That resource can't be used: ${err.reason}`)));
    }
    this.boundJid = full;
    try {
      await this.host.bind(this);
    } catch (err) {
      this.boundJid = undefined;
      if (err instanceof StanzaError) return this.send(errorReply(el, err));
      throw err;
    }
    this.state = 'bound';
    this.negotiated();
    this.send(reply(x('bind', { xmlns: NS.bind }, x('jid').t(full.toString()))));
  }

  // XEP-0352: client state indication.

  private handleCsi(name: 'active' | 'inactive'): void {
    if (!this.host.csi) return;
    if (name === 'inactive') {
      this.csi ??= this.host.csi.filter();
      this.csi.deactivate();
      return;
    }
    if (!this.csi) return;
    for (const el of this.csi.activate()) this.deliver(el);
  }

  // XEP-0198: stream management.

  private handleSm(el: Element): void {
    const smacks = this.host.smacks;
    if (!smacks) return this.close('unsupported-stanza-type', 'Stream management is not enabled on this server.');
    switch (el.name) {
      case 'enable':
        return this.write(this.enableSm(el.attrs.resume === 'true' || el.attrs.resume === '1'));
      case 'r':
        if (!this.sm) return this.close('unsupported-stanza-type', 'Enable stream management before requesting acknowledgements.');
        return this.write(x('a', { xmlns: NS.sm, h: String(this.sm.handled) }));
      case 'a':
        if (!this.sm) return this.close('unsupported-stanza-type', 'Enable stream management before acknowledging.');
        this.ackRequested = false;
        return this.acknowledge(el);
      case 'resume':
        return this.write(smFailed('unexpected-request', 'This stream already has a bound session; resume on a new stream instead.'));
      default:
        return this.close('unsupported-stanza-type', `<${el.name}/> is not a stream management element this server accepts here.`);
    }
  }

  /** <enabled/> (or <failed/>) for an <enable/>, on the stream or inline in Bind 2. */
  private enableSm(resume: boolean): Element {
    const smacks = this.host.smacks;
    if (!smacks) return smFailed('feature-not-implemented', 'Stream management is not enabled on this server.');
    if (this.sm) return smFailed('unexpected-request', 'Stream management is already enabled.');
    this.sm = new StreamManagementState();
    const attrs: Record<string, string> = { xmlns: NS.sm };
    // With resume_timeout 0 the server does not offer resumption at all.
    if (resume && smacks.resumeTimeoutMs > 0) {
      this.sm.resumeToken = smacks.register(this);
      attrs.id = this.sm.resumeToken;
      attrs.resume = 'true';
      attrs.max = String(Math.floor(smacks.resumeTimeoutMs / 1000));
    }
    return x('enabled', attrs);
  }

  private acknowledge(el: Element): void {
    const h = parseH(el.attrs.h);
    if (h === undefined) return this.close('invalid-xml', "The 'h' attribute must be an unsigned 32-bit integer.");
    const outcome = this.sm!.ack(h);
    if (!outcome.ok) {
      // XEP-0198 §4: acknowledging more than was sent is a stream error.
      this.write(
        streamErrorElement('undefined-condition', `You acknowledged ${h} stanzas; ${outcome.sent} were sent.`).append(
          x('handled-count-too-high', { xmlns: NS.sm, h: String(h), 'send-count': String(outcome.sent) }),
        ),
      );
      this.transport.sendClose();
      this.transport.end();
      this.finish();
    }
  }

  /** Asks for an acknowledgement once per burst of outgoing stanzas. */
  private requestAck(): void {
    const sm = this.sm!;
    if (sm.unacked.length > this.host.smacks!.maxUnacked) {
      return this.close('resource-constraint', 'Too many stanzas are waiting for your acknowledgement.');
    }
    if (this.ackRequested) return;
    this.ackRequested = true;
    setImmediate(() => {
      if (this.state === 'bound' && this.sm?.unacked.length) this.write(x('r', { xmlns: NS.sm }));
      else this.ackRequested = false;
    });
  }

  private hibernate(smacks: SmacksHost): void {
    this.state = 'hibernating';
    this.ackRequested = false;
    for (const t of [this.headerTimer, this.negotiationTimer, this.idleTimer, this.pingTimer, this.resumeTimer]) clearTimeout(t);
    this.log.info({ unacked: this.sm!.unacked.length }, 'connection lost; session kept for resumption');
    this.hibernationTimer = setTimeout(() => this.finish(), smacks.resumeTimeoutMs);
  }

  /** On a fresh, authenticated stream: take over a session this account had (XEP-0198 §5). */
  private handleResume(el: Element): void {
    const old = this.resumableSession(el.attrs.previd, el.attrs.h);
    if (old instanceof Element) return this.write(old);
    this.resumeInto(old, (resumed) => [resumed]);
  }

  /** The account's session with this token, acknowledged up to h; or the <failed/> to send. */
  private resumableSession(previd: string | undefined, hValue: string | undefined): C2SConnection | Element {
    const smacks = this.host.smacks;
    const h = parseH(hValue);
    if (!smacks || !previd || h === undefined) {
      return smFailed('bad-request', "A resumption needs the 'previd' and 'h' of the earlier session.");
    }
    const old = smacks.find(previd, this.username!);
    if (!old) return smFailed('item-not-found', 'That session is unknown or has expired; bind a new one.');
    const outcome = old.sm!.ack(h);
    if (!outcome.ok) return smFailed('unexpected-request', `You acknowledged ${h} stanzas; ${outcome.sent} were sent.`);
    return old;
  }

  /** `opening` wraps the <resumed/> the old session answers with (in SASL2 it goes inside <success/>). */
  private resumeInto(old: C2SConnection, opening: (resumed: Element) => Element[]): void {
    // This stream's transport, security and counters move to the old session; this object goes quiet.
    this.host.detached(this);
    old.takeOver(this.transport, this.secure, this.mechanism, this.channelBinding, opening);
    this.successor = old;
    this.finished = true;
    this.state = 'closed';
    for (const t of [this.headerTimer, this.negotiationTimer, this.idleTimer, this.pingTimer, this.resumeTimer]) clearTimeout(t);
  }

  private takeOver(
    transport: StreamTransport,
    secure: boolean,
    mechanism: string | undefined,
    channelBinding: ChannelBindingType | undefined,
    opening: (resumed: Element) => Element[],
  ): void {
    const previous = this.transport;
    // Whatever the old transport still reports no longer concerns this session.
    previous.attach(DETACHED);
    // The client may come back before the server noticed the old connection was dead.
    if (this.state === 'bound') previous.destroy();
    // A live session still has the old connection's timers running; they would fire on the new one.
    for (const t of [this.hibernationTimer, this.idleTimer, this.pingTimer, this.resumeTimer]) clearTimeout(t);
    this.pingTimer = undefined;
    this.resumeTimer = undefined;
    this.transport = transport;
    this.secure = secure;
    this.mechanism = mechanism;
    this.channelBinding = channelBinding;
    this.state = 'bound';
    this.generation++;
    this.headerSent = true;
    // An <r/> the old connection had outstanding is not coming back; ask anew.
    this.ackRequested = false;
    this.bytes = new TokenBucket(this.host.traffic.bytesPerSecond, this.host.traffic.bytesBurst);
    transport.attach(this);
    this.host.attached(this);
    this.idleTimer = setTimeout(() => this.onIdle(), this.host.idleTimeoutMs);
    const sm = this.sm!;
    this.log.info({ resent: sm.unacked.length }, 'session resumed');
    for (const el of opening(x('resumed', { xmlns: NS.sm, h: String(sm.handled), previd: sm.resumeToken! }))) this.write(el);
    for (const stanza of sm.unacked) this.write(stanza);
    if (sm.unacked.length) this.requestAck();
    // A client that comes back is in the foreground: it gets what CSI held back.
    if (this.csi) for (const el of this.csi.activate()) this.deliver(el);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const wasBound = this.state === 'bound' || this.state === 'hibernating';
    this.state = 'closed';
    for (const t of [this.headerTimer, this.negotiationTimer, this.idleTimer, this.pingTimer, this.resumeTimer, this.hibernationTimer]) {
      clearTimeout(t);
    }
    if (!wasBound) return;
    const smacks = this.host.smacks;
    if (this.sm?.resumeToken) smacks?.forget(this.sm.resumeToken);
    this.host.unbind(this);
    if (smacks && this.sm?.unacked.length) smacks.unacknowledged(this, this.sm.unacked.splice(0));
  }

  /** The TLS socket under the current transport (for tests and channel binding). */
  get tlsSocket(): TLSSocket | undefined {
    return this.transport.tlsSocket;
  }
}

const DETACHED: TransportSink = {
  received: () => undefined,
  streamStart: () => undefined,
  element: () => undefined,
  streamEnd: () => undefined,
  fault: () => undefined,
  drain: () => undefined,
  closed: () => undefined,
};

function smFailed(condition: string, text: string): Element {
  return x('failed', { xmlns: NS.sm }, x(condition, { xmlns: NS.stanzas }), x('text', { xmlns: NS.stanzas, 'xml:lang': 'en' }).t(text));
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** RFC 6120 §6.4.2: '=' stands for an empty response; anything not canonical base64 is refused. */
function decodeBase64(text: string): Buffer | undefined {
  const t = text.trim();
  if (t === '' || t === '=') return Buffer.alloc(0);
  if (t.length % 4 !== 0 || !BASE64_RE.test(t)) return undefined;
  return Buffer.from(t, 'base64');
}

function ownUserAgent(ua: UserAgent): UserAgent {
  return { id: ua.id && ownString(ua.id), software: ua.software && ownString(ua.software), device: ua.device && ownString(ua.device) };
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

function generatedResource(): string {
  return `palisade-${randomBytes(6).toString('base64url')}`;
}
