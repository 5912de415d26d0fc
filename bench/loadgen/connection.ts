// A minimal XMPP client session for load: raw sockets or WebSocket (./wire.ts),
// regexes on the incoming text, just enough of RFC 6120 to log in. Not a
// parser — a load generator.
import { NS } from '../../src/xmpp/ns.ts';
import { SCRAM_MECHANISMS, ScramClient, type ScramKeyCache, type ScramMechanism } from './scram.ts';
import { openWire, type Transport, type Wire } from './wire.ts';

export interface LoginOptions {
  /** The c2s port, the direct TLS port or the HTTPS port, as `transport` needs. */
  port: number;
  transport: Transport;
  domain: string;
  username: string;
  password: string;
  /** Use this mechanism or fail; otherwise the strongest SCRAM the server offers. */
  mechanism: ScramMechanism | undefined;
  keyCache: ScramKeyCache;
  timeoutMs: number;
  /** TLS session tickets by account: offered when there is one, kept when the server sends one (the relogins scenario). */
  tlsSessions?: Map<string, Buffer>;
}

/** What was negotiated, so a comparison can show it compared like with like. */
export interface Negotiated {
  mechanism: ScramMechanism;
  /** e.g. 'TLSv1.3 TLS_AES_256_GCM_SHA384 EC P-256', after 'WebSocket over ' on a WebSocket. */
  tls: string;
  /** The server demanded the legacy session iq (RFC 3921) before presence. */
  sessionIq: boolean;
  /** The TLS handshake resumed an earlier session (a ticket). */
  tlsResumed: boolean;
}

const FEATURES = /<(?:stream:)?features\b[^>]*?(?:\/>|>[\s\S]*?<\/(?:stream:)?features>)/;
const SASL_REPLY = /<(challenge|success|failure)\b[^>]*?(?:\/>|>([\s\S]*?)<\/\1>)/;
const STREAM_END = /<stream:error[\s\S]*?<\/stream:error>|<\/stream:stream>|<close\b[^>]*xmpp-framing[^>]*>/;

