// Must show: rosters and presence subscriptions (RFC 6121) through client
// libraries others wrote: @xmpp/client (xmpp.js 0.14, driven with raw roster
// and presence stanzas, since it has no roster API) and Debian's slixmpp 1.8
// (through its own roster API: get_roster, send_presence, update_roster,
// del_roster_item; remote-controlled by roster-slixmpp-driver.py).
//
// slixmpp logs in only when no channel binding is offered (see
// slixmpp.clients.test.ts), so this server runs with auth.channel_bindings: [].
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';
import { assertSlixmppInstalled, PYTHON } from './clients/slixmpp.ts';
import { baseEnv } from './clients/process.ts';
import type { XmlElement } from '@xmpp/client';

const DRIVER = fileURLToPath(new URL('./roster-slixmpp-driver.py', import.meta.url));
const NS_ROSTER = 'jabber:iq:roster';
const WAIT_MS = 8000;

interface SlixEvent {
  event: string;
  [key: string]: any;
}

interface SlixItem {
  jid: string;
  subscription: string;
  ask: string | null;
  approved: string | null;
  name: string | null;
  groups: string[];
}

/** A slixmpp client in a child process, commanded line by line. */
class Slix {
  readonly events: SlixEvent[] = [];
  readonly log: string[] = [];
  private waiters: { pred: (e: SlixEvent) => boolean; resolve: (e: SlixEvent) => void }[] = [];
  private counter = 0;
  private exited = false;
  private stderr = '';

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    let buffer = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buffer += d;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!line.trim()) continue;
        this.log.push(line);
        this.deliver(JSON.parse(line) as SlixEvent);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    child.on('exit', () => (this.exited = true));
  }

  static async start(ts: TestServer, user: { jid: string; password: string }, resource: string): Promise<Slix> {
    const child = spawn(PYTHON, [DRIVER], {
      env: baseEnv({
        XMPP_HOST: '127.0.0.1',
        XMPP_PORT: String(ts.starttlsPort),
        XMPP_JID: `${user.jid}/${resource}`,
        XMPP_PASSWORD: user.password,
        XMPP_CA: `${ts.dataDir}/tls/localhost.crt`,
        XMPP_DEBUG: process.env.SLIX_DEBUG === '1' ? '1' : '0',
      }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const s = new Slix(child);
    const ready = await s.next((e) => e.event === 'ready' || e.event === 'error', 20_000);
    if (ready.event !== 'ready') throw new Error(`slixmpp did not start: ${JSON.stringify(ready)}\n${s.stderr}`);
    return s;
  }

  /** Runs one command and waits until the driver has done it. */
  async do(cmd: Record<string, unknown>): Promise<void> {
    const id = `c${++this.counter}`;
    this.child.stdin.write(`${JSON.stringify({ ...cmd, id })}\n`);
    await this.next((e) => e.event === 'done' && e.id === id);
    const err = this.events.findIndex((e) => e.event === 'error');
    if (err >= 0) throw new Error(`slixmpp: ${JSON.stringify(this.events.splice(err, 1)[0])}`);
  }

  async roster(ver?: string): Promise<{ ver: string | null; items: SlixItem[]; empty: boolean }> {
    await this.do({ cmd: 'roster', ver: ver ?? null });
    return (await this.next((e) => e.event === 'roster')) as never;
  }

  /** Takes the first event (received or to come) that matches. */
  next(pred: (e: SlixEvent) => boolean, timeoutMs = WAIT_MS): Promise<SlixEvent> {
    const i = this.events.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.events.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (e: SlixEvent) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`slixmpp: no matching event within ${timeoutMs} ms; events: ${JSON.stringify(this.events)}\n${this.stderr.slice(-2000)}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  presence(from: string, type = 'available'): Promise<SlixEvent> {
    return this.next((e) => e.event === 'presence' && e.type === type && (e.from === from || e.from.startsWith(`${from}/`)));
  }

  push(jid: string): Promise<SlixEvent> {
    return this.next((e) => e.event === 'push' && e.items.some((i: SlixItem) => i.jid === jid));
  }

  /** Events of a kind seen so far, not consumed. */
  seen(event: string): SlixEvent[] {
    return this.events.filter((e) => e.event === event);
  }

  async quit(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin.write(`${JSON.stringify({ cmd: 'quit', id: 'quit' })}\n`);
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (!this.exited) this.child.kill('SIGKILL');
  }

  private deliver(e: SlixEvent): void {
    const w = this.waiters.find((x) => x.pred(e));
    if (w) {
      this.waiters = this.waiters.filter((x) => x !== w);
      w.resolve(e);
    } else this.events.push(e);
  }
}

/** An xmpp.js client that keeps what it receives, for the test to take in order. */
class Js {
  readonly inbox: XmlElement[] = [];
  private waiters: { pred: (e: XmlElement) => boolean; resolve: (e: XmlElement) => void }[] = [];

  private constructor(readonly c: ConnectedClient) {
    c.xmpp.on('stanza', (st: XmlElement) => {
      if (st.name === 'iq' && (st.attrs.type === 'result' || st.attrs.type === 'error')) return; // iqCaller's
      const w = this.waiters.find((x) => x.pred(st));
      if (w) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(st);
      } else this.inbox.push(st);
    });
  }

  static async start(ts: TestServer, user: { local: string; password: string }, resource: string): Promise<Js> {
    const c = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: user.local, password: user.password, resource, presence: false });
    return new Js(c);
  }

  get jid(): string {
    return this.c.jid;
  }

  send(el: XmlElement): Promise<void> {
    return this.c.xmpp.send(el);
  }

  /** Sends presence and waits until the server has handled it (a ping after it is answered). */
  async sendAndSync(el: XmlElement): Promise<void> {
    await this.send(el);
    await this.c.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), this.c.jid.split('@')[1]!.split('/')[0]);
  }

  async roster(ver?: string): Promise<XmlElement> {
    return this.c.xmpp.iqCaller.request(xml('iq', { type: 'get' }, xml('query', ver === undefined ? { xmlns: NS_ROSTER } : { xmlns: NS_ROSTER, ver })));
  }

  async rosterSet(item: Record<string, string>, ...groups: string[]): Promise<XmlElement> {
    return this.c.xmpp.iqCaller.request(
      xml('iq', { type: 'set' }, xml('query', { xmlns: NS_ROSTER }, xml('item', item, ...groups.map((g) => xml('group', {}, g))))),
    );
  }

  next(pred: (e: XmlElement) => boolean, timeoutMs = WAIT_MS): Promise<XmlElement> {
    const i = this.inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (e: XmlElement) => {
          clearTimeout(timer);
          resolve(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`xmpp.js ${this.jid}: nothing matching within ${timeoutMs} ms; inbox: ${this.inbox.map(String).join(' ')}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  presence(from: string, type?: string): Promise<XmlElement> {
    return this.next((e) => e.name === 'presence' && e.attrs.type === type && (e.attrs.from === from || (e.attrs.from ?? '').startsWith(`${from}/`)));
  }

  push(jid: string): Promise<XmlElement> {
    return this.next((e) => e.name === 'iq' && e.attrs.type === 'set' && !!rosterItems(e).find((i) => i.attrs.jid === jid));
  }

  stop(): Promise<void> {
    return this.c.stop();
  }
}

function rosterItems(iqOrQuery: XmlElement): XmlElement[] {
  const query = iqOrQuery.name === 'query' ? iqOrQuery : iqOrQuery.getChild('query', NS_ROSTER);
  return query?.getChildren('item') ?? [];
}

function itemOf(iq: XmlElement, jid: string): Record<string, string | undefined> | undefined {
  return rosterItems(iq).find((i) => i.attrs.jid === jid)?.attrs;
}

describe('rosters and subscriptions: @xmpp/client ↔ slixmpp', () => {
  let ts: TestServer;
  const cleanup: (() => Promise<void>)[] = [];
  const users = new Map<string, { jid: string; local: string; password: string }>();
  const user = async (name: string) => {
    let u = users.get(name);
    if (!u) users.set(name, (u = await ts.addUser(name)));
    return u;
  };
  const js = async (name: string, resource: string) => {
    const c = await Js.start(ts, await user(name), resource);
    cleanup.push(() => c.stop());
    return c;
  };
  const slix = async (name: string, resource: string) => {
    const s = await Slix.start(ts, await user(name), resource);
    cleanup.push(() => s.quit());
    return s;
  };

  before(async () => {
    await assertSlixmppInstalled();
    ts = await startTestServer({ auth: { channel_bindings: [] } });
    trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
  });

  after(async () => {
    await Promise.all(cleanup.splice(0).map((f) => f().catch(() => undefined)));
    await ts?.stop();
  });

  test('add a contact, ask, approve both ways: each sees the other online; then unsubscribe', async () => {
    const bob = await slix('bob', 'slix');
    assert.deepEqual((await bob.roster()).items, []);
    await bob.do({ cmd: 'presence', status: 'slixmpp here' });
    const alice = await js('alice', 'js');
    assert.equal(rosterItems(await alice.roster()).length, 0);
    await alice.sendAndSync(xml('presence'));

    // Alice adds Bob with a name and a group (RFC 6121 §2.3), then asks for his presence (§3.1).
    await alice.rosterSet({ jid: 'bob@localhost', name: 'Bob' }, 'Friends');
    assert.deepEqual(itemOf(await alice.push('bob@localhost'), 'bob@localhost'), { jid: 'bob@localhost', subscription: 'none', name: 'Bob' });
    await alice.send(xml('presence', { to: 'bob@localhost', type: 'subscribe' }, xml('status', {}, 'Alice from xmpp.js')));
    assert.equal(itemOf(await alice.push('bob@localhost'), 'bob@localhost')?.ask, 'subscribe');
    const request = await bob.next((e) => e.event === 'presence' && e.type === 'subscribe');
    assert.equal(request.from, 'alice@localhost', 'stamped with the bare JID (§3.1.2)');
    assert.equal(request.status, 'Alice from xmpp.js');

    // Bob approves: both rosters change, Alice sees Bob online.
    await bob.do({ cmd: 'subscribed', to: 'alice@localhost' });
    const bobPush = (await bob.push('alice@localhost')).items[0] as SlixItem;
    assert.equal(bobPush.subscription, 'from');
    const alicePush = itemOf(await alice.push('bob@localhost'), 'bob@localhost');
    assert.equal(alicePush?.subscription, 'to');
    assert.equal(alicePush?.ask, undefined);
    assert.equal(alicePush?.name, 'Bob', 'the name stays');
    await alice.presence('bob@localhost', 'subscribed');
    const bobOnline = await alice.presence('bob@localhost/slix');
    assert.equal(bobOnline.getChildText('status'), 'slixmpp here');

    // And back: Bob asks, Alice approves, Bob sees Alice online.
    await bob.do({ cmd: 'subscribe', to: 'alice@localhost' });
    const asking = (await bob.push('alice@localhost')).items[0] as SlixItem;
    assert.deepEqual([asking.subscription, asking.ask], ['from', 'subscribe']);
    await alice.presence('bob@localhost', 'subscribe');
    await alice.send(xml('presence', { to: 'bob@localhost', type: 'subscribed' }));
    await bob.presence('alice@localhost', 'subscribed');
    assert.equal(((await bob.push('alice@localhost')).items[0] as SlixItem).subscription, 'both');
    await bob.presence('alice@localhost/js');
    assert.equal(itemOf(await alice.push('bob@localhost'), 'bob@localhost')?.subscription, 'both');
    // An empty 'ver' asks for the whole roster (XEP-0237 §2.3), whatever slixmpp cached from the pushes.
    const rosterB = await bob.roster('');
    assert.deepEqual(rosterB.items, [{ jid: 'alice@localhost', subscription: 'both', ask: null, approved: null, name: null, groups: [] }]);

    // Presence changes now flow both ways.
    await bob.do({ cmd: 'presence', show: 'away', status: 'lunch' });
    const away = await alice.next((e) => e.name === 'presence' && e.attrs.from === 'bob@localhost/slix' && e.getChildText('show') === 'away');
    assert.equal(away.getChildText('status'), 'lunch');

    // Alice unsubscribes from Bob's presence (§3.3): she keeps him as subscriber only.
    await alice.send(xml('presence', { to: 'bob@localhost', type: 'unsubscribe' }));
    assert.equal(itemOf(await alice.push('bob@localhost'), 'bob@localhost')?.subscription, 'from');
    await bob.presence('alice@localhost', 'unsubscribe');
    assert.equal(((await bob.push('alice@localhost')).items[0] as SlixItem).subscription, 'to');
    // Bob's server tells Alice he is gone for her (§3.3.3).
    await alice.presence('bob@localhost/slix', 'unavailable');
    assert.equal(itemOf(await alice.roster(), 'bob@localhost')?.subscription, 'from');
    await bob.quit();
    await alice.stop();
  });

  test('pre-approval (RFC 6121 §3.4): a request that was approved in advance is accepted at once', async () => {
    const carol = await slix('carol', 'slix');
    await carol.roster();
    await carol.do({ cmd: 'presence', status: 'pre-approved you' });
    // Carol approves Dave before he asks: recorded, pushed with approved='true', not sent to Dave.
    await carol.do({ cmd: 'subscribed', to: 'dave@localhost' });
    const pushed = (await carol.push('dave@localhost')).items[0] as SlixItem;
    assert.deepEqual([pushed.subscription, pushed.approved], ['none', 'true']);

    const dave = await js('dave', 'js');
    await dave.roster();
    await dave.sendAndSync(xml('presence'));
    await dave.send(xml('presence', { to: 'carol@localhost', type: 'subscribe' }));
    await dave.presence('carol@localhost', 'subscribed');
    const online = await dave.presence('carol@localhost/slix');
    assert.equal(online.getChildText('status'), 'pre-approved you');
    assert.equal(itemOf(await dave.roster(), 'carol@localhost')?.subscription, 'to');
    const after = (await carol.push('dave@localhost')).items[0] as SlixItem;
    assert.deepEqual([after.subscription, after.approved], ['from', null]);
    assert.equal(carol.seen('presence').filter((e) => e.type === 'subscribe').length, 0, 'Carol was never asked');
    await carol.quit();
    await dave.stop();
  });

  test('directed presence, and its unavailable when the sender logs out (RFC 6121 §4.6)', async () => {
    const erin = await slix('erin', 'slix');
    const frank = await js('frank', 'js');
    await frank.sendAndSync(xml('presence'));
    await erin.do({ cmd: 'presence' });
    // No subscription either way: only directed presence reaches the other.
    await erin.do({ cmd: 'presence', to: 'frank@localhost', status: 'just for Frank' });
    assert.equal((await frank.presence('erin@localhost/slix')).getChildText('status'), 'just for Frank');
    await frank.sendAndSync(xml('presence', { to: 'erin@localhost/slix' }, xml('show', {}, 'chat')));
    assert.equal((await erin.presence('frank@localhost/js')).show, 'chat');

    await erin.quit();
    await frank.presence('erin@localhost/slix', 'unavailable');
    const erin2 = await slix('erin', 'slix2');
    await erin2.do({ cmd: 'presence' });
    await frank.stop();
    // Frank's directed presence went to erin/slix only; erin's new resource hears nothing of him.
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(erin2.seen('presence').filter((e) => e.from.startsWith('frank@')), []);
    await erin2.quit();
  });

  test('a roster change made by one resource is pushed to the other (xmpp.js ↔ slixmpp, same account)', async () => {
    const desk = await js('gina', 'desk');
    await desk.roster();
    const laptop = await slix('gina', 'laptop');
    await laptop.roster();
    const idle = await js('gina', 'idle'); // never asks for the roster: not an interested resource

    await laptop.do({ cmd: 'update', jid: 'henry@localhost', name: 'Henry', groups: ['Work'] });
    await laptop.push('henry@localhost'); // its own change is pushed to it too (RFC 6121 §2.3.2)
    const push = await desk.push('henry@localhost');
    assert.deepEqual(itemOf(push, 'henry@localhost'), { jid: 'henry@localhost', subscription: 'none', name: 'Henry' });
    assert.deepEqual(
      rosterItems(push)[0]!.getChildren('group').map((g) => g.text()),
      ['Work'],
    );
    await desk.rosterSet({ jid: 'henry@localhost', subscription: 'remove' });
    const removed = (await laptop.push('henry@localhost')).items[0] as SlixItem;
    assert.equal(removed.subscription, 'remove');
    await idle.sendAndSync(xml('presence'));
    assert.deepEqual(
      idle.inbox.filter((e) => e.name === 'iq' && e.getChild('query', 'jabber:iq:roster') !== undefined),
      [],
      'no pushes to a resource that did not request the roster',
    );
    await laptop.quit();
    await Promise.all([desk.stop(), idle.stop()]);
  });

  test('roster versioning (XEP-0237): a cached version gets only the changes, as pushes', async () => {
    const web = await js('ivy', 'web');
    await web.roster();
    for (let i = 0; i < 10; i++) await web.rosterSet({ jid: `friend${i}@localhost`, name: `Friend ${i}` });
    // slixmpp bootstraps versioning with ver='0' and caches what it gets.
    const phone1 = await slix('ivy', 'phone');
    const first = await phone1.roster('0');
    assert.equal(first.items.length, 10);
    assert.match(first.ver ?? '', /^\d+$/);
    await phone1.quit();

    // While the phone is away: one added, one renamed, one removed.
    await web.rosterSet({ jid: 'friend10@localhost' });
    await web.rosterSet({ jid: 'friend3@localhost', name: 'Three' });
    await web.rosterSet({ jid: 'friend7@localhost', subscription: 'remove' });

    const phone2 = await slix('ivy', 'phone');
    const second = await phone2.roster(first.ver!);
    assert.equal(second.empty, false);
    assert.deepEqual(second.items, [], 'the result carries no items, only the new version');
    const pushes = [await phone2.push('friend10@localhost'), await phone2.push('friend3@localhost'), await phone2.push('friend7@localhost')];
    assert.deepEqual(
      pushes.map((p) => [p.items[0].jid, p.items[0].subscription, p.items[0].name]),
      [
        ['friend10@localhost', 'none', null],
        ['friend3@localhost', 'none', 'Three'],
        ['friend7@localhost', 'remove', null],
      ],
    );
    const vers = pushes.map((p) => Number(p.ver));
    assert.ok(vers[0]! < vers[1]! && vers[1]! < vers[2]!, `increasing versions: ${vers.join(', ')}`);
    assert.equal(String(vers[2]), second.ver, 'the last push brings the version the result announced');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(phone2.seen('push'), [], 'nothing else was pushed');

    // Up to date: an empty result (no <query/> at all), from xmpp.js too.
    const same = await web.roster(second.ver!);
    assert.equal(same.getChild('query'), undefined);
    await phone2.quit();
    await web.stop();
  });
});
