// Must show (issue #6): one deny and one allow test for each rule kind that no
// other file covers (the table "Where each rule kind is tested" in
// docs/policy.md names the others), over raw sockets. Each deny asserts the
// error condition and text the sender gets, the audit entry naming the rule,
// and that other sessions carry on (alice still reaches carol, the refused
// sender's own stream still answers). Kinds here: login from an IP range;
// peer anyone and same-domain; the features 1:1 chat, group chat join,
// voice/video (Jingle), invitations, whiteboard, remote control (ad-hoc
// commands to another user's client), external contacts and presence visibility; a `during`
// time window; e2ee forbidden; and, on a second server with the http-upload
// module, file-transfer (the upload slot request).
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E2EE_FORBIDDEN_TEXT } from '../../src/policy/compile.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { RawClient, login, stanzaError } from '../helpers/raw-client.ts';
import { deniedBy, lastAuditSeq } from '../helpers/policy.ts';

const TEXT = {
  ip: 'Roaming accounts may not log in from 127.0.0.1.',
  anyone: 'This account is locked: it may not send messages to anyone.',
  sameDomain: 'Kiosk accounts may not write to accounts of this server.',
  chat: 'One-to-one chat is not available to this account; send a normal message.',
  rooms: 'Group chat rooms are not available to this account.',
  calls: 'Voice and video calls are not available to this account.',
  external: 'Contacts on other servers are not allowed for this account.',
  hidden: 'This account may not show its presence to others.',
  extras: 'Invitations, whiteboards and remote control are not available to this account.',
  night: 'The night window (22:00-06:00 UTC) is closed to this account.',
};

const POLICY = `
version: 1
time_zone: UTC
groups:
  roaming: { members: [roamer@localhost] }
  lockdown: { members: [lock@localhost] }
  kiosk: { members: [kiosk@localhost] }
  no-chat: { members: [quiet@localhost] }
  no-rooms: { members: [norooms@localhost] }
  no-calls: { members: [nocalls@localhost] }
  inside: { members: [inside@localhost] }
  hidden: { members: [hidden@localhost] }
  day-only: { members: [day@localhost] }
  readable: { members: [readable@localhost] }
  no-extras: { members: [extras@localhost] }
rules:
  - name: roaming-not-from-loopback-1
    subject: { groups: [roaming], ip: [127.0.0.1/32] }
    action: login
    decision: deny
    text: ${JSON.stringify(TEXT.ip)}
  - name: lockdown-anyone
    subject: { groups: [lockdown] }
    action: stanza.message
    peer: anyone
    decision: deny
    text: ${JSON.stringify(TEXT.anyone)}
  - name: kiosk-not-same-domain
    subject: { groups: [kiosk] }
    action: stanza.message
    peer: same-domain
    decision: deny
    text: ${JSON.stringify(TEXT.sameDomain)}
  - name: no-chat
    subject: { groups: [no-chat] }
    feature: chat
    decision: deny
    text: ${JSON.stringify(TEXT.chat)}
  - name: no-rooms
    subject: { groups: [no-rooms] }
    action: stanza.presence
    peer: services
    decision: deny
    text: ${JSON.stringify(TEXT.rooms)}
  - name: no-calls
    subject: { groups: [no-calls] }
    feature: [voice, video]
    decision: deny
    text: ${JSON.stringify(TEXT.calls)}
  - name: no-external-contacts
    subject: { groups: [inside] }
    feature: external-contacts
    decision: deny
    text: ${JSON.stringify(TEXT.external)}
  - name: hidden-presence
    subject: { groups: [hidden] }
    feature: presence-visibility
    decision: deny
    text: ${JSON.stringify(TEXT.hidden)}
  - name: no-extras
    subject: { groups: [no-extras] }
    feature: [invitations, whiteboard, remote-control]
    decision: deny
    text: ${JSON.stringify(TEXT.extras)}
  - name: day-only-not-at-night
    subject: { groups: [day-only] }
    during: { hours: '22:00-06:00' }
    decision: deny
    text: ${JSON.stringify(TEXT.night)}
  - name: readable-plaintext-only
    subject: { groups: [readable] }
    action: stanza.message
    e2ee: forbidden
    decision: allow
  - name: local
    subject: { local: true }
    peer: anyone
    decision: allow
default:
  decision: deny
`;

