// A deliberately small XMPP client on raw sockets, for tests that need to send
// exact bytes (including hostile ones) and see exactly what the server answers.
// What the server sends is parsed with our own XmlStreamParser, restarted
// whenever the stream is (after STARTTLS and after SASL success).
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket, type SecureVersion } from 'node:tls';
import { XmlStreamParser } from '../../src/net/xml-stream.ts';
import { Element, escapeAttr } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { ScramClient } from '../../src/auth/scram-client.ts';
import type { ScramHash } from '../../src/auth/credentials.ts';
import type { ChannelBindingType } from '../../src/auth/scram.ts';

export interface ConnectOptions {
  port: number;
  host?: string;
  /** XEP-0368: TLS from the first byte. */
  directTls?: boolean;
  /** The server's data dir; its self-signed certificate is trusted. */
  dataDir: string;
  domain?: string;
  /** e.g. 'TLSv1.2' to force a TLS 1.2 connection. */
  maxVersion?: SecureVersion;
  /** Source address of a STARTTLS connection, e.g. '127.0.0.2' to appear as another host on loopback. */
  localAddress?: string;
}

export interface AuthOptions {
  mechanism: string;
  username: string;
  password: string;
  /** Required for -PLUS mechanisms. */
  channelBinding?: ChannelBindingType;
  /** Send the 'y' gs2 flag (client could bind, thinks the server can't). */
  clientSupportsPlus?: boolean;
  /** A man in the middle: the binding data of another TLS connection (or a function altering ours). */
  tamper?: Buffer | ((real: Buffer) => Buffer);
}

export type AuthResult = { ok: true } | { ok: false; condition: string; text: string | undefined; element: Element };

export interface StreamErrorInfo {
  condition: string;
  text: string | undefined;
}

type Predicate = (el: Element) => boolean;

interface Waiter {
  predicate: Predicate;
  resolve(el: Element): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

const CLIENT_LIMITS = { maxStanzaBytes: 16 * 1024 * 1024, maxDepth: 256, maxAttributes: 1024, maxAttributeBytes: 1 << 20, maxNameBytes: 4096 };
export const DEFAULT_TIMEOUT = 3000;

export class RawClient {
  readonly opts: ConnectOptions;
  socket: Socket | TLSSocket;
  /** Elements received and not yet taken by next(). */
  readonly inbox: Element[] = [];
  /** Every element received, in order, whether or not next() took it (for XEP-0198 counting). */
  readonly received: Element[] = [];
  /** Attributes of the last stream header received. */
  header: Record<string, string> | undefined;
  streamEnded = false;
  /** Set when what the server sent was not a valid stream (should never happen). */
  parseError: string | undefined;
  jid: string | undefined;
  /**
   * Answer the server's software version query (XEP-0092) as real clients do, and
   * keep it out of the inbox: the sessions module asks every new session. Tests
   * about that query turn this off.
   */
  answerVersion = true;
  private parser!: XmlStreamParser;
  private waiters: Waiter[] = [];
  private headerWaiters: (() => void)[] = [];
  private isClosed = false;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  private counter = 0;

  private constructor(opts: ConnectOptions, socket: Socket | TLSSocket) {
    this.opts = opts;
    this.socket = socket;
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
    this.resetParser();
    this.attach(socket);
  }

  static async connect(opts: ConnectOptions): Promise<RawClient> {
    const host = opts.host ?? '127.0.0.1';
    let socket: Socket | TLSSocket;
    if (opts.directTls) {
      socket = tlsConnect({ host, port: opts.port, ...tlsOptions(opts), ALPNProtocols: ['xmpp-client'] });
      await once(socket, 'secureConnect');
    } else {
      socket = netConnect({ host, port: opts.port, localAddress: opts.localAddress });
      await once(socket, 'connect');
    }
    socket.setNoDelay(true);
    return new RawClient(opts, socket);
  }

  get domain(): string {
    return this.opts.domain ?? 'localhost';
  }

  get closed(): boolean {
    return this.isClosed;
  }

