// A minimal XMPP client session for load: raw sockets, regexes on the incoming
// text, just enough of RFC 6120 to log in. Not a parser — a load generator.
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { NS } from '../../src/xmpp/ns.ts';
import { SCRAM_MECHANISMS, ScramClient, type ScramKeyCache, type ScramMechanism } from './scram.ts';

export type TlsMode = 'starttls' | 'direct';

export interface LoginOptions {
  port: number;
  tls: TlsMode;
  domain: string;
  username: string;
  password: string;
  /** Use this mechanism or fail; otherwise the strongest SCRAM the server offers. */
  mechanism: ScramMechanism | undefined;
  keyCache: ScramKeyCache;
  timeoutMs: number;
}

/** What was negotiated, so a comparison can show it compared like with like. */
export interface Negotiated {
  mechanism: ScramMechanism;
  tls: string;
  /** The server demanded the legacy session iq (RFC 3921) before presence. */
  sessionIq: boolean;
}

const HOST = '127.0.0.1';
const FEATURES = /<(?:stream:)?features\b[^>]*?(?:\/>|>[\s\S]*?<\/(?:stream:)?features>)/;
const SASL_REPLY = /<(challenge|success|failure)\b[^>]*?(?:\/>|>([\s\S]*?)<\/\1>)/;
const STREAM_END = /<stream:error[\s\S]*?<\/stream:error>|<\/stream:stream>/;

function iqReply(id: string): RegExp {
  return new RegExp(`<iq\\b[^>]*\\bid=['"]${id}['"][^>]*?(?:/>|>[\\s\\S]*?</iq>)`);
}

export class XmppConnection {
  private socket: Socket;
  /** Settles when the TLS handshake is done (direct TLS from the start, or after STARTTLS). */
  private handshake: Promise<void> | undefined;
  private buffer = '';
  private waiter: { pattern: RegExp; resolve: (m: RegExpExecArray) => void } | undefined;
  private failure: Error | undefined;
  private failWaiter: ((e: Error) => void) | undefined;
  /** Once logged in, the owner receives the raw incoming text instead. */
  private sink: ((text: string) => void) | undefined;
  private onClose: ((error: Error) => void) | undefined;
  jid = '';
  negotiated: Negotiated | undefined;

  private constructor(private readonly options: LoginOptions) {
    if (options.tls === 'direct') {
      this.socket = this.secure(
        tlsConnect({ host: HOST, port: options.port, servername: options.domain, ALPNProtocols: ['xmpp-client'], rejectUnauthorized: false }),
      );
    } else {
      this.socket = tcpConnect({ host: HOST, port: options.port });
    }
    this.attach(this.socket);
  }

  /** Full negotiation up to initial presence; resolves when the server has processed the presence. */
  static async login(options: LoginOptions): Promise<XmppConnection> {
    const conn = new XmppConnection(options);
    await conn.withTimeout(() => conn.negotiate('login'));
    return conn;
  }

  /**
   * Goes as far as the SCRAM challenge, which fills the key cache with this
   * account's salted keys, then aborts: a later timed login skips PBKDF2.
   */
  static async primeKeys(options: LoginOptions): Promise<void> {
    const conn = new XmppConnection(options);
    try {
      await conn.withTimeout(() => conn.negotiate('prime'));
    } finally {
      conn.socket.destroy();
    }
  }

  /** Hands incoming text to `sink` from now on; `onClose` hears of an unexpected end. */
  takeOver(sink: (text: string) => void, onClose: (error: Error) => void): void {
    this.buffer = '';
    this.sink = sink;
    this.onClose = onClose;
  }

  write(data: string): void {
    this.socket.write(data);
  }

  close(): void {
    this.onClose = undefined;
    this.sink = undefined;
    if (this.socket.destroyed) return;
    this.socket.end('</stream:stream>');
    // A server that does not answer the closing tag must not keep the bench alive.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Self-signed certificates are accepted (rejectUnauthorized: false): bench only. */
  private secure(socket: TLSSocket): TLSSocket {
    this.handshake = new Promise((resolve) => socket.once('secureConnect', () => resolve()));
    return socket;
  }

  private attach(socket: Socket): void {
    socket.setNoDelay(true);
    socket.setEncoding('latin1'); // only ASCII markup is matched; latin1 never splits a character
    socket.on('data', this.onData);
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed by server')));
  }

  private readonly onData = (text: string): void => {
    if (this.sink) {
      this.sink(text);
      return;
    }
    this.buffer += text;
    const end = STREAM_END.exec(this.buffer);
    if (end) {
      this.fail(new Error(`stream ended: ${end[0].slice(0, 300)}`));
      return;
    }
    if (!this.waiter) return;
    const match = this.waiter.pattern.exec(this.buffer);
    if (!match) return;
    this.buffer = this.buffer.slice(match.index + match[0].length);
    const { resolve } = this.waiter;
    this.waiter = undefined;
    resolve(match);
  };

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.socket.destroy();
    this.failWaiter?.(error);
    this.onClose?.(error);
  }

  private waitFor(pattern: RegExp): Promise<RegExpExecArray> {
    if (this.failure) return Promise.reject(this.failure);
    const match = pattern.exec(this.buffer);
    if (match) {
      this.buffer = this.buffer.slice(match.index + match[0].length);
      return Promise.resolve(match);
    }
    return new Promise((resolve) => {
      this.waiter = { pattern, resolve };
    });
  }

