// Peer-to-peer file transfer (issue #8) over raw sockets: SI (XEP-0096),
// in-band bytestreams (XEP-0047), SOCKS5 bytestreams (XEP-0065) and Jingle
// file transfer (XEP-0234 with XEP-0260 s5b) are refused unless a rule names
// p2p-file-transfer for the sender: the error condition and the rule's text,
// the audit entry, nothing reaching the peer, other sessions unaffected. For a
// group that is allowed, each reaches its peer, with the direct candidates of
// bytestreams and Jingle s5b replaced by the server's proxy. Without a rule
// naming the feature (the built-in policy; a file that does not mention it,
// even with an allowing default) the transfer is refused too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { P2P_NOT_ALLOWED_TEXT } from '../../src/policy/compile.ts';
import type { AuditEntry } from '../../src/storage/types.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';

const PROXY = 'proxy.localhost';
const RULE = 'no-p2p-files';
const TEXT = 'Send files through the server (upload), where they are scanned.';
const NS_SI = 'http://jabber.org/protocol/si';
const NS_IBB = 'http://jabber.org/protocol/ibb';
const NS_BS = 'http://jabber.org/protocol/bytestreams';
const NS_JINGLE = 'urn:xmpp:jingle:1';
const NS_S5B = 'urn:xmpp:jingle:transports:s5b:1';

const POLICY = `
version: 1
groups:
  engineers: { members: [alice@localhost, bob@localhost] }
rules:
  - name: engineers-p2p
    subject: { groups: [engineers] }
    peer: [{ groups: [engineers] }, services]
    feature: p2p-file-transfer
    decision: allow
  - name: ${RULE}
    feature: p2p-file-transfer
    decision: deny
    text: ${TEXT}
  - name: local-accounts
    subject: { local: true }
    decision: allow
`;

/** The four ways to start a direct transfer, as a client sends them to `to`. */
const OFFERS: Record<string, { ns: string; payload: (to: string, from: string) => string }> = {
  'SI (XEP-0096)': {
    ns: NS_SI,
    payload: () =>
      `<si xmlns='${NS_SI}' id='si1' profile='${NS_SI}/profile/file-transfer'><file xmlns='${NS_SI}/profile/file-transfer' name='plan.pdf' size='1024'/>` +
      `<feature xmlns='http://jabber.org/protocol/feature-neg'><x xmlns='jabber:x:data' type='form'><field var='stream-method' type='list-single'><option><value>${NS_BS}</value></option></field></x></feature></si>`,
  },
  'IBB (XEP-0047)': { ns: NS_IBB, payload: () => `<open xmlns='${NS_IBB}' sid='ibb1' block-size='4096' stanza='iq'/>` },
  'SOCKS5 bytestreams (XEP-0065)': {
    ns: NS_BS,
    payload: (_to, from) =>
      `<query xmlns='${NS_BS}' sid='bs1'><streamhost jid='${from}' host='192.0.2.7' port='5086'/><streamhost jid='${PROXY}' host='192.0.2.7' port='7777'/></query>`,
  },
  'Jingle file transfer (XEP-0234, s5b)': {
    ns: NS_JINGLE,
    payload: (to, from) =>
      `<jingle xmlns='${NS_JINGLE}' action='session-initiate' initiator='${from}' responder='${to}' sid='j1'>` +
      `<content creator='initiator' name='file'><description xmlns='urn:xmpp:jingle:apps:file-transfer:5'><file><name>plan.pdf</name><size>1024</size></file></description>` +
      `<transport xmlns='${NS_S5B}' sid='t1' dstaddr='abc' mode='tcp'>` +
      `<candidate cid='c1' host='192.0.2.7' jid='${from}' port='5086' priority='8257536' type='direct'/>` +
      `<candidate cid='c2' host='203.0.113.5' jid='${from}' port='5087' priority='7929856' type='assisted'/>` +
      `<candidate cid='c3' host='192.0.2.7' jid='${PROXY}' port='7777' priority='655360' type='proxy'/>` +
      `</transport></content></jingle>`,
  },
};

const lastSeq = async (ts: TestServer): Promise<number> => {
  let seq = 0;
  for (;;) {
    const page = await ts.server.storage.audit.list({ afterSeq: seq, limit: 1000 });
    if (page.length === 0) return seq;
    seq = page[page.length - 1]!.seq;
  }
};

const audited = async (ts: TestServer, since: number, match: (e: AuditEntry) => boolean): Promise<AuditEntry> => {
  for (let i = 0; i < 50; i++) {
    const found = (await ts.server.storage.audit.list({ afterSeq: since, limit: 1000 })).find(match);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail('no matching audit entry');
};

/** A chat message from → to, awaited there: whatever `from` sent to `to` before it has arrived. */
let markers = 0;
const marker = async (from: RawClient, to: RawClient) => {
  const id = `marker-${++markers}`;
  from.send(`<message type='chat' to='${to.jid}' id='${id}'><body>marker</body></message>`);
  await to.next((e) => e.name === 'message' && e.attrs.id === id);
};

const login2 = (ts: TestServer, u: { local: string; password: string }) =>
  login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password, resource: 'desk' });

