// Sessions module over raw sockets, where the test chooses what each client
// answers to the server's software version query (XEP-0092):
//  - client compliance (issue #6): Gajim 1.7 is refused with policy-violation
//    and the policy's text, Gajim 1.9 stays; warn sends a headline; alert only
//    writes an audit entry; a client that never answers counts as unknown,
//    which one entry denies; the other sessions go on unaffected;
//  - new-device notices (issue #7): a login from a client or network the
//    account did not use lately is told to its other sessions, naming the
//    client, the address and the time; a known one is not; the account's very
//    first login is not;
//  - the inventory the module keeps (what `palisade sessions list` prints).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, type RawClient } from '../helpers/raw-client.ts';
import { DEFAULT_MODULES } from '../../src/config/schema/modules.ts';
import { waitForControlResult, writeControlRequest } from '../../src/policy/reload-request.ts';
import { NS_VERSION } from '../../src/modules/version/index.ts';
import type { SessionInfo } from '../../src/modules/sessions/inventory.ts';
import type { Element } from '../../src/xmpp/element.ts';

const MODULES = (sessions: Record<string, unknown>) => ({
  ...Object.fromEntries(Object.keys(DEFAULT_MODULES).map((id) => [id, {}])),
  sessions: { control_poll_ms: 50, ...sessions },
});

const isVersionQuery = (el: Element) => el.name === 'iq' && el.attrs.type === 'get' && el.getChild('query', NS_VERSION) !== undefined;
const isHeadline = (el: Element) => el.name === 'message' && el.attrs.type === 'headline';

/** Sends initial presence and answers the server's version query as `software version` ('silent': never; 'error': refuses it). */
async function present(c: RawClient, answer: { software: string; version: string } | 'silent' | 'error'): Promise<void> {
  c.send(`<presence/>`);
  if (answer === 'silent') return;
  const q = await c.next(isVersionQuery, 5000);
  assert.equal(q.attrs.from, 'localhost', 'asked by the server');
  if (answer === 'error') {
    c.send(`<iq type='error' id='${q.attrs.id}' to='localhost'><query xmlns='${NS_VERSION}'/><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`);
    return;
  }
  c.send(`<iq type='result' id='${q.attrs.id}' to='localhost'><query xmlns='${NS_VERSION}'><name>${answer.software}</name><version>${answer.version}</version></query></iq>`);
}

async function listSessions(ts: TestServer, account?: string): Promise<SessionInfo[]> {
  const id = writeControlRequest(ts.dataDir, 'sessions.list', 'test', account ? { account } : {});
  const r = await waitForControlResult(ts.dataDir, id, 5000, 20);
  assert.equal(r?.ok, true, r?.message);
  return r!.data as SessionInfo[];
}

