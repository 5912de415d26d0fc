// Rosters, subscriptions and presence over raw sockets (exact stanzas):
// requests to offline accounts kept across a restart, bad input refused with
// the RFC's error and nothing changed, probes, roster removal, last activity,
// and the policy decision point seeing every stanza sent on an account's behalf.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig } from '../../src/config/load.ts';
import type { Config, DeepPartial } from '../../src/config/schema.ts';
import { Server } from '../../src/core/server.ts';
import { DEFAULT_MODULES } from '../../src/config/schema/modules.ts';
import { Accounts } from '../../src/core/accounts.ts';
import type { PolicyRequest } from '../../src/policy/types.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';

const ROSTER = "<query xmlns='jabber:iq:roster'/>";
const QUIET_MS = 150;

async function quiet(): Promise<void> {
  await new Promise((r) => setTimeout(r, QUIET_MS));
}

function items(iq: Element): string[] {
  return (iq.getChild('query', 'jabber:iq:roster')?.getChildren('item') ?? []).map((i) => i.toString());
}

function isPush(el: Element): boolean {
  return el.name === 'iq' && el.attrs.type === 'set' && el.getChild('query', 'jabber:iq:roster') !== undefined;
}

function pushedItem(el: Element): Record<string, string> {
  return el.getChild('query', 'jabber:iq:roster')!.getChild('item')!.attrs;
}

interface Conn {
  c: RawClient;
  jid: string;
}

/** Logs in over raw sockets; optionally requests the roster and sends initial presence (taking its echo). */
async function connectAs(
  where: { port: number; dataDir: string },
  user: { local: string; password: string },
  resource: string,
  opts: { roster?: boolean; presence?: string | false } = {},
): Promise<Conn> {
  const c = await login({ port: where.port, dataDir: where.dataDir, domain: 'localhost', username: user.local, password: user.password, resource });
  const jid = c.jid!;
  if (opts.roster ?? true) await c.iq('get', ROSTER);
  if (opts.presence !== false) {
    c.send(opts.presence ?? '<presence/>');
    await c.next((e) => e.name === 'presence' && e.attrs.from === jid && e.attrs.type === undefined);
  }
  return { c, jid };
}

// PostgreSQL as in src/storage/postgres.test.ts: required unless PALISADE_TEST_SKIP_PG=1.
const PG_ADMIN_URL = process.env.PALISADE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SKIP_PG = process.env.PALISADE_TEST_SKIP_PG === '1';

/** A fresh PostgreSQL database for one test, and its removal. */
async function pgDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = new pg.Pool({ connectionString: PG_ADMIN_URL, max: 1, connectionTimeoutMillis: 5000 });
  admin.on('error', () => undefined);
  const name = `palisade_test_roster_${randomBytes(6).toString('hex')}`;
  await admin.query(`create database "${name}"`);
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      await admin.query(`drop database if exists "${name}" with (force)`);
      await admin.end();
    },
  };
}

describe('subscription requests to offline accounts', () => {
  for (const backend of ['sqlite', 'postgres'] as const) {
    const skip = backend === 'postgres' && SKIP_PG ? 'PALISADE_TEST_SKIP_PG=1' : false;
    test(`a request from someone not on the roster is kept across a restart and delivered at each login until answered (${backend})`, { skip }, () =>
      requestSurvivesRestart(backend),
    );
  }
});