describe('peer-to-peer file transfer: only where a rule allows it, and then through the proxy (raw sockets)', () => {
  let ts: TestServer;
  let policyDir: string;
  let alice: RawClient; // engineers: allowed
  let bob: RawClient;
  let carol: RawClient; // not an engineer: refused
  let dave: RawClient;

  before(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-p2p-'));
    writeFileSync(join(policyDir, 'policy.yaml'), POLICY);
    ts = await startTestServer({
      policy: { file: join(policyDir, 'policy.yaml') },
      modules: { disco: {}, ping: {}, roster: {}, presence: {}, message: {}, proxy65: { address: '127.0.0.1', port: 0, public_host: '127.0.0.1' } },
    });
    const users = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => ts.addUser(n)));
    [alice, bob, carol, dave] = (await Promise.all(users.map((u) => login2(ts, u)))) as [RawClient, RawClient, RawClient, RawClient];
  });

  after(async () => {
    await Promise.all([alice, bob, carol, dave].map((c) => c?.close()));
    await ts?.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  for (const [name, offer] of Object.entries(OFFERS)) {
    test(`${name}: refused for a group without p2p-file-transfer, audited, nothing reaches the peer, others carry on`, async () => {
      const since = await lastSeq(ts);
      const before = dave.received.length;
      const id = carol.newId();
      carol.send(`<iq type='set' id='${id}' to='${dave.jid}'>${offer.payload(dave.jid!, carol.jid!)}</iq>`);
      // Meanwhile an allowed pair's transfer goes through.
      const ok = alice.newId();
      alice.send(`<iq type='set' id='${ok}' to='${bob.jid}'>${offer.payload(bob.jid!, alice.jid!)}</iq>`);

      const error = await carol.next((e) => e.name === 'iq' && e.attrs.id === id);
      assert.equal(error.attrs.type, 'error');
      assert.deepEqual(stanzaError(error), { type: 'modify', condition: 'policy-violation', text: TEXT });
      const entry = await audited(ts, since, (e) => e.details.rule === RULE && e.details.target === dave.jid);
      assert.equal(entry.actor, 'carol@localhost');
      assert.equal(entry.action, 'stanza.iq');
      assert.equal(entry.decision, 'deny');
      assert.equal(entry.reason, TEXT);
      assert.equal(entry.details.condition, 'policy-violation');
      assert.equal(entry.details.feature, `iq:${offer.ns}`);

      await bob.next((e) => e.name === 'iq' && e.attrs.id === ok);
      await marker(carol, dave);
      const got = dave.received.slice(before).filter((e) => e.name === 'iq');
      assert.deepEqual(got.map(String), [], 'nothing reached dave');
      assert.equal((await carol.ping()).attrs.type, 'result', "carol's session carries on");
    });

    test(`${name}: delivered within an allowed group`, async () => {
      const id = alice.newId();
      alice.send(`<iq type='set' id='${id}' to='${bob.jid}'>${offer.payload(bob.jid!, alice.jid!)}</iq>`);
      const got = await bob.next((e) => e.name === 'iq' && e.attrs.id === id);
      assert.equal(got.attrs.from, alice.jid);
      assert.equal(got.elements[0]!.ns, offer.ns);
      bob.send(`<iq type='error' id='${id}' to='${alice.jid}'><error type='cancel'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`);
      await alice.next((e) => e.name === 'iq' && e.attrs.id === id);
    });
  }

  test('allowed bytestreams and Jingle s5b offers keep only the proxy, at its real address', async () => {
    const port = Number((await alice.iq('get', `<query xmlns='${NS_BS}'/>`, { to: PROXY })).getChild('query', NS_BS)!.getChild('streamhost')!.attrs.port);
    const send = async (payload: string): Promise<Element> => {
      const id = alice.newId();
      alice.send(`<iq type='set' id='${id}' to='${bob.jid}'>${payload}</iq>`);
      return bob.next((e) => e.name === 'iq' && e.attrs.id === id);
    };
    const bs = await send(OFFERS['SOCKS5 bytestreams (XEP-0065)']!.payload(bob.jid!, alice.jid!));
    assert.deepEqual(
      bs.getChild('query', NS_BS)!.getChildren('streamhost').map((h) => ({ ...h.attrs })),
      [{ jid: PROXY, host: '127.0.0.1', port: String(port) }],
    );
    const jingle = await send(OFFERS['Jingle file transfer (XEP-0234, s5b)']!.payload(bob.jid!, alice.jid!));
    const transport = jingle.getChild('jingle', NS_JINGLE)!.getChild('content')!.getChild('transport', NS_S5B)!;
    assert.deepEqual(
      transport.getChildren('candidate').map((c) => ({ ...c.attrs })),
      [{ cid: 'c3', host: '127.0.0.1', jid: PROXY, port: String(port), priority: '655360', type: 'proxy' }],
    );
    assert.ok(jingle.getChild('jingle', NS_JINGLE)!.getChild('content')!.getChild('description'), 'the file description is untouched');
  });

  test('the proxy refuses those not allowed p2p-file-transfer: no address, no activation', async () => {
    const q = await carol.iq('get', `<query xmlns='${NS_BS}'/>`, { to: PROXY });
    assert.deepEqual(stanzaError(q), { type: 'modify', condition: 'policy-violation', text: TEXT });
    const since = await lastSeq(ts);
    const a = await carol.iq('set', `<query xmlns='${NS_BS}' sid='x'><activate>${dave.jid}</activate></query>`, { to: PROXY });
    assert.deepEqual(stanzaError(a), { type: 'modify', condition: 'policy-violation', text: TEXT });
    const entry = await audited(ts, since, (e) => e.action === 'proxy65.activate');
    assert.equal(entry.actor, 'carol@localhost');
    assert.equal(entry.details.rule, RULE);
  });
});