  get tls(): TLSSocket | undefined {
    return 'encrypted' in this.socket ? (this.socket as TLSSocket) : undefined;
  }

  /** Resolves when the connection is gone (server closed it, or we did). */
  waitClosed(timeoutMs = DEFAULT_TIMEOUT): Promise<void> {
    return withTimeout(this.closedPromise, timeoutMs, 'the connection to close');
  }

  sendRaw(data: string | Buffer): void {
    this.socket.write(data);
  }

  send(el: Element | string): void {
    this.sendRaw(typeof el === 'string' ? el : el.toString());
  }

  newId(): string {
    return `c${++this.counter}`;
  }

  /** Sends a stream header (fresh parser for the server's answer) and returns the features. */
  async openStream(attrs: Record<string, string> = {}): Promise<Element> {
    this.resetParser();
    const all: Record<string, string> = { to: this.domain, version: '1.0', 'xml:lang': 'en', ...attrs };
    let header = `<?xml version='1.0'?><stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}'`;
    for (const [k, v] of Object.entries(all)) header += ` ${k}='${v}'`;
    this.sendRaw(header + '>');
    return this.features();
  }

  /** Waits for the server's stream header (it is sent even when the stream is then refused). */
  async streamHeader(timeoutMs = DEFAULT_TIMEOUT): Promise<Record<string, string>> {
    if (!this.header) {
      await withTimeout(new Promise<void>((r) => this.headerWaiters.push(r)), timeoutMs, 'the stream header');
    }
    return this.header!;
  }

  features(timeoutMs = DEFAULT_TIMEOUT): Promise<Element> {
    return this.next((el) => el.name === 'features' && el.ns === NS.stream, timeoutMs);
  }

  /** STARTTLS (RFC 6120 §5), then a new stream; returns the new features. */
  async startTls(): Promise<Element> {
    this.sendRaw(`<starttls xmlns='${NS.tls}'/>`);
    await this.next((el) => el.name === 'proceed' && el.ns === NS.tls);
    const raw = this.socket;
    raw.removeAllListeners('data');
    const secure = tlsConnect({ socket: raw, ...tlsOptions(this.opts) });
    await once(secure, 'secureConnect');
    this.socket = secure;
    this.attach(secure);
    return this.openStream();
  }

