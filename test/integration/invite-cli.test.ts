// `palisade invite create|list|revoke` as a real process, on the database
// directly (no server running): links printed once, no token in the list, audited.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'palisade.js');

function palisade(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, input: '', encoding: 'utf8', env: { ...process.env, PALISADE_CONFIG: '' }, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('palisade invite', () => {
  let dir: string;
  let config: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-invite-'));
    assert.equal(palisade(['init', '--domain', 'example.test', '--dir', dir]).code, 0);
    config = join(dir, 'palisade.yaml');
    writeFileSync(config, readFileSync(config, 'utf8').replace(/scram_iterations: 10000/, 'scram_iterations: 4096'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('create prints the link and the xmpp: URI; list shows no token; revoke works once; all audited', () => {
    assert.equal(palisade(['group', 'add', 'staff', '--config', config]).code, 0);
    const c = palisade(['invite', 'create', '--group', 'staff', '--expires', '2d', '--user', 'Bob', '--config', config]);
    assert.equal(c.code, 0, c.stderr);
    const token = /https:\/\/example\.test:5443\/invite\/([A-Za-z0-9_-]{43})\n/.exec(c.stdout)?.[1];
    assert.ok(token, c.stdout);
    assert.match(c.stdout, /^invitation 1: one use, valid until \S+, for bob@example\.test, joins group staff$/m);
    assert.ok(c.stdout.includes(`xmpp:bob@example.test?register;preauth=${token}\n`));

    const list = palisade(['invite', 'list', '--config', config]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^1\topen\texpires \S+\tgroup=staff\tuser=bob\tby cli:/m);
    assert.ok(!list.stdout.includes(token), 'the token is never shown again');

    assert.equal(palisade(['invite', 'revoke', '1', '--config', config]).code, 0);
    const twice = palisade(['invite', 'revoke', '1', '--config', config]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /already revoked/);
    assert.match(palisade(['invite', 'list', '--config', config]).stdout, /^1\trevoked\t/m);

    const exported = palisade(['audit', 'export', '--since', '2000-01-01T00:00:00Z', '--config', config]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /invite\.create/);
    assert.match(exported.stdout, /invite\.revoke/);
    assert.ok(!exported.stdout.includes(token), 'the audit log holds no token');
    assert.equal(palisade(['audit', 'verify', '--config', config]).code, 0);
  });

  test('refusals: a duration over 90 days, an unknown group, an existing or invalid user, a bad id', () => {
    for (const [args, message] of [
      [['--expires', '91d'], /longer than the maximum of 90d/],
      [['--expires', 'soon'], /invalid duration/],
      [['--group', 'nope'], /no group nope/],
      [['--user', 'a@b'], /user name only/],
      [['--user', 'bad name'], /--user/],
    ] as const) {
      const r = palisade(['invite', 'create', ...args, '--config', config]);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, message);
    }
    assert.match(palisade(['invite', 'revoke', 'x1', '--config', config]).stderr, /not an invitation id/);
    assert.match(palisade(['invite', 'revoke', '99', '--config', config]).stderr, /no invitation 99/);
  });
});
