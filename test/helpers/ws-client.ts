// A small XMPP-over-WebSocket (RFC 7395) client for tests that need to see
// exactly which frames the server sends. Each text frame is parsed on its own
// (as the RFC requires it to be a complete element); the raw text is kept too,
// to check the namespace declarations on the wire.
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { parseElement } from '../../src/net/xml-stream.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { ScramClient } from '../../src/auth/scram-client.ts';
import type { ScramHash } from '../../src/auth/credentials.ts';
import { DEFAULT_TIMEOUT } from './raw-client.ts';

export interface WsConnectOptions {
  port: number;
  /** The server's data dir; its self-signed certificate is trusted (verification stays on). */
  dataDir: string;
  domain?: string;
  /** Subprotocols to offer; RFC 7395 requires ['xmpp']. */
  protocols?: string[];
  path?: string;
}

interface Waiter {
  predicate: (el: Element) => boolean;
  resolve(el: Element): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** The TLS options that trust the test server's self-signed certificate. */
export function trustTestServer(dataDir: string, domain = 'localhost'): { ca: Buffer; servername: string } {
  return { ca: readFileSync(`${dataDir}/tls/${domain}.crt`), servername: domain };
}

export class WsClient {
  readonly ws: WebSocket;
  readonly domain: string;
  /** Every text frame received, as sent. */
  readonly frames: string[] = [];
  readonly inbox: Element[] = [];
  jid: string | undefined;
  closeCode: number | undefined;
  private waiters: Waiter[] = [];
  private readonly closedPromise: Promise<number>;
  private counter = 0;

  private constructor(ws: WebSocket, domain: string) {
    this.ws = ws;
    this.domain = domain;
    this.closedPromise = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(`connection closed (${code}) while waiting; inbox: ${this.describeInbox()}`));
        }
        resolve(code);
      }),
    );
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? `(binary ${(data as Buffer).length} bytes)` : (data as Buffer).toString('utf8');
      this.frames.push(text);
      if (!isBinary) this.deliver(parseElement(text));
    });
  }

  static connect(opts: WsConnectOptions): Promise<WsClient> {
    const domain = opts.domain ?? 'localhost';
    const ws = new WebSocket(`wss://127.0.0.1:${opts.port}${opts.path ?? '/xmpp-websocket'}`, opts.protocols ?? ['xmpp'], trustTestServer(opts.dataDir, domain));
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsClient(ws, domain)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} instead of a WebSocket`)));
    });
  }

  send(xml: string): void {
    this.ws.send(xml);
  }

  newId(): string {
    return `w${++this.counter}`;
  }

  /** Sends <open/> and waits for the server's <open/> and <stream:features/>. */
  async open(): Promise<{ open: Element; features: Element }> {
    this.send(`<open xmlns='${NS.framing}' to='${this.domain}' version='1.0'/>`);
    const open = await this.next((el) => el.name === 'open' && el.ns === NS.framing);
    const features = await this.next((el) => el.name === 'features' && el.ns === NS.stream);
    return { open, features };
  }

  /** SCRAM (no channel binding) or PLAIN; true on success. */
  async authenticate(mechanism: string, username: string, password: string): Promise<boolean> {
    const m = /^SCRAM-(SHA-1|SHA-256|SHA-512)$/.exec(mechanism);
    const scram = m ? new ScramClient({ hash: m[1] as ScramHash, username, password }) : undefined;
    const initial = scram ? scram.first() : Buffer.from(`\0${username}\0${password}`, 'utf8');
    this.send(`<auth xmlns='${NS.sasl}' mechanism='${mechanism}'>${initial.toString('base64')}</auth>`);
    const isSasl = (el: Element) => el.ns === NS.sasl && ['challenge', 'success', 'failure'].includes(el.name);
    let reply = await this.next(isSasl);
    if (reply.name === 'challenge' && scram) {
      this.send(`<response xmlns='${NS.sasl}'>${(await scram.final(Buffer.from(reply.text, 'base64'))).toString('base64')}</response>`);
      reply = await this.next(isSasl);
    }
    if (reply.name !== 'success') return false;
    if (scram && !scram.verify(Buffer.from(reply.text, 'base64'))) throw new Error('server signature did not verify');
    return true;
  }

  async bind(resource: string): Promise<string> {
    const id = this.newId();
    this.send(`<iq xmlns='${NS.client}' type='set' id='${id}'><bind xmlns='${NS.bind}'><resource>${resource}</resource></bind></iq>`);
    const reply = await this.next((el) => el.name === 'iq' && el.attrs.id === id);
    const jid = reply.getChild('bind', NS.bind)?.getChildText('jid');
    if (reply.attrs.type !== 'result' || !jid) throw new Error(`bind failed: ${reply.toString()}`);
    this.jid = jid;
    return jid;
  }

  /** Takes the first received element that matches, waiting up to timeoutMs. */
  next(predicate: (el: Element) => boolean = () => true, timeoutMs = DEFAULT_TIMEOUT): Promise<Element> {
    const i = this.inbox.findIndex(predicate);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    if (this.closeCode !== undefined) return Promise.reject(new Error(`connection closed; inbox: ${this.describeInbox()}`));
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

  /** Resolves with the close code once the WebSocket is closed. */
  waitClosed(timeoutMs = DEFAULT_TIMEOUT): Promise<number> {
    let timer: NodeJS.Timeout;
    return Promise.race([
      this.closedPromise.finally(() => clearTimeout(timer)),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not closed within ${timeoutMs} ms`)), timeoutMs))),
    ]);
  }

  terminate(): void {
    this.ws.terminate();
  }

  describeInbox(): string {
    return this.inbox.length ? this.inbox.map((e) => e.toString()).join(' ') : '(empty)';
  }

  private deliver(el: Element): void {
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

/** Connects, opens, authenticates with SCRAM-SHA-256, opens again and binds. */
export async function wsLogin(opts: WsConnectOptions & { username: string; password: string; resource: string }): Promise<WsClient> {
  const c = await WsClient.connect(opts);
  try {
    await c.open();
    if (!(await c.authenticate('SCRAM-SHA-256', opts.username, opts.password))) throw new Error(`login of ${opts.username} failed`);
    await c.open();
    await c.bind(opts.resource);
    return c;
  } catch (err) {
    c.terminate();
    throw err;
  }
}
