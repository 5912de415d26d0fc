// The operator contract of `palisade audit|policy|group`, run as real processes:
// audit verify passes on an untouched log and fails naming the first broken
// entry after an edit, a deletion, a swap and a tail cut off after the last
// checkpoint; policy check/explain/reload; group changes are audited.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config/load.ts';
import { openStorage, resolveStorageConfig } from '../../src/storage/index.ts';
import type { Storage } from '../../src/storage/types.ts';
import { SignedAuditLog, loadOrCreateAuditKey } from '../../src/policy/audit-log.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'palisade.js');

function palisade(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, PALISADE_CONFIG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const POLICY = `
time_zone: Europe/Berlin
groups:
  contractors: { patterns: ['c-*@example.test'] }
  executives: { members: [eve@example.test] }
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
    peer: { groups: [executives] }
    decision: deny
    text: Contractors cannot write to executives.
  - { name: local, subject: { local: true }, decision: allow }
`;

/** A folder with palisade.yaml (data in ./data, checkpoints every 5 entries) and policy.yaml. */
function makeDir(): { dir: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-policy-cli-'));
  const config = join(dir, 'palisade.yaml');
  writeFileSync(config, 'domain: example.test\ndata_dir: ./data\nlogging: { level: warn }\npolicy: { audit_checkpoint_every: 5 }\n');
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  return { dir, config };
}

async function withDirStorage<T>(config: string, fn: (s: Storage, dataDir: string) => Promise<T>): Promise<T> {
  const loaded = loadConfig({ file: config, env: {} });
  const s = await openStorage(resolveStorageConfig(loaded.config.storage, loaded.dataDir));
  try {
    return await fn(s, loaded.dataDir);
  } finally {
    await s.close();
  }
}

describe('palisade audit verify', () => {
  const dirs: string[] = [];
  let original: { dir: string; config: string };

  before(async () => {
    original = makeDir();
    dirs.push(original.dir);
    await withDirStorage(original.config, async (s, dataDir) => {
      const log = new SignedAuditLog(s, loadOrCreateAuditKey(dataDir), { dataDir, checkpointEvery: 5 });
      for (let i = 1; i <= 12; i++) await log.append({ actor: `u${i}@example.test`, action: 'login', decision: 'allow', reason: `entry ${i}` });
      await log.flush();
    });
  });
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  /** A copy of the untouched folder, tampered with. */
  async function tampered(...statements: ReturnType<typeof sql>[]): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-policy-cli-'));
    dirs.push(dir);
    cpSync(original.dir, dir, { recursive: true });
    const config = join(dir, 'palisade.yaml');
    await withDirStorage(config, async (s) => {
      for (const q of statements) await q.execute(s.db);
    });
    return config;
  }

  test('passes on an untouched log; names the first broken entry after an edit, a deletion, a swap, a truncated tail', async () => {
    const [edited, deleted, swapped, truncated] = await Promise.all([
      tampered(sql`update audit_log set actor = 'someone-else@example.test' where seq = 3`),
      tampered(sql`delete from audit_log where seq = 4`),
      tampered(sql`update audit_log set seq = -7 where seq = 7`, sql`update audit_log set seq = 7 where seq = 6`, sql`update audit_log set seq = 6 where seq = -7`),
      // Entries after the last checkpoint (10) removed, and the chain head moved back to match.
      tampered(sql`delete from audit_log where seq > 10`, sql`update audit_head set seq = 10, hash = (select hash from audit_log where seq = 10) where id = 1`),
    ]);
    const [ok, e, d, s, t] = await Promise.all([original.config, edited, deleted, swapped, truncated].map((c) => palisade(['audit', 'verify', '--config', c])));
    assert.equal(ok!.code, 0, ok!.stderr);
    assert.match(ok!.stdout, /audit log OK: 12 entries, 2 signed checkpoints, sealed up to entry 12/);
    assert.equal(e!.code, 1);
    assert.match(e!.stderr, /BROKEN at entry 3: entry 3 was modified/);
    assert.equal(d!.code, 1);
    assert.match(d!.stderr, /BROKEN at entry 4: entry 4 is missing/);
    assert.equal(s!.code, 1);
    assert.match(s!.stderr, /BROKEN at entry 6:/);
    assert.equal(t!.code, 1);
    assert.match(t!.stderr, /BROKEN at entry 11: entries 11 to 12 are missing.*tail truncated/);
  });
});