/** Waits until the server has the client's answer (or has given up on it) for the session. */
async function examined(ts: TestServer, c: RawClient): Promise<SessionInfo> {
  for (let i = 0; i < 100; i++) {
    const s = (await listSessions(ts)).find((x) => `${x.account}/${x.resource}` === c.jid);
    if (s && s.client_status !== 'pending') return s;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${c.jid} was not examined`);
}

/** Nothing matching arrives within a short while (after the events that would have sent it are over). */
async function nothing(c: RawClient, what: (el: Element) => boolean, label: string): Promise<void> {
  await assert.rejects(c.next(what, 300), /no matching element/, label);
}

describe('client compliance (policy clients:)', () => {
  let ts: TestServer;
  let dir: string;
  const clients: RawClient[] = [];
  const pw = 'a long enough password';

  const connect = async (local: string, resource?: string) => {
    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: local, password: pw, resource });
    c.answerVersion = false; // these tests answer the server's version query themselves
    clients.push(c);
    return c;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-clients-'));
    writeFileSync(
      join(dir, 'policy.yaml'),
      `
groups:
  staff: { patterns: ['staff-*@localhost'] }
clients:
  - name: strict
    users: [strict@localhost]
    allow: [{ software: Gajim, min_version: "1.8" }]
    action: deny
    unknown: deny
    text: "Only Gajim 1.8 or newer may be used with this account."
  - name: staff
    groups: [staff]
    allow: [{ software: Gajim, min_version: "1.8" }, { software: Conversations, min_version: "2.13" }]
    action: deny
    text: "Please update: Gajim 1.8 or Conversations 2.13 or newer is required."
  - name: warned
    users: [warn@localhost]
    allow: [{ software: Gajim, min_version: "1.8" }]
    action: warn
    text: "Gajim 1.8 or newer, please."
  - name: alerted
    users: [alert@localhost]
    allow: [{ software: Gajim, min_version: "1.8" }]
    action: alert
rules:
  - { name: local, subject: { local: true }, decision: allow }
`,
    );
    ts = await startTestServer({ policy: { file: join(dir, 'policy.yaml') }, modules: MODULES({ version_timeout: 1, new_device_notices: false }) as never });
    for (const u of ['staff-old', 'staff-new', 'staff-other', 'staff-quiet', 'strict', 'warn', 'alert']) await ts.addUser(u, pw);
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await ts?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const audit = async (actor: string) => (await ts.server.storage.audit.list({ limit: 1000, action: 'client.check' })).filter((e) => e.actor === actor);

  test('Gajim 1.7 is refused with the text and audited; Gajim 1.9 and the other sessions stay', async () => {
    const other = await connect('staff-other');
    await present(other, { software: 'Conversations', version: '2.13.1+playstore' });
    assert.equal((await examined(ts, other)).client?.software, 'Conversations');

    const old = await connect('staff-old');
    await present(old, { software: 'Gajim', version: '1.7.3' });
    const err = await old.expectStreamError('policy-violation');
    assert.equal(err.text, 'Please update: Gajim 1.8 or Conversations 2.13 or newer is required.');
    await old.waitClosed();
    const [entry] = await audit('staff-old@localhost');
    assert.equal(entry?.decision, 'deny');
    assert.equal(entry?.reason, 'Please update: Gajim 1.8 or Conversations 2.13 or newer is required.');
    assert.deepEqual(entry?.details.client, { software: 'Gajim', version: '1.7.3' });
    assert.equal(entry?.details.rule, 'clients:staff');

    const fresh = await connect('staff-new');
    await present(fresh, { software: 'Gajim', version: '1.9' });
    const info = await examined(ts, fresh);
    assert.deepEqual(info.client, { software: 'Gajim', version: '1.9' });
    assert.equal((await fresh.ping()).attrs.type, 'result');
    assert.equal(fresh.closed, false);
    assert.equal((await other.ping()).attrs.type, 'result', 'the other session is unaffected');
    assert.deepEqual(await audit('staff-new@localhost'), []);
  });

  test('a client that does not answer is unknown: allowed by default, refused where the entry says unknown: deny', async () => {
    const quiet = await connect('staff-quiet');
    await present(quiet, 'silent');
    const info = await examined(ts, quiet); // after version_timeout (1 s)
    assert.equal(info.client_status, 'unknown');
    assert.equal((await quiet.ping()).attrs.type, 'result');

    const strict = await connect('strict');
    await present(strict, 'error');
    const err = await strict.expectStreamError('policy-violation', 5000);
    assert.equal(err.text, 'Only Gajim 1.8 or newer may be used with this account.');
    const [entry] = await audit('strict@localhost');
    assert.deepEqual(entry?.details.client, { software: null, version: null, unknown: true });
  });

  test('warn: the user gets a headline and stays; the warning is audited', async () => {
    const c = await connect('warn');
    await present(c, { software: 'Gajim', version: '1.7' });
    const msg = await c.next(isHeadline, 5000);
    assert.equal(msg.attrs.from, 'localhost');
    assert.equal(msg.getChildText('body'), 'Gajim 1.8 or newer, please.');
    assert.equal((await c.ping()).attrs.type, 'result');
    const [entry] = await audit('warn@localhost');
    assert.equal(entry?.decision, 'allow');
    assert.match(entry?.reason ?? '', /warned/);
  });

  test('alert: an audit entry only; the user is told nothing', async () => {
    const c = await connect('alert');
    await present(c, { software: 'Gajim', version: '1.7' });
    await examined(ts, c);
    let entries = await audit('alert@localhost');
    for (let i = 0; i < 50 && entries.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      entries = await audit('alert@localhost');
    }
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.decision, 'allow');
    assert.match(entries[0]!.reason, /alert only/);
    assert.deepEqual(entries[0]!.details.client, { software: 'Gajim', version: '1.7' });
    await nothing(c, isHeadline, 'no headline');
    assert.equal((await c.ping()).attrs.type, 'result');
  });
});

describe('new-device notices', () => {
  let ts: TestServer;
  const clients: RawClient[] = [];
  const pw = 'a long enough password';

  before(async () => {
    ts = await startTestServer({ modules: MODULES({ version_timeout: 1 }) as never });
    await ts.addUser('nd', pw);
    await ts.addUser('fresh', pw);
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await ts?.stop();
  });

  const connect = async (local: string, localAddress?: string) => {
    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: local, password: pw, localAddress });
    c.answerVersion = false; // these tests answer the server's version query themselves
    clients.push(c);
    return c;
  };

  test('a new client and a new network are told to the other sessions; a known one is not', async () => {
    const first = await connect('nd');
    await present(first, { software: 'Gajim', version: '1.9.2' });
    await examined(ts, first);
    const again = await connect('nd');
    await present(again, { software: 'Gajim', version: '1.9.3' }); // a newer version of a known client is not a new device
    await examined(ts, again);

    const before = Date.now();
    const phone = await connect('nd');
    await present(phone, { software: 'Conversations', version: '2.13.1' });
    for (const c of [first, again]) {
      const n = await c.next(isHeadline, 5000);
      assert.equal(n.attrs.from, 'localhost');
      assert.equal(n.getChildText('subject'), 'New login to your account');
      const body = n.getChildText('body') ?? '';
      assert.match(body, /^New login to your account: Conversations 2\.13\.1 from 127\.0\.0\.1 at \d{4}-\d\d-\d\d \d\d:\d\d UTC \(a client not used lately\)/);
      const at = Date.parse(body.replace(/^.* at (\S+ \S+) UTC.*$/, '$1Z').replace(' ', 'T'));
      assert.ok(Math.abs(at - before) < 120_000, body);
      await nothing(c, isHeadline, 'one notice only (the second Gajim login was not new)');
    }
    await nothing(phone, isHeadline, 'the new session itself is not told');

    const elsewhere = await connect('nd', '127.1.0.1'); // another /24, still loopback
    await present(elsewhere, { software: 'Gajim', version: '1.9.2' });
    const n = await phone.next(isHeadline, 5000);
    assert.match(n.getChildText('body') ?? '', /Gajim 1\.9\.2 from 127\.1\.0\.1 .*\(a network not used lately\)/);
  });

  test("the account's first login tells no one; the next unknown client is told", async () => {
    const silent = await connect('fresh'); // never answers: examined after version_timeout
    await present(silent, 'silent');
    const gajim = await connect('fresh');
    await present(gajim, { software: 'Gajim', version: '1.9' });
    await examined(ts, gajim); // the first login on record: nothing to compare with
    const n = await gajim.next(isHeadline, 5000); // then the silent one is examined: an unknown client
    assert.match(n.getChildText('body') ?? '', /^New login to your account: an unknown client from 127\.0\.0\.1/);
    await nothing(silent, isHeadline, 'nothing about the first login');
  });

  test('the inventory: who, from where, how, with which client', async () => {
    const c = await connect('nd');
    c.send(`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://gajim.org' ver='abc='/></presence>`);
    const q = await c.next(isVersionQuery, 5000);
    c.send(`<iq type='result' id='${q.attrs.id}' to='localhost'><query xmlns='${NS_VERSION}'><name>${'G'.repeat(150)}</name><version>1.9</version><os>Linux</os></query></iq>`);
    const info = await examined(ts, c);
    assert.equal(info.account, 'nd@localhost');
    assert.equal(`${info.account}/${info.resource}`, c.jid);
    assert.equal(info.ip, '127.0.0.1');
    assert.equal(info.tls_version, 'TLSv1.3');
    assert.equal(info.sasl_mechanism, 'SCRAM-SHA-256');
    assert.deepEqual(info.client, { software: 'G'.repeat(100), version: '1.9', os: 'Linux' }, 'what the client says is cut to 100 characters');
    assert.deepEqual(info.caps, { node: 'https://gajim.org', ver: 'abc=' });
    assert.equal(info.user_agent, null);
    assert.equal(info.available, true);
    assert.ok(Date.parse(info.started_at) <= Date.now());
    const mine = await listSessions(ts, 'nd@localhost');
    assert.ok(mine.every((s) => s.account === 'nd@localhost'));
    assert.equal(mine.length, (await listSessions(ts)).filter((s) => s.account === 'nd@localhost').length);
  });
});
