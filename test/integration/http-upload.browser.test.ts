// Must show: file upload (XEP-0363) works from the bundled web client
// (Converse.js 14) in a real Chromium, against a real clamd with an
// EICAR-only database. Alice picks a PNG through Converse's own file input;
// Bob, on a raw XMPP session, receives the message with the link, and the
// download is byte-identical. An EICAR file picked the same way is refused:
// Converse shows the server's refusal, no link is sent, and the server
// audited the quarantine. The page is opened on the server's public origin
// (https://localhost:<port>), where the upload URLs point.
// Screenshots go to test-artifacts/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DEFAULT_MODULES } from '../../src/config/schema/modules.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { eicar, startClamd, type TestClamd } from '../helpers/clamd.ts';
import { login, type RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = resolve('test-artifacts');

/** A real PNG (64×64 RGB gradient), built here so its bytes are known. */
function png(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(64, 0);
  ihdr.writeUInt32BE(64, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows: number[] = [];
  for (let y = 0; y < 64; y++) {
    rows.push(0); // filter: none
    for (let x = 0; x < 64; x++) rows.push(x * 4, y * 4, 128);
  }
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.from(rows))), chunk('IEND', Buffer.alloc(0))]);
}

/** Polls a JavaScript expression in the page until it is true (see web-client.browser.test.ts for why a string). */
async function until(page: Page, what: string, expression: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await page.evaluate(expression)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function textIn(selector: string, text: string): string {
  return `[...document.querySelectorAll(${JSON.stringify(selector)})].some((e) => e.textContent.includes(${JSON.stringify(text)}))`;
}

describe('file upload from the web client (Converse.js) in Chromium, with a real clamd', () => {
  let ts: TestServer;
  let clamd: TestClamd;
  let browser: Browser;
  let origin: string;
  let ca: Buffer;
  let alice: { jid: string; local: string; password: string };
  let bob: { jid: string; local: string; password: string };
  let bobSession: RawClient;
  let page: Page;
  const cspReports: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}; install it with scripts/install-test-deps.sh (Debian package 'chromium')`);
    }
    clamd = await startClamd();
    ts = await startTestServer({
      listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } },
      // Every module a fresh configuration loads (the web client needs them), with clamd's socket for http-upload.
      modules: { ...Object.fromEntries(Object.keys(DEFAULT_MODULES).map((id) => [id, {}])), 'http-upload': { antivirus: { socket: clamd.socket, timeout_ms: 10_000 } } },
    });
    // The public origin: the page, its WebSocket and the upload slots all use it.
    origin = `https://localhost:${ts.httpsPort}`;
    ca = readFileSync(join(ts.dataDir, 'tls', 'localhost.crt'));
    alice = await ts.addUser('alice');
    bob = await ts.addUser('bob');
    bobSession = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'bob', password: bob.password });
    bobSession.send('<presence/>');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    page = await context.newPage();
    page.on('console', (m) => {
      if (m.text().includes('Content Security Policy')) cspReports.push(m.text());
    });
    await page.goto(`${origin}/`);
    await page.fill('#converse-login-jid', alice.local);
    await page.fill('#converse-login-password', alice.password);
    await page.click('#converse-login button[type=submit]');
    await until(page, 'Alice to be logged in', textIn('converse-user-profile .username', alice.jid));
    await page.click('.dropdown--contacts .dropdown-toggle');
    await page.click('a.new-chat');
    await page.fill('converse-new-chat-modal input[name=jid]', bob.jid);
    await page.click('converse-new-chat-modal button[type=submit]');
    await page.waitForSelector(`converse-chat[jid="${bob.jid}"] .chat-textarea`);
  });

  after(async () => {
    await browser?.close();
    await bobSession?.close();
    await ts?.stop();
    await clamd?.stop();
  });

  /** Picks a file through Converse's upload button's file input (shown once disco found the upload service). */
  const pick = async (name: string, mimeType: string, buffer: Buffer) => {
    const input = page.locator(`converse-chat[jid="${bob.jid}"] input.fileupload`);
    await input.waitFor({ state: 'attached', timeout: 20_000 });
    await input.setInputFiles({ name, mimeType, buffer });
  };

  const download = (url: string): Promise<{ status: number; type: string | undefined; body: Buffer }> => {
    const u = new URL(url);
    return new Promise((done, fail) => {
      const req = request({ host: '127.0.0.1', port: u.port, path: u.pathname, servername: 'localhost', ca, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => done({ status: res.statusCode!, type: res.headers['content-type'], body: Buffer.concat(parts) }));
        res.on('error', fail);
      });
      req.on('error', fail);
      req.end();
    });
  };

  const isLinkFromAlice = (el: Element) => el.name === 'message' && el.attrs.from?.startsWith(`${alice.jid}/`) === true && /\/upload\//.test(el.getChildText('body') ?? '');

  test('Alice uploads a PNG through Converse; Bob gets the link; the download is byte-identical', { timeout: 60_000 }, async (t) => {
    const image = png();
    await pick('gradient.png', 'image/png', image);
    const message = await bobSession.next(isLinkFromAlice, 30_000);
    const url = message.getChildText('body')!;
    assert.match(url, new RegExp(`^${origin}/upload/[A-Za-z0-9_-]{24}/gradient\\.png$`));
    // Converse also sends the link as out-of-band data (XEP-0066).
    assert.equal(message.getChild('x', 'jabber:x:oob')?.getChildText('url'), url);
    const got = await download(url);
    assert.equal(got.status, 200);
    assert.equal(got.type, 'image/png');
    assert.ok(got.body.equals(image), 'byte-identical');
    // Alice's own chat shows the image, loaded from this server under its CSP.
    await until(page, 'Alice to see the image', `!!document.querySelector(${JSON.stringify(`converse-chat[jid="${bob.jid}"] img[src="${url}"]`)})`);
    await until(page, 'the image to load', `[...document.querySelectorAll(${JSON.stringify(`img[src="${url}"]`)})].some((i) => i.complete && i.naturalWidth === 64)`);
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = resolve(ARTIFACTS, 'http-upload-png.png');
    await page.screenshot({ path: shot });
    t.diagnostic(`screenshot: ${shot}`);
    assert.deepEqual(
      cspReports.filter((r) => !/Loading the image 'https:\/\/conversejs\.org\//.test(r)),
      [],
      'the CSP blocked nothing the upload needs',
    );
  });

  test('an EICAR file is refused: the browser gets the refusal, no link is sent, the quarantine is audited', { timeout: 60_000 }, async (t) => {
    const answered = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().startsWith(`${origin}/upload/`), { timeout: 30_000 });
    await pick('eicar.txt', 'text/plain', eicar());
    const answer = await answered;
    assert.equal(answer.status(), 403);
    assert.match(await answer.text(), /^The file was refused: the virus scanner found Eicar-Test-Signature\S* It has been quarantined\.\n$/);
    // Converse 14 keeps showing a failed upload as its progress bar (its error text is never rendered) until the entry expires.
    await until(page, 'Converse to show the upload', textIn(`converse-chat[jid="${bob.jid}"] .chat-msg__text`, 'Uploading file: eicar.txt'));
    const shot = resolve(ARTIFACTS, 'http-upload-eicar.png');
    await page.screenshot({ path: shot });
    t.diagnostic(`screenshot: ${shot}`);
    // The audit entry is written next to the answer, not before it.
    let entry;
    for (let i = 0; i < 100 && !entry; i++) {
      const audited = await ts.server.storage.audit.list({ afterSeq: 0, limit: 1000, action: 'http-upload.scan' });
      entry = audited.find((e) => e.actor === alice.jid && e.decision === 'deny');
      if (!entry) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(entry, 'the quarantine is in the audit log');
    assert.equal(entry.details['filename'], 'eicar.txt');
    // Converse sends the message only after a successful PUT: Bob got the PNG's link and nothing else.
    await bobSession.ping();
    assert.deepEqual(bobSession.inbox.filter(isLinkFromAlice), []);
  });
});