describe('palisade policy and group', () => {
  let dir: string;
  let config: string;
  let ts: TestServer;

  before(async () => {
    ({ dir, config } = makeDir());
  });
  after(async () => {
    await ts?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('check: OK for a good file; path and hint for each problem of a bad one (exit 2)', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'rules:\n  - name: a\n    feature: chat\n    decision: allow\n  - name: a\n    subject: { groups: [contractor] }\n    decision: deny\n');
    const [good, wrong] = await Promise.all([palisade(['policy', 'check', '--config', config]), palisade(['policy', 'check', bad, '--config', config])]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /policy\.yaml: OK \(3 rules, 2 groups in the file, 0 in the database, default deny\)/);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /bad\.yaml: rules\[1\]\.name: the rule name 'a' is already used by rules\[0\]/);
    assert.match(wrong.stderr, /bad\.yaml: rules\[1\]\.subject\.groups\[0\]: no group 'contractor' is defined/);
  });

  test('explain: the deciding rule, and why earlier rules did not apply (Berlin local time after the DST change)', async () => {
    const r = await palisade(['policy', 'explain', '--from', 'c-carol', '--to', 'eve@example.test', '--feature', 'chat', '--at', '2025-03-31T06:30:00Z', '--config', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /#1 contractors-office-hours: no match/);
    assert.match(r.stdout, /NO +outside office-hours .*= Mon 08:30 Europe\/Berlin/);
    assert.match(r.stdout, /#2 contractors-no-executives: MATCH/);
    assert.match(r.stdout, /decision: DENY by rule 'contractors-no-executives' — policy-violation: Contractors cannot write to executives\./);
  });

  test('explain --body: which detector of a content rule matched, and what follows', async () => {
    const own = makeDir();
    try {
      writeFileSync(
        join(own.dir, 'policy.yaml'),
        `
groups: { partners: { domains: [partner.example] } }
rules:
  - name: no-cards-out
    peer: { groups: [partners] }
    content: { detectors: [card-number], action: block }
    text: No card numbers to partners.
  - name: redact-ibans
    content: { detectors: [iban], action: redact }
  - { name: local, subject: { local: true }, decision: allow }
`,
      );
      const block = await palisade(['policy', 'explain', '--from', 'alice', '--to', 'p@partner.example', '--body', 'card 4111 1111 1111 1111', '--config', own.config]);
      assert.equal(block.code, 0, block.stderr);
      assert.match(block.stdout, /#1 no-cards-out: MATCH\n(.*\n)*? +content \[card-number\] block: found card-number → refused/);
      assert.match(block.stdout, /decision: DENY by rule 'no-cards-out' — policy-violation: No card numbers to partners\./);
      const redact = await palisade(['policy', 'explain', '--from', 'alice', '--to', 'bob', '--body', 'IBAN DE89 3704 0044 0532 0130 00', '--config', own.config]);
      assert.equal(redact.code, 0, redact.stderr);
      assert.match(redact.stdout, /#1 no-cards-out: no match/);
      assert.match(redact.stdout, /content \[iban\] redact: found iban → redacted before delivery and archiving/);
      assert.match(redact.stdout, /decision: ALLOW by rule 'local'\n  then: redact \(redact-ibans: iban\) → body: "IBAN \[redacted IBAN\]"/);
    } finally {
      rmSync(own.dir, { recursive: true, force: true });
    }
  });

  test('explain: obligations in words (archive, link flag, proxy only, client warn/alert), links found in --body, the subscription rate', async () => {
    const own = makeDir();
    try {
      writeFileSync(
        join(own.dir, 'policy.yaml'),
        `
groups: { filers: { members: [fay@example.test] } }
link_safety:
  - { name: outsiders, from: non-contacts, links: flag, files: refuse, text: 'Careful: a link from outside your contacts.' }
subscription_limit: { per_hour: 5 }
archiving:
  - { users: [alice@example.test], mode: compliance, retention_days: 3650 }
clients:
  - { name: staff, users: [wes@example.test], allow: [{ software: Gajim, min_version: '1.8' }], action: warn, text: 'Gajim 1.8 or newer, please.' }
  - { name: quiet, users: [al@example.test], allow: [{ software: Gajim, min_version: '1.8' }], action: alert }
rules:
  - { name: filers-p2p, subject: { groups: [filers] }, feature: p2p-file-transfer, decision: allow }
  - { name: local, subject: { local: true }, decision: allow }
`,
      );
      const run = (...args: string[]) => palisade(['policy', 'explain', ...args, '--config', own.config]);
      const [flag, refuse, contact, warn, alert, p2p, subscribe, subscribeContact] = await Promise.all([
        run('--from', 'alice', '--to', 'bob', '--relation', 'none', '--body', 'see https://example.com/x'),
        run('--from', 'alice', '--to', 'bob', '--relation', 'none', '--body', 'aesgcm://up.example/f.jpg#0011'),
        run('--from', 'alice', '--to', 'bob', '--relation', 'contact', '--body', 'see https://example.com/x'),
        run('--action', 'client.check', '--from', 'wes', '--client', 'Gajim', '--client-version', '1.7'),
        run('--action', 'client.check', '--from', 'al', '--client', 'Gajim', '--client-version', '1.7'),
        run('--from', 'fay', '--to', 'bob@example.test/desk', '--action', 'stanza.iq', '--feature', 'p2p-file-transfer'),
        run('--from', 'alice', '--to', 'pat@partner.example', '--action', 'stanza.presence', '--feature', 'presence:subscribe'),
        run('--from', 'alice', '--to', 'pat@partner.example', '--action', 'stanza.presence', '--feature', 'presence:subscribe', '--relation', 'contact'),
      ]);
      for (const r of [flag, refuse, contact, warn, alert, p2p, subscribe, subscribeContact]) assert.equal(r!.code, 0, r!.stderr);

      assert.match(flag!.stdout, /feature chat \(body, e2ee none; has-link\)/);
      assert.match(flag!.stdout, /decision: ALLOW by rule 'local'/);
      assert.match(flag!.stdout, /then: flag \(link safety 'outsiders': has-link\) → "Careful: a link from outside your contacts\." in front of every body/);
      assert.match(
        flag!.stdout,
        /then: archive \(sender: compliance copy kept 3650 days, whatever the user's preferences \(archiving\[0\]\); recipient: as the user's archiving preferences say \(no archiving entry names the account\)\)/,
      );
      assert.match(refuse!.stdout, /feature chat \(body, e2ee none; has-link, has-file\)/);
      assert.match(refuse!.stdout, /decision: DENY by link safety entry 'outsiders' \(after rule 'local' allowed the message\) — policy-violation: Messages with links or files/);
      assert.doesNotMatch(contact!.stdout, /then: flag/);

      assert.match(warn!.stdout, /request: client\.check from wes@example\.test \(groups: none\) client Gajim 1\.7/);
      assert.match(warn!.stdout, /decision: ALLOW by client compliance entry 'clients:staff'\n {2}then: warn \(clients:staff: Gajim 1\.7\): the session stays; the user gets the headline "Gajim 1\.8 or newer, please\."/);
      assert.match(alert!.stdout, /then: alert \(clients:quiet: Gajim 1\.7\): the session stays, the user is told nothing; an audit entry is written/);

      assert.match(p2p!.stdout, /decision: ALLOW by rule 'filers-p2p'\n {2}then: through the proxy only: every streamhost or candidate but the SOCKS5 proxy of example\.test is removed/);

      assert.match(subscribe!.stdout, /then: subscription limit: a rate of at most 5 requests an hour to non-contacts per account; .*refused only if alice@example\.test already sent 5 in the last hour/);
      assert.doesNotMatch(subscribeContact!.stdout, /subscription limit/);
    } finally {
      rmSync(own.dir, { recursive: true, force: true });
    }
  });

  test('group add/add-member/members/remove-member/remove are audited; reload reaches the running server, which refuses a bad file', async () => {
    const add = await palisade(['group', 'add', 'auditors', '--description', 'internal audit', '--config', config]);
    assert.equal(add.code, 0, add.stderr);
    const member = await palisade(['group', 'add-member', 'auditors', 'alice', '--config', config]);
    assert.equal(member.code, 0, member.stderr);
    const members = await palisade(['group', 'members', 'auditors', '--config', config]);
    assert.equal(members.stdout, 'alice@example.test\n');

    // The running server, on the same data_dir, answers `policy reload`.
    const loaded = loadConfig({ file: config, env: {} });
    ts = await startTestServer({ domain: 'example.test', data_dir: loaded.dataDir, policy: { file: join(dir, 'policy.yaml'), reload_poll_ms: 100 } });
    assert.deepEqual(ts.server.policyEngine.groupsOf('alice@example.test'), ['auditors']);
    const ok = await palisade(['policy', 'reload', '--config', config]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /3 rules in force/);
    writeFileSync(join(dir, 'policy.yaml'), POLICY.replace('decision: allow', 'decision: permit'));
    const refused = await palisade(['policy', 'reload', '--config', config]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /invalid policy refused; the previous policy stays in force/);
    assert.match(refused.stderr, /rules\[2\]\.decision: must be one of 'allow', 'deny'/);
    assert.equal(ts.server.policyEngine.policy.ruleCount, 3);
    writeFileSync(join(dir, 'policy.yaml'), POLICY);

    const rmMember = await palisade(['group', 'remove-member', 'auditors', 'alice@example.test', '--config', config]);
    assert.equal(rmMember.code, 0, rmMember.stderr);
    const rm = await palisade(['group', 'remove', 'auditors', '--config', config]);
    assert.equal(rm.code, 0, rm.stderr);
    const actions = (await ts.server.storage.audit.list({ limit: 1000 })).map((e) => `${e.action} ${e.decision}`);
    for (const a of ['group.add info', 'group.add-member info', 'policy.reload info', 'policy.reload deny', 'group.remove-member info', 'group.remove info']) {
      assert.ok(actions.includes(a), `${a} in ${actions.join(', ')}`);
    }
    const verify = await palisade(['audit', 'verify', '--config', config]);
    assert.equal(verify.code, 0, verify.stderr);
  });
});