const NAMES = ['alice', 'carol', 'bob', 'roamer', 'lock', 'kiosk', 'quiet', 'norooms', 'nocalls', 'inside', 'hidden', 'day', 'readable', 'extras'] as const;
type Name = (typeof NAMES)[number];

/** Wednesday 2025-06-04 12:00 UTC: inside no night window. */
const NOON = new Date('2025-06-04T12:00:00Z');

describe('policy rule kinds: one deny and one allow each (raw sockets)', () => {
  let ts: TestServer;
  let policyDir: string;
  let now = NOON;
  const c = {} as Record<Name, RawClient>;

  const opts = (name: string) => ({ port: ts.starttlsPort, dataDir: ts.dataDir, username: name, password: `pw-${name}-secret` });
  const bare = (name: Name) => `${name}@localhost`;

  const connect = async (name: Name, localAddress?: string) => {
    const client = await login({ ...opts(name), resource: 'desk', ...(localAddress ? { localAddress } : {}) });
    client.send('<presence/>');
    await client.next((e) => e.name === 'presence' && e.attrs.from === client.jid);
    return client;
  };

  let ids = 0;
  const id = (prefix: string) => `${prefix}-${++ids}`;

  /** The error reply to the stanza with this id. */
  const errorOf = (from: RawClient, stanzaId: string) => from.next((e) => e.attrs.id === stanzaId && e.attrs.type === 'error');

  /** Waits for the element with this id at the receiver; not an error. */
  const arrives = (to: RawClient, stanzaId: string) => to.next((e) => e.attrs.id === stanzaId && e.attrs.type !== 'error');

  /** Other sessions carry on: alice still reaches carol, and the refused sender's stream still answers. */
  const othersUnaffected = async (sender?: RawClient) => {
    const m = id('bystander');
    c.alice.send(`<message type='chat' to='${c.carol.jid}' id='${m}'><body>still fine?</body></message>`);
    assert.equal((await arrives(c.carol, m)).getChildText('body'), 'still fine?');
    if (sender) assert.equal((await sender.ping()).attrs.type, 'result');
  };

  /** Nothing with this id reached `to` (a later message from alice that does arrive makes it real). */
  const nothingAt = async (to: RawClient, stanzaId: string, mark: number) => {
    const m = id('marker');
    c.alice.send(`<message type='chat' to='${to.jid}' id='${m}'><body>marker</body></message>`);
    await arrives(to, m);
    assert.deepEqual(to.received.slice(mark).filter((e) => e.attrs.id === stanzaId).map(String), []);
  };

  const policyViolation = (el: Element, text: string) => assert.deepEqual(stanzaError(el), { type: 'modify', condition: 'policy-violation', text });

  before(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-rule-kinds-'));
    const policyFile = join(policyDir, 'policy.yaml');
    writeFileSync(policyFile, POLICY);
    ts = await startTestServer({ policy: { file: policyFile } });
    ts.server.policyEngine.clock = () => now;
    for (const name of NAMES) await ts.addUser(name);
    for (const name of NAMES) if (name !== 'roamer') c[name] = await connect(name);
  });

  after(async () => {
    await Promise.all(Object.values(c).map((x) => x.close()));
    await ts?.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    now = NOON;
  });

  describe('login from an IP range (subject.ip)', () => {
    test('deny: from 127.0.0.1 SASL fails with not-authorized and the text, audited with the rule; others unaffected', async () => {
      const since = await lastAuditSeq(ts);
      const raw = await RawClient.connect(opts('roamer'));
      try {
        await raw.openStream();
        await raw.startTls();
        const r = await raw.authenticate({ mechanism: 'SCRAM-SHA-256', username: 'roamer', password: 'pw-roamer-secret' });
        assert.equal(r.ok, false);
        assert.deepEqual(r.ok ? undefined : [r.condition, r.text], ['not-authorized', TEXT.ip]);
      } finally {
        raw.destroy();
      }
      await deniedBy(ts, since, 'roaming-not-from-loopback-1', { actor: bare('roamer'), action: 'login', text: TEXT.ip });
      await othersUnaffected();
    });

    test('allow: the same account from 127.0.0.2 logs in', async () => {
      const roamer = await connect('roamer', '127.0.0.2');
      assert.equal((await roamer.ping()).attrs.type, 'result');
      await roamer.close();
    });
  });

  describe('with whom: anyone', () => {
    test('deny: a locked account is refused towards an account, a room and another server alike; audited; others unaffected', async () => {
      const since = await lastAuditSeq(ts);
      const mark = c.bob.received.length;
      const targets = [c.bob.jid!, 'room@conference.localhost', 'someone@elsewhere.example'];
      const sent: string[] = [];
      for (const to of targets) {
        const m = id('lock');
        sent.push(m);
        c.lock.send(`<message type='chat' to='${to}' id='${m}'><body>hello</body></message>`);
        policyViolation(await errorOf(c.lock, m), TEXT.anyone);
        await deniedBy(ts, since, 'lockdown-anyone', { actor: bare('lock'), action: 'stanza.message', text: TEXT.anyone, target: to });
      }
      await nothingAt(c.bob, sent[0]!, mark);
      await othersUnaffected(c.lock);
    });

    test('allow: a rule with peer anyone lets bob write to carol', async () => {
      const m = id('anyone');
      c.bob.send(`<message type='chat' to='${c.carol.jid}' id='${m}'><body>hi carol</body></message>`);
      assert.equal((await arrives(c.carol, m)).getChildText('body'), 'hi carol');
    });
  });

  describe('with whom: same-domain', () => {
    test('deny: a kiosk account writing to an account of this server; audited; bob gets nothing; others unaffected', async () => {
      const since = await lastAuditSeq(ts);
      const mark = c.bob.received.length;
      const m = id('kiosk');
      c.kiosk.send(`<message type='chat' to='${c.bob.jid}' id='${m}'><body>hi bob</body></message>`);
      policyViolation(await errorOf(c.kiosk, m), TEXT.sameDomain);
      await deniedBy(ts, since, 'kiosk-not-same-domain', { actor: bare('kiosk'), action: 'stanza.message', text: TEXT.sameDomain, target: c.bob.jid });
      await nothingAt(c.bob, m, mark);
      await othersUnaffected(c.kiosk);
    });

    test('allow: the kiosk writing to another server passes the policy (and then finds no route: remote-server-not-found)', async () => {
      const m = id('kiosk-out');
      c.kiosk.send(`<message type='chat' to='someone@elsewhere.example' id='${m}'><body>hi</body></message>`);
      assert.equal(stanzaError(await errorOf(c.kiosk, m)).condition, 'remote-server-not-found');
    });
  });

  describe('features: 1:1 chat', () => {
    test('deny: a chat message; audited with the feature; bob gets nothing; others unaffected', async () => {
      const since = await lastAuditSeq(ts);
      const mark = c.bob.received.length;
      const m = id('chat');
      c.quiet.send(`<message type='chat' to='${c.bob.jid}' id='${m}'><body>hi</body></message>`);
      policyViolation(await errorOf(c.quiet, m), TEXT.chat);
      const e = await deniedBy(ts, since, 'no-chat', { actor: bare('quiet'), action: 'stanza.message', text: TEXT.chat, target: c.bob.jid });
      assert.equal(e.details.feature, 'chat');
      await nothingAt(c.bob, m, mark);
      await othersUnaffected(c.quiet);
    });

    test('allow: a normal message from the same account arrives', async () => {
      const m = id('normal');
      c.quiet.send(`<message type='normal' to='${c.bob.jid}' id='${m}'><body>a note</body></message>`);
      assert.equal((await arrives(c.bob, m)).getChildText('body'), 'a note');
    });
  });

  describe('features: group chat join (and so creation)', () => {
    const join = (who: RawClient, room: string, nick: string, stanzaId: string) =>
      who.send(`<presence to='${room}@conference.localhost/${nick}' id='${stanzaId}'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);

    test('deny: joining a room is refused with presence of type error; audited; no room was created; others unaffected', async () => {
      const since = await lastAuditSeq(ts);
      const m = id('join');
      join(c.norooms, 'lobby', 'nr', m);
      policyViolation(await errorOf(c.norooms, m), TEXT.rooms);
      await deniedBy(ts, since, 'no-rooms', { actor: bare('norooms'), action: 'stanza.presence', text: TEXT.rooms, target: 'lobby@conference.localhost/nr' });
      // The room does not exist: a message to it finds nothing.
      const probe = id('probe');
      c.bob.send(`<message type='groupchat' to='lobby@conference.localhost' id='${probe}'><body>anyone?</body></message>`);
      assert.notEqual(stanzaError(await errorOf(c.bob, probe)).condition, 'policy-violation');
      await othersUnaffected(c.norooms);
    });

    test('allow: bob joins and so creates the room (self-presence with status 110 and 201)', async () => {
      const m = id('join');
      join(c.bob, 'bobs-room', 'bob', m);
      const self = await c.bob.next((e) => e.name === 'presence' && e.attrs.from === 'bobs-room@conference.localhost/bob' && e.attrs.type !== 'error');
      const codes = (self.getChild('x', 'http://jabber.org/protocol/muc#user')?.getChildren('status') ?? []).map((s) => s.attrs.code);
      assert.ok(codes.includes('110') && codes.includes('201'), codes.join(','));
    });
  });

  describe('features: voice and video (Jingle)', () => {
    const call = (from: RawClient, to: RawClient, media: string) =>
      from.iq(
        'set',
        `<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='s-${media}-${++ids}' initiator='${from.jid}'>` +
          `<content creator='initiator' name='${media}'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='${media}'/></content></jingle>`,
        { to: to.jid! },
      );

    test('deny: a voice and a video session-initiate come back as iq errors; audited; bob sees no iq; others unaffected', async () => {
      const since = await lastAuditSeq(ts);
      const mark = c.bob.received.length;
      for (const media of ['audio', 'video']) {
        const reply = await call(c.nocalls, c.bob, media);
        assert.deepEqual(stanzaError(reply), { type: 'modify', condition: 'policy-violation', text: TEXT.calls });
      }
      const e = await deniedBy(ts, since, 'no-calls', { actor: bare('nocalls'), action: 'stanza.iq', text: TEXT.calls, target: c.bob.jid });
      assert.equal(e.details.feature, 'iq:urn:xmpp:jingle:1');
      await othersUnaffected(c.nocalls);
      assert.deepEqual(c.bob.received.slice(mark).filter((x) => x.name === 'iq' && x.attrs.from === c.nocalls.jid).map(String), []);
    });

    test('allow: alice calls bob; bob receives the session-initiate', async () => {
      const pending = call(c.alice, c.bob, 'audio');
      const got = await c.bob.next((e) => e.name === 'iq' && e.attrs.from === c.alice.jid && e.getChild('jingle', 'urn:xmpp:jingle:1') !== undefined);
      c.bob.send(`<iq type='result' to='${c.alice.jid}' id='${got.attrs.id}'/>`);
      assert.equal((await pending).attrs.type, 'result');
    });
  });

  describe('features: invitations, whiteboard, remote control', () => {
    const invite = (to: RawClient, stanzaId: string) => `<message to='${to.jid}' id='${stanzaId}'><x xmlns='jabber:x:conference' jid='bobs-room@conference.localhost'/></message>`;
    const sxe = (to: RawClient, stanzaId: string) => `<message to='${to.jid}' id='${stanzaId}'><sxe xmlns='urn:xmpp:sxe:0' session='wb1'><state-offer/></sxe></message>`;
    const command = (to: RawClient, stanzaId: string) =>
      `<iq type='set' to='${to.jid}' id='${stanzaId}'><command xmlns='http://jabber.org/protocol/commands' node='http://jabber.org/protocol/rc#set-status' action='execute'/></iq>`;

    test('deny: a direct invitation, a whiteboard message and an ad-hoc command to bob’s client; each audited; bob gets none; others unaffected', async () => {
      const mark = c.bob.received.length;
      const sent: string[] = [];
      for (const [what, stanza, feature] of [
        ['invite', invite, 'normal'],
        ['sxe', sxe, 'normal'],
        ['command', command, 'iq:http://jabber.org/protocol/commands'],
      ] as const) {
        const since = await lastAuditSeq(ts);
        const m = id(what);
        sent.push(m);
        c.extras.send(stanza(c.bob, m));
        policyViolation(await errorOf(c.extras, m), TEXT.extras);
        const action = what === 'command' ? 'stanza.iq' : 'stanza.message';
        const e = await deniedBy(ts, since, 'no-extras', { actor: bare('extras'), action, text: TEXT.extras, target: c.bob.jid });
        assert.equal(e.details.feature, feature);
      }
      await nothingAt(c.bob, sent[0]!, mark);
      assert.deepEqual(c.bob.received.slice(mark).filter((e) => sent.includes(e.attrs.id ?? '')).map(String), []);
      await othersUnaffected(c.extras);
    });

    test('allow: alice’s invitation, whiteboard message and command reach bob', async () => {
      const [i, w, k] = [id('invite'), id('sxe'), id('command')];
      c.alice.send(invite(c.bob, i));
      c.alice.send(sxe(c.bob, w));
      c.alice.send(command(c.bob, k));
      assert.equal((await arrives(c.bob, i)).getChild('x', 'jabber:x:conference')?.attrs.jid, 'bobs-room@conference.localhost');
      assert.ok((await arrives(c.bob, w)).getChild('sxe', 'urn:xmpp:sxe:0'));
      const got = await arrives(c.bob, k);
      assert.equal(got.attrs.from, c.alice.jid);
      c.bob.send(`<iq type='result' to='${c.alice.jid}' id='${k}'/>`);
      await c.alice.next((e) => e.attrs.id === k && e.attrs.type === 'result');
    });
  });

  describe('features: external contacts', () => {
    test('deny: a subscription request to another server; audited; others unaffected', async () => {
      const since = await lastAuditSeq(ts);
      const m = id('sub');
      c.inside.send(`<presence to='pat@partner.example' type='subscribe' id='${m}'/>`);
      policyViolation(await errorOf(c.inside, m), TEXT.external);
      const e = await deniedBy(ts, since, 'no-external-contacts', { actor: bare('inside'), action: 'stanza.presence', text: TEXT.external, target: 'pat@partner.example' });
      assert.equal(e.details.feature, 'presence:subscribe');
      await othersUnaffected(c.inside);
    });

    test('allow: the same account asks a local account; bob receives the request', async () => {
      c.inside.send(`<presence to='${bare('bob')}' type='subscribe'/>`);
      await c.bob.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe' && e.attrs.from === bare('inside'));
    });
  });

  describe('features: presence visibility', () => {
    test('deny: directed presence to bob comes back as an error; audited; bob sees nothing; others unaffected', async () => {
      const since = await lastAuditSeq(ts);
      const mark = c.bob.received.length;
      const m = id('pres');
      c.hidden.send(`<presence to='${c.bob.jid}' id='${m}'><status>here</status></presence>`);
      policyViolation(await errorOf(c.hidden, m), TEXT.hidden);
      await deniedBy(ts, since, 'hidden-presence', { actor: bare('hidden'), action: 'stanza.presence', text: TEXT.hidden, target: c.bob.jid });
      await nothingAt(c.bob, m, mark);
      await othersUnaffected(c.hidden);
    });

    test('allow: bob’s directed presence reaches the hidden account', async () => {
      const m = id('pres');
      c.bob.send(`<presence to='${c.hidden.jid}' id='${m}'><status>hello</status></presence>`);
      assert.equal((await arrives(c.hidden, m)).getChildText('status'), 'hello');
    });
  });

  describe('time windows: during', () => {
    test('deny: at 23:30 UTC, inside the window; audited; others unaffected', async () => {
      now = new Date('2025-06-04T23:30:00Z');
      const since = await lastAuditSeq(ts);
      const m = id('night');
      c.day.send(`<message type='chat' to='${c.bob.jid}' id='${m}'><body>late</body></message>`);
      policyViolation(await errorOf(c.day, m), TEXT.night);
      await deniedBy(ts, since, 'day-only-not-at-night', { actor: bare('day'), action: 'stanza.message', text: TEXT.night, target: c.bob.jid });
      await othersUnaffected();
    });

    test('allow: at 06:00 UTC the window has ended (end excluded)', async () => {
      now = new Date('2025-06-05T06:00:00Z');
      const m = id('morning');
      c.day.send(`<message type='chat' to='${c.bob.jid}' id='${m}'><body>early</body></message>`);
      assert.equal((await arrives(c.bob, m)).getChildText('body'), 'early');
    });
  });

  describe('e2ee: forbidden', () => {
    const omemo =
      `<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1234'><key rid='5678'>a2V5</key><iv>aXZpdg==</iv></header>` +
      `<payload>Y2lwaGVydGV4dA==</payload></encrypted>`;

    test('deny: an OMEMO message; audited; bob gets nothing; others unaffected', async () => {
      const since = await lastAuditSeq(ts);
      const mark = c.bob.received.length;
      const m = id('omemo');
      c.readable.send(`<message type='chat' to='${c.bob.jid}' id='${m}'><body>I sent you an OMEMO encrypted message</body>${omemo}</message>`);
      policyViolation(await errorOf(c.readable, m), E2EE_FORBIDDEN_TEXT);
      await deniedBy(ts, since, 'readable-plaintext-only', { actor: bare('readable'), action: 'stanza.message', text: E2EE_FORBIDDEN_TEXT, target: c.bob.jid });
      await nothingAt(c.bob, m, mark);
      await othersUnaffected(c.readable);
    });

    test('allow: a plaintext message arrives', async () => {
      const m = id('plain');
      c.readable.send(`<message type='chat' to='${c.bob.jid}' id='${m}'><body>readable</body></message>`);
      assert.equal((await arrives(c.bob, m)).getChildText('body'), 'readable');
    });
  });
});