  private async withTimeout(run: () => Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const failed = new Promise<never>((_, reject) => {
      this.failWaiter = reject;
      timer = setTimeout(() => this.fail(new Error(`no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    });
    try {
      await Promise.race([run(), failed]);
    } catch (error) {
      this.fail(error as Error); // closes the socket whatever went wrong
      throw error;
    } finally {
      clearTimeout(timer);
      this.failWaiter = undefined;
    }
  }

  private openStream(): void {
    this.buffer = '';
    this.socket.write(
      `<?xml version='1.0'?><stream:stream to='${this.options.domain}' xmlns='${NS.client}' xmlns:stream='${NS.stream}' version='1.0'>`,
    );
  }

  private async startTls(): Promise<TLSSocket> {
    this.openStream();
    const features = (await this.waitFor(FEATURES))[0];
    if (!features.includes('<starttls')) throw new Error('server does not offer STARTTLS');
    this.socket.write(`<starttls xmlns='${NS.tls}'/>`);
    const reply = await this.waitFor(/<(proceed|failure)\b[^>]*>/);
    if (reply[1] !== 'proceed') throw new Error('server refused STARTTLS');
    const raw = this.socket;
    raw.removeListener('data', this.onData);
    raw.removeAllListeners('close');
    raw.removeAllListeners('error');
    const secure = this.secure(tlsConnect({ socket: raw, servername: this.options.domain, rejectUnauthorized: false }));
    this.socket = secure;
    this.attach(secure);
    return secure;
  }

  private async negotiate(mode: 'login' | 'prime'): Promise<void> {
    const o = this.options;
    const secure = o.tls === 'starttls' ? await this.startTls() : (this.socket as TLSSocket);
    await this.handshake;

    this.openStream();
    const mechanism = chooseMechanism((await this.waitFor(FEATURES))[0], o.mechanism);
    const scram = new ScramClient(mechanism, o.username, o.password, o.keyCache);
    this.socket.write(`<auth xmlns='${NS.sasl}' mechanism='${mechanism}'>${b64(scram.first())}</auth>`);
    const challenge = await this.waitFor(SASL_REPLY);
    if (challenge[1] !== 'challenge') throw new Error(`SASL ${challenge[1]}: ${challenge[0].slice(0, 300)}`);
    const clientFinal = await scram.final(unb64(challenge[2] ?? ''));
    if (mode === 'prime') {
      this.socket.write(`<abort xmlns='${NS.sasl}'/></stream:stream>`);
      return;
    }
    this.socket.write(`<response xmlns='${NS.sasl}'>${b64(clientFinal)}</response>`);
    const outcome = await this.waitFor(SASL_REPLY);
    if (outcome[1] !== 'success') throw new Error(`SASL ${outcome[1]}: ${outcome[0].slice(0, 300)}`);
    if (!scram.verify(unb64(outcome[2] ?? ''))) throw new Error('server signature in SASL success did not verify');

    this.openStream();
    const features = (await this.waitFor(FEATURES))[0];
    if (!features.includes(NS.bind)) throw new Error('server does not offer resource binding');
    this.socket.write(`<iq type='set' id='bind1'><bind xmlns='${NS.bind}'><resource>bench</resource></bind></iq>`);
    const bound = (await this.waitFor(iqReply('bind1')))[0];
    const jid = /<jid>([^<]+)<\/jid>/.exec(bound)?.[1];
    if (!jid) throw new Error(`bind failed: ${bound.slice(0, 300)}`);
    this.jid = jid;

    const sessionIq = sessionRequired(features);
    if (sessionIq) {
      this.socket.write(`<iq type='set' id='sess1'><session xmlns='${NS.session}'/></iq>`);
      const reply = (await this.waitFor(iqReply('sess1')))[0];
      if (!/type=['"]result['"]/.test(reply)) throw new Error(`session iq failed: ${reply.slice(0, 300)}`);
    }

    // Stanzas of one session are processed in order, so the ping's answer
    // (result, or an error if ping is not served) means the presence was handled.
    this.socket.write(`<presence/><iq type='get' id='ready1' to='${o.domain}'><ping xmlns='${NS.ping}'/></iq>`);
    await this.waitFor(iqReply('ready1'));

    const cert = secure.getPeerCertificate();
    const key = cert.asn1Curve ? `EC ${cert.nistCurve ?? cert.asn1Curve}` : cert.exponent ? `RSA ${cert.bits}` : 'other key';
    this.negotiated = { mechanism, tls: `${secure.getProtocol()} ${secure.getCipher().name} ${key}`, sessionIq };
  }
}

function chooseMechanism(features: string, forced: ScramMechanism | undefined): ScramMechanism {
  const offered = [...features.matchAll(/<mechanism>([^<]+)<\/mechanism>/g)].map((m) => m[1]);
  const wanted = forced ? [forced] : SCRAM_MECHANISMS;
  const chosen = wanted.find((m) => offered.includes(m));
  if (!chosen) throw new Error(`server offers ${offered.join(' ') || 'no SASL mechanism'}; wanted ${wanted.join(' or ')}`);
  return chosen;
}

/** Legacy session (RFC 3921) is needed only when advertised without <optional/> (RFC 6121 erratum). */
function sessionRequired(features: string): boolean {
  const start = features.search(new RegExp(`<session\\b[^>]*${NS.session}`));
  if (start < 0) return false;
  const tag = /^<session\b[^>]*?(?:\/>|>[\s\S]*?<\/session>)/.exec(features.slice(start))?.[0] ?? '';
  return !tag.includes('<optional');
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function unb64(text: string): string {
  return Buffer.from(text.trim(), 'base64').toString('utf8');
}
