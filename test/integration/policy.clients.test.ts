// Must show (issue 6): each rule kind refuses and allows through a real client
// (@xmpp/client over STARTTLS): the error condition and text the client gets,
// the audit entry, and that other sessions go on unaffected. Also: an invalid
// policy reload is refused and the old policy stays; group changes made the
// way `palisade group` makes them reach the running server; the audit log of
// the whole run verifies.
//
// The policy clock is injected (server.policyEngine.clock) to move across
// office hours and the spring DST change in Europe/Berlin.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, makeClient, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';
import type { XmlElement } from '@xmpp/client';
import type { AuditEntry } from '../../src/storage/types.ts';
import { verifyAuditLog } from '../../src/policy/audit-log.ts';
import { E2EE_REQUIRED_TEXT } from '../../src/policy/compile.ts';
import { GroupStore } from '../../src/policy/groups.ts';
import { waitForReloadResult, writeReloadRequest } from '../../src/policy/reload-request.ts';

const POLICY = `
version: 1
time_zone: Europe/Berlin
groups:
  staff: { members: [alice@localhost, bob@localhost, dave@localhost] }
  contractors: { patterns: ['c-*@localhost'] }
  executives: { members: [eve@localhost] }
  blocked: { members: [mallory@localhost] }
  secure: { members: [sam@localhost] }
  guests: { members: [gus@localhost] }
time_windows:
  office-hours: { days: [mon, tue, wed, thu, fri], hours: '08:00-18:00' }
rules:
  - name: blocked-login
    subject: { groups: [blocked] }
    action: login
    decision: deny
    text: This account may not use instant messaging.
  - name: contractors-office-hours
    subject: { groups: [contractors] }
    outside: office-hours
    decision: deny
    text: Contractors can use chat Monday to Friday, 08:00-18:00 Berlin time.
  - name: own-account-and-server
    peer: [self, server]
    decision: allow
  - name: contractors-no-executives
    subject: { groups: [contractors] }
    peer: { groups: [executives] }
    decision: deny
    text: Contractors cannot write to executives.
  - name: contractors-no-groupchat
    subject: { groups: [contractors] }
    feature: groupchat
    decision: deny
    text: Group chat is not available to contractors.
  - name: guests-contacts-only
    subject: { groups: [guests] }
    action: stanza.message
    peer: non-contacts
    decision: deny
    text: Guests can only write to their contacts.
  - name: secure-e2ee
    subject: { groups: [secure] }
    action: stanza.message
    feature: chat
    e2ee: required
    decision: allow
  - name: local-accounts
    subject: { local: true }
    decision: allow
default:
  decision: deny
  text: Not allowed by the test policy.
`;

/** Wednesday 2025-06-04 12:00 in Berlin. */
const WEDNESDAY_NOON = new Date('2025-06-04T10:00:00Z');

interface User {
  jid: string;
  local: string;
  password: string;
}

