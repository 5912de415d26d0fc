// SASL2 (XEP-0388) with Bind 2 (XEP-0386) and SCRAM downgrade protection
// (XEP-0474) over real sockets, driven by our own SCRAM client: what is
// offered, logins with and without inline binding, the same brute-force
// accounting as SASL, and every malformed request refused with a SASL2
// <failure/> naming the condition and saying why.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { advertisedIn, newAgentId, sasl2, type Sasl2Options, type Sasl2Result } from '../helpers/sasl2-client.ts';
import { NS } from '../../src/xmpp/ns.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { NS_BIND2, NS_FAST, NS_SASL2, SASL2_MAX_DATA_BYTES } from '../../src/auth/sasl2.ts';
import { ssdpHash } from '../../src/auth/ssdp.ts';
import { ScramClient } from '../../src/auth/scram-client.ts';
import type { C2SConnection } from '../../src/net/c2s.ts';

let ts: TestServer;
const alice = { username: 'alice', password: '' };

before(async () => {
  ts = await startTestServer({ auth: { sasl2: true } });
  alice.password = (await ts.addUser('alice')).password;
});
after(() => ts?.stop());

async function secured(server = ts): Promise<{ c: RawClient; features: Element }> {
  const c = await RawClient.connect({ port: server.starttlsPort, dataDir: server.dataDir });
  await c.openStream();
  return { c, features: await c.startTls() };
}

/** A fresh TLS stream, one SASL2 attempt; the client stays open for the caller. */
async function attempt(o: Partial<Sasl2Options>, server = ts): Promise<{ c: RawClient; features: Element; r: Sasl2Result }> {
  const { c, features } = await secured(server);
  const r = await sasl2(c, { mechanism: 'SCRAM-SHA-256', ...alice, ...o });
  return { c, features, r };
}

function failure(r: Sasl2Result): { condition: string; text: string | undefined } {
  if (r.ok || !('condition' in r)) assert.fail(`expected a SASL2 failure, got ${r.ok ? r.success.toString() : r.clientError}`);
  return { condition: r.condition, text: r.text };
}

const sessionOf = (jid: string) => [...ts.server.sessions.all()].find((s) => s.jid.toString() === jid) as C2SConnection | undefined;

describe('SASL2 stream features', () => {
  test('authentication lists the SASL mechanisms, Bind 2 with its inline features, and FAST; sasl-channel-binding as before', async () => {
    const { c, features } = await secured();
    await c.close();
    const auth = features.getChild('authentication', NS_SASL2);
    assert.ok(auth);
    const sasl1 = advertisedIn(features, 1).mechanisms;
    assert.deepEqual(advertisedIn(features, 2).mechanisms, sasl1);
    assert.ok(sasl1.includes('SCRAM-SHA-256-PLUS'));
    const inline = auth.getChild('inline', NS_SASL2)!;
    const bindFeatures = inline.getChild('bind', NS_BIND2)?.getChild('inline', NS_BIND2)?.getChildren('feature').map((f) => f.attrs.var);
    assert.deepEqual(bindFeatures?.sort(), [NS.carbons, NS.csi, NS.sm].sort());
    assert.ok(inline.getChild('sm', NS.sm), 'stream management resumption inline');
    assert.deepEqual(inline.getChild('fast', NS_FAST)?.getChildren('mechanism').map((m) => m.text), ['HT-SHA-256-EXPR', 'HT-SHA-256-ENDP', 'HT-SHA-256-NONE']);
    assert.deepEqual(advertisedIn(features).channelBindings, ['tls-exporter', 'tls-server-end-point']);
  });

  test('with auth.sasl2: false: no <authentication/>, and an <authenticate/> is not understood', async () => {
    // The switch for deployments that need client-chosen resources (SASL2 is on by default).
    const plain = await startTestServer({ auth: { sasl2: false } });
    try {
      const { c, features } = await secured(plain);
      assert.equal(features.getChild('authentication', NS_SASL2), undefined);
      c.send(`<authenticate xmlns='${NS_SASL2}' mechanism='SCRAM-SHA-256'/>`);
      const err = await c.expectStreamError('not-authorized');
      assert.match(err.text ?? '', /Authenticate before sending stanzas/);
    } finally {
      await plain.stop();
    }
  });
});

