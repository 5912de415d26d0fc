// One client-to-server connection: stream negotiation (RFC 6120 §4–7) on TCP with
// STARTTLS or on direct TLS (XEP-0368), then stanzas handed to the router in the
// order they arrived.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { Element, x } from '../xmpp/element.ts';
import { NS } from '../xmpp/ns.ts';
import { StanzaError, errorReply, streamErrorElement, type StreamErrorCondition } from '../xmpp/errors.ts';
import { JID, JidError, jid, tryParseJID } from '../xmpp/jid.ts';
import { XmlStreamParser, type XmlLimits } from './xml-stream.ts';
import type { ClientSession } from '../core/session.ts';
import type { SessionSecurity } from '../policy/types.ts';
import { StreamFault } from '../core/router.ts';
import type { TlsProvider } from './tls.ts';
import type { Authenticator, SaslExchange } from '../core/authenticator.ts';
import type { ChannelBindingType } from '../auth/scram.ts';
import { TokenBucket } from './limits.ts';

export interface C2SHost {
  readonly domain: string;
  readonly limits: XmlLimits;
  readonly headerTimeoutMs: number;
  readonly negotiationTimeoutMs: number;
  readonly traffic: TrafficLimits;
  readonly idleTimeoutMs: number;
  readonly pingTimeoutMs: number;
  readonly tls: TlsProvider;
  readonly auth: Authenticator;
  readonly log: Logger;
  /** What loaded modules advertise next to <bind/>. */
  streamFeatures(): readonly { name: string; ns: string }[];
  /** After SASL succeeded: account state and the login policy; true or the SASL failure to send. */
  authorize(username: string, conn: C2SConnection): Promise<true | { condition: string; text: string }>;
  /** Records a failed password check; returns the ms to wait before answering it. */
  loginFailed(username: string | undefined, accountExists: boolean, conn: C2SConnection): Promise<number>;
  /** Policy + registration of a freshly bound session; throws StanzaError to refuse. */
  bind(session: C2SConnection): Promise<void>;
  unbind(session: C2SConnection): void;
  route(session: C2SConnection, stanza: Element): Promise<void>;
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

type State = 'connected' | 'authenticating' | 'authenticated' | 'bound' | 'closed';

/** Past this many unprocessed stanzas the socket stops being read (backpressure). */
const MAX_PENDING_STANZAS = 64;
/** A reader that lets this much pile up in its outbound buffer is cut off. */
const MAX_OUTBOUND_BYTES = 8 * 1024 * 1024;
/** Failed password checks per stream. */
const MAX_SASL_FAILURES = 3;
/** Other failed exchanges (unsupported binding, malformed, aborted) per stream. */
const MAX_SASL_EXCHANGES = 10;

export class C2SConnection implements ClientSession {
  readonly id = randomBytes(9).toString('base64url');
  readonly connectedAt = new Date();
  readonly ip: string;
  available = false;
  priority = 0;
  presence: Element | undefined;

  private socket: Socket;
  private readonly host: C2SHost;
  private readonly log: Logger;
  private parser!: XmlStreamParser;
  private state: State = 'connected';
  private headerSent = false;
  private secure: boolean;
  private boundJid: JID | undefined;
  private username: string | undefined;
  private mechanism: string | undefined;
  private channelBinding: ChannelBindingType | undefined;
  private sasl: SaslExchange | undefined;
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
  private chain: Promise<void> = Promise.resolve();
  private headerTimer: NodeJS.Timeout | undefined;
  private negotiationTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private bytes: TokenBucket;
  private readonly stanzas: TokenBucket;
  /** When the current unbroken stretch of throttling began (0: not throttled). */
  private throttledSince = 0;
  private resumeTimer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, host: C2SHost, opts: { directTls: boolean }) {
    this.socket = socket;
    this.host = host;
    this.ip = socket.remoteAddress ?? 'unknown';
    this.secure = opts.directTls;
    this.log = host.log.child({ conn: this.id, ip: this.ip });
    const t = host.traffic;
    this.bytes = new TokenBucket(t.unauthenticatedBytesPerSecond, t.unauthenticatedBytesPerSecond);
    this.stanzas = new TokenBucket(t.stanzasPerSecond, t.stanzasBurst);
    this.idleTimer = setTimeout(() => this.onIdle(), host.idleTimeoutMs);
    this.negotiationTimer = setTimeout(
      () => this.close('connection-timeout', 'Stream negotiation took too long.'),
      host.negotiationTimeoutMs,
    );
    this.attach(socket);
    this.newStream();
  }