describe('policy through a real client (@xmpp/client)', () => {
  let ts: TestServer;
  let policyDir: string;
  let policyFile: string;
  let now = WEDNESDAY_NOON;
  const users: Record<string, User> = {};
  const open: ConnectedClient[] = [];
  let dave: ConnectedClient;
  let bob: ConnectedClient;

  before(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-policy-'));
    policyFile = join(policyDir, 'policy.yaml');
    writeFileSync(policyFile, POLICY);
    ts = await startTestServer({ policy: { file: policyFile, reload_poll_ms: 100 } });
    ts.server.policyEngine.clock = () => now;
    trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
    for (const name of ['alice', 'bob', 'dave', 'eve', 'c-carol', 'mallory', 'sam', 'gus', 'zoe']) users[name] = await ts.addUser(name);
    dave = await login('dave');
    bob = await login('bob');
  });

  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.stop()));
    await ts?.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    now = WEDNESDAY_NOON;
  });

  const service = () => `xmpp://127.0.0.1:${ts.starttlsPort}`;

  async function login(name: string): Promise<ConnectedClient> {
    const u = users[name]!;
    const c = await connect({ service: service(), domain: ts.domain, username: u.local, password: u.password, resource: `r${open.length}` });
    open.push(c);
    return c;
  }

  let ids = 0;
  async function send(from: ConnectedClient, to: string, body: string, attrs: Record<string, string> = {}, ...extra: XmlElement[]): Promise<string> {
    const id = `m${++ids}`;
    await from.xmpp.send(xml('message', { to, type: 'chat', id, ...attrs }, xml('body', {}, body), ...extra));
    return id;
  }

  /** The error the sender got for message `id`: condition and text. */
  async function refusal(c: ConnectedClient, id: string): Promise<{ condition: string | undefined; text: string | null | undefined }> {
    const m = await c.nextMessage((s) => s.attrs.id === id && s.attrs.type === 'error');
    const err = m.getChild('error');
    const condition = err?.getChildElements().find((e) => e.name !== 'text')?.name;
    return { condition, text: err?.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas') };
  }

  async function delivered(to: ConnectedClient, id: string): Promise<XmlElement> {
    return to.nextMessage((s) => s.attrs.id === id && s.attrs.type !== 'error');
  }

  /** The audit entry a refusal or login produced (appended without blocking the stanza path, so wait for it). */
  async function auditEntry(match: (e: AuditEntry) => boolean): Promise<AuditEntry> {
    for (let i = 0; i < 50; i++) {
      const found = (await ts.server.storage.audit.list({ limit: 1000 })).find(match);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail('no matching audit entry');
  }

  /** Other sessions are unaffected: dave still reaches bob, and the refused sender's own stream still works. */
  async function othersUnaffected(sender?: ConnectedClient): Promise<void> {
    const id = await send(dave, users.bob!.jid, 'still fine?');
    assert.equal((await delivered(bob, id)).getChildText('body'), 'still fine?');
    if (sender) await sender.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), ts.domain);
  }

  describe('login', () => {
    test('deny: a blocked group cannot log in (SASL not-authorized with the rule text), audited', async () => {
      const u = users.mallory!;
      const { xmpp } = makeClient({ service: service(), domain: ts.domain, username: u.local, password: u.password });
      await assert.rejects(xmpp.start(), (err: Error & { condition?: string; text?: string }) => {
        assert.equal(err.condition, 'not-authorized');
        assert.equal(err.text, 'This account may not use instant messaging.');
        return true;
      });
      const e = await auditEntry((a) => a.action === 'login' && a.actor === u.jid && a.decision === 'deny');
      assert.equal(e.reason, 'This account may not use instant messaging.');
      assert.equal(e.details.rule, 'blocked-login');
      await othersUnaffected();
    });

    test('allow: a staff member logs in, audited with the address it came from', async () => {
      const c = await login('alice');
      assert.equal(c.jid.startsWith(users.alice!.jid), true);
      const e = await auditEntry((a) => a.action === 'login' && a.actor === users.alice!.jid && a.decision === 'allow');
      assert.equal(e.details.ip, '127.0.0.1');
    });

    test('a wrong password is audited too (the account named only because it exists)', async () => {
      const { xmpp } = makeClient({ service: service(), domain: ts.domain, username: 'alice', password: 'not the password' });
      await assert.rejects(xmpp.start());
      const e = await auditEntry((a) => a.action === 'login' && a.actor === users.alice!.jid && a.decision === 'deny');
      assert.equal(e.reason, 'wrong password or unknown account');
    });
  });

  describe('with whom: groups', () => {
    test('deny: a contractor writing to an executive gets policy-violation and the text; eve receives nothing', async () => {
      const carol = await login('c-carol');
      const eve = await login('eve');
      const id = await send(carol, users.eve!.jid, 'hello boss');
      assert.deepEqual(await refusal(carol, id), { condition: 'policy-violation', text: 'Contractors cannot write to executives.' });
      const e = await auditEntry((a) => a.details.rule === 'contractors-no-executives');
      assert.equal(e.actor, users['c-carol']!.jid);
      assert.equal(e.decision, 'deny');
      assert.equal(e.reason, 'Contractors cannot write to executives.');
      assert.equal(e.details.target, users.eve!.jid);
      await othersUnaffected(carol);
      assert.equal(eve.messages.some((m) => m.attrs.id === id), false);
    });

    test('allow: a contractor writing to staff', async () => {
      const carol = await login('c-carol');
      const alice = await login('alice');
      const id = await send(carol, users.alice!.jid, 'hello colleague');
      assert.equal((await delivered(alice, id)).getChildText('body'), 'hello colleague');
    });
  });

  describe('with whom: contacts only (the roster module tells who is a contact)', () => {
    test('deny: a guest writing to a non-contact; allow: to a mutual contact', async () => {
      const gus = await login('gus');
      const alice = await login('alice');
      const refused = await send(gus, users.bob!.jid, 'hi stranger');
      assert.deepEqual(await refusal(gus, refused), { condition: 'policy-violation', text: 'Guests can only write to their contacts.' });
      assert.equal((await auditEntry((a) => a.details.rule === 'guests-contacts-only')).actor, users.gus!.jid);
      await othersUnaffected(gus);

      // Mutual subscription between gus and alice (RFC 6121 §3), as clients do it.
      const iq = (c: ConnectedClient) => c.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), ts.domain);
      await gus.xmpp.send(xml('presence', { to: users.alice!.jid, type: 'subscribe' }));
      await iq(gus);
      await alice.xmpp.send(xml('presence', { to: users.gus!.jid, type: 'subscribed' }));
      await alice.xmpp.send(xml('presence', { to: users.gus!.jid, type: 'subscribe' }));
      await iq(alice);
      await gus.xmpp.send(xml('presence', { to: users.alice!.jid, type: 'subscribed' }));
      await iq(gus);
      const allowed = await send(gus, users.alice!.jid, 'hi contact');
      assert.equal((await delivered(alice, allowed)).getChildText('body'), 'hi contact');
    });
  });

  describe('features', () => {
    test('deny: group chat for a contractor (policy-violation, text); allow: 1:1 chat', async () => {
      const carol = await login('c-carol');
      const gc = await send(carol, 'room@conference.localhost', 'hi room', { type: 'groupchat' });
      assert.deepEqual(await refusal(carol, gc), { condition: 'policy-violation', text: 'Group chat is not available to contractors.' });
      assert.equal((await auditEntry((a) => a.details.rule === 'contractors-no-groupchat')).details.feature, 'groupchat');
      const chat = await send(carol, users.bob!.jid, 'one to one');
      assert.equal((await delivered(bob, chat)).getChildText('body'), 'one to one');
      await othersUnaffected(carol);
    });

    test('allow: group chat for staff passes the policy and reaches the group chat service (no such room: item-not-found)', async () => {
      const id = await send(dave, 'room@conference.localhost', 'hi room', { type: 'groupchat' });
      assert.equal((await refusal(dave, id)).condition, 'item-not-found');
    });
  });

  describe('time windows (injected clock, Europe/Berlin)', () => {
    test('deny outside office hours: login and messages, with the reply text; allow inside', async () => {
      const carol = await login('c-carol');
      now = new Date('2025-06-07T10:00:00Z'); // Saturday
      const id = await send(carol, users.bob!.jid, 'weekend work');
      assert.deepEqual(await refusal(carol, id), { condition: 'policy-violation', text: 'Contractors can use chat Monday to Friday, 08:00-18:00 Berlin time.' });
      assert.equal((await auditEntry((a) => a.details.rule === 'contractors-office-hours' && a.action === 'stanza.message')).actor, users['c-carol']!.jid);
      await othersUnaffected();
      const u = users['c-carol']!;
      const { xmpp } = makeClient({ service: service(), domain: ts.domain, username: u.local, password: u.password });
      await assert.rejects(xmpp.start(), (err: Error & { text?: string }) => err.text === 'Contractors can use chat Monday to Friday, 08:00-18:00 Berlin time.');
      now = WEDNESDAY_NOON;
      const ok = await send(carol, users.bob!.jid, 'back in the office');
      assert.equal((await delivered(bob, ok)).getChildText('body'), 'back in the office');
    });

    test('across the spring DST change: 08:30 local on the Monday after is inside, 07:30 outside', async () => {
      const carol = await login('c-carol');
      now = new Date('2025-03-31T06:30:00Z'); // 08:30 CEST (a fixed UTC+1 would make it 07:30)
      const inside = await send(carol, users.bob!.jid, 'monday 08:30');
      assert.equal((await delivered(bob, inside)).getChildText('body'), 'monday 08:30');
      now = new Date('2025-03-31T05:30:00Z'); // 07:30 CEST
      const outside = await send(carol, users.bob!.jid, 'monday 07:30');
      assert.equal((await refusal(carol, outside)).condition, 'policy-violation');
      now = new Date('2025-03-28T07:30:00Z'); // the Friday before: 08:30 CET
      const friday = await send(carol, users.bob!.jid, 'friday 08:30');
      assert.equal((await delivered(bob, friday)).getChildText('body'), 'friday 08:30');
    });
  });

  describe('e2ee: required', () => {
    test('deny: a plaintext chat message, with a clear text; allow: an OMEMO-shaped one', async () => {
      const sam = await login('sam');
      const plain = await send(sam, users.bob!.jid, 'the merger is on');
      assert.deepEqual(await refusal(sam, plain), { condition: 'policy-violation', text: E2EE_REQUIRED_TEXT });
      assert.equal((await auditEntry((a) => a.details.rule === 'secure-e2ee')).reason, E2EE_REQUIRED_TEXT);
      assert.equal(bob.messages.some((m) => m.attrs.id === plain), false);
      await othersUnaffected(sam);

      const omemo = xml(
        'encrypted',
        { xmlns: 'eu.siacs.conversations.axolotl' },
        xml('header', { sid: '1234' }, xml('key', { rid: '5678' }, 'a2V5IG1hdGVyaWFs'), xml('iv', {}, 'aXZpdml2aXZpdg==')),
        xml('payload', {}, 'Y2lwaGVydGV4dA=='),
      );
      const id = await send(sam, users.bob!.jid, 'I sent you an OMEMO encrypted message but your client doesn’t seem to support that.', {}, omemo);
      const got = await delivered(bob, id);
      assert.equal(got.getChild('encrypted', 'eu.siacs.conversations.axolotl')?.getChildText('payload'), 'Y2lwaGVydGV4dA==');
    });
  });

  describe('reloads', () => {
    test('an invalid policy is refused, audited, and the old policy stays in force; a valid one replaces it', async () => {
      const carol = await login('c-carol');
      writeFileSync(policyFile, POLICY.replace('decision: deny\n    text: Contractors cannot write', 'decision: refuse\n    text: Contractors cannot write'));
      const id = writeReloadRequest(ts.dataDir, 'policy', 'cli:test');
      const result = await waitForReloadResult(ts.dataDir, id, 5000);
      assert.ok(result, 'the server answered');
      assert.equal(result.ok, false);
      assert.match(result.errors!.join('\n'), /rules\[3\]\.decision: must be one of 'allow', 'deny' \(got "refuse"\)/);
      const audited = await auditEntry((a) => a.action === 'policy.reload' && a.decision === 'deny');
      assert.equal(audited.actor, 'cli:test');
      const still = await send(carol, users.eve!.jid, 'after the bad reload');
      assert.equal((await refusal(carol, still)).text, 'Contractors cannot write to executives.', 'the old policy still decides');

      writeFileSync(policyFile, POLICY.replace(/  - name: contractors-no-executives[^]*?text: Contractors cannot write to executives\.\n/, ''));
      const good = await ts.server.policyEngine.reload('test');
      assert.equal(good.ok, true, good.message);
      const eve = await login('eve');
      const now2 = await send(carol, users.eve!.jid, 'after the good reload');
      assert.equal((await delivered(eve, now2)).getChildText('body'), 'after the good reload');
      writeFileSync(policyFile, POLICY);
      assert.equal((await ts.server.policyEngine.reload('test')).ok, true);
    });

    test('a group changed in the database (as `palisade group` does) applies after the groups reload it requests', async () => {
      const groups = new GroupStore(ts.server.storage.db);
      await groups.add('blocked', 'added in the database, merged with the file group');
      await groups.addMember('blocked', users.zoe!.jid);
      const id = writeReloadRequest(ts.dataDir, 'groups', 'cli:test');
      assert.equal((await waitForReloadResult(ts.dataDir, id, 5000))?.ok, true);
      const u = users.zoe!;
      const { xmpp } = makeClient({ service: service(), domain: ts.domain, username: u.local, password: u.password });
      await assert.rejects(xmpp.start(), (err: Error & { text?: string }) => err.text === 'This account may not use instant messaging.');
    });
  });

  test('the audit log of the whole run verifies', async () => {
    await new Promise((r) => setTimeout(r, 100));
    const r = await verifyAuditLog(ts.server.storage, ts.dataDir);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.ok(r.ok && r.count > 10);
  });
});
