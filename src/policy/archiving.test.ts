// The archiving section: what the file may say (and the refusals with their
// key paths), first match per account, the combination of the two parties of
// a message (each keeps its own copy by its own entry), archive queries, and
// that a refused request carries no obligation.
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../config/errors.ts';
import { archiveObligation, type ArchiveObligation } from './archiving.ts';
import { parsePolicy } from './load.ts';
import { compileText, request } from './test-helpers.ts';

const POLICY = `
groups:
  finance: { members: [fiona@example.org, frank@example.org] }
  board: { members: [bella@example.org, frank@example.org] }
  contractors: { patterns: ['c-*@example.org'] }
rules:
  - name: no-contractor-chat
    subject: { groups: [contractors] }
    decision: deny
  - { name: local, subject: { local: true }, decision: allow }
  - { name: partners, subject: { domains: [partner.example] }, decision: allow }
archiving:
  - groups: [finance]
    mode: compliance
    retention_days: 3650
  - groups: [board]
    mode: none
  - users: [ursula@example.org]
    domains: [example.org]
    mode: compliance
    retention_days: 30
  - mode: user
`;

function refused(yaml: string, dbGroups?: Set<string>): ConfigError {
  try {
    parsePolicy(yaml, 'policy.yaml', { dbGroups });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('expected the policy to be refused');
}

const issue = (err: ConfigError, path: string) => err.issues.find((i) => i.path === path);

describe('policy archiving section', () => {
  const p = compileText(POLICY);
  const duty = (spec: Parameters<typeof request>[1]): ArchiveObligation | undefined => archiveObligation(p.evaluate(request(p, spec)));

  test('first match per account: finance compliance with its retention, board none (frank is in both: finance comes first), the rest user', () => {
    assert.deepEqual(p.archiving.sideOf('fiona@example.org', p.groupsOf('fiona@example.org')), { mode: 'compliance', retention_days: 3650, entry: 'archiving[0]' });
    assert.deepEqual(p.archiving.sideOf('frank@example.org', p.groupsOf('frank@example.org')), { mode: 'compliance', retention_days: 3650, entry: 'archiving[0]' });
    assert.deepEqual(p.archiving.sideOf('bella@example.org', p.groupsOf('bella@example.org')), { mode: 'none', entry: 'archiving[1]' });
    assert.deepEqual(p.archiving.sideOf('ann@example.org', []), { mode: 'user', entry: 'archiving[3]' });
  });

  test('every selector an entry gives must hold: users and domains together', () => {
    assert.equal(p.archiving.sideOf('ursula@example.org', []).mode, 'compliance');
    assert.equal(p.archiving.sideOf('ursula@example.org', []).retention_days, 30);
    const other = compileText(`archiving:\n  - { users: [ursula@example.org], domains: [other.example], mode: none }\n`);
    assert.deepEqual(other.archiving.sideOf('ursula@example.org', []), { mode: 'user', entry: 'implicit' }, 'no entry names her: the preferences decide');
  });

  test('a message: each local party keeps its copy by its own entry; none never removes the other side’s compliance copy', () => {
    assert.deepEqual(duty({ from: 'fiona@example.org', to: 'bella@example.org/phone' }), {
      kind: 'archive',
      sender: { mode: 'compliance', retention_days: 3650, entry: 'archiving[0]' },
      recipient: { mode: 'none', entry: 'archiving[1]' },
    });
    assert.deepEqual(duty({ from: 'bella@example.org', to: 'fiona@example.org' }), {
      kind: 'archive',
      sender: { mode: 'none', entry: 'archiving[1]' },
      recipient: { mode: 'compliance', retention_days: 3650, entry: 'archiving[0]' },
    });
    assert.deepEqual(duty({ from: 'ann@example.org', to: 'fiona@example.org' })?.sender, { mode: 'user', entry: 'archiving[3]' }, "fiona's compliance puts nothing in ann's archive");
  });

  test('a party on another server has no side (this server keeps no archive for it)', () => {
    assert.deepEqual(duty({ from: 'fiona@example.org', to: 'pat@partner.example' }), { kind: 'archive', sender: { mode: 'compliance', retention_days: 3650, entry: 'archiving[0]' } });
    assert.deepEqual(duty({ from: 'pat@partner.example', to: 'bella@example.org' }), { kind: 'archive', recipient: { mode: 'none', entry: 'archiving[1]' } });
  });

  test("an archive query or preferences request carries the querier's side; other iqs and presence carry none", () => {
    assert.deepEqual(duty({ from: 'bella@example.org', to: 'bella@example.org', action: 'stanza.iq', feature: 'iq:urn:xmpp:mam:2' }), { kind: 'archive', sender: { mode: 'none', entry: 'archiving[1]' } });
    assert.equal(duty({ from: 'bella@example.org', to: 'example.org', action: 'stanza.iq', feature: 'iq:urn:xmpp:ping' }), undefined);
    assert.equal(duty({ from: 'bella@example.org', to: 'fiona@example.org', action: 'stanza.presence', feature: 'presence' }), undefined);
  });

  test('a refused message carries no obligation; other obligations stay beside it', () => {
    const v = p.evaluate(request(p, { from: 'c-jo@example.org', to: 'fiona@example.org' }));
    assert.equal(v.decision, 'deny');
    assert.equal(v.obligations, undefined);
    const dlp = compileText(`
rules:
  - { name: alert, content: { detectors: [card-number], action: alert } }
  - { name: all, decision: allow }
archiving:
  - { mode: compliance, retention_days: 7 }
`);
    const req = request(dlp, { from: 'ann@example.org', to: 'bob@example.org' });
    req.content = { parts: [{ part: 'body', text: 'card 4111 1111 1111 1111' }], truncated: false };
    const kinds = dlp.evaluate(req).obligations?.map((o) => o.kind);
    assert.deepEqual(kinds, ['content.alert', 'archive']);
  });

  test('explain() shows the same obligation the evaluation gives', () => {
    const req = request(p, { from: 'fiona@example.org', to: 'ann@example.org' });
    assert.deepEqual(archiveObligation(p.explain(req).verdict), archiveObligation(p.evaluate(req)));
  });

  test('no archiving section: no obligation at all (every account: the preferences decide)', () => {
    const plain = compileText('rules:\n  - { name: all, decision: allow }\n');
    assert.equal(plain.evaluate(request(plain, { from: 'ann@example.org', to: 'bob@example.org' })).obligations, undefined);
  });

  test('refusals: compliance without retention_days, retention_days on another mode, an unknown mode, an entry after one naming everyone, an unknown group', () => {
    const err = refused(
      `
groups:
  finance: { members: [fiona@example.org] }
archiving:
  - { groups: [finance], mode: compliance }
  - { groups: [finance], mode: user, retention_days: 10 }
  - { groups: [finance], mode: forever }
  - { groups: [finance], mode: compliance, retention_days: 36501 }
`,
      new Set(),
    );
    assert.match(issue(err, 'archiving[0].retention_days')!.message, /required with mode compliance/);
    assert.match(issue(err, 'archiving[1].retention_days')!.message, /mode compliance only/);
    assert.match(issue(err, 'archiving[2].mode')!.message, /'compliance', 'user', 'none'/);
    assert.match(issue(err, 'archiving[3].retention_days')!.message, /at most 36500/);
    const unreachable = refused('archiving:\n  - { mode: none }\n  - { users: [ann@example.org], mode: user }\n');
    assert.match(issue(unreachable, 'archiving[1]')!.message, /can never apply: archiving\[0\] before it names everyone/);
    const unknown = refused('archiving:\n  - { groups: [finanse], mode: none }\ngroups:\n  finance: { members: [fiona@example.org] }\n', new Set());
    assert.equal(issue(unknown, 'archiving[0].groups[0]')!.message, "no group 'finanse' is defined");
    assert.match(issue(unknown, 'archiving[0].groups[0]')!.hint!, /finance/);
  });

  test('a group of the database is a valid selector', () => {
    const db = compileText('archiving:\n  - { groups: [legal], mode: compliance, retention_days: 90 }\n', {
      dbGroups: new Set(['legal']),
      dbMembers: new Map([['lee@example.org', ['legal']]]),
    });
    assert.equal(db.archiving.sideOf('lee@example.org', db.groupsOf('lee@example.org')).mode, 'compliance');
  });
});

describe('docs/policy.md Archiving', () => {
  test('the example is valid and decides as the text says', () => {
    const docs = readFileSync(new URL('../../docs/policy.md', import.meta.url), 'utf8');
    const text = /<!-- policy-archiving -->\n```yaml\n([^]*?)```/.exec(docs)?.[1];
    assert.ok(text);
    const p = compileText(text, { dbGroups: new Set(['finance', 'board']), dbMembers: new Map([['fiona@example.org', ['finance']], ['bella@example.org', ['board']]]) });
    const d = archiveObligation(p.evaluate(request(p, { from: 'fiona@example.org', to: 'bella@example.org' })));
    // The built-in default refuses messages; the section still shapes what an allowing policy would carry.
    assert.equal(d, undefined, 'a refused message carries nothing');
    assert.deepEqual(p.archiving.sideOf('fiona@example.org', ['finance']), { mode: 'compliance', retention_days: 3650, entry: 'archiving[0]' });
    assert.deepEqual(p.archiving.sideOf('bella@example.org', ['board']), { mode: 'none', entry: 'archiving[1]' });
    assert.deepEqual(p.archiving.sideOf('ann@example.org', []), { mode: 'user', entry: 'archiving[2]' });
  });
});
