// The invitation page over real HTTPS requests (docs/invitations.md): the
// form, unknown and spent tokens, refusals that create nothing, the body and
// content-type limits of the listener's one form route, one-time use under
// concurrency, and the per-address rate limit.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { trustTestServer } from '../helpers/ws-client.ts';
import { login } from '../helpers/raw-client.ts';
import { createInvitation } from '../../src/invitations/index.ts';
import { newToken } from '../../src/invitations/token.ts';
import { GroupStore } from '../../src/policy/groups.ts';

interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function fetchFrom(ts: TestServer, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: ts.httpsPort, path, method: opts.method ?? 'GET', headers: opts.headers, ...trustTestServer(ts.dataDir) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const STRONG = 'a long and unusual passphrase';

function post(ts: TestServer, token: string, fields: Record<string, string>, headers: Record<string, string> = FORM): Promise<HttpResult> {
  return fetchFrom(ts, `/invite/${token}`, { method: 'POST', headers, body: new URLSearchParams(fields).toString() });
}

async function invite(ts: TestServer, o: { group?: string; localpart?: string; validForMs?: number; now?: Date } = {}): Promise<string> {
  const created = await createInvitation(ts.server.storage, ts.domain, { createdBy: 'test', validForMs: o.validForMs ?? 3_600_000, group: o.group ?? null, localpart: o.localpart ?? null, now: o.now });
  return created.token;
}

describe('the invitation page', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } }, registration: { redeem_attempts_per_minute: 10_000 } });
  });
  after(async () => ts?.stop());

  test('GET shows a plain form, with strict headers and nothing cached', async () => {
    const token = await invite(ts);
    const r = await fetchFrom(ts, `/invite/${token}`);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/html/);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    assert.match(String(r.headers['content-security-policy']), /script-src 'self'/);
    assert.match(r.body, /<form method="post">/);
    assert.match(r.body, /name="username"/);
    assert.doesNotMatch(r.body, /<script/);
    const head = await fetchFrom(ts, `/invite/${token}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    const put = await fetchFrom(ts, `/invite/${token}`, { method: 'PUT' });
    assert.equal(put.status, 405);
    assert.equal(put.headers.allow, 'GET, HEAD, POST');
  });

  test('unknown and malformed tokens are 404, spent ones 410, with one readable text each', async () => {
    for (const token of [newToken(), 'short', '%3Cscript%3E']) {
      const r = await fetchFrom(ts, `/invite/${token}`);
      assert.equal(r.status, 404, token);
      assert.match(r.body, /There is no invitation at this address/);
      assert.doesNotMatch(r.body, /<script>/);
    }
    const expired = await invite(ts, { validForMs: 60_000, now: new Date(Date.now() - 120_000) });
    const r = await fetchFrom(ts, `/invite/${expired}`);
    assert.equal(r.status, 410);
    assert.match(r.body, /expired, was revoked or has already been used/);
    assert.equal((await post(ts, expired, { username: 'late', password: STRONG, confirm: STRONG })).status, 410);
    assert.equal(await ts.accounts.get('late'), undefined);
  });

  test('a weak password, a taken name or a mismatch re-render the form with the reason; nothing is created', async () => {
    await ts.addUser('taken');
    const token = await invite(ts);
    for (const [fields, reason] of [
      [{ username: 'weak', password: 'Password2024!', confirm: 'Password2024!' }, /too common/],
      [{ username: 'weak', password: 'short', confirm: 'short' }, /at least 12 characters/],
      [{ username: 'weak', password: STRONG, confirm: 'other' }, /not the same/],
      [{ username: 'taken', password: STRONG, confirm: STRONG }, /taken/],
      [{ username: '<b>x', password: STRONG, confirm: STRONG }, /can.t be used/],
    ] as const) {
      const r = await post(ts, token, fields);
      assert.equal(r.status, 400, JSON.stringify(fields));
      assert.match(r.body, reason);
      assert.match(r.body, /<form method="post">/);
      assert.doesNotMatch(r.body, /<b>x/, 'what the user typed is escaped');
    }
    assert.equal(await ts.accounts.get('weak'), undefined);
    assert.equal((await fetchFrom(ts, `/invite/${token}`)).status, 200, 'the invitation is still open');
  });

  test('a body over 4 KiB is 413, another content type 415; nothing is created', async () => {
    const token = await invite(ts);
    const big = await post(ts, token, { username: 'big', password: STRONG, confirm: STRONG, pad: 'x'.repeat(5000) });
    assert.equal(big.status, 413);
    const json = await fetchFrom(ts, `/invite/${token}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'json', password: STRONG, confirm: STRONG }) });
    assert.equal(json.status, 415);
    const multipart = await fetchFrom(ts, `/invite/${token}`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--' });
    assert.equal(multipart.status, 415);
    assert.equal(await ts.accounts.get('big'), undefined);
    assert.equal(await ts.accounts.get('json'), undefined);
    // The form parser is the invitation route's own: elsewhere a form body is still refused.
    assert.equal((await fetchFrom(ts, '/', { method: 'POST', headers: FORM, body: 'a=b' })).status, 415);
  });

  test('success: the account exists, joins the group, logs in over XMPP; the link then answers 410', async () => {
    await new GroupStore(ts.server.storage.db).add('newcomers');
    const token = await invite(ts, { group: 'newcomers' });
    const r = await post(ts, token, { username: 'Ivy', password: STRONG, confirm: STRONG });
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /ivy@localhost/);
    assert.match(r.body, /href="\/"/);
    assert.deepEqual(await new GroupStore(ts.server.storage.db).members('newcomers'), ['ivy@localhost']);
    assert.deepEqual(ts.server.policyEngine.groupsOf('ivy@localhost'), ['newcomers'], 'the running server knows the membership');
    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'ivy', password: STRONG });
    c.destroy();
    assert.equal((await fetchFrom(ts, `/invite/${token}`)).status, 410);
    const again = await post(ts, token, { username: 'ivy2', password: STRONG, confirm: STRONG });
    assert.equal(again.status, 410);
    assert.equal(await ts.accounts.get('ivy2'), undefined);
    const audit = await ts.server.storage.audit.list({ action: 'invite.redeem' });
    assert.ok(audit.some((e) => e.actor === 'ivy@localhost'), 'the redemption is audited');
  });

  test('two concurrent redemptions of one invitation: exactly one account', async () => {
    const token = await invite(ts);
    const names = ['race1', 'race2', 'race3'];
    const results = await Promise.all(names.map((username) => post(ts, token, { username, password: STRONG, confirm: STRONG })));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 410, 410]);
    const created = (await Promise.all(names.map((n) => ts.accounts.get(n)))).filter(Boolean);
    assert.equal(created.length, 1);
  });
});

describe('the invitation page rate limit and switch', () => {
  test('requests past registration.redeem_attempts_per_minute from one address are 429', async () => {
    const ts = await startTestServer({ listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } }, registration: { redeem_attempts_per_minute: 3 } });
    try {
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await fetchFrom(ts, `/invite/${newToken()}`)).status);
      assert.deepEqual(statuses, [404, 404, 404, 429, 429]);
      const token = await invite(ts);
      const r = await post(ts, token, { username: 'blocked', password: STRONG, confirm: STRONG });
      assert.equal(r.status, 429);
      assert.equal(r.headers['retry-after'], '60');
      assert.equal(await ts.accounts.get('blocked'), undefined);
    } finally {
      await ts.stop();
    }
  });

  test('registration.invitations: false serves no invitation page', async () => {
    const ts = await startTestServer({ listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } }, registration: { invitations: false } });
    try {
      const token = await invite(ts);
      assert.equal((await fetchFrom(ts, `/invite/${token}`)).status, 404);
      assert.equal((await post(ts, token, { username: 'off', password: STRONG, confirm: STRONG })).status, 404);
      assert.equal(await ts.accounts.get('off'), undefined);
    } finally {
      await ts.stop();
    }
  });
});
