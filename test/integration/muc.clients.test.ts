// Must show: group chat (XEP-0045) works with client libraries others wrote.
// @xmpp/client (xmpp.js 0.14, no MUC plugin: its own stanzas) and slixmpp 1.8
// (Debian's python3-slixmpp, its xep_0045 plugin) each go through: three users
// in a members-only room, history on join, private messages between occupants,
// a member trying owner and moderator actions (forbidden, nothing changes), a
// moderator kicking and banning, the outcast unable to come back. Slixmpp runs
// as a separate process that the test drives with JSON commands in chat
// messages (muc-slixmpp.py), once as the room's owner and once as a member.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { XmlElement } from '@xmpp/client';
import { DEFAULT_MODULES } from '../../src/config/schema/modules.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';
import { assertSlixmppInstalled, PYTHON } from './clients/slixmpp.ts';
import { baseEnv, describeRun, run, type ProcessResult } from './clients/process.ts';

const SLIX_SCRIPT = fileURLToPath(new URL('./muc-slixmpp.py', import.meta.url));
const MUC = 'http://jabber.org/protocol/muc';
const USER = `${MUC}#user`;
const SERVICE = 'conference.localhost';

let ts: TestServer;
const open: ConnectedClient[] = [];

before(async () => {
  await assertSlixmppInstalled();
  // slixmpp 1.8 can't do SCRAM-*-PLUS on TLS 1.3 (see slixmpp.clients.test.ts).
  const modules = Object.fromEntries(Object.keys(DEFAULT_MODULES).map((m) => [m, {}]));
  ts = await startTestServer({ auth: { channel_bindings: [] }, modules });
  trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
});
after(async () => {
  await Promise.all(open.splice(0).map((c) => c.stop()));
  await ts?.stop();
});

/** An xmpp.js client with every stanza it receives recorded, and a way to wait for one. */
interface Js extends ConnectedClient {
  waitFor(match: (st: XmlElement) => boolean, timeoutMs?: number): Promise<XmlElement>;
  /** Forgets the recorded stanzas that match (e.g. a room's live messages before joining it again). */
  discard(match: (st: XmlElement) => boolean): void;
}

async function login(user: { local: string; password: string }, resource: string): Promise<Js> {
  const c = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: user.local, password: user.password, resource });
  open.push(c);
  const seen: XmlElement[] = [];
  const waiters: { match: (st: XmlElement) => boolean; resolve: (st: XmlElement) => void }[] = [];
  c.xmpp.on('stanza', (st: XmlElement) => {
    const w = waiters.find((one) => one.match(st));
    if (w) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(st);
    } else seen.push(st);
  });
  return Object.assign(c, {
    discard(match: (st: XmlElement) => boolean): void {
      for (let i = seen.length - 1; i >= 0; i--) if (match(seen[i]!)) seen.splice(i, 1);
    },
    waitFor(match: (st: XmlElement) => boolean, timeoutMs = 5000): Promise<XmlElement> {
      const i = seen.findIndex(match);
      if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0]!);
      return new Promise<XmlElement>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching stanza within ${timeoutMs} ms; unclaimed: ${seen.map(String).join(' ')}`)), timeoutMs);
        waiters.push({
          match,
          resolve: (st) => {
            clearTimeout(timer);
            resolve(st);
          },
        });
      });
    },
  });
}

const codes = (st: XmlElement): number[] =>
  (st.getChild('x', USER)?.getChildren('status') ?? []).map((s: XmlElement) => Number(s.attrs.code)).sort((a: number, b: number) => a - b);
const fromRoom = (room: string) => (st: XmlElement) => typeof st.attrs.from === 'string' && st.attrs.from.startsWith(`${room}@${SERVICE}`);

/** Joins with xmpp.js's own stanzas; resolves to the self-presence or rejects with the error condition. */
async function join(
  c: Js,
  room: string,
  nick: string,
  history?: Record<string, string>,
): Promise<{ self: XmlElement; history: string[]; subject: XmlElement }> {
  const x = xml('x', { xmlns: MUC });
  if (history) x.children.push(xml('history', history));
  c.discard(fromRoom(room));
  await c.xmpp.send(xml('presence', { to: `${room}@${SERVICE}/${nick}` }, x));
  const self = await c.waitFor((st) => st.name === 'presence' && fromRoom(room)(st) && (st.attrs.type === 'error' || codes(st).includes(110)));
  if (self.attrs.type === 'error') throw Object.assign(new Error('join refused'), { condition: conditionOf(self) });
  const bodies: string[] = [];
  for (;;) {
    const m = await c.waitFor((st) => st.name === 'message' && st.attrs.type === 'groupchat' && fromRoom(room)(st));
    if (m.getChild('subject')) return { self, history: bodies, subject: m };
    assert.ok(m.getChild('delay', NS.delay), 'history carries a delay stamp');
    bodies.push(m.getChildText('body') ?? '');
  }
}

function conditionOf(st: XmlElement): string {
  const err = st.getChild('error');
  const condition = err?.children.find((e): e is XmlElement => typeof e !== 'string' && e.attrs.xmlns === NS.stanzas && e.name !== 'text');
  return condition?.name ?? 'none';
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { condition?: string }).condition ?? String(err);
  }
  return 'no error';
}

const roomIq = (c: Js, room: string, type: 'get' | 'set', ns: string, ...children: XmlElement[]) =>
  c.xmpp.iqCaller.request(xml('iq', { type, to: `${room}@${SERVICE}` }, xml('query', { xmlns: ns }, ...children)));
const submit = (fields: Record<string, string>) =>
  xml(
    'x',
    { xmlns: NS.dataForms, type: 'submit' },
    xml('field', { var: 'FORM_TYPE' }, xml('value', {}, `${MUC}#roomconfig`)),
    ...Object.entries(fields).map(([k, v]) => xml('field', { var: `muc#roomconfig_${k}` }, xml('value', {}, v))),
  );