describe('policy rule kinds: file-transfer, the upload slot (raw sockets)', () => {
  const UPLOAD = 'urn:xmpp:http:upload:0';
  const NO_FILES = 'Your group may not transfer files.';
  let ts: TestServer;
  let policyDir: string;
  const c = {} as Record<'alice' | 'carol' | 'nofiles', RawClient>;

  const slotRequest = (from: RawClient, filename: string) =>
    from.iq('get', `<request xmlns='${UPLOAD}' filename='${filename}' size='10' content-type='text/plain'/>`, { to: 'upload.localhost' });

  before(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-rule-kinds-'));
    const policyFile = join(policyDir, 'policy.yaml');
    writeFileSync(
      policyFile,
      `
groups: { no-files: { members: [nofiles@localhost] } }
rules:
  - { name: no-file-transfer, subject: { groups: [no-files] }, feature: file-transfer, decision: deny, text: ${JSON.stringify(NO_FILES)} }
  - { name: local, subject: { local: true }, decision: allow }
`,
    );
    ts = await startTestServer({
      listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } },
      policy: { file: policyFile },
      // Naming modules replaces the default set. No scanner here: slots are granted, and nothing is uploaded.
      modules: { disco: {}, ping: {}, roster: {}, presence: {}, message: {}, 'http-upload': { antivirus: { socket: join(policyDir, 'no-clamd.sock'), on_unavailable: 'allow-unscanned' } } },
    });
    for (const name of ['alice', 'carol', 'nofiles'] as const) {
      await ts.addUser(name);
      c[name] = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: name, password: `pw-${name}-secret`, resource: 'desk' });
    }
  });

  after(async () => {
    await Promise.all(Object.values(c).map((x) => x.close()));
    await ts?.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  test('deny: a slot request comes back with policy-violation and the text; audited with the feature; others unaffected', async () => {
    const since = await lastAuditSeq(ts);
    const reply = await slotRequest(c.nofiles, 'report.txt');
    assert.deepEqual(stanzaError(reply), { type: 'modify', condition: 'policy-violation', text: NO_FILES });
    assert.equal(reply.getChild('slot', UPLOAD), undefined);
    const e = await deniedBy(ts, since, 'no-file-transfer', { actor: 'nofiles@localhost', action: 'stanza.iq', text: NO_FILES, target: 'upload.localhost' });
    assert.equal(e.details.feature, `iq:${UPLOAD}`);
    assert.equal((await c.nofiles.ping()).attrs.type, 'result');
    c.alice.send(`<message type='chat' to='${c.carol.jid}' id='after-deny'><body>still fine?</body></message>`);
    assert.equal((await c.carol.next((x) => x.attrs.id === 'after-deny')).getChildText('body'), 'still fine?');
  });

  test('allow: alice gets a slot with a PUT and a GET address', async () => {
    const reply = await slotRequest(c.alice, 'report.txt');
    assert.equal(reply.attrs.type, 'result', reply.toString());
    const slot = reply.getChild('slot', UPLOAD);
    assert.match(slot?.getChild('put', UPLOAD)?.attrs.url ?? '', /^https:\/\//);
    assert.match(slot?.getChild('get', UPLOAD)?.attrs.url ?? '', /^https:\/\//);
  });
});
