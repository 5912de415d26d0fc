// Must show: the invitation flow end to end. An administrator's invitation
// (made as `palisade invite create` makes it) is opened in Chromium
// (playwright-core), the user picks a name and a password and sees the success
// page; then a real client library (@xmpp/client) logs in with them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, trustCertificates } from './clients/xmpp-js.ts';
import { createInvitation, invitationLinks } from '../../src/invitations/index.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = resolve('test-artifacts');

describe('invitation redeemed in Chromium, then used by a real client', () => {
  let ts: TestServer;
  let browser: Browser;

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}; install it with scripts/install-test-deps.sh (Debian package 'chromium')`);
    ts = await startTestServer({ listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } } });
    trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await ts?.stop();
  });

  test('open the link, choose a name and password, see the JID; @xmpp/client logs in with them', { timeout: 60_000 }, async (t) => {
    const created = await createInvitation(ts.server.storage, ts.domain, { createdBy: 'test', validForMs: 3_600_000, group: null, localpart: null });
    const { url } = invitationLinks(new URL(`https://127.0.0.1:${ts.httpsPort}`), ts.domain, created.token, null);
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const cspReports: string[] = [];
    page.on('console', (m) => {
      if (m.text().includes('Content Security Policy')) cspReports.push(m.text());
    });
    const password = 'quiet harbour lantern 42';

    const first = await page.goto(url);
    assert.equal(first?.status(), 200);
    // A common password is refused first, and the page says why.
    await page.fill('#username', 'nora');
    await page.fill('#password', 'Password2024!');
    await page.fill('#confirm', 'Password2024!');
    await page.click('button[type=submit]');
    await page.waitForSelector('.error');
    assert.match((await page.textContent('.error')) ?? '', /too common/);
    assert.equal(await ts.accounts.get('nora'), undefined, 'nothing was created');
    assert.equal(await page.inputValue('#username'), 'nora', 'the name is kept');

    await page.fill('#password', password);
    await page.fill('#confirm', password);
    await page.click('button[type=submit]');
    await page.waitForSelector('#jid');
    assert.equal(await page.textContent('#jid'), 'nora@localhost');
    assert.equal(await page.getAttribute('#web-client', 'href'), '/');
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = resolve(ARTIFACTS, 'invite-redeemed.png');
    await page.screenshot({ path: shot });
    t.diagnostic(`screenshot: ${shot}`);
    assert.deepEqual(cspReports, [], 'the CSP blocked nothing');

    // The link works once.
    const again = await page.goto(url);
    assert.equal(again?.status(), 410);
    await context.close();

    const client = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: 'nora', password, presence: false });
    try {
      assert.match(client.jid, /^nora@localhost\//);
      assert.equal(client.secure, true);
      t.diagnostic(`@xmpp/client logged in as ${client.jid} with ${client.mechanism}`);
    } finally {
      await client.stop();
    }
  });
});