async function membersOnly(c: Js, room: string): Promise<string | undefined> {
  const form = await roomIq(c, room, 'get', `${MUC}#owner`);
  const field = form
    .getChild('query')!
    .getChild('x')!
    .getChildren('field')
    .find((f: XmlElement) => f.attrs.var === 'muc#roomconfig_membersonly');
  return field?.getChildText('value') ?? undefined;
}
const say = (c: Js, room: string, body: string) => c.xmpp.send(xml('message', { to: `${room}@${SERVICE}`, type: 'groupchat' }, xml('body', {}, body)));
const heard = (c: Js, room: string, body: string) =>
  c.waitFor((st) => st.name === 'message' && st.attrs.type === 'groupchat' && fromRoom(room)(st) && st.getChildText('body') === body);
const removal = (c: Js, room: string) =>
  c.waitFor((st) => st.name === 'presence' && st.attrs.type === 'unavailable' && fromRoom(room)(st) && codes(st).includes(110));

const MAM = 'urn:xmpp:mam:2';
const RSM = 'http://jabber.org/protocol/rsm';
let queries = 0;

/** A room archive page: the results that reached the client before the iq result, the bodies and the <fin/>. */
interface RoomPage {
  results: XmlElement[];
  bodies: string[];
  complete: string | undefined;
  first: string | null;
  last: string | null;
  count: number;
}