describe('SASL2 logins', () => {
  test('SCRAM with Bind 2: full JID from tag and a stable per-device id, <bound/>, empty features, no stream restart; user-agent kept on the session', async () => {
    const agent = { id: newAgentId(), software: 'Palisade tests', device: "Kiva's phone" };
    const first = await attempt({ userAgent: agent, bind: { tag: 'Tests' } });
    assert.ok(first.r.ok);
    const jid = first.r.jid;
    assert.match(jid, /^alice@localhost\/Tests\/[A-Za-z0-9_-]{12}$/);
    assert.ok(!jid.includes(agent.id), 'the user-agent id is not exposed');
    assert.ok(first.r.success.getChild('bound', NS_BIND2));
    assert.deepEqual(first.r.features.elements, [], 'a bound stream has nothing left to negotiate');
    assert.equal((await first.c.ping()).attrs.type, 'result');
    const session = sessionOf(jid);
    assert.deepEqual(session?.userAgent, agent);
    assert.equal(session?.security.mechanism, 'SCRAM-SHA-256');

    // Same installation, same tag: the same resource, and the old session gives way (RFC 6120 §7.7.2.2).
    const second = await attempt({ userAgent: agent, bind: { tag: 'Tests' } });
    assert.ok(second.r.ok);
    assert.equal(second.r.jid, jid);
    await first.c.expectStreamError('conflict');
    // Another installation gets another resource.
    const third = await attempt({ userAgent: { id: newAgentId() }, bind: { tag: 'Tests' } });
    assert.ok(third.r.ok);
    assert.notEqual(third.r.jid, jid);
    await second.c.close();
    await third.c.close();
  });

  test('without Bind 2: the bare JID, then the usual bind feature and RFC 6120 binding on the same stream', async () => {
    const { c, r } = await attempt({ mechanism: 'SCRAM-SHA-1-PLUS', channelBinding: 'tls-exporter', userAgent: false });
    assert.ok(r.ok);
    assert.equal(r.jid, 'alice@localhost');
    assert.ok(r.features.getChild('bind', NS.bind));
    const jid = await c.bind('desk');
    assert.equal(jid, 'alice@localhost/desk');
    assert.equal(sessionOf(jid)?.security.channelBinding, 'tls-exporter');
    assert.equal(sessionOf(jid)?.userAgent, undefined);
    await c.close();
  });

  test('Bind 2 inline: stream management enabled with resumption, CSI inactive, carbons on', async () => {
    const phone = await attempt({
      userAgent: { id: newAgentId() },
      bind: { tag: 'Phone', inner: `<enable xmlns='${NS.sm}' resume='true'/><inactive xmlns='${NS.csi}'/><enable xmlns='${NS.carbons}'/>` },
    });
    assert.ok(phone.r.ok);
    const enabled = phone.r.success.getChild('bound', NS_BIND2)?.getChild('enabled', NS.sm);
    assert.equal(enabled?.attrs.resume, 'true');
    assert.ok(enabled?.attrs.id);
    // Carbons: a message alice sends from another session is copied to the phone.
    const desk = await attempt({ userAgent: { id: newAgentId() }, bind: { tag: 'Desk' } });
    assert.ok(desk.r.ok);
    desk.c.send(`<message to='nobody@localhost' type='chat' id='m1'><body>hi</body></message>`);
    const copy = await phone.c.next((el) => el.name === 'message' && el.getChild('sent', NS.carbons) !== undefined);
    assert.ok(copy);
    // XEP-0198 is live: the copy is counted and an <r/> answered with h.
    phone.c.send(`<r xmlns='${NS.sm}'/>`);
    assert.equal((await phone.c.next((el) => el.name === 'a' && el.ns === NS.sm)).attrs.h, '0');
    await phone.c.close();
    await desk.c.close();
  });

  test('inline resumption: <resume/> in <authenticate/> takes the session back with what it missed; an unknown previd gives <failed/> and a new binding', async () => {
    const agent = { id: newAgentId() };
    const first = await attempt({ userAgent: agent, bind: { tag: 'R', inner: `<enable xmlns='${NS.sm}' resume='true'/>` } });
    assert.ok(first.r.ok);
    const previd = first.r.success.getChild('bound', NS_BIND2)?.getChild('enabled', NS.sm)?.attrs.id;
    assert.ok(previd);
    const jid = first.r.jid;
    first.c.destroy();
    const sender = await attempt({ userAgent: { id: newAgentId() }, bind: { tag: 'S' } });
    sender.c.send(`<message to='${jid}' type='chat' id='q1'><body>while you were away</body></message>`);
    await sender.c.ping();

    const back = await attempt({ userAgent: agent, bind: { tag: 'R' }, extraChildren: `<resume xmlns='${NS.sm}' previd='${previd}' h='0'/>` });
    assert.ok(back.r.ok);
    assert.equal(back.r.success.getChild('resumed', NS.sm)?.attrs.previd, previd);
    assert.equal(back.r.success.getChild('bound', NS_BIND2), undefined, 'a resumed session is not bound again');
    assert.equal(back.r.jid, jid);
    const missed = await back.c.next((el) => el.name === 'message');
    assert.equal(missed.getChildText('body'), 'while you were away');
    assert.equal((await back.c.ping()).attrs.type, 'result');

    const unknown = await attempt({ userAgent: { id: newAgentId() }, bind: { tag: 'R' }, extraChildren: `<resume xmlns='${NS.sm}' previd='nope' h='0'/>` });
    assert.ok(unknown.r.ok);
    assert.ok(unknown.r.success.getChild('failed', NS.sm)?.getChild('item-not-found', NS.stanzas));
    assert.ok(unknown.r.success.getChild('bound', NS_BIND2));
    for (const c of [back.c, sender.c, unknown.c]) await c.close();
  });

  test('the bind is decided at the decision point (action bind): a denied bind fails SASL2 with the rule text; a login-only account logs in without Bind 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-sasl2-policy-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(
      file,
      `version: 1
groups:
  kiosk: { members: [kiosk@localhost] }
rules:
  - name: kiosk-no-sessions
    subject: { groups: [kiosk] }
    action: bind
    decision: deny
    text: Kiosk accounts may not open sessions.
  - name: everyone
    decision: allow
default:
  decision: allow
`,
    );
    const policed = await startTestServer({ auth: { sasl2: true }, policy: { file } });
    try {
      const u = await policed.addUser('kiosk');
      const denied = await attempt({ username: 'kiosk', password: u.password, userAgent: { id: newAgentId() }, bind: { tag: 'K' } }, policed);
      assert.deepEqual(failure(denied.r), { condition: 'not-authorized', text: 'Kiosk accounts may not open sessions.' });
      assert.equal(policed.server.sessions.size, 0);
      const unbound = await sasl2(denied.c, { mechanism: 'SCRAM-SHA-256', username: 'kiosk', password: u.password, userAgent: false });
      assert.ok(unbound.ok);
      assert.equal(unbound.jid, 'kiosk@localhost');
      await denied.c.close();
    } finally {
      await policed.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the bind goes through the same session limit as RFC 6120 binding; refused as a SASL2 failure, stream back to unauthenticated', async () => {
    const limited = await startTestServer({ auth: { sasl2: true }, limits: { sessions_per_account: 1 } });
    try {
      const u = await limited.addUser('bob');
      const one = await attempt({ username: 'bob', password: u.password, userAgent: { id: newAgentId() }, bind: { tag: 'A' } }, limited);
      assert.ok(one.r.ok);
      const two = await attempt({ username: 'bob', password: u.password, userAgent: { id: newAgentId() }, bind: { tag: 'B' } }, limited);
      assert.deepEqual(failure(two.r), { condition: 'not-authorized', text: 'This account already has 1 sessions, the most allowed.' });
      two.c.send(`<iq type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>`);
      await two.c.expectStreamError('not-authorized');
      await one.c.close();
    } finally {
      await limited.stop();
    }
  });
});