  get jid(): JID {
    if (!this.boundJid) throw new Error('session is not bound');
    return this.boundJid;
  }

  get isBound(): boolean {
    return this.state === 'bound';
  }

  get security(): SessionSecurity {
    const tlsSocket = this.socket instanceof TLSSocket ? this.socket : undefined;
    return {
      tls: this.secure,
      tlsVersion: tlsSocket?.getProtocol() ?? undefined,
      mechanism: this.mechanism,
      channelBinding: this.channelBinding,
    };
  }

  send(stanza: Element): void {
    this.write(stanza.toString());
  }

  close(condition?: StreamErrorCondition, text?: string): void {
    if (this.state === 'closed') return;
    if (condition) {
      this.log.info({ condition, reason: text }, 'closing stream with error');
      if (!this.headerSent) this.sendHeader(undefined);
      this.write(streamErrorElement(condition, text).toString());
    }
    this.write('</stream:stream>');
    this.finish();
    this.socket.end();
    // A peer that never closes its side doesn't keep the socket alive.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.log.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => this.finish());
    socket.on('drain', () => this.maybeResume());
  }

  private onData(chunk: Buffer): void {
    this.idleTimer?.refresh();
    if (this.pingTimer) {
      clearTimeout(this.pingTimer);
      this.pingTimer = undefined;
    }
    this.parser.write(chunk);
    this.throttle(this.bytes.take(chunk.length));
  }