/** One MAM query to the room's bare JID with xmpp.js's own stanzas; rejects with the error condition. */
async function roomArchive(c: Js, room: string, opts: { form?: Record<string, string>; rsm?: XmlElement[] } = {}): Promise<RoomPage> {
  const queryid = `rq${++queries}`;
  const children: XmlElement[] = [];
  if (opts.form) {
    children.push(
      xml(
        'x',
        { xmlns: NS.dataForms, type: 'submit' },
        xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, MAM)),
        ...Object.entries(opts.form).map(([k, v]) => xml('field', { var: k }, xml('value', {}, v))),
      ),
    );
  }
  if (opts.rsm) children.push(xml('set', { xmlns: RSM }, ...opts.rsm));
  let reply: XmlElement;
  try {
    reply = await c.xmpp.iqCaller.request(xml('iq', { type: 'set', to: `${room}@${SERVICE}` }, xml('query', { xmlns: MAM, queryid }, ...children)));
  } catch (err) {
    throw Object.assign(new Error('archive query refused'), { condition: (err as { condition?: string }).condition });
  }
  const fin = reply.getChild('fin', MAM)!;
  const set = fin.getChild('set', RSM)!;
  const results = c.messages.filter((m) => m.getChild('result', MAM)?.attrs.queryid === queryid);
  for (const r of results) {
    assert.equal(r.attrs.from, `${room}@${SERVICE}`, 'results come from the room');
    assert.ok(r.getChild('result', MAM)!.getChild('forwarded', NS.forward)!.getChild('delay', NS.delay), 'each result carries the time it was archived');
  }
  return {
    results,
    bodies: results.map((r) => r.getChild('result', MAM)!.getChild('forwarded', NS.forward)!.getChild('message')!.getChildText('body') ?? ''),
    complete: fin.attrs.complete,
    first: set.getChildText('first'),
    last: set.getChildText('last'),
    count: Number(set.getChildText('count')),
  };
}
const forwardedFrom = (r: XmlElement) => r.getChild('result', MAM)!.getChild('forwarded', NS.forward)!.getChild('message')!.attrs.from as string;
const resultId = (r: XmlElement) => r.getChild('result', MAM)!.attrs.id as string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('MUC with @xmpp/client', () => {
  test('members-only room of three: history, private message, a member refused owner actions, kick, ban, the outcast stays out', async () => {
    const [aliceU, bobU, carolU] = await Promise.all(['alice', 'bob', 'carol'].map((n) => ts.addUser(n)));
    const alice = await login(aliceU!, 'js');
    const bob = await login(bobU!, 'js');
    const carol = await login(carolU!, 'js');

    const created = await join(alice, 'jsroom', 'alice');
    assert.deepEqual(codes(created.self), [110, 201]);
    await roomIq(alice, 'jsroom', 'set', `${MUC}#owner`, submit({ membersonly: '1', historylength: '5', roomname: 'xmpp.js room' }));
    await roomIq(
      alice,
      'jsroom',
      'set',
      `${MUC}#admin`,
      xml('item', { jid: bobU!.jid, affiliation: 'member' }),
      xml('item', { jid: carolU!.jid, affiliation: 'member' }),
    );
    const bobIn = await join(bob, 'jsroom', 'bob');
    assert.equal(bobIn.self.getChild('x', USER)!.getChild('item')!.attrs.affiliation, 'member');
    for (const n of [1, 2, 3, 4]) {
      await say(alice, 'jsroom', `h${n}`);
      await heard(bob, 'jsroom', `h${n}`);
    }
    const carolIn = await join(carol, 'jsroom', 'carol', { maxstanzas: '3' });
    assert.deepEqual(carolIn.history, ['h2', 'h3', 'h4']);

    await bob.xmpp.send(xml('message', { to: `jsroom@${SERVICE}/carol`, type: 'chat' }, xml('body', {}, 'psst, carol')));
    const pm = await carol.waitFor((st) => st.name === 'message' && st.getChildText('body') === 'psst, carol');
    assert.equal(pm.attrs.from, `jsroom@${SERVICE}/bob`);
    assert.equal(pm.attrs.type, 'chat');

    // Bob (a member) tries owner and moderator actions: forbidden, and nothing changes.
    assert.equal(await refusal(roomIq(bob, 'jsroom', 'set', `${MUC}#owner`, submit({ membersonly: '0' }))), 'forbidden');
    assert.equal(await refusal(roomIq(bob, 'jsroom', 'set', `${MUC}#admin`, xml('item', { jid: carolU!.jid, affiliation: 'outcast' }))), 'forbidden');
    assert.equal(await refusal(roomIq(bob, 'jsroom', 'set', `${MUC}#admin`, xml('item', { nick: 'carol', role: 'none' }))), 'forbidden');
    assert.equal(await refusal(roomIq(bob, 'jsroom', 'set', `${MUC}#owner`, xml('destroy'))), 'forbidden');
    assert.equal(await membersOnly(alice, 'jsroom'), '1');
    const participants = await roomIq(alice, 'jsroom', 'get', `${MUC}#admin`, xml('item', { role: 'participant' }));
    assert.deepEqual(
      participants
        .getChild('query')!
        .getChildren('item')
        .map((i: XmlElement) => i.attrs.nick)
        .sort(),
      ['bob', 'carol'],
    );

    await roomIq(alice, 'jsroom', 'set', `${MUC}#admin`, xml('item', { nick: 'carol', role: 'none' }, xml('reason', {}, 'a break')));
    assert.deepEqual(codes(await removal(carol, 'jsroom')), [110, 307]);
    await join(carol, 'jsroom', 'carol', { maxstanzas: '0' });
    await roomIq(alice, 'jsroom', 'set', `${MUC}#admin`, xml('item', { jid: carolU!.jid, affiliation: 'outcast' }));
    assert.deepEqual(codes(await removal(carol, 'jsroom')), [110, 301]);
    assert.equal(await refusal(join(carol, 'jsroom', 'carol')), 'forbidden');
  });
});