const UNMENTIONED = `version: 1
rules:
  - name: local-accounts
    subject: { local: true }
    decision: allow
default:
  decision: allow
`;

for (const [what, policy] of [
  ['the built-in policy (every local account may do everything)', undefined],
  ['a policy file that does not mention it, even with an allowing default', UNMENTIONED],
] as const) {
  describe(`peer-to-peer file transfer is refused by default: ${what} (raw sockets)`, () => {
    let ts: TestServer;
    let policyDir: string;
    let alice: RawClient;
    let bob: RawClient;

    before(async () => {
      policyDir = mkdtempSync(join(tmpdir(), 'palisade-p2p-default-'));
      if (policy) writeFileSync(join(policyDir, 'policy.yaml'), policy);
      ts = await startTestServer({
        ...(policy ? { policy: { file: join(policyDir, 'policy.yaml') } } : {}),
        modules: { disco: {}, ping: {}, roster: {}, presence: {}, message: {}, proxy65: { address: '127.0.0.1', port: 0 } },
      });
      const users = await Promise.all(['alice', 'bob'].map((n) => ts.addUser(n)));
      [alice, bob] = (await Promise.all(users.map((u) => login2(ts, u)))) as [RawClient, RawClient];
    });

    after(async () => {
      await Promise.all([alice, bob].map((c) => c?.close()));
      await ts?.stop();
      rmSync(policyDir, { recursive: true, force: true });
    });

    test('SI, IBB, bytestreams, Jingle FT, a file proposal (XEP-0353), jabber:iq:oob and the proxy are refused; chat passes', async () => {
      assert.equal(ts.server.policyEngine.policy.source.builtin, policy === undefined);
      const mark = bob.received.length;
      for (const offer of Object.values(OFFERS)) {
        const since = await lastSeq(ts);
        const r = await alice.iq('set', offer.payload(bob.jid!, alice.jid!), { to: bob.jid! });
        assert.deepEqual(stanzaError(r), { type: 'modify', condition: 'policy-violation', text: P2P_NOT_ALLOWED_TEXT });
        const entry = await audited(ts, since, (e) => e.details.target === bob.jid && e.details.feature === `iq:${offer.ns}`);
        assert.equal(entry.details.rule, 'default');
        assert.equal(entry.actor, 'alice@localhost');
      }
      const id = alice.newId();
      alice.send(`<message to='${bob.jid}' id='${id}'><propose xmlns='urn:xmpp:jingle-message:0' id='p1'><description xmlns='urn:xmpp:jingle:apps:file-transfer:5'/></propose></message>`);
      const propose = await alice.next((e) => e.name === 'message' && e.attrs.id === id);
      assert.deepEqual(stanzaError(propose), { type: 'modify', condition: 'policy-violation', text: P2P_NOT_ALLOWED_TEXT });
      const oob = await alice.iq('set', `<query xmlns='jabber:iq:oob'><url>http://192.0.2.7:8080/plan.pdf</url></query>`, { to: bob.jid! });
      assert.deepEqual(stanzaError(oob), { type: 'modify', condition: 'policy-violation', text: P2P_NOT_ALLOWED_TEXT });
      const proxy = await alice.iq('get', `<query xmlns='${NS_BS}'/>`, { to: PROXY });
      assert.deepEqual(stanzaError(proxy), { type: 'modify', condition: 'policy-violation', text: P2P_NOT_ALLOWED_TEXT });
      await marker(alice, bob);
      assert.deepEqual(bob.received.slice(mark).filter((e) => e.name === 'iq' || e.getChild('propose')).map(String), [], 'nothing reached bob');
    });
  });
}