async function requestSurvivesRestart(backend: 'sqlite' | 'postgres'): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'palisade-roster-restart-'));
  const database = backend === 'postgres' ? await pgDatabase() : undefined;
  const base: DeepPartial<Config> = {
    data_dir: dataDir,
    listeners: { c2s: { address: '127.0.0.1', port: 0 }, c2s_direct_tls: { address: '127.0.0.1', port: 0 }, https: { enabled: false } },
    auth: { scram_iterations: 4096 },
    logging: { level: 'silent' },
    ...(database ? { storage: { backend: 'postgres', postgres_url: database.url } } : {}),
  };
  const start = async () => {
    const server = new Server(loadConfig({ env: {}, overrides: base }));
    await server.start();
    return { server, where: { port: server.addresses.c2s!.port, dataDir } };
  };
  let run = await start();
  try {
    const accounts = new Accounts(run.server.storage, { domain: 'localhost', hashes: ['SHA-256'], iterations: 4096 });
    const alice = { local: 'alice', password: 'alice-secret-pw' };
    const bob = { local: 'bob', password: 'bob-secret-pw' };
    await accounts.add('alice', alice.password);
    await accounts.add('bob', bob.password);

    // Bob has never been online and has no roster; Alice asks for his presence.
    const a = await connectAs(run.where, alice, 'laptop');
    a.c.send("<presence to='bob@localhost' type='subscribe' id='s1'><status>It is Alice, from work</status></presence>");
    const push = await a.c.next(isPush);
    assert.deepEqual(pushedItem(push), { jid: 'bob@localhost', subscription: 'none', ask: 'subscribe' });
    await quiet();
    assert.equal(a.c.inbox.length, 0, 'no error: the request was accepted');
    a.c.destroy();

    await run.server.stop();
    run = await start(); // a new Server on the same data folder

    const b1 = await connectAs(run.where, bob, 'phone', { presence: false });
    // Not on Bob's roster: a pending request is not a roster item (RFC 6121 §3.1.3).
    assert.deepEqual(items(await b1.c.iq('get', ROSTER)), []);
    b1.c.send('<presence/>');
    const req = await b1.c.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe');
    assert.equal(req.attrs.from, 'alice@localhost');
    assert.equal(req.attrs.to, 'bob@localhost');
    assert.equal(req.attrs.id, 's1');
    assert.equal(req.getChildText('status'), 'It is Alice, from work');
    await b1.c.close();

    // Not answered: delivered again at the next login.
    const b2 = await connectAs(run.where, bob, 'desk', { presence: false });
    b2.c.send('<presence/>');
    await b2.c.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe' && e.attrs.from === 'alice@localhost');
    // Approved now: Bob's roster gets Alice (from), Alice's (offline) gets Bob (to).
    b2.c.send("<presence to='alice@localhost' type='subscribed'/>");
    assert.deepEqual(pushedItem(await b2.c.next(isPush)), { jid: 'alice@localhost', subscription: 'from' });
    await b2.c.close();

    const a2 = await connectAs(run.where, alice, 'laptop', { roster: false, presence: false });
    assert.deepEqual(items(await a2.c.iq('get', ROSTER)), ['<item jid="bob@localhost" subscription="to"/>']);
    a2.c.destroy();
    const b3 = await connectAs(run.where, bob, 'desk');
    await quiet();
    assert.deepEqual(
      b3.c.inbox.filter((e) => e.attrs.type === 'subscribe'),
      [],
      'an answered request is not delivered again',
    );
    b3.c.destroy();
  } finally {
    await run.server.stop();
    rmSync(dataDir, { recursive: true, force: true });
    await database?.drop();
  }
}