describe('MUC archive (XEP-0313 on rooms) with @xmpp/client', () => {
  test('three users in a members-only room: history and the room archive return the right messages, paged and by time; a non-member is refused', async () => {
    const [aliceU, bobU, carolU, eveU] = await Promise.all(['amam', 'bmam', 'cmam', 'emam'].map((n) => ts.addUser(n)));
    const alice = await login(aliceU!, 'js');
    const bob = await login(bobU!, 'js');
    const carol = await login(carolU!, 'js');
    const eve = await login(eveU!, 'js');
    const room = 'archived';

    await join(alice, room, 'alice');
    // Archiving is on by default; a room keeps an archive once it is persistent.
    await roomIq(alice, room, 'set', `${MUC}#owner`, submit({ membersonly: '1', persistentroom: '1', historylength: '5' }));
    const info = await alice.xmpp.iqCaller.request(xml('iq', { type: 'get', to: `${room}@${SERVICE}` }, xml('query', { xmlns: NS.discoInfo })));
    const features = info.getChild('query')!.getChildren('feature').map((f: XmlElement) => f.attrs.var);
    assert.ok(features.includes(MAM) && features.includes(NS.stanzaId), `the room advertises its archive: ${features.join(' ')}`);
    await roomIq(alice, room, 'set', `${MUC}#admin`, xml('item', { jid: bobU!.jid, affiliation: 'member' }), xml('item', { jid: carolU!.jid, affiliation: 'member' }));
    const bobIn = await join(bob, room, 'bob');
    assert.ok(codes(bobIn.self).includes(170), 'the newcomer is told the room is archived');

    // 30 messages from the three of them; each carries the room's stanza id as broadcast.
    const said: string[] = [];
    await join(carol, room, 'carol', { maxstanzas: '0' });
    const speakers = [alice, bob, carol];
    let middle = new Date();
    for (let i = 1; i <= 30; i++) {
      const body = `archived ${i} ✓`;
      said.push(body);
      if (i === 21) {
        await sleep(20);
        middle = new Date();
        await sleep(20);
      }
      await say(speakers[i % 3]!, room, body);
      const got = await heard(bob, room, body);
      const sid = got.getChild('stanza-id', NS.stanzaId);
      assert.equal(sid?.attrs.by, `${room}@${SERVICE}`, 'the broadcast carries the room archive id');
    }

    // A subject change is not a message of the archive; an oversized one is refused and changes nothing.
    await alice.xmpp.send(xml('message', { to: `${room}@${SERVICE}`, type: 'groupchat' }, xml('subject', {}, 'Archive test')));
    await bob.waitFor((st) => st.name === 'message' && fromRoom(room)(st) && st.getChildText('subject') === 'Archive test');
    await alice.xmpp.send(xml('message', { to: `${room}@${SERVICE}`, type: 'groupchat' }, xml('subject', {}, 's'.repeat(1001))));
    assert.equal(conditionOf(await alice.waitFor((st) => st.name === 'message' && st.attrs.type === 'error' && fromRoom(room)(st))), 'not-acceptable');

    // History on joining still comes from memory: the newest historylength messages, and the subject as it was.
    await carol.xmpp.send(xml('presence', { to: `${room}@${SERVICE}/carol`, type: 'unavailable' }));
    await carol.waitFor((st) => st.name === 'presence' && st.attrs.type === 'unavailable' && fromRoom(room)(st));
    const back = await join(carol, room, 'carol');
    assert.deepEqual(back.history, said.slice(-5));
    assert.equal(back.subject.getChildText('subject'), 'Archive test');

    // The archive, forward in pages of 10, as a member (Carol) reads it.
    const pages: RoomPage[] = [];
    let after: string | null = null;
    for (;;) {
      const page = await roomArchive(carol, room, { rsm: [xml('max', {}, '10'), ...(after ? [xml('after', {}, after)] : [])] });
      pages.push(page);
      if (page.complete === 'true') break;
      after = page.last;
      assert.ok(pages.length < 5, 'the paging ends');
    }
    assert.deepEqual(
      pages.map((p) => [p.results.length, p.count, p.complete]),
      [
        [10, 30, 'false'],
        [10, 30, 'false'],
        [10, 30, 'true'],
      ],
    );
    assert.deepEqual(pages.flatMap((p) => p.bodies), said, 'every message, in order, once');
    const all = pages.flatMap((p) => p.results);
    assert.deepEqual(all.slice(0, 3).map(forwardedFrom), [`${room}@${SERVICE}/bob`, `${room}@${SERVICE}/carol`, `${room}@${SERVICE}/alice`], 'as occupants got them: from room/nick');
    // The last page backward (empty <before/>), and by time: what was said after `middle`.
    assert.deepEqual((await roomArchive(bob, room, { rsm: [xml('max', {}, '4'), xml('before')] })).bodies, said.slice(-4));
    const recent = await roomArchive(alice, room, { form: { start: middle.toISOString() } });
    assert.deepEqual(recent.bodies, said.slice(20));
    assert.equal(recent.count, 10);
    // 'with' an occupant's room JID: what that nick said.
    assert.deepEqual((await roomArchive(alice, room, { form: { with: `${room}@${SERVICE}/alice` } })).bodies, said.filter((_b, i) => (i + 1) % 3 === 0));

    // Bad input: an id the archive does not hold.
    assert.equal(await refusal(roomArchive(alice, room, { rsm: [xml('max', {}, '5'), xml('after', {}, 'no-such-id')] })), 'item-not-found');
    assert.equal(await refusal(roomArchive(alice, room, { form: { 'after-id': 'no-such-id' } })), 'item-not-found');

    // Eve is no member: refused, and she learns nothing.
    const before = eve.messages.length;
    assert.equal(await refusal(roomArchive(eve, room)), 'forbidden');
    assert.equal(eve.messages.length, before, 'no results reached the non-member');
    assert.equal(await refusal(join(eve, room, 'eve')), 'registration-required', 'nor may she enter');
    // A member who left reads the archive from outside the room; an outcast may not.
    await roomIq(alice, room, 'set', `${MUC}#admin`, xml('item', { jid: bobU!.jid, affiliation: 'outcast' }));
    await removal(bob, room);
    assert.equal(await refusal(roomArchive(bob, room)), 'forbidden');
    assert.equal((await roomArchive(carol, room, { rsm: [xml('max', {}, '0')] })).count, 30);
    assert.ok(all.every((r) => resultId(r).length > 0));
  });
});