  /**
   * Backpressure for fast senders: stop reading for as long as the rate limit
   * says. A stream that stays throttled past the tolerance is abusive and ends.
   */
  private throttle(waitMs: number): void {
    if (waitMs <= 0) {
      if (!this.resumeTimer) this.throttledSince = 0;
      return;
    }
    const now = Date.now();
    if (this.throttledSince === 0) this.throttledSince = now;
    else if (now - this.throttledSince > this.host.traffic.toleranceMs) {
      return this.close('policy-violation', 'You are sending too fast for too long.');
    }
    this.socket.pause();
    clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      this.maybeResume();
    }, waitMs);
  }

  /** Silence: a bound client is pinged (XEP-0199); any data answers it. Unbound streams just end. */
  private onIdle(): void {
    if (this.state !== 'bound') return this.close('connection-timeout', 'The connection was idle too long.');
    this.write(x('iq', { type: 'get', id: `idle-${randomBytes(4).toString('hex')}`, from: this.host.domain, to: this.jid.toString() }, x('ping', { xmlns: NS.ping })).toString());
    this.pingTimer = setTimeout(() => this.close('connection-timeout', 'No answer to the server ping.'), this.host.pingTimeoutMs);
  }

  private newStream(): void {
    this.generation++;
    this.headerSent = false;
    this.parser = new XmlStreamParser(
      {
        streamStart: (attrs) => this.onStreamStart(attrs),
        stanza: (el) => this.enqueue(el),
        streamEnd: () => this.enqueueEnd(),
        error: (condition, text) => this.close(condition, text),
      },
      this.host.limits,
    );
    clearTimeout(this.headerTimer);
    this.headerTimer = setTimeout(() => this.close('connection-timeout', 'No stream header received in time.'), this.host.headerTimeoutMs);
  }

  private write(data: string): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    this.socket.write(data);
    if (this.socket.writableLength > MAX_OUTBOUND_BYTES) {
      this.log.warn({ buffered: this.socket.writableLength }, 'client reads too slowly; disconnecting');
      this.state = 'closed';
      this.finish();
      this.socket.destroy();
    }
  }

  private sendHeader(clientFrom: string | undefined): void {
    const attrs: Record<string, string> = {
      xmlns: NS.client,
      'xmlns:stream': NS.stream,
      id: randomBytes(12).toString('base64url'),
      from: this.host.domain,
      version: '1.0',
      'xml:lang': 'en',
    };
    if (clientFrom) attrs.to = clientFrom;
    const open = x('stream:stream', attrs).toString();
    // An element with no children serialises as '<…/>': open it instead.
    this.write(`<?xml version='1.0'?>${open.slice(0, -2)}>`);
    this.headerSent = true;
  }

  private onStreamStart(attrs: Record<string, string>): void {
    clearTimeout(this.headerTimer);
    // RFC 6120 §4.7.2: answer with the initiator's 'from' as 'to', if it is a valid address.
    this.sendHeader(attrs.from ? tryParseJID(attrs.from)?.toString() : undefined);
    if (attrs.xmlns !== NS.client) return this.close('invalid-namespace', `The content namespace must be ${NS.client}.`);
    const to = attrs.to?.toLowerCase().replace(/\.$/, '');
    if (to !== undefined && to !== this.host.domain) return this.close('host-unknown', `This server does not serve ${attrs.to}.`);
    if (!attrs.version || !/^1\.\d+$/.test(attrs.version)) {
      return this.close('unsupported-version', 'This server speaks XMPP version 1.0 streams only.');
    }
    this.send(this.features());
  }

  private features(): Element {
    const features = x('stream:features');
    if (!this.secure) {
      features.c('starttls', { xmlns: NS.tls }).c('required');
    } else if (this.state === 'connected' || this.state === 'authenticating') {
      const mechs = features.c('mechanisms', { xmlns: NS.sasl });
      for (const m of this.host.auth.mechanisms(this.tlsSocket())) mechs.c('mechanism').t(m);
      const bindings = this.host.auth.channelBindings(this.tlsSocket());
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

  private tlsSocket(): TLSSocket | undefined {
    return this.socket instanceof TLSSocket ? this.socket : undefined;
  }

  /** Stanzas are processed one at a time, in order; reading pauses while many wait. */
  private enqueue(el: Element): void {
    const generation = this.generation;
    // Only the byte rate (per chunk) decides that a sender has calmed down.
    const wait = this.stanzas.take(1);
    if (wait > 0) this.throttle(wait);
    this.pending++;
    if (this.pending > MAX_PENDING_STANZAS) this.socket.pause();
    this.chain = this.chain
      .then(() => (this.state === 'closed' || generation !== this.generation ? undefined : this.handle(el)))
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

  private enqueueEnd(): void {
    const generation = this.generation;
    this.chain = this.chain.then(() => (generation === this.generation ? this.close() : undefined));
  }

  private maybeResume(): void {
    if (
      !this.resumeTimer &&
      this.pending <= MAX_PENDING_STANZAS / 2 &&
      this.socket.isPaused() &&
      this.socket.writableLength < MAX_OUTBOUND_BYTES / 2
    ) {
      this.socket.resume();
    }
  }

  private async handle(el: Element): Promise<void> {
    if (this.state === 'bound') return this.host.route(this, el);
    if (!this.secure) return this.handleBeforeTls(el);
    if (this.state === 'connected' || this.state === 'authenticating') return this.handleSasl(el);
    if (this.state === 'authenticated') return this.handleBind(el);
  }

  private handleBeforeTls(el: Element): void {
    if (el.name === 'starttls' && el.ns === NS.tls) return this.startTls();
    if (el.ns === NS.sasl) {
      this.write(x('failure', { xmlns: NS.sasl }, x('encryption-required')).toString());
      return this.close('policy-violation', 'STARTTLS is required before authentication.');
    }
    this.close('not-authorized', 'STARTTLS and authentication are required before sending stanzas.');
  }

  private startTls(): void {
    this.write(x('proceed', { xmlns: NS.tls }).toString());
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('drain');
    const secure = new TLSSocket(raw, { isServer: true, secureContext: this.host.tls.context(), requestCert: false });
    this.socket = secure;
    this.secure = true;
    secure.once('secure', () => this.log.debug({ protocol: secure.getProtocol() }, 'TLS established'));
    secure.on('data', (chunk: Buffer) => this.onData(chunk));
    secure.on('error', (err) => {
      this.log.debug({ err: err.message }, 'TLS error');
      this.finish();
      secure.destroy();
    });
    secure.on('close', () => this.finish());
    secure.on('drain', () => this.maybeResume());
    this.newStream();
  }

  private async handleSasl(el: Element): Promise<void> {
    if (el.ns !== NS.sasl) {
      return this.close('not-authorized', 'Authenticate before sending stanzas.');
    }
    if (el.name === 'auth') {
      if (this.sasl) return this.saslFailure('malformed-request', 'An authentication exchange is already in progress.');
      const mechanism = el.attrs.mechanism ?? '';
      const exchange = this.host.auth.start(mechanism, this.tlsSocket());
      if (!exchange) return this.saslFailure('invalid-mechanism', `${mechanism || 'That mechanism'} is not offered here.`);
      this.sasl = exchange;
      this.state = 'authenticating';
      return this.saslStep(el.text);
    }
    if (el.name === 'response' && this.sasl) return this.saslStep(el.text);
    if (el.name === 'abort') return this.saslFailure('aborted', 'Authentication aborted.');
    return this.saslFailure('malformed-request', `Unexpected <${el.name}/> during authentication.`);
  }

  private async saslStep(text: string): Promise<void> {
    const data = decodeBase64(text);
    if (!data) return this.saslFailure('incorrect-encoding', 'The data is not valid base64.');
    const result = await this.sasl!.step(data);
    if (result.kind === 'challenge') {
      this.write(x('challenge', { xmlns: NS.sasl }).t(result.data.toString('base64')).toString());
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
    if (outcome !== true) return this.saslFailure(outcome.condition, outcome.text, true);
    this.sasl = undefined;
    this.username = result.username;
    this.mechanism = result.mechanism;
    this.channelBinding = result.channelBinding;
    this.state = 'authenticated';
    this.bytes = new TokenBucket(this.host.traffic.bytesPerSecond, this.host.traffic.bytesBurst);
    this.log.info({ user: result.username, mechanism: result.mechanism }, 'authenticated');
    this.write(x('success', { xmlns: NS.sasl }).t(result.data.length ? result.data.toString('base64') : '').toString());
    this.newStream();
  }

  /**
   * Only failed password checks count toward the limit: a client trying its
   * mechanisms in turn (e.g. -PLUS with a binding type we lack) is not guessing.
   */
  private saslFailure(condition: string, text: string, credentialsChecked = false): void {
    this.sasl = undefined;
    this.state = 'connected';
    this.write(x('failure', { xmlns: NS.sasl }, x(condition), x('text', { 'xml:lang': 'en' }).t(text)).toString());
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
      full = requested ? bare.withResource(requested) : bare.withResource(generatedResource());
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
    clearTimeout(this.negotiationTimer);
    this.send(reply(x('bind', { xmlns: NS.bind }, x('jid').t(full.toString()))));
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    const wasBound = this.state === 'bound';
    this.state = 'closed';
    for (const t of [this.headerTimer, this.negotiationTimer, this.idleTimer, this.pingTimer, this.resumeTimer]) clearTimeout(t);
    if (wasBound) this.host.unbind(this);
  }
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** RFC 6120 §6.4.2: '=' stands for an empty response; anything not canonical base64 is refused. */
function decodeBase64(text: string): Buffer | undefined {
  const t = text.trim();
  if (t === '' || t === '=') return Buffer.alloc(0);
  if (t.length % 4 !== 0 || !BASE64_RE.test(t)) return undefined;
  return Buffer.from(t, 'base64');
}

function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

function generatedResource(): string {
  return `palisade-${randomBytes(6).toString('base64url')}`;
}
