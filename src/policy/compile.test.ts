// The rule language, rule kind by rule kind: one request each that a rule
// allows and one it refuses (condition and text), first match wins, the
// explicit default, the built-in policy, and explain().
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CompiledPolicy, E2EE_FORBIDDEN_TEXT, E2EE_REQUIRED_TEXT } from './compile.ts';
import { loadPolicy } from './load.ts';
import { DOMAIN, compileText, request } from './test-helpers.ts';

const ORG = `
version: 1
time_zone: Europe/Berlin
groups:
  staff: { members: [alice@example.org, bob@example.org] }
  contractors: { patterns: ['c-*@example.org'] }
  executives: { members: [eve@example.org] }
  partners: { domains: [partner.example] }
time_windows:
  office-hours: { days: [mon, tue, wed, thu, fri], hours: '08:00-18:00' }
rules:
  - name: contractors-office-hours
    subject: { groups: [contractors] }
    outside: office-hours
    decision: deny
    text: Contractors can use chat Monday to Friday, 08:00-18:00 Berlin time.
  - name: contractors-no-executives
    subject: { groups: [contractors] }
    action: stanza.message
    peer: { groups: [executives] }
    decision: deny
    text: Contractors cannot write to executives.
  - name: contractors-no-groupchat
    subject: { groups: [contractors] }
    feature: groupchat
    decision: deny
    condition: not-allowed
    text: Group chat is not available to contractors.
  - name: staff-login-office-network
    subject: { groups: [staff], ip: [10.0.0.0/8, '2001:db8::/32'] }
    action: login
    decision: allow
  - name: staff-login-elsewhere
    subject: { groups: [staff] }
    action: login
    decision: deny
    text: Staff log in from the office network only.
  - name: partners-contacts-only
    subject: { groups: [partners] }
    peer: non-contacts
    decision: deny
    text: Partners can only write to their contacts.
  - name: staff-e2ee
    subject: { groups: [staff] }
    action: stanza.message
    feature: chat
    e2ee: required
    decision: allow
  - name: local
    subject: { local: true }
    decision: allow
  - name: partners-to-contacts
    subject: { groups: [partners] }
    peer: contacts
    decision: allow
default:
  decision: deny
  text: Not allowed by the Example policy.
`;

const org = compileText(ORG);
// 2025-06-04 is a Wednesday; 10:00Z = 12:00 in Berlin (CEST).
const WEDNESDAY_NOON = '2025-06-04T10:00:00Z';
const SATURDAY = '2025-06-07T10:00:00Z';