/** A slixmpp process the test drives through chat messages from `controller`. */
class Slix {
  readonly jid: string;
  readonly exited: Promise<ProcessResult>;
  private readonly controller: Js;
  private readonly used = new Set<XmlElement>();

  constructor(controller: Js, user: { jid: string; password: string }) {
    this.controller = controller;
    this.jid = `${user.jid}/slix`;
    this.exited = run(PYTHON, [SLIX_SCRIPT], {
      env: baseEnv({
        XMPP_HOST: '127.0.0.1',
        XMPP_PORT: String(ts.starttlsPort),
        XMPP_JID: this.jid,
        XMPP_PASSWORD: user.password,
        XMPP_CA: `${ts.dataDir}/tls/localhost.crt`,
        XMPP_CONTROLLER: controller.jid.split('/')[0],
        XMPP_TIMEOUT: '60',
        SLIX_DEBUG: process.env.SLIX_DEBUG,
      }),
      timeoutMs: 70_000,
    });
  }

  private reply(match: (body: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    const failed = this.exited.then((r) => {
      throw new Error(`muc-slixmpp.py ended before answering\n${describeRun(r)}`);
    });
    const answer = this.controller
      .nextMessage((m) => {
        if (m.attrs.from !== this.jid || this.used.has(m)) return false;
        return match(JSON.parse(m.getChildText('body') ?? '{}') as Record<string, unknown>);
      }, timeoutMs)
      .then((m) => {
        this.used.add(m);
        return JSON.parse(m.getChildText('body') ?? '{}') as Record<string, unknown>;
      });
    return Promise.race([answer, failed]);
  }

  ready(): Promise<Record<string, unknown>> {
    return this.reply((b) => b.ready === true, 20_000);
  }

  async cmd(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const pending = this.reply((b) => b.cmd === command.cmd, 10_000);
    await this.controller.xmpp.send(xml('message', { to: this.jid, type: 'chat' }, xml('body', {}, JSON.stringify(command))));
    return pending;
  }

  async ok(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const r = await this.cmd(command);
    assert.equal(r.ok, true, `${JSON.stringify(command)}: ${JSON.stringify(r)}`);
    return r;
  }
}

describe('MUC with slixmpp (xep_0045)', () => {
  test('slixmpp owns and moderates a members-only room; a slixmpp member is refused owner actions, gets history and private messages, and is banned', async () => {
    const [ctlU, ownerU, memberU, jsU] = await Promise.all(['ctl', 'sowner', 'smember', 'jsmember'].map((n) => ts.addUser(n)));
    const ctl = await login(ctlU!, 'ctl');
    const js = await login(jsU!, 'js');
    const owner = new Slix(ctl, ownerU!);
    const member = new Slix(ctl, memberU!);
    await Promise.all([owner.ready(), member.ready()]);
    const room = `slixroom@${SERVICE}`;

    const created = await owner.ok({ cmd: 'join', room, nick: 'Owner' });
    assert.deepEqual(created.codes, [110, 201]);
    assert.equal(created.affiliation, 'owner');
    await owner.ok({ cmd: 'configure', room, fields: { 'muc#roomconfig_membersonly': true, 'muc#roomconfig_historylength': '10' } });
    await owner.ok({
      cmd: 'affiliations',
      room,
      items: [
        [memberU!.jid, 'member'],
        [jsU!.jid, 'member'],
      ],
    });
    const memberIn = await member.ok({ cmd: 'join', room, nick: 'SM' });
    assert.deepEqual([memberIn.role, memberIn.affiliation], ['participant', 'member']);
    await join(js, 'slixroom', 'JS');
    for (const body of ['m1', 'm2', 'm3']) await owner.ok({ cmd: 'say', room, body });
    await heard(js, 'slixroom', 'm3');

    // The member tries owner and moderator actions through the plugin's API: forbidden, nothing changes.
    assert.equal((await member.cmd({ cmd: 'getconfig', room })).error, 'forbidden');
    assert.equal((await member.cmd({ cmd: 'configure', room, fields: {} })).error, 'forbidden');
    assert.equal((await member.cmd({ cmd: 'role', room, nick: 'JS', role: 'none' })).error, 'forbidden');
    assert.equal((await member.cmd({ cmd: 'affiliation', room, jid: jsU!.jid, affiliation: 'outcast' })).error, 'forbidden');
    const config = await owner.ok({ cmd: 'getconfig', room });
    assert.ok([true, '1'].includes((config.fields as Record<string, unknown>)['muc#roomconfig_membersonly'] as string), JSON.stringify(config));

    // Private messages both ways between slixmpp and xmpp.js occupants.
    await member.ok({ cmd: 'pm', room, nick: 'JS', body: 'pm from slixmpp' });
    const pm = await js.waitFor((st) => st.name === 'message' && st.getChildText('body') === 'pm from slixmpp');
    assert.equal(pm.attrs.from, `${room}/SM`);
    await js.xmpp.send(xml('message', { to: `${room}/SM`, type: 'chat' }, xml('body', {}, 'pm from xmpp.js')));
    await js.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), ts.domain);
    const events = await member.ok({ cmd: 'events' });
    assert.deepEqual(events.private, [{ from: `${room}/JS`, body: 'pm from xmpp.js', muc_user: true }]);

    // History on rejoin, as slixmpp's join_muc_wait collects it.
    await member.ok({ cmd: 'leave', room, nick: 'SM' });
    const back = await member.ok({ cmd: 'join', room, nick: 'SM', maxstanzas: 2 });
    assert.deepEqual(back.history, ['m2', 'm3']);
    assert.deepEqual(back.occupants, ['JS', 'Owner', 'SM'], 'slixmpp counts itself among the occupants');

    // The slixmpp owner kicks and bans the xmpp.js member; the outcast cannot come back.
    await owner.ok({ cmd: 'role', room, nick: 'JS', role: 'none', reason: 'kicked by slixmpp' });
    assert.deepEqual(codes(await removal(js, 'slixroom')), [110, 307]);
    await join(js, 'slixroom', 'JS', { maxstanzas: '0' });
    await owner.ok({ cmd: 'affiliation', room, jid: jsU!.jid, affiliation: 'outcast' });
    assert.deepEqual(codes(await removal(js, 'slixroom')), [110, 301]);
    assert.equal(await refusal(join(js, 'slixroom', 'JS')), 'forbidden');

    // And the slixmpp member: banned, refused on rejoining.
    await owner.ok({ cmd: 'affiliation', room, jid: memberU!.jid, affiliation: 'outcast' });
    await ctl.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), ts.domain);
    const removed = await member.ok({ cmd: 'events' });
    assert.deepEqual(
      (removed.removed as { codes: number[] }[]).map((r) => r.codes),
      [[110, 301]],
    );
    assert.equal((await member.cmd({ cmd: 'join', room, nick: 'SM' })).error, 'forbidden');