  /** The channel binding data this client sees for its own TLS connection. */
  channelBindingData(type: ChannelBindingType): Buffer {
    const tls = this.tls;
    if (!tls) throw new Error('channel binding needs TLS');
    if (type === 'tls-exporter') return tls.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0));
    const cert = tls.getPeerX509Certificate();
    if (!cert) throw new Error('no server certificate');
    return createHash('sha256').update(cert.raw).digest();
  }

  /** One SASL exchange with ScramClient (or PLAIN). Does not restart the stream. */
  async authenticate(o: AuthOptions): Promise<AuthResult> {
    let initial: Buffer;
    let scram: ScramClient | undefined;
    if (o.mechanism === 'PLAIN') {
      initial = Buffer.from(`\0${o.username}\0${o.password}`, 'utf8');
    } else {
      const m = /^SCRAM-(SHA-1|SHA-256|SHA-512)(-PLUS)?$/.exec(o.mechanism);
      if (!m) throw new Error(`unknown mechanism ${o.mechanism}`);
      const plus = m[2] !== undefined;
      if (plus && !o.channelBinding) throw new Error(`${o.mechanism} needs a channelBinding type`);
      const cb = plus ? { type: o.channelBinding!, data: this.channelBindingData(o.channelBinding!) } : undefined;
      const tamper = typeof o.tamper === 'function' ? o.tamper(cb?.data ?? Buffer.alloc(0)) : o.tamper;
      scram = new ScramClient({
        hash: m[1] as ScramHash,
        username: o.username,
        password: o.password,
        channelBinding: cb,
        clientSupportsPlus: o.clientSupportsPlus,
        tamperChannelBindingData: tamper,
      });
      initial = scram.first();
    }
    this.sendRaw(`<auth xmlns='${NS.sasl}' mechanism='${o.mechanism}'>${initial.toString('base64')}</auth>`);
    const isSasl = (el: Element) => el.ns === NS.sasl && ['challenge', 'success', 'failure'].includes(el.name);
    let reply = await this.next(isSasl);
    if (reply.name === 'challenge' && scram) {
      const final = await scram.final(Buffer.from(reply.text, 'base64'));
      this.sendRaw(`<response xmlns='${NS.sasl}'>${final.toString('base64')}</response>`);
      reply = await this.next(isSasl);
    }
    if (reply.name === 'success') {
      if (scram && !scram.verify(Buffer.from(reply.text, 'base64'))) throw new Error('server signature did not verify');
      return { ok: true };
    }
    if (reply.name === 'failure') {
      const condition = reply.elements.find((e) => e.name !== 'text')?.name ?? '';
      return { ok: false, condition, text: reply.getChildText('text'), element: reply };
    }
    throw new Error(`unexpected SASL element ${reply.toString()}`);
  }

  /** Resource binding (RFC 6120 §7); returns the full JID. */
  async bind(resource?: string): Promise<string> {
    const id = this.newId();
    const res = resource === undefined ? '' : `<resource>${escape(resource)}</resource>`;
    this.sendRaw(`<iq type='set' id='${id}'><bind xmlns='${NS.bind}'>${res}</bind></iq>`);
    const reply = await this.next((el) => el.name === 'iq' && el.attrs.id === id);
    const jid = reply.getChild('bind', NS.bind)?.getChildText('jid');
    if (reply.attrs.type !== 'result' || !jid) throw new Error(`bind failed: ${reply.toString()}`);
    this.jid = jid;
    return jid;
  }

  /** Sends an iq and waits for the result or error with the same id. */
  async iq(type: 'get' | 'set', payload: string, attrs: Record<string, string> = {}): Promise<Element> {
    const id = attrs.id ?? this.newId();
    let open = `<iq type='${type}' id='${id}'`;
    for (const [k, v] of Object.entries(attrs)) if (k !== 'id') open += ` ${k}='${escape(v)}'`;
    this.sendRaw(`${open}>${payload}</iq>`);
    return this.next((el) => el.name === 'iq' && el.attrs.id === id && (el.attrs.type === 'result' || el.attrs.type === 'error'));
  }

  /** XEP-0199 ping to the server; resolves to the reply. */
  ping(): Promise<Element> {
    return this.iq('get', `<ping xmlns='urn:xmpp:ping'/>`, { to: this.domain });
  }

  /**
   * Takes the first received element that matches (waiting up to timeoutMs);
   * elements that don't match stay in the inbox.
   */
  next(predicate: Predicate = () => true, timeoutMs = DEFAULT_TIMEOUT): Promise<Element> {
    const i = this.inbox.findIndex(predicate);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    if (this.isClosed) return Promise.reject(new Error(`connection closed; inbox: ${this.describeInbox()}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new Error(`no matching element within ${timeoutMs} ms; inbox: ${this.describeInbox()}`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Awaits a stream error, checks its condition, and returns it with its text. */
  async expectStreamError(condition: string, timeoutMs = DEFAULT_TIMEOUT): Promise<StreamErrorInfo> {
    const el = await this.next((e) => e.name === 'error' && e.ns === NS.stream, timeoutMs);
    const info = streamErrorInfo(el);
    if (info.condition !== condition) {
      throw new Error(`expected stream error <${condition}/>, got <${info.condition}/> (${info.text ?? 'no text'})`);
    }
    return info;
  }

  /** Politely ends the stream and waits for the server to close. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.sendRaw('</stream:stream>');
    try {
      await this.waitClosed(1000);
    } catch {
      this.destroy();
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  describeInbox(): string {
    return this.inbox.length ? this.inbox.map((e) => e.toString()).join(' ') : '(empty)';
  }

  private resetParser(): void {
    this.header = undefined;
    this.streamEnded = false;
    this.parser = new XmlStreamParser(
      {
        streamStart: (attrs) => {
          this.header = attrs;
          for (const w of this.headerWaiters.splice(0)) w();
        },
        stanza: (el) => this.deliver(el),
        streamEnd: () => (this.streamEnded = true),
        error: (condition, text) => (this.parseError = `${condition}: ${text}`),
      },
      CLIENT_LIMITS,
    );
  }

  private attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => this.parser.write(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (socket !== this.socket) return;
      this.isClosed = true;
      this.resolveClosed();
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(new Error(`connection closed while waiting; inbox: ${this.describeInbox()}`));
      }
    });
  }

  private deliver(el: Element): void {
    this.received.push(el);
    if (this.answerVersion && isServerVersionQuery(el, this.domain)) {
      this.send(`<iq type='result' id='${escapeAttr(el.attrs.id ?? '')}' to='${this.domain}'><query xmlns='${NS.version}'><name>palisade-raw-test-client</name><version>1</version></query></iq>`);
      return;
    }
    const w = this.waiters.find((w) => w.predicate(el));
    if (!w) {
      this.inbox.push(el);
      return;
    }
    this.waiters = this.waiters.filter((x) => x !== w);
    clearTimeout(w.timer);
    w.resolve(el);
  }
}

function isServerVersionQuery(el: Element, domain: string): boolean {
  return el.name === 'iq' && el.attrs.type === 'get' && el.attrs.from === domain && el.getChild('query', NS.version) !== undefined;
}

export function streamErrorInfo(el: Element): StreamErrorInfo {
  const cond = el.elements.find((e) => e.ns === NS.streams && e.name !== 'text');
  return { condition: cond?.name ?? '', text: el.getChild('text', NS.streams)?.text };
}

/** The stanza error condition and text of an error reply. */
export function stanzaError(el: Element): { type: string | undefined; condition: string; text: string | undefined } {
  const err = el.getChild('error');
  const cond = err?.elements.find((e) => e.ns === NS.stanzas && e.name !== 'text');
  return { type: err?.attrs.type, condition: cond?.name ?? '', text: err?.getChild('text', NS.stanzas)?.text };
}

/** Connects, negotiates TLS (STARTTLS unless directTls), authenticates with SCRAM-SHA-256 and binds. */
export async function login(
  opts: ConnectOptions & { username: string; password: string; resource?: string; mechanism?: string },
): Promise<RawClient> {
  const c = await RawClient.connect(opts);
  try {
    if (opts.directTls) await c.openStream();
    else {
      await c.openStream();
      await c.startTls();
    }
    const r = await c.authenticate({ mechanism: opts.mechanism ?? 'SCRAM-SHA-256', username: opts.username, password: opts.password });
    if (!r.ok) throw new Error(`login of ${opts.username} failed: ${r.condition} ${r.text ?? ''}`);
    await c.openStream();
    await c.bind(opts.resource);
    return c;
  } catch (err) {
    c.destroy();
    throw err;
  }
}

/** login() without the bind: connects, negotiates TLS, authenticates and restarts the stream; returns the features (e.g. to send <resume/>). */
export async function loginUnbound(
  opts: ConnectOptions & { username: string; password: string; mechanism?: string },
): Promise<{ client: RawClient; features: Element }> {
  const c = await RawClient.connect(opts);
  try {
    await c.openStream();
    if (!opts.directTls) await c.startTls();
    const r = await c.authenticate({ mechanism: opts.mechanism ?? 'SCRAM-SHA-256', username: opts.username, password: opts.password });
    if (!r.ok) throw new Error(`login of ${opts.username} failed: ${r.condition} ${r.text ?? ''}`);
    return { client: c, features: await c.openStream() };
  } catch (err) {
    c.destroy();
    throw err;
  }
}

export function randomResource(): string {
  return randomBytes(4).toString('hex');
}

function tlsOptions(opts: ConnectOptions) {
  return {
    ca: readFileSync(`${opts.dataDir}/tls/${opts.domain ?? 'localhost'}.crt`),
    servername: opts.domain ?? 'localhost',
    ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
  };
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

function once(emitter: Socket, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    emitter.once('error', onError);
    emitter.once(event, () => {
      emitter.off('error', onError);
      resolve();
    });
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))),
  ]);
}