test('deleting an account from the CLI, with no server running, removes it from its contacts\' rosters as a versioned change', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'palisade-roster-cli-'));
  const config = join(dataDir, 'palisade.yaml');
  writeFileSync(config, `domain: localhost\ndata_dir: ${dataDir}\nauth:\n  scram_iterations: 4096\nlogging:\n  level: warn\n`);
  const overrides: DeepPartial<Config> = {
    data_dir: dataDir,
    listeners: { c2s: { address: '127.0.0.1', port: 0 }, c2s_direct_tls: { address: '127.0.0.1', port: 0 }, https: { enabled: false } },
    auth: { scram_iterations: 4096 },
    logging: { level: 'silent' },
  };
  const start = async () => {
    const server = new Server(loadConfig({ env: {}, overrides }));
    await server.start();
    return { server, where: { port: server.addresses.c2s!.port, dataDir } };
  };
  let run = await start();
  try {
    const accounts = new Accounts(run.server.storage, { domain: 'localhost', hashes: ['SHA-256'], iterations: 4096 });
    const alice = { local: 'alice', password: 'alice-secret-pw' };
    const bob = { local: 'bob', password: 'bob-secret-pw' };
    await accounts.add('alice', alice.password);
    await accounts.add('bob', bob.password);
    const a = await connectAs(run.where, alice, 'r');
    const b = await connectAs(run.where, bob, 'r');
    a.c.send("<presence to='bob@localhost' type='subscribe'/>");
    await b.c.next((e) => e.attrs.type === 'subscribe');
    b.c.send("<presence to='alice@localhost' type='subscribed'/>");
    await a.c.next((e) => e.attrs.type === 'subscribed');
    await a.c.iq('set', "<query xmlns='jabber:iq:roster'><item jid='carol@localhost'/></query>");
    const cached = await a.c.iq('get', "<query xmlns='jabber:iq:roster' ver='0'/>");
    const ver = cached.getChild('query', 'jabber:iq:roster')!.attrs.ver!;
    assert.deepEqual(items(cached), ['<item jid="bob@localhost" subscription="to"/>', '<item jid="carol@localhost" subscription="none"/>']);
    a.c.destroy();
    b.c.destroy();
    await run.server.stop();

    const bin = join(import.meta.dirname, '..', '..', 'bin', 'palisade.js');
    const r = spawnSync(process.execPath, [bin, 'user', 'remove', 'bob', '--config', config], {
      encoding: 'utf8',
      env: { ...process.env, PALISADE_CONFIG: '' },
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'removed bob@localhost\n');

    run = await start();
    const a2 = await connectAs(run.where, alice, 'r', { roster: false, presence: false });
    const result = await a2.c.iq('get', `<query xmlns='jabber:iq:roster' ver='${ver}'/>`);
    const newVer = result.getChild('query', 'jabber:iq:roster')?.attrs.ver;
    assert.ok(newVer !== undefined && Number(newVer) > Number(ver));
    assert.deepEqual(items(result), [], 'only the change follows');
    const push = await a2.c.next(isPush);
    assert.deepEqual(pushedItem(push), { jid: 'bob@localhost', subscription: 'remove' });
    assert.equal(push.getChild('query', 'jabber:iq:roster')?.attrs.ver, newVer);
    a2.c.destroy();
  } finally {
    await run.server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

describe('rosters and presence (one server)', () => {
  let ts: TestServer;
  const open: RawClient[] = [];
  const users = new Map<string, { local: string; password: string }>();
  const user = async (name: string) => {
    let u = users.get(name);
    if (!u) users.set(name, (u = await ts.addUser(name)));
    return u;
  };
  const conn = async (name: string, resource: string, opts?: { roster?: boolean; presence?: string | false }) => {
    const c = await connectAs({ port: ts.starttlsPort, dataDir: ts.dataDir }, await user(name), resource, opts);
    open.push(c.c);
    return c;
  };
  /** Makes a and b subscribed both ways through the protocol, and takes what that delivers. */
  const befriend = async (a: Conn, b: Conn) => {
    const [an, bn] = [a.jid.split('/')[0]!, b.jid.split('/')[0]!];
    for (const [x, y, yn, xn] of [
      [a, b, bn, an],
      [b, a, an, bn],
    ] as const) {
      x.c.send(`<presence to='${yn}' type='subscribe'/>`);
      await y.c.next((e) => e.attrs.type === 'subscribe' && e.attrs.from === xn);
      y.c.send(`<presence to='${xn}' type='subscribed'/>`);
      await x.c.next((e) => e.name === 'presence' && e.attrs.type === undefined && e.attrs.from === y.jid);
    }
    await quiet();
    a.c.inbox.length = 0;
    b.c.inbox.length = 0;
  };

  before(async () => {
    // Every default module, with a small roster limit.
    const modules = Object.fromEntries(Object.keys(DEFAULT_MODULES).map((id) => [id, id === 'roster' ? { max_items: 3 } : {}]));
    ts = await startTestServer({ modules });
  });
  after(async () => {
    for (const c of open) c.destroy();
    await ts?.stop();
  });

  test('bad input gets the RFC error and changes nothing', async () => {
    const a = await conn('badinput', 'r');
    const other = await conn('bystander', 'r');
    a.c.send("<iq type='set' id='ok1'><query xmlns='jabber:iq:roster'><item jid='one@localhost' name='One'/></query></iq>");
    await a.c.next((e) => e.attrs.id === 'ok1');
    await a.c.next(isPush);
    const before = items(await a.c.iq('get', ROSTER));

    const cases: [string, string, string, RegExp][] = [
      ['invalid JID', "<item jid='bad@@localhost'/>", 'jid-malformed', /not a valid JID/],
      ['two items', "<item jid='x@localhost'/><item jid='y@localhost'/>", 'bad-request', /exactly one <item\/>/],
      ['no jid', "<item name='x'/>", 'bad-request', /needs a 'jid'/],
      ['full JID', "<item jid='x@localhost/res'/>", 'bad-request', /bare JIDs/],
      ['duplicate groups', "<item jid='x@localhost'><group>A</group><group>A</group></item>", 'bad-request', /listed twice/],
      ['empty group', "<item jid='x@localhost'><group></group></item>", 'not-acceptable', /must not be empty/],
      ['long group', `<item jid='x@localhost'><group>${'g'.repeat(1025)}</group></item>`, 'not-acceptable', /too long/],
      ['long name', `<item jid='x@localhost' name='${'n'.repeat(1025)}'/>`, 'not-acceptable', /too long/],
      ['yourself', "<item jid='badinput@localhost'/>", 'not-allowed', /yourself/],
      ['removing what is not there', "<item jid='nobody@localhost' subscription='remove'/>", 'item-not-found', /not on your roster/],
    ];
    for (const [what, item, condition, text] of cases) {
      const r = await a.c.iq('set', `<query xmlns='jabber:iq:roster'>${item}</query>`);
      const err = stanzaError(r);
      assert.equal(err.condition, condition, what);
      assert.match(err.text ?? '', text, what);
    }
    // Another account's roster (RFC 6121 §2.1.5).
    const forbidden = await a.c.iq('get', ROSTER, { to: 'bystander@localhost' });
    assert.equal(stanzaError(forbidden).condition, 'forbidden');

    // The roster limit (max_items: 3 here).
    for (const n of ['two', 'three']) {
      a.c.send(`<iq type='set' id='add-${n}'><query xmlns='jabber:iq:roster'><item jid='${n}@localhost'/></query></iq>`);
      await a.c.next((e) => e.attrs.id === `add-${n}` && e.attrs.type === 'result');
      await a.c.next(isPush);
    }
    const full = await a.c.iq('set', "<query xmlns='jabber:iq:roster'><item jid='four@localhost'/></query>");
    assert.deepEqual(stanzaError(full), { type: 'cancel', condition: 'not-allowed', text: 'Your contact list is full: it can hold at most 3 contacts. Remove one first.' });
    // A subscription request that would need a fourth item is refused the same way, and not sent.
    a.c.send("<presence to='bystander@localhost' type='subscribe' id='p-full'/>");
    const refused = await a.c.next((e) => e.attrs.id === 'p-full');
    assert.equal(stanzaError(refused).condition, 'not-allowed');
    const withLimit = items(await a.c.iq('get', ROSTER));
    assert.equal(withLimit.length, 3);

    // Subscriptions to yourself, to another server (no federation), and presence of an unknown type.
    a.c.send("<presence to='badinput@localhost' type='subscribe' id='p-self'/>");
    const self = await a.c.next((e) => e.attrs.id === 'p-self');
    assert.equal(stanzaError(self).condition, 'not-allowed');
    assert.match(stanzaError(self).text ?? '', /your own presence/);
    a.c.send("<presence to='someone@elsewhere.example' type='subscribe' id='p-remote'/>");
    assert.equal(stanzaError(await a.c.next((e) => e.attrs.id === 'p-remote')).condition, 'remote-server-not-found');
    a.c.send("<presence to='bystander@localhost' type='friendship' id='p-bad'/>");
    const bad = await a.c.next((e) => e.attrs.id === 'p-bad');
    assert.equal(stanzaError(bad).condition, 'bad-request');
    assert.match(stanzaError(bad).text ?? '', /'friendship' is not a presence type/);
    // Presence with a bad priority.
    a.c.send("<presence id='p-prio'><priority>500</priority></presence>");
    assert.equal(stanzaError(await a.c.next((e) => e.attrs.id === 'p-prio')).condition, 'bad-request');

    await quiet();
    assert.deepEqual(a.c.inbox.filter(isPush), [], 'no roster push for any refused request');
    assert.deepEqual(items(await a.c.iq('get', ROSTER)), withLimit);
    assert.deepEqual(
      withLimit
        .filter((i) => !before.includes(i))
        .map((i) => /jid="([^"]+)"/.exec(i)?.[1])
        .sort(),
      ['three@localhost', 'two@localhost'],
    );
    assert.deepEqual(other.c.inbox, [], 'the bystander heard nothing');
    assert.deepEqual(items(await other.c.iq('get', ROSTER)), []);
  });

  test("attributes a client must not set are ignored (RFC 6121 §2.1.2): 'subscription' other than remove, 'ask', 'approved'", async () => {
    const a = await conn('ignorer', 'r');
    const r = await a.c.iq('set', "<query xmlns='jabber:iq:roster'><item jid='x@localhost' subscription='both' ask='subscribe' approved='true'/></query>");
    assert.equal(r.attrs.type, 'result');
    assert.deepEqual(pushedItem(await a.c.next(isPush)), { jid: 'x@localhost', subscription: 'none' });
  });

  test('initial presence: probes answered with contacts\' presence, or their last logout with <delay/>; broadcast to subscribers', async () => {
    const kate = await conn('kate', 'desk', { presence: "<presence><status>at my desk</status></presence>" });
    const liam = await conn('liam', 'phone');
    await befriend(kate, liam);
    const mia = await conn('mia', 'tab');
    await befriend(kate, mia);
    // Mia logs out with a status: recorded as her last activity.
    mia.c.send("<presence type='unavailable'><status>gone fishing</status></presence>");
    await kate.c.next((e) => e.attrs.from === mia.jid && e.attrs.type === 'unavailable');
    await mia.c.close();

    // Kate's second resource: probes go out from its full JID, answers come back to it only.
    const laptop = await conn('kate', 'laptop', { presence: false });
    laptop.c.send('<presence/>');
    const got = new Map<string, Element>();
    for (let i = 0; i < 4; i++) {
      const p = await laptop.c.next((e) => e.name === 'presence');
      got.set(`${p.attrs.from}|${p.attrs.type ?? ''}`, p);
    }
    assert.deepEqual([...got.keys()].sort(), [
      'kate@localhost/desk|', // own other resource (RFC 6121 §4.2.2 is about the account's resources)
      'kate@localhost/laptop|', // own echo
      'liam@localhost/phone|',
      'mia@localhost|unavailable',
    ]);
    assert.equal(got.get('liam@localhost/phone|')!.attrs.to, laptop.jid);
    const last = got.get('mia@localhost|unavailable')!;
    assert.equal(last.getChildText('status'), 'gone fishing');
    const delay = last.getChild('delay', 'urn:xmpp:delay');
    assert.equal(delay?.attrs.from, 'localhost');
    assert.ok(Math.abs(Date.parse(delay?.attrs.stamp ?? '') - Date.now()) < 10_000);
    // The subscribers heard the new resource; the old resource was not probed for again.
    await liam.c.next((e) => e.attrs.from === laptop.jid && e.attrs.type === undefined);
    await quiet();
    assert.deepEqual(kate.c.inbox.filter((e) => e.attrs.from === liam.jid), [], 'no duplicate answer to the old resource');
  });

  test('removing a subscribed contact unsubscribes both ways and tells the contact (RFC 6121 §2.5.2)', async () => {
    const nora = await conn('nora', 'r');
    const owen = await conn('owen', 'r');
    await befriend(nora, owen);
    nora.c.send("<iq type='set' id='rm'><query xmlns='jabber:iq:roster'><item jid='owen@localhost' subscription='remove'/></query></iq>");
    await nora.c.next((e) => e.attrs.id === 'rm' && e.attrs.type === 'result');
    assert.deepEqual(pushedItem(await nora.c.next(isPush)), { jid: 'owen@localhost', subscription: 'remove' });
    await owen.c.next((e) => e.attrs.type === 'unsubscribe' && e.attrs.from === 'nora@localhost');
    await owen.c.next((e) => e.attrs.type === 'unsubscribed' && e.attrs.from === 'nora@localhost');
    await owen.c.next((e) => e.attrs.type === 'unavailable' && e.attrs.from === nora.jid);
    assert.deepEqual(items(await owen.c.iq('get', ROSTER)), ['<item jid="nora@localhost" subscription="none"/>']);
    // Nora's presence no longer reaches Owen.
    nora.c.send("<presence><show>dnd</show></presence>");
    await quiet();
    assert.deepEqual(owen.c.inbox.filter((e) => e.name === 'presence'), []);
  });

  test('last activity (XEP-0012): subscribers see seconds since logout and status; others are refused; the server tells its uptime', async () => {
    const pia = await conn('pia', 'r');
    const quinn = await conn('quinn', 'r');
    const stranger = await conn('stranger', 'r');
    await befriend(pia, quinn);
    const q = "<query xmlns='jabber:iq:last'/>";
    const online = await quinn.c.iq('get', q, { to: 'pia@localhost' });
    assert.equal(online.getChild('query', 'jabber:iq:last')?.attrs.seconds, '0');
    pia.c.send("<presence type='unavailable'><status>Heading home</status></presence>");
    await quinn.c.next((e) => e.attrs.type === 'unavailable' && e.attrs.from === pia.jid);
    await quiet();
    const offline = await quinn.c.iq('get', q, { to: 'pia@localhost' });
    const query = offline.getChild('query', 'jabber:iq:last')!;
    assert.ok(Number(query.attrs.seconds) >= 0 && Number(query.attrs.seconds) < 10);
    assert.equal(query.text, 'Heading home');
    const refused = await stranger.c.iq('get', q, { to: 'pia@localhost' });
    assert.equal(stanzaError(refused).condition, 'forbidden');
    const own = await pia.c.iq('get', q);
    assert.equal(own.attrs.type, 'result');
    const uptime = await stranger.c.iq('get', q, { to: 'localhost' });
    assert.match(uptime.getChild('query', 'jabber:iq:last')?.attrs.seconds ?? '', /^\d+$/);
  });

  test('an account deleted while the server runs (database only, as the CLI does) is gone from cached rosters at the next get', async () => {
    const uma = await conn('uma', 'r');
    const vic = await conn('vic', 'r');
    await befriend(uma, vic);
    vic.c.destroy();
    await ts.accounts.remove('vic'); // the same database, not through the server's cache
    assert.deepEqual(items(await uma.c.iq('get', ROSTER)), []);
  });

  test('each broadcast goes through the decision point, with the roster relation as facts', async () => {
    const rita = await conn('rita', 'r');
    const sam = await conn('sam', 'r');
    const tom = await conn('tom', 'r');
    await befriend(rita, sam);
    await befriend(rita, tom);
    const seen: PolicyRequest[] = [];
    // A module rule standing in for a user's block list: Rita's presence must not reach Tom.
    const remove = ts.server.policy.addModuleRule({
      name: 'test-block',
      evaluate: (req) => {
        seen.push(structuredClone(req));
        if (req.action === 'stanza.presence' && req.subject.jid === 'rita@localhost' && req.resource?.jid === 'tom@localhost') {
          return { decision: 'deny', rule: 'test-block', silent: true, audit: false };
        }
        return undefined;
      },
    });
    try {
      rita.c.send("<presence><status>new status</status></presence>");
      await sam.c.next((e) => e.attrs.from === rita.jid && e.getChildText('status') === 'new status');
      await quiet();
      assert.deepEqual(tom.c.inbox, [], 'denied for Tom only');
      const broadcasts = seen.filter((r) => r.action === 'stanza.presence' && r.subject.jid === 'rita@localhost' && r.resource?.jid !== 'rita@localhost');
      assert.deepEqual(broadcasts.map((r) => r.resource?.jid).sort(), ['sam@localhost', 'tom@localhost']);
      for (const r of broadcasts) {
        assert.equal(r.resource?.relation, 'contact');
        assert.equal(r.facts?.subscription, 'both');
      }
      // A stranger's message: relation none, subscription none.
      seen.length = 0;
      sam.c.send("<message to='nobody-here@localhost' type='chat' id='m'><body>x</body></message>");
      await sam.c.next((e) => e.attrs.id === 'm');
      const msg = seen.find((r) => r.action === 'stanza.message');
      assert.equal(msg?.resource?.relation, 'none');
      assert.equal(msg?.facts?.subscription, 'none');
    } finally {
      remove();
    }
  });
});