/** A software version query (XEP-0092), which real clients answer at once; any attribute order, either quote. */
const VERSION_QUERY = /<iq\b([^>]*)>\s*<query\s+xmlns=['"]jabber:iq:version['"]\s*\/>\s*<\/iq>/g;
/** Text kept from the end of one read for a version query split across two. */
const VERSION_TAIL_CHARS = 300;

function attrOf(attrs: string, name: string): string | undefined {
  return new RegExp(`\\s${name}=(['"])([^'"]*)\\1`).exec(attrs)?.[2];
}

function iqReply(id: string): RegExp {
  return new RegExp(`<iq\\b[^>]*\\bid=['"]${id}['"][^>]*?(?:/>|>[\\s\\S]*?</iq>)`);
}

export class XmppConnection {
  private readonly wire: Wire;
  private buffer = '';
  private waiter: { pattern: RegExp; resolve: (m: RegExpExecArray) => void } | undefined;
  private failure: Error | undefined;
  private failWaiter: ((e: Error) => void) | undefined;
  /** Once logged in, the owner receives the raw incoming text instead. */
  private sink: ((text: string) => void) | undefined;
  private onClose: ((error: Error) => void) | undefined;
  /** The end of the last read, for a version query split across two. */
  private versionTail = '';
  jid = '';
  negotiated: Negotiated | undefined;

  private constructor(private readonly options: LoginOptions) {
    const sessions = options.tlsSessions;
    const resumption = sessions && { session: sessions.get(options.username), onSession: (s: Buffer) => sessions.set(options.username, s) };
    this.wire = openWire(options.transport, options.port, options.domain, { data: this.onData, fail: (e) => this.fail(e) }, resumption);
  }

  /** On a WebSocket each stanza must be sent on its own (send() once per stanza), with stanzaXmlns in its start tag. */
  get framed(): boolean {
    return this.wire.framed;
  }

  get stanzaXmlns(): string {
    return this.wire.stanzaXmlns;
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
      conn.wire.destroy();
    }
  }

  /** Hands incoming text to `sink` from now on; `onClose` hears of an unexpected end. */
  takeOver(sink: (text: string) => void, onClose: (error: Error) => void): void {
    this.buffer = '';
    this.sink = sink;
    this.onClose = onClose;
  }

  /** Any run of stanzas on TCP; exactly one stanza on a WebSocket (see `framed`). */
  send(data: string): void {
    this.wire.send(data);
  }

  close(): void {
    this.onClose = undefined;
    this.sink = undefined;
    if (!this.wire.destroyed) this.wire.close();
  }

  private readonly onData = (text: string): void => {
    this.answerVersionQueries(text);
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

  /**
   * Answers what a real client answers at once: Palisade asks each new session
   * its software (the sessions module), and a session that never answers keeps
   * the query pending until it times out, which real clients never cause.
   */
  private answerVersionQueries(text: string): void {
    const seen = this.versionTail + text;
    if (!seen.includes('jabber:iq:version')) {
      this.versionTail = seen.slice(-VERSION_TAIL_CHARS);
      return;
    }
    let end = 0;
    for (const m of seen.matchAll(VERSION_QUERY)) {
      end = m.index + m[0].length;
      const attrs = m[1]!;
      const id = attrOf(attrs, 'id');
      if (attrOf(attrs, 'type') !== 'get' || id === undefined) continue;
      const from = attrOf(attrs, 'from');
      this.wire.send(
        `<iq${this.stanzaXmlns} type='result' id='${id}'${from ? ` to='${from}'` : ''}><query xmlns='jabber:iq:version'><name>palisade-bench</name><version>1</version></query></iq>`,
      );
    }
    this.versionTail = seen.slice(Math.max(end, seen.length - VERSION_TAIL_CHARS));
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.wire.destroy();
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
    this.wire.openStream(this.options.domain);
  }

  private async startTls(): Promise<void> {
    this.openStream();
    const features = (await this.waitFor(FEATURES))[0];
    if (!features.includes('<starttls')) throw new Error('server does not offer STARTTLS');
    this.wire.send(`<starttls xmlns='${NS.tls}'/>`);
    const reply = await this.waitFor(/<(proceed|failure)\b[^>]*>/);
    if (reply[1] !== 'proceed') throw new Error('server refused STARTTLS');
    this.wire.startTls(this.options.domain);
  }

  private async negotiate(mode: 'login' | 'prime'): Promise<void> {
    const o = this.options;
    const wire = this.wire;
    const ns = wire.stanzaXmlns;
    if (o.transport === 'starttls') await this.startTls();
    const secure = await wire.secured();

    this.openStream();
    const mechanism = chooseMechanism((await this.waitFor(FEATURES))[0], o.mechanism);
    const scram = new ScramClient(mechanism, o.username, o.password, o.keyCache);
    wire.send(`<auth xmlns='${NS.sasl}' mechanism='${mechanism}'>${b64(scram.first())}</auth>`);
    const challenge = await this.waitFor(SASL_REPLY);
    if (challenge[1] !== 'challenge') throw new Error(`SASL ${challenge[1]}: ${challenge[0].slice(0, 300)}`);
    const clientFinal = await scram.final(unb64(challenge[2] ?? ''));
    if (mode === 'prime') {
      wire.send(`<abort xmlns='${NS.sasl}'/>`);
      wire.endStream();
      return;
    }
    wire.send(`<response xmlns='${NS.sasl}'>${b64(clientFinal)}</response>`);
    const outcome = await this.waitFor(SASL_REPLY);
    if (outcome[1] !== 'success') throw new Error(`SASL ${outcome[1]}: ${outcome[0].slice(0, 300)}`);
    if (!scram.verify(unb64(outcome[2] ?? ''))) throw new Error('server signature in SASL success did not verify');

    this.openStream();
    const features = (await this.waitFor(FEATURES))[0];
    if (!features.includes(NS.bind)) throw new Error('server does not offer resource binding');
    wire.send(`<iq${ns} type='set' id='bind1'><bind xmlns='${NS.bind}'><resource>bench</resource></bind></iq>`);
    const bound = (await this.waitFor(iqReply('bind1')))[0];
    const jid = /<jid>([^<]+)<\/jid>/.exec(bound)?.[1];
    if (!jid) throw new Error(`bind failed: ${bound.slice(0, 300)}`);
    this.jid = jid;

    const sessionIq = sessionRequired(features);
    if (sessionIq) {
      wire.send(`<iq${ns} type='set' id='sess1'><session xmlns='${NS.session}'/></iq>`);
      const reply = (await this.waitFor(iqReply('sess1')))[0];
      if (!/type=['"]result['"]/.test(reply)) throw new Error(`session iq failed: ${reply.slice(0, 300)}`);
    }

    // Stanzas of one session are processed in order, so the ping's answer
    // (result, or an error if ping is not served) means the presence was handled.
    const ping = `<iq${ns} type='get' id='ready1' to='${o.domain}'><ping xmlns='${NS.ping}'/></iq>`;
    if (wire.framed) {
      wire.send(`<presence${ns}/>`);
      wire.send(ping);
    } else {
      wire.send(`<presence/>${ping}`);
    }
    await this.waitFor(iqReply('ready1'));

    const cert = secure.getPeerCertificate();
    const key = cert.asn1Curve ? `EC ${cert.nistCurve ?? cert.asn1Curve}` : cert.exponent ? `RSA ${cert.bits}` : 'other key';
    const over = o.transport === 'websocket' ? 'WebSocket over ' : '';
    this.negotiated = { mechanism, tls: `${over}${secure.getProtocol()} ${secure.getCipher().name} ${key}`, sessionIq, tlsResumed: secure.isSessionReused() };
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