describe('policy rules', () => {
  test('groups come from members, patterns and domains of the file, and from the database', () => {
    assert.deepEqual(org.groupsOf('alice@example.org'), ['staff']);
    assert.deepEqual(org.groupsOf('c-carol@example.org'), ['contractors']);
    assert.deepEqual(org.groupsOf('pat@partner.example'), ['partners']);
    assert.deepEqual(org.groupsOf('nobody@example.org'), []);
    const withDb = compileText(ORG, { dbMembers: new Map([['nobody@example.org', ['auditors']], ['alice@example.org', ['auditors']]]) });
    assert.deepEqual(withDb.groupsOf('nobody@example.org'), ['auditors']);
    assert.deepEqual(withDb.groupsOf('alice@example.org'), ['auditors', 'staff']);
  });

  describe('login (who, from where)', () => {
    test('allow: staff from the office network (IPv4, IPv6, IPv4-mapped IPv6)', () => {
      for (const ip of ['10.1.2.3', '2001:db8:1::5', '::ffff:10.9.8.7']) {
        assert.deepEqual(org.evaluate(request(org, { action: 'login', ip })), { decision: 'allow', rule: 'staff-login-office-network' }, ip);
      }
    });
    test('deny: staff from elsewhere, with the rule text', () => {
      for (const ip of ['192.0.2.1', '2001:db9::1', '11.0.0.1']) {
        assert.deepEqual(
          org.evaluate(request(org, { action: 'login', ip })),
          { decision: 'deny', rule: 'staff-login-elsewhere', condition: 'policy-violation', text: 'Staff log in from the office network only.' },
          ip,
        );
      }
    });
  });

  describe('with whom', () => {
    test('deny: a contractor to an executive (peer group)', () => {
      const v = org.evaluate(request(org, { from: 'c-carol@example.org', to: 'eve@example.org', at: WEDNESDAY_NOON }));
      assert.deepEqual(v, { decision: 'deny', rule: 'contractors-no-executives', condition: 'policy-violation', text: 'Contractors cannot write to executives.' });
    });
    test('allow: a contractor to staff', () => {
      const v = org.evaluate(request(org, { from: 'c-carol@example.org', to: 'alice@example.org/phone', at: WEDNESDAY_NOON }));
      assert.deepEqual(v, { decision: 'allow', rule: 'local' });
    });
    test('contacts-only: a partner to a non-contact is refused, to a contact allowed', () => {
      const none = org.evaluate(request(org, { from: 'pat@partner.example', to: 'alice@example.org', relation: 'none' }));
      assert.equal(none.decision, 'deny');
      assert.equal(none.rule, 'partners-contacts-only');
      assert.equal(none.text, 'Partners can only write to their contacts.');
      const unknown = org.evaluate(request(org, { from: 'pat@partner.example', to: 'alice@example.org', relation: 'unknown' }));
      assert.equal(unknown.decision, 'deny', 'without a roster fact a peer is not a contact');
      const contact = org.evaluate(request(org, { from: 'pat@partner.example', to: 'alice@example.org', relation: 'contact' }));
      assert.deepEqual(contact, { decision: 'allow', rule: 'partners-to-contacts' });
    });
    test('same-domain, external, self, server, users and domains', () => {
      const p = compileText(`
rules:
  - { name: own, peer: [self, server], decision: allow }
  - { name: inside, peer: same-domain, feature: chat, decision: allow }
  - { name: bob-at-partner, peer: { users: [bob@partner.example] }, decision: allow }
  - { name: partner-domain, peer: { domains: [partner.example] }, decision: deny, text: not partners }
  - { name: outside, peer: external, decision: deny, text: no federation }
`);
      const ev = (to: string, feature = 'chat') => p.evaluate(request(p, { to, feature })).rule;
      assert.equal(ev('alice@example.org/desk', 'iq:urn:xmpp:ping'), 'own');
      assert.equal(ev('example.org', 'iq:urn:xmpp:ping'), 'own');
      assert.equal(ev('bob@example.org'), 'inside');
      assert.equal(ev('bob@example.org', 'groupchat'), 'default');
      assert.equal(ev('bob@partner.example/x'), 'bob-at-partner');
      assert.equal(ev('carl@partner.example'), 'partner-domain');
      assert.equal(ev('x@elsewhere.example'), 'outside');
    });
    test('services: the group chat service is neither the server nor the same domain', () => {
      const p = compileText(`
rules:
  - { name: own, peer: [self, server], decision: allow }
  - { name: inside, peer: same-domain, decision: allow }
  - { name: rooms, peer: services, feature: groupchat, decision: deny, text: no rooms }
  - { name: rest, decision: allow }
`);
      const ev = (to: string, feature = 'chat') => p.evaluate(request(p, { to, feature })).rule;
      assert.equal(ev('room@conference.example.org', 'groupchat'), 'rooms');
      assert.equal(ev('conference.example.org', 'iq:http://jabber.org/protocol/disco#info'), 'rest');
      assert.equal(ev('example.org', 'iq:http://jabber.org/protocol/disco#info'), 'own');
      assert.equal(ev('bob@example.org', 'groupchat'), 'inside');
    });
  });

  describe('features', () => {
    test('deny: group chat for contractors, with the condition the rule names', () => {
      const v = org.evaluate(request(org, { from: 'c-carol@example.org', to: 'room@muc.example.org', feature: 'groupchat', at: WEDNESDAY_NOON }));
      assert.deepEqual(v, { decision: 'deny', rule: 'contractors-no-groupchat', condition: 'not-allowed', text: 'Group chat is not available to contractors.' });
    });
    test('allow: 1:1 chat for contractors', () => {
      const v = org.evaluate(request(org, { from: 'c-carol@example.org', to: 'bob@example.org', feature: 'chat', at: WEDNESDAY_NOON }));
      assert.equal(v.decision, 'allow');
    });
    test('a feature name covers its sub-features; named features come from facts', () => {
      const p = compileText(`
rules:
  - { name: no-subscriptions-out, feature: presence:subscribe, peer: external, decision: deny }
  - { name: no-presence-out, feature: presence, peer: external, decision: deny }
  - { name: no-calls, feature: [voice, video], decision: deny, text: Calls are not available. }
  - { name: no-ping, feature: 'iq:urn:xmpp:ping', decision: deny }
default: { decision: allow }
`);
      const ev = (feature: string, facts: Record<string, boolean> = {}, to = 'x@remote.example') => p.evaluate(request(p, { to, feature, action: 'stanza.x', facts })).rule;
      assert.equal(ev('presence:subscribe'), 'no-subscriptions-out');
      assert.equal(ev('presence:unavailable'), 'no-presence-out');
      assert.equal(ev('presence'), 'no-presence-out');
      assert.equal(ev('presencex'), 'default', 'only a ":" starts a sub-feature');
      assert.equal(ev('iq:urn:xmpp:jingle:1', { 'feature:voice': true }), 'no-calls');
      assert.equal(ev('iq:urn:xmpp:jingle:1'), 'default');
      assert.equal(ev('iq:urn:xmpp:ping'), 'no-ping');
      assert.equal(ev('iq:urn:xmpp:ping:2'), 'default');
    });
  });

  describe('time windows', () => {
    test('deny: a contractor outside office hours, with the configured reply text', () => {
      const v = org.evaluate(request(org, { from: 'c-carol@example.org', to: 'bob@example.org', at: SATURDAY }));
      assert.deepEqual(v, {
        decision: 'deny',
        rule: 'contractors-office-hours',
        condition: 'policy-violation',
        text: 'Contractors can use chat Monday to Friday, 08:00-18:00 Berlin time.',
      });
    });
    test('allow: a contractor during office hours', () => {
      assert.equal(org.evaluate(request(org, { from: 'c-carol@example.org', to: 'bob@example.org', at: WEDNESDAY_NOON })).decision, 'allow');
    });
    test('the window follows the wall clock in Europe/Berlin across the spring DST change (2025-03-30)', () => {
      const at = (iso: string) => org.evaluate(request(org, { from: 'c-carol@example.org', to: 'bob@example.org', at: iso })).rule;
      // Friday before: CET (UTC+1). 07:30Z = 08:30 local: inside; 06:30Z = 07:30: outside.
      assert.equal(at('2025-03-28T07:30:00Z'), 'local');
      assert.equal(at('2025-03-28T06:30:00Z'), 'contractors-office-hours');
      // Monday after: CEST (UTC+2). 06:30Z = 08:30 local: inside (a fixed UTC+1 offset would say 07:30).
      assert.equal(at('2025-03-31T06:30:00Z'), 'local');
      assert.equal(at('2025-03-31T05:59:00Z'), 'contractors-office-hours');
      assert.equal(at('2025-03-31T06:00:00Z'), 'local', '08:00 local, start included');
      // 16:00Z = 18:00 CEST: end excluded; 15:59Z = 17:59 inside.
      assert.equal(at('2025-03-31T15:59:00Z'), 'local');
      assert.equal(at('2025-03-31T16:00:00Z'), 'contractors-office-hours');
    });
    test('… and across the autumn DST change (2025-10-26)', () => {
      const at = (iso: string) => org.evaluate(request(org, { from: 'c-carol@example.org', to: 'bob@example.org', at: iso })).rule;
      // Friday before: CEST. 06:30Z = 08:30 inside.
      assert.equal(at('2025-10-24T06:30:00Z'), 'local');
      // Monday after: CET (UTC+1). 06:30Z = 07:30 local: outside; 07:00Z = 08:00 inside; 17:00Z = 18:00 outside.
      assert.equal(at('2025-10-27T06:30:00Z'), 'contractors-office-hours');
      assert.equal(at('2025-10-27T07:00:00Z'), 'local');
      assert.equal(at('2025-10-27T16:59:00Z'), 'local');
      assert.equal(at('2025-10-27T17:00:00Z'), 'contractors-office-hours');
    });
    test('a range across midnight belongs to the day it starts on; hours of a gap day still work', () => {
      const p = compileText(`
time_zone: Europe/Berlin
rules:
  - { name: friday-night, during: { days: [fri], hours: '22:00-06:00' }, decision: deny, text: closed }
  - { name: early-sunday, during: { days: [sun], hours: '01:00-04:00' }, decision: deny, text: maintenance }
default: { decision: allow }
`);
      const at = (iso: string) => p.evaluate(request(p, { at: iso })).rule;
      assert.equal(at('2025-06-06T20:30:00Z'), 'friday-night', 'Fri 22:30 CEST');
      assert.equal(at('2025-06-07T03:30:00Z'), 'friday-night', 'Sat 05:30 CEST, still Friday night');
      assert.equal(at('2025-06-07T04:30:00Z'), 'default', 'Sat 06:30');
      assert.equal(at('2025-06-07T20:30:00Z'), 'default', 'Sat 22:30 is not Friday night');
      assert.equal(at('2025-06-05T03:30:00Z'), 'default', 'Thu 05:30 belongs to Wednesday night');
      // 2025-03-30: 02:00-03:00 does not exist in Berlin. 00:30Z = 01:30 CET (inside), 01:30Z = 03:30 CEST (inside), 02:30Z = 04:30 (outside).
      assert.equal(at('2025-03-30T00:30:00Z'), 'early-sunday');
      assert.equal(at('2025-03-30T01:30:00Z'), 'early-sunday');
      assert.equal(at('2025-03-30T02:30:00Z'), 'default');
    });
  });

  describe('end-to-end encryption', () => {
    const msg = (facts: Record<string, boolean | string>) => request(org, { from: 'alice@example.org', to: 'bob@example.org', ip: '10.0.0.1', facts });
    test('required: a plaintext chat message with a body is refused with a clear text', () => {
      const v = org.evaluate(msg({ body: true, e2ee: 'none' }));
      assert.deepEqual(v, { decision: 'deny', rule: 'staff-e2ee', condition: 'policy-violation', text: E2EE_REQUIRED_TEXT });
    });
    test('required: OMEMO or OpenPGP payloads pass, and so do messages without a body (chat states, receipts)', () => {
      assert.equal(org.evaluate(msg({ body: true, e2ee: 'omemo' })).decision, 'allow');
      assert.equal(org.evaluate(msg({ body: true, e2ee: 'openpgp' })).decision, 'allow');
      assert.equal(org.evaluate(msg({ body: false, e2ee: 'none' })).decision, 'allow');
    });
    test('forbidden refuses encrypted payloads; allowed takes both', () => {
      const p = compileText(`
groups:
  archived: { members: [alice@example.org] }
rules:
  - { name: archived-plain, subject: { groups: [archived] }, action: stanza.message, e2ee: forbidden, decision: allow }
  - { name: rest, e2ee: allowed, decision: allow }
`);
      const v = p.evaluate(request(p, { facts: { body: true, e2ee: 'omemo' }, to: 'bob@example.org' }));
      assert.deepEqual(v, { decision: 'deny', rule: 'archived-plain', condition: 'policy-violation', text: E2EE_FORBIDDEN_TEXT });
      assert.equal(p.evaluate(request(p, { facts: { body: true, e2ee: 'none' }, to: 'bob@example.org' })).decision, 'allow');
      assert.equal(p.evaluate(request(p, { from: 'zed@example.org', facts: { body: true, e2ee: 'omemo' }, to: 'bob@example.org' })).rule, 'rest');
    });
  });

  describe('order and default', () => {
    test('first match wins; the explicit default decides what no rule matches', () => {
      const nobody = org.evaluate(request(org, { from: 'x@elsewhere.example', to: 'bob@example.org' }));
      assert.deepEqual(nobody, { decision: 'deny', rule: 'default', condition: 'policy-violation', text: 'Not allowed by the Example policy.' });
      const p = compileText(`
rules:
  - { name: first, feature: chat, decision: allow }
  - { name: second, feature: chat, decision: deny }
`);
      assert.equal(p.evaluate(request(p, { to: 'bob@example.org' })).rule, 'first');
      assert.equal(p.evaluate(request(p, { to: 'bob@example.org', feature: 'normal' })).decision, 'deny', 'deny unless the file says otherwise');
    });
    test('a deny rule without text gets a readable one naming the rule', () => {
      const p = compileText('rules: [{ name: quiet, decision: deny }]\n');
      assert.equal(p.evaluate(request(p)).text, "Refused by the organisation's policy (rule 'quiet').");
    });
    test('actions: exact, prefix.* and *', () => {
      const p = compileText(`
rules:
  - { name: logins, action: login, decision: allow }
  - { name: stanzas, action: 'stanza.*', subject: { users: [alice@example.org] }, decision: allow }
  - { name: all, action: '*', subject: { users: [bob@example.org] }, decision: allow }
`);
      assert.equal(p.evaluate(request(p, { action: 'login' })).rule, 'logins');
      assert.equal(p.evaluate(request(p, { action: 'stanza.iq' })).rule, 'stanzas');
      assert.equal(p.evaluate(request(p, { action: 'bind' })).rule, 'default');
      assert.equal(p.evaluate(request(p, { action: 'upload', from: 'bob@example.org' })).rule, 'all');
    });
  });

  test('the built-in policy allows authenticated local accounts and nothing else', () => {
    const builtin = new CompiledPolicy(loadPolicy(undefined), { domain: DOMAIN });
    assert.equal(builtin.evaluate(request(builtin, { action: 'login' })).decision, 'allow');
    assert.equal(builtin.evaluate(request(builtin, { to: 'x@remote.example', feature: 'groupchat' })).decision, 'allow');
    const stranger = builtin.evaluate(request(builtin, { from: 'x@remote.example', to: 'alice@example.org' }));
    assert.equal(stranger.decision, 'deny');
    const anonymous = builtin.evaluate({ ...request(builtin, { action: 'login' }), subject: { domain: DOMAIN, groups: [] } });
    assert.equal(anonymous.decision, 'deny');
  });

  test('explain says which rule decides and why the ones before it did not', () => {
    const e = org.explain(request(org, { from: 'c-carol@example.org', to: 'eve@example.org', at: '2025-03-31T06:30:00Z' }));
    assert.equal(e.verdict.rule, 'contractors-no-executives');
    assert.equal(e.steps.length, 2);
    const [window, execs] = e.steps;
    assert.equal(window!.matched, false);
    const failed = window!.checks.find((c) => !c.ok)!;
    assert.match(failed.label, /outside office-hours/);
    assert.match(failed.observed, /Mon 08:30 Europe\/Berlin/);
    assert.equal(execs!.matched, true);
    assert.equal(e.notReached, 7);
  });
});