describe('XEP-0474 downgrade protection', () => {
  test('server-first carries h = hash of the advertised mechanisms and binding types, for each SCRAM hash, in SASL2 and SASL1', async () => {
    for (const mechanism of ['SCRAM-SHA-1', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
      const { c, features, r } = await attempt({ mechanism, userAgent: false });
      assert.ok(r.ok);
      const expected = ssdpHash(mechanism.slice(6) as 'SHA-1', advertisedIn(features));
      assert.ok(r.serverFirst?.endsWith(`,h=${expected}`), `${mechanism}: ${r.serverFirst}`);
      await c.close();
    }
    // SASL1: the same hash over the SASL1 list.
    const { c, features } = await secured();
    const scram = new ScramClient({ hash: 'SHA-256', ...alice, expectAdvertised: advertisedIn(features, 1) });
    c.send(`<auth xmlns='${NS.sasl}' mechanism='SCRAM-SHA-256'>${scram.first().toString('base64')}</auth>`);
    const challenge = await c.next((el) => el.name === 'challenge');
    const serverFirst = Buffer.from(challenge.text, 'base64');
    assert.match(serverFirst.toString(), new RegExp(`,h=${ssdpHash('SHA-256', advertisedIn(features, 1)).replace(/[+/]/g, '\\$&')}$`));
    c.send(`<response xmlns='${NS.sasl}'>${(await scram.final(serverFirst)).toString('base64')}</response>`);
    const success = await c.next((el) => el.name === 'success');
    assert.ok(scram.verify(Buffer.from(success.text, 'base64')));
    await c.close();
  });

  test('a client that checks the hash logs in when nothing was altered and refuses a stripped mechanism or binding list', async () => {
    const intact = await secured();
    const ok = await sasl2(intact.c, { mechanism: 'SCRAM-SHA-256', ...alice, expectAdvertised: advertisedIn(intact.features) });
    assert.ok(ok.ok);
    await intact.c.close();

    const stripped = await secured();
    const seen = advertisedIn(stripped.features);
    const r = await sasl2(stripped.c, {
      mechanism: 'SCRAM-SHA-256',
      ...alice,
      expectAdvertised: { mechanisms: seen.mechanisms.filter((m) => !m.endsWith('-PLUS')), channelBindings: seen.channelBindings },
    });
    assert.ok(!r.ok && 'clientError' in r);
    assert.match(r.clientError, /downgrade detected/);
    await stripped.c.close();

    const noBindings = await secured();
    const r2 = await sasl2(noBindings.c, { mechanism: 'SCRAM-SHA-256', ...alice, expectAdvertised: { ...advertisedIn(noBindings.features), channelBindings: ['tls-server-end-point'] } });
    assert.ok(!r2.ok && 'clientError' in r2 && /downgrade detected/.test(r2.clientError));
    await noBindings.c.close();
  });
});

describe('SASL2 refusals', () => {
  const cases: [string, Partial<Sasl2Options>, string, RegExp][] = [
    ['an unknown mechanism', { mechanism: 'DIGEST-MD5' }, 'invalid-mechanism', /^DIGEST-MD5 is not offered here\.$/],
    ['a FAST mechanism without <fast/>', { mechanism: 'HT-SHA-256-NONE', token: 'x' }, 'invalid-mechanism', /needs the <fast\/> element/],
    ['a password mechanism with <fast/>', { userAgent: { id: newAgentId() }, fast: {} }, 'invalid-mechanism', /^SCRAM-SHA-256 is not offered here with <fast\/>/],
    ['an upgrade task', { extraAttrs: " upgrade='UPGR-SCRAM-SHA-512'" }, 'invalid-mechanism', /no upgrade tasks/],
    ['an oversize initial response', { rawInitialResponse: 'A'.repeat(Math.ceil(SASL2_MAX_DATA_BYTES / 3) * 4 + 4) }, 'malformed-request', /larger than 8192 bytes/],
    ['malformed base64', { rawInitialResponse: 'not base64!' }, 'incorrect-encoding', /not valid base64/],
    ['non-canonical base64', { rawInitialResponse: 'QR==' }, 'incorrect-encoding', /not valid base64/],
    ['a Bind 2 tag too long', { bind: { tag: 'x'.repeat(65) } }, 'malformed-request', /bind tag must be 1 to 64 characters/],
    ['a Bind 2 tag that is no resource', { bind: { tag: 'bad\u200btag' } }, 'malformed-request', /can't be part of a resource/],
    ['a user-agent id that is no UUID', { userAgent: { id: 'phone-1' } }, 'malformed-request', /must be a UUID/],
    ['a user-agent device name too long', { userAgent: { id: newAgentId(), device: 'd'.repeat(257) } }, 'malformed-request', /longer than 256 characters/],
    ['a token request without a user-agent id', { userAgent: false, requestToken: 'HT-SHA-256-NONE' }, 'malformed-request', /user-agent id/],
    ['a token for a mechanism not offered', { userAgent: { id: newAgentId() }, requestToken: 'HT-SHA-256-UNIQ' }, 'invalid-mechanism', /not a FAST mechanism offered here/],
  ];
  for (const [what, o, condition, text] of cases) {
    test(`${what}: <${condition}/>`, async () => {
      const { c, r } = await attempt(o);
      const f = failure(r);
      assert.equal(f.condition, condition);
      assert.match(f.text ?? '', text);
      // The stream stays usable: a correct attempt now succeeds.
      const again = await sasl2(c, { mechanism: 'SCRAM-SHA-256', ...alice, userAgent: false });
      assert.ok(again.ok);
      await c.close();
    });
  }

  test('a wrong password: not-authorized with the one failure text; the third closes the stream; others are unaffected', async () => {
    const { c, r } = await attempt({ password: 'wrong' });
    assert.deepEqual(failure(r), { condition: 'not-authorized', text: 'Authentication failed' });
    const unknown = await sasl2(c, { mechanism: 'SCRAM-SHA-256', username: 'nobody', password: 'x' });
    assert.deepEqual(failure(unknown), { condition: 'not-authorized', text: 'Authentication failed' });
    const third = await sasl2(c, { mechanism: 'SCRAM-SHA-256', ...alice, password: 'wrong' });
    assert.equal(failure(third).condition, 'not-authorized');
    await c.expectStreamError('policy-violation');
    const other = await attempt({});
    assert.ok(other.r.ok);
    await other.c.close();
  });

  test('<next/> without a task, a <response/> without an exchange, and <abort/> are refused; a stanza mid-exchange ends the stream', async () => {
    const { c } = await secured();
    c.send(`<next xmlns='${NS_SASL2}' task='TOTP'/>`);
    let el = await c.next((e) => e.name === 'failure');
    assert.equal(el.getChildText('text', NS_SASL2), 'No task is pending: this server has no SASL2 tasks.');
    c.send(`<response xmlns='${NS_SASL2}'>AAAA</response>`);
    el = await c.next((e) => e.name === 'failure');
    assert.ok(el.getChild('malformed-request', NS.sasl));
    // Start SCRAM, then send a stanza instead of the response.
    const scram = new ScramClient({ hash: 'SHA-256', ...alice });
    c.send(`<authenticate xmlns='${NS_SASL2}' mechanism='SCRAM-SHA-256'><initial-response>${scram.first().toString('base64')}</initial-response></authenticate>`);
    await c.next((e) => e.name === 'challenge' && e.ns === NS_SASL2);
    c.send(`<abort xmlns='${NS_SASL2}'/>`);
    el = await c.next((e) => e.name === 'failure');
    assert.ok(el.getChild('aborted', NS.sasl));
    c.send(`<authenticate xmlns='${NS_SASL2}' mechanism='SCRAM-SHA-256'><initial-response>${new ScramClient({ hash: 'SHA-256', ...alice }).first().toString('base64')}</initial-response></authenticate>`);
    await c.next((e) => e.name === 'challenge' && e.ns === NS_SASL2);
    c.send(`<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`);
    const err = await c.expectStreamError('not-authorized');
    assert.match(err.text ?? '', /Only <response\/> or <abort\/>/);
  });

  test('a SASL2 element during a SASL exchange ends that exchange with a SASL failure', async () => {
    const { c } = await secured();
    const scram = new ScramClient({ hash: 'SHA-256', ...alice });
    c.send(`<auth xmlns='${NS.sasl}' mechanism='SCRAM-SHA-256'>${scram.first().toString('base64')}</auth>`);
    await c.next((e) => e.name === 'challenge' && e.ns === NS.sasl);
    c.send(`<response xmlns='${NS_SASL2}'>AAAA</response>`);
    const el = await c.next((e) => e.name === 'failure');
    assert.equal(el.ns, NS.sasl);
    assert.equal(el.getChildText('text', NS.sasl), 'Finish the SASL exchange in progress first.');
    const again = await sasl2(c, { mechanism: 'SCRAM-SHA-256', ...alice, userAgent: false });
    assert.ok(again.ok);
    await c.close();
  });

  test('lockout counts SASL2 failures like SASL ones: a locked account fails even with the right password', async () => {
    const strict = await startTestServer({ auth: { sasl2: true, lockout_failures: 2 } });
    try {
      const u = await strict.addUser('carol');
      for (let i = 0; i < 2; i++) {
        const { c, r } = await attempt({ username: 'carol', password: 'wrong' }, strict);
        assert.equal(failure(r).condition, 'not-authorized');
        await c.close();
      }
      const { c, r } = await attempt({ username: 'carol', password: u.password }, strict);
      assert.deepEqual(failure(r), { condition: 'not-authorized', text: 'Authentication failed' });
      await c.close();
      assert.equal(await strict.server.guard.unlock('carol'), true);
    } finally {
      await strict.stop();
    }
  });
});
