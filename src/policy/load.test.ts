// A bad policy file is refused like a bad palisade.yaml: every problem at once,
// each with the path inside the file and, where one helps, a hint.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/errors.ts';
import { issueAt } from '../config/test-helpers.ts';
import { BUILTIN_POLICY, parsePolicy } from './load.ts';
import { inCidr, parseCidr, parseIp } from './ip.ts';
import { CompiledPolicy } from './compile.ts';
import { request } from './test-helpers.ts';

function problems(yaml: string, dbGroups?: Set<string>): ConfigError {
  try {
    parsePolicy(yaml, 'policy.yaml', { dbGroups });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected the policy to be refused');
}

describe('policy file validation', () => {
  test('the built-in policy is valid policy language', () => {
    const { doc } = parsePolicy(BUILTIN_POLICY, 'built-in');
    assert.equal(doc.rules.length, 1);
    assert.equal(doc.default.decision, 'deny');
  });

  test('an empty file is a valid policy that denies everything', () => {
    const { doc } = parsePolicy('', 'policy.yaml');
    assert.deepEqual(doc.rules, []);
    assert.equal(doc.default.decision, 'deny');
  });

  test('unknown keys, wrong values and bad selectors: path and hint for each, all at once', () => {
    const err = problems(`
rules:
  - name: r1
    decison: deny
    decision: allow
  - name: r2
    subject: { groups: [Staff], ip: [10.0.0.1, 10.0.0.0/33] }
    peer: contacts-onyl
    feature: [chat, file-transfers]
    decision: maybe
  - name: r3
    during: { zone: Europe/Berln, days: [mon, mon], hours: '25:00-26:00' }
    decision: deny
    condition: nope
`);
    assert.match(issueAt(err, 'rules[0].decison').hint ?? '', /did you mean 'decision'/);
    assert.match(issueAt(err, 'rules[1].subject.groups[0]').message, /lowercase/);
    assert.match(issueAt(err, 'rules[1].subject.ip[0]').hint ?? '', /10\.0\.0\.1\/32/);
    assert.ok(issueAt(err, 'rules[1].subject.ip[1]'));
    assert.match(issueAt(err, 'rules[1].peer').hint ?? '', /did you mean 'contacts-only'/);
    assert.match(issueAt(err, 'rules[1].feature[1]').message, /not a known feature/);
    assert.match(issueAt(err, 'rules[1].decision').message, /'allow', 'deny'/);
    assert.match(issueAt(err, 'rules[2].during.zone').hint ?? '', /Europe\/Berlin/);
    assert.match(issueAt(err, 'rules[2].during.days[1]').message, /twice/);
    assert.match(issueAt(err, 'rules[2].during.hours').message, /HH:MM-HH:MM/);
    assert.ok(issueAt(err, 'rules[2].condition'));
    assert.match(err.message, /^policy\.yaml: rules\[0\]\.decison: unknown key/m);
  });

  test('names that refer to nothing, duplicate names, unreachable rules', () => {
    const err = problems(
      `
groups:
  staff: { members: [alice@example.org] }
time_windows:
  office: { hours: '08:00-18:00' }
rules:
  - { name: a, subject: { groups: [staf] }, decision: allow }
  - { name: a, peer: { groups: [nobody] }, outside: offce, decision: deny }
  - { name: b, decision: allow }
  - { name: c, feature: chat, decision: deny }
  - { name: d, decision: deny, e2ee: required }
`,
      new Set(['auditors']),
    );
    assert.match(issueAt(err, 'rules[0].subject.groups[0]').hint ?? '', /did you mean 'staff'/);
    assert.match(issueAt(err, 'rules[1].name').message, /already used by rules\[0\]/);
    assert.match(issueAt(err, 'rules[1].peer.groups[0]').hint ?? '', /palisade group add nobody/);
    assert.match(issueAt(err, 'rules[1].outside').hint ?? '', /did you mean 'office'/);
    assert.match(issueAt(err, 'rules[3]').message, /can never apply: rule 'b'/);
    assert.ok(issueAt(err, 'rules[4].e2ee'));
  });

  test('a group of the database is known; without the database, names are not checked', () => {
    parsePolicy('rules: [{ name: a, subject: { groups: [auditors] }, decision: allow }]', 'p', { dbGroups: new Set(['auditors']) });
    parsePolicy('rules: [{ name: a, subject: { groups: [anything] }, decision: allow }]', 'p');
  });

  test('YAML problems carry line and column', () => {
    const err = problems('rules:\n  - name: a\n    name: b\n');
    assert.equal(err.issues[0]!.line, 3);
    assert.match(err.message, /duplicate key/);
  });
});

describe('IP ranges', () => {
  test('IPv4, IPv6 and IPv4-mapped addresses', () => {
    const v4 = parseCidr('10.20.0.0/14')!;
    assert.ok(inCidr(parseIp('10.23.255.255')!, v4));
    assert.ok(!inCidr(parseIp('10.24.0.0')!, v4));
    assert.ok(inCidr(parseIp('::ffff:10.20.1.1')!, v4));
    const v6 = parseCidr('2001:db8:abcd::/48')!;
    assert.ok(inCidr(parseIp('2001:db8:abcd:1::1')!, v6));
    assert.ok(!inCidr(parseIp('2001:db8:abce::1')!, v6));
    assert.ok(inCidr(parseIp('fe80::1%eth0')!, parseCidr('fe80::/10')!));
    assert.ok(inCidr(parseIp('1.2.3.4')!, parseCidr('0.0.0.0/0')!));
    assert.ok(!inCidr(parseIp('2001:db8::1')!, parseCidr('0.0.0.0/0')!), 'an IPv4 range holds no native IPv6 address');
    assert.equal(parseCidr('10.0.0.0'), undefined);
    assert.equal(parseCidr('10.0.0.0/33'), undefined);
    assert.equal(parseCidr('::/129'), undefined);
  });
});

describe('docs/policy.md', () => {
  const docs = readFileSync(new URL('../../docs/policy.md', import.meta.url), 'utf8');
  const block = (marker: string) => new RegExp(`<!-- ${marker} -->\\n\`\`\`yaml\\n([^]*?)\`\`\``).exec(docs)?.[1];

  test('shows the built-in policy exactly', () => {
    assert.equal(block('policy-builtin'), BUILTIN_POLICY);
  });

  test('the worked example is a valid policy that decides as the text says', () => {
    const text = block('policy-example');
    assert.ok(text);
    const p = new CompiledPolicy({ ...parsePolicy(text, 'docs/policy.md'), source: 'docs', builtin: false }, { domain: 'example.org' });
    const ev = (spec: Parameters<typeof request>[1]) => p.evaluate(request(p, spec));
    const tuesday10 = '2025-06-03T08:00:00Z';
    assert.equal(ev({ from: 'c-jo@example.org', to: 'cfo@example.org', at: tuesday10 }).rule, 'contractors-not-executives');
    assert.equal(ev({ from: 'c-jo@example.org', to: 'ann@example.org', at: tuesday10 }).rule, 'inside');
    assert.equal(ev({ from: 'c-jo@example.org', to: 'ann@example.org', at: '2025-06-07T08:00:00Z' }).rule, 'contractors-office-hours');
    assert.equal(ev({ from: 'c-jo@example.org', action: 'login', ip: '10.20.3.4', at: tuesday10 }).decision, 'allow');
    assert.equal(ev({ from: 'c-jo@example.org', action: 'login', ip: '192.0.2.1', at: tuesday10 }).rule, 'contractors-login-elsewhere');
    assert.equal(ev({ from: 'ann@example.org', action: 'login', ip: '192.0.2.1', at: tuesday10 }).rule, 'everyone-else-login', 'no peer rule matches a login');
    assert.equal(ev({ from: 'ceo@example.org', to: 'cfo@example.org', facts: { body: true, e2ee: 'none' } }).decision, 'deny');
    assert.equal(ev({ from: 'ceo@example.org', to: 'cfo@example.org', facts: { body: true, e2ee: 'omemo' } }).rule, 'executives-encrypted-chat');
    assert.equal(ev({ from: 'pat@partner.example', to: 'ann@example.org', relation: 'none' }).rule, 'partners-contacts-only');
    assert.equal(ev({ from: 'ann@example.org', to: 'pat@partner.example', relation: 'contact' }).rule, 'default', 'staff in the database only');
    const withStaff = new CompiledPolicy({ ...parsePolicy(text, 'docs/policy.md'), source: 'docs', builtin: false }, { domain: 'example.org', dbMembers: new Map([['ann@example.org', ['staff']]]) });
    assert.equal(withStaff.evaluate(request(withStaff, { from: 'pat@partner.example', to: 'ann@example.org', relation: 'contact' })).rule, 'partners-with-staff');
    assert.equal(withStaff.evaluate(request(withStaff, { from: 'ann@example.org', to: 'pat@partner.example' })).rule, 'staff-to-partners');
    assert.equal(ev({ to: 'bob@example.org', feature: 'iq:http://jabber.org/protocol/si', facts: { 'feature:p2p-file-transfer': true } }).rule, 'no-p2p-files');
  });
});
