// Client compliance (the clients: section): version comparison, which entry
// applies to whom, and the verdicts deny / warn / alert / unknown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../config/errors.ts';
import { CLIENT_CHECK, OBLIGATION_CLIENT_ALERT, OBLIGATION_CLIENT_WARN, compareVersions, parseVersion } from './clients.ts';
import { compileText, DOMAIN, request } from './test-helpers.ts';
import type { CompiledPolicy } from './compile.ts';

test('versions compare number by number, not as text', () => {
  assert.equal(compareVersions('2.13', '2.9'), 1);
  assert.equal(compareVersions('2.9', '2.13'), -1);
  assert.equal(compareVersions('1.8', '1.8.0'), 0);
  assert.equal(compareVersions('1.8.0.1', '1.8'), 1);
  assert.equal(compareVersions('10.0', '9.99.99'), 1);
  assert.equal(compareVersions('v1.8.4', '1.8'), 1);
});

test('a pre-release is older than its release; build metadata does not count', () => {
  assert.equal(compareVersions('1.8.0-rc2', '1.8.0'), -1);
  assert.equal(compareVersions('1.8.0~beta', '1.8'), -1);
  assert.equal(compareVersions('1.8.0-rc10', '1.8.0-rc2'), 1);
  assert.equal(compareVersions('1.8.0-rc1', '1.7.9'), 1);
  assert.equal(compareVersions('2.13.1+playstore', '2.13.1'), 0);
  assert.equal(compareVersions('2.13.1+free', '2.13.2'), -1);
  assert.equal(compareVersions('1.8a', '1.8'), -1);
});

test('text that is not a version is not compared', () => {
  assert.equal(parseVersion('unknown'), undefined);
  assert.equal(parseVersion(''), undefined);
  assert.equal(compareVersions('dev', '1.0'), undefined);
  assert.deepEqual(parseVersion('1.8.4 (Linux)'), { numbers: [1, 8, 4], pre: '' });
});

const POLICY = `
groups:
  staff: { members: [alice@${DOMAIN}, carol@${DOMAIN}] }
clients:
  - name: staff
    groups: [staff]
    allow: [{ software: Conversations, min_version: "2.13" }, { software: Gajim, min_version: "1.8" }, { software: Dino }]
    action: deny
    unknown: deny
    text: "Please update: Conversations 2.13 or Gajim 1.8 or newer is required."
  - name: contractors
    users: [bob@${DOMAIN}]
    allow: [{ software: Gajim, min_version: "1.8" }]
    action: warn
  - name: everyone
    allow: [{ software: Gajim, min_version: "1.8" }]
    action: alert
rules:
  - { name: local, subject: { local: true }, decision: allow }
`;

function check(p: CompiledPolicy, from: string, software?: string, version?: string) {
  const req = request(p, { action: CLIENT_CHECK, from });
  req.subject.client = { software, version };
  return p.evaluate(req);
}

test('deny: an old or unlisted client is refused with the text; a new enough one is allowed', () => {
  const p = compileText(POLICY);
  const old = check(p, `alice@${DOMAIN}`, 'Gajim', '1.7.3');
  assert.equal(old.decision, 'deny');
  assert.equal(old.condition, 'policy-violation');
  assert.equal(old.rule, 'clients:staff');
  assert.equal(old.text, 'Please update: Conversations 2.13 or Gajim 1.8 or newer is required.');
  assert.deepEqual(old.details, { client: { software: 'Gajim', version: '1.7.3' } });
  assert.equal(check(p, `alice@${DOMAIN}`, 'gajim', '1.9').decision, 'allow');
  assert.equal(check(p, `alice@${DOMAIN}`, 'Conversations', '2.13.1+playstore').decision, 'allow');
  assert.equal(check(p, `alice@${DOMAIN}`, 'Conversations', '2.12.9').decision, 'deny');
  assert.equal(check(p, `alice@${DOMAIN}`, 'Dino', '0.1').decision, 'allow', 'no min_version: any version');
  assert.equal(check(p, `alice@${DOMAIN}`, 'Pidgin', '2.14').decision, 'deny', 'not on the list');
});

test('unknown: a client that did not answer, or gave no version where one is required', () => {
  const p = compileText(POLICY);
  const silent = check(p, `alice@${DOMAIN}`);
  assert.equal(silent.decision, 'deny');
  assert.deepEqual(silent.details, { client: { software: null, version: null, unknown: true } });
  assert.equal(check(p, `alice@${DOMAIN}`, 'Gajim').decision, 'deny');
  assert.equal(check(p, `alice@${DOMAIN}`, 'Gajim', 'nightly').decision, 'deny');
  // The later entries leave unknown clients alone (unknown: allow is the default).
  assert.deepEqual(check(p, `bob@${DOMAIN}`), { decision: 'allow', rule: 'clients:contractors' });
});

test('warn and alert allow with an obligation; the first entry that names the account decides', () => {
  const p = compileText(POLICY);
  const warn = check(p, `bob@${DOMAIN}`, 'Gajim', '1.7');
  assert.equal(warn.decision, 'allow');
  assert.equal(warn.obligations?.[0]?.kind, OBLIGATION_CLIENT_WARN);
  assert.equal(warn.obligations?.[0]?.text, 'This client is not supported here; please use Gajim 1.8 or newer.');
  const alert = check(p, `dave@${DOMAIN}`, 'Gajim', '1.7');
  assert.equal(alert.obligations?.[0]?.kind, OBLIGATION_CLIENT_ALERT);
  assert.equal(alert.rule, 'clients:everyone');
  assert.deepEqual(check(p, `dave@${DOMAIN}`, 'Gajim', '1.8.1'), { decision: 'allow', rule: 'clients:everyone' });
});

test('no clients section: every client is allowed, whatever the default decision of the rules', () => {
  const p = compileText('rules: []\ndefault: { decision: deny }\n');
  assert.deepEqual(check(p, `alice@${DOMAIN}`, 'Anything', '0.0.1'), { decision: 'allow', rule: 'clients:none' });
  // client.check never reaches the ordinary rules
  assert.equal(p.evaluate(request(p, { action: 'login' })).decision, 'deny');
});

test('explain gives the same verdict as evaluate for client.check', () => {
  const p = compileText(POLICY);
  const req = request(p, { action: CLIENT_CHECK, from: `alice@${DOMAIN}` });
  const e = p.explain(req);
  assert.deepEqual(e.verdict, p.evaluate(req));
  assert.equal(e.verdict.rule, 'clients:staff');
  assert.equal(e.verdict.decision, 'deny');
});

test('bad clients sections are refused with the path', () => {
  const bad = (yaml: string, path: RegExp) => {
    assert.throws(
      () => compileText(yaml),
      (err: unknown) => err instanceof ConfigError && path.test(err.message),
    );
  };
  bad('clients: [{ name: a, allow: [{ software: Gajim, min_version: "latest" }], action: deny }]', /clients\[0\]\.allow\[0\]\.min_version/);
  bad('clients: [{ name: a, allow: [{ software: Gajim }], action: block }]', /clients\[0\]\.action/);
  bad('clients: [{ name: a, allow: [], action: deny }]', /clients\[0\]\.allow/);
  bad('clients: [{ name: a, users: [nobody], allow: [{ software: Gajim }], action: deny }]', /clients\[0\]\.users\[0\]/);
  bad('clients: [{ name: a, allow: [{ software: G }], action: deny }, { name: a, allow: [{ software: G }], action: warn }]', /clients\[1\]\.name/);
});