    await Promise.all([owner.ok({ cmd: 'quit' }), member.ok({ cmd: 'quit' })]);
    for (const r of await Promise.all([owner.exited, member.exited])) {
      const summary = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { ok: boolean; error: string | null };
      assert.deepEqual([summary.ok, summary.error], [true, null], describeRun(r));
    }
  });

  test('slixmpp (xep_0313) reads a members-only room archive page by page and by time; a slixmpp non-member is refused', async () => {
    const [ctlU, ownerU, memberU, outsiderU] = await Promise.all(['ctlmam', 'jsowner', 'slixmam', 'slixout'].map((n) => ts.addUser(n)));
    const ctl = await login(ctlU!, 'ctl');
    const owner = await login(ownerU!, 'js');
    const member = new Slix(ctl, memberU!);
    const outsider = new Slix(ctl, outsiderU!);
    await Promise.all([member.ready(), outsider.ready()]);
    const local = 'slixarchive';
    const room = `${local}@${SERVICE}`;
    await join(owner, local, 'owner');
    await roomIq(owner, local, 'set', `${MUC}#owner`, submit({ membersonly: '1', persistentroom: '1' }));
    await roomIq(owner, local, 'set', `${MUC}#admin`, xml('item', { jid: memberU!.jid, affiliation: 'member' }));
    const memberIn = await member.ok({ cmd: 'join', room, nick: 'SM' });
    assert.ok((memberIn.codes as number[]).includes(170), 'slixmpp hears the room is archived');

    const said: string[] = [];
    let middle = new Date();
    for (let i = 1; i <= 12; i++) {
      if (i === 9) {
        await sleep(20);
        middle = new Date();
        await sleep(20);
      }
      const body = `room line ${i}`;
      said.push(body);
      if (i === 12) await member.ok({ cmd: 'say', room, body });
      else await say(owner, local, body);
      await heard(owner, local, body);
    }

    const all = await member.ok({ cmd: 'mam', room, max: 5 });
    assert.deepEqual(all.pages, [
      [5, 12, 'false'],
      [5, 12, 'false'],
      [2, 12, 'true'],
    ]);
    const messages = all.messages as { archive: string; from: string; body: string }[];
    assert.deepEqual(
      messages.map((m) => m.body),
      said,
    );
    assert.ok(
      messages.every((m) => m.archive === room),
      'every result comes from the room',
    );
    assert.deepEqual([messages[0]!.from, messages.at(-1)!.from], [`${room}/owner`, `${room}/SM`]);
    const recent = await member.ok({ cmd: 'mam', room, max: 50, start: middle.toISOString() });
    assert.deepEqual(
      (recent.messages as { body: string }[]).map((m) => m.body),
      said.slice(8),
    );
    assert.equal((await member.ok({ cmd: 'mam', room, max: 1, single: true })).count, 12);
    assert.equal((await outsider.cmd({ cmd: 'mam', room, max: 5, single: true })).error, 'forbidden');

    await Promise.all([member.ok({ cmd: 'quit' }), outsider.ok({ cmd: 'quit' })]);
    for (const r of await Promise.all([member.exited, outsider.exited])) {
      const summary = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { ok: boolean; error: string | null };
      assert.deepEqual([summary.ok, summary.error], [true, null], describeRun(r));
    }
  });
});
