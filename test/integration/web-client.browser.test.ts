// Must show: the user web client Palisade serves (Converse.js 14, offline) works
// in a real browser. Two users log in from two browser contexts (Debian
// Chromium driven by playwright-core), open a chat the way a user does and
// exchange messages both ways; nothing is loaded from outside the server. Then
// two more users exchange an OMEMO-encrypted message (Converse's own OMEMO
// library, served offline, with its keys in PEP), and the server's archives
// are checked to hold the ciphertext only.
//
// The server's certificate is self-signed, so the contexts ignore HTTPS errors
// (for the page and its WebSocket alike); nothing else about TLS is changed.
// Two more users join one group chat room through Converse's own "Add
// groupchat" form and talk in it both ways.
// A screenshot of each user's page is saved under test-artifacts/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { sql } from 'kysely';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = resolve('test-artifacts');

/** What a page did that matters here. */
interface Watched {
  page: Page;
  /** Requests that left the origin, and why each failed (undefined: it did not). */
  foreign: { url: string; failure: string | undefined }[];
  /** Paths of this origin answered 200. */
  served: Set<string>;
  websockets: string[];
  /** Console reports of the Content-Security-Policy blocking something. */
  cspReports: string[];
}

/**
 * Polls a JavaScript expression in the page until it is true (page.waitForFunction
 * does not await promises). An expression string, because the project compiles
 * without the DOM library and the test runner's transpiler may rewrite functions.
 */
async function until(page: Page, what: string, expression: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await page.evaluate(expression)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** An expression: some element matching `selector` contains `text`. */
function textIn(selector: string, text: string): string {
  return `[...document.querySelectorAll(${JSON.stringify(selector)})].some((e) => e.textContent.includes(${JSON.stringify(text)}))`;
}

describe('web client (Converse.js 14) in Chromium', () => {
  let ts: TestServer;
  let browser: Browser;
  let origin: string;

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}; install it with scripts/install-test-deps.sh (Debian package 'chromium')`);
    }
    ts = await startTestServer({ listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } } });
    origin = `https://127.0.0.1:${ts.httpsPort}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await ts?.stop();
  });

  async function openPage(): Promise<Watched> {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const watched: Watched = { page, foreign: [], served: new Set(), websockets: [], cspReports: [] };
    page.on('request', (r) => {
      if (!r.url().startsWith(`${origin}/`) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) watched.foreign.push({ url: r.url(), failure: undefined });
    });
    page.on('requestfailed', (r) => {
      const entry = watched.foreign.find((f) => f.url === r.url() && f.failure === undefined);
      if (entry) entry.failure = r.failure()?.errorText;
    });
    page.on('response', (r) => {
      if (r.url().startsWith(`${origin}/`) && r.status() === 200) watched.served.add(new URL(r.url()).pathname);
    });
    page.on('websocket', (ws) => watched.websockets.push(ws.url()));
    page.on('console', (m) => {
      if (m.text().includes('Content Security Policy')) watched.cspReports.push(m.text());
    });
    await page.goto(`${origin}/`);
    return watched;
  }

  async function logIn(page: Page, user: { local: string; password: string; jid: string }): Promise<void> {
    // The domain is locked: the form asks for the user name only.
    await page.fill('#converse-login-jid', user.local);
    await page.fill('#converse-login-password', user.password);
    await page.click('#converse-login button[type=submit]');
    await until(page, `${user.jid} to be logged in`, textIn('converse-user-profile .username', user.jid));
  }

  async function startChat(page: Page, jid: string): Promise<void> {
    await page.click('.dropdown--contacts .dropdown-toggle');
    await page.click('a.new-chat');
    await page.fill('converse-new-chat-modal input[name=jid]', jid);
    await page.click('converse-new-chat-modal button[type=submit]');
    await page.waitForSelector(`converse-chat[jid="${jid}"] .chat-textarea`);
  }

  async function say(page: Page, jid: string, text: string): Promise<void> {
    const box = page.locator(`converse-chat[jid="${jid}"] .chat-textarea`);
    await box.fill(text);
    await box.press('Enter');
  }

  /** Joins (creating, if need be) a room the way a user does: the groupchats menu, "Add groupchat", its address and a nickname. */
  async function joinRoom(page: Page, room: string, nick: string): Promise<void> {
    await page.click('converse-rooms-list .dropdown-toggle');
    await page.click('converse-rooms-list a.show-add-muc-modal');
    await page.fill('converse-add-muc-modal input[name=chatroom]', room);
    await page.fill('converse-add-muc-modal input[name=nickname]', nick);
    await page.click('converse-add-muc-modal input[type=submit]');
    await page.waitForSelector(`converse-muc[jid="${room}"] .chat-textarea`, { timeout: 20_000 });
  }

  async function sayInRoom(page: Page, room: string, text: string): Promise<void> {
    const box = page.locator(`converse-muc[jid="${room}"] .chat-textarea`);
    await box.fill(text);
    await box.press('Enter');
  }

  async function screenshot(page: Page, name: string): Promise<string> {
    mkdirSync(ARTIFACTS, { recursive: true });
    const path = resolve(ARTIFACTS, `web-client-${name}.png`);
    await page.screenshot({ path });
    return path;
  }

  test('two users log in and exchange messages both ways; nothing is loaded from elsewhere', { timeout: 60_000 }, async (t) => {
    const alice = await ts.addUser('alice');
    const bob = await ts.addUser('bob');
    const a = await openPage();
    const b = await openPage();
    await Promise.all([logIn(a.page, alice), logIn(b.page, bob)]);

    await startChat(a.page, bob.jid);
    const hello = `Hello Bob, from the browser ${Date.now()}`;
    await say(a.page, bob.jid, hello);
    await until(a.page, 'Alice to see her own message', textIn(`converse-chat[jid="${bob.jid}"] .chat-msg__text`, hello));
    // On Bob's side Alice appears under "New messages" in the contact list; he opens her chat.
    await b.page.click(`#converse-roster a.open-chat[data-jid="${alice.jid}"]`, { timeout: 20_000 });
    await until(b.page, 'Bob to receive the message', textIn(`converse-chat[jid="${alice.jid}"] .chat-msg__text`, hello));

    const reply = `Hi Alice — ünïcödé ✓ ${Date.now()}`;
    await say(b.page, alice.jid, reply);
    await until(a.page, 'Alice to receive the reply', textIn(`converse-chat[jid="${bob.jid}"] .chat-msg__text`, reply));

    for (const [name, w] of [['alice', a], ['bob', b]] as const) {
      t.diagnostic(`screenshot: ${await screenshot(w.page, name)}`);
      assert.deepEqual(w.websockets, [`wss://127.0.0.1:${ts.httpsPort}/xmpp-websocket`], `${name}: one WebSocket, to this server`);
      // Converse's fullscreen page links sponsor logos on the internet; the CSP blocks them.
      const loaded = w.foreign.filter((f) => f.failure === undefined);
      t.diagnostic(`${name}: ${w.foreign.length} requests to other origins, ${w.foreign.length - loaded.length} blocked`);
      assert.deepEqual(loaded, [], `${name}: nothing was loaded from another origin`);
      // Nothing of its own was blocked: its scripts, styles, fonts, WebSocket, and OMEMO's WebAssembly.
      const ownBlocked = w.cspReports.filter((r) => !/Loading the image 'https:\/\/conversejs\.org\//.test(r));
      assert.deepEqual(ownBlocked, [], `${name}: the CSP blocked nothing the client needs`);
      for (const path of ['/converse/converse.min.js', '/palisade-init.js', '/converse/libomemo.esm.min.js', '/converse/curve25519_compiled.wasm']) {
        assert.ok(w.served.has(path), `${name}: ${path} was loaded from this server`);
      }
    }
    assert.equal(ts.server.sessions.ofAccount(alice.jid).length, 1, 'Alice has one session');
    assert.equal(ts.server.sessions.ofAccount(bob.jid).length, 1, 'Bob has one session');
  });

  test('two users join the same room on conference.localhost and talk both ways', { timeout: 90_000 }, async (t) => {
    const gina = await ts.addUser('gina');
    const hugo = await ts.addUser('hugo');
    const g = await openPage();
    const h = await openPage();
    await Promise.all([logIn(g.page, gina), logIn(h.page, hugo)]);
    const room = 'browser-room@conference.localhost';

    // Gina creates the room (Converse configures a new room itself), then Hugo joins it.
    await joinRoom(g.page, room, 'Gina');
    await until(g.page, 'the room to be open', `!!document.querySelector(${JSON.stringify(`converse-muc[jid="${room}"] converse-muc-chatarea`)})`);
    await joinRoom(h.page, room, 'Hugo');
    await until(g.page, 'Gina to see Hugo in the room', textIn(`converse-muc[jid="${room}"] .occupant-list`, 'Hugo'));

    const hello = `Hello room, from Gina ${Date.now()}`;
    await sayInRoom(g.page, room, hello);
    await until(h.page, 'Hugo to receive the room message', textIn(`converse-muc[jid="${room}"] .chat-msg__text`, hello));
    const reply = `Hugo here — ünïcödé ✓ ${Date.now()}`;
    await sayInRoom(h.page, room, reply);
    await until(g.page, 'Gina to receive the reply', textIn(`converse-muc[jid="${room}"] .chat-msg__text`, reply));
    await until(g.page, 'Gina to see her own message', textIn(`converse-muc[jid="${room}"] .chat-msg__text`, hello));
    await until(h.page, 'Hugo to see his own message', textIn(`converse-muc[jid="${room}"] .chat-msg__text`, reply));

    for (const [name, w] of [['gina', g], ['hugo', h]] as const) {
      t.diagnostic(`screenshot: ${await screenshot(w.page, `room-${name}`)}`);
      assert.deepEqual(w.websockets, [`wss://127.0.0.1:${ts.httpsPort}/xmpp-websocket`], `${name}: one WebSocket, to this server`);
    }
  });

  test('OMEMO: the served client encrypts a message end to end; the archives hold only the ciphertext', { timeout: 90_000 }, async (t) => {
    const erin = await ts.addUser('erin');
    const frank = await ts.addUser('frank');
    const e = await openPage();
    const f = await openPage();
    await Promise.all([logIn(e.page, erin), logIn(f.page, frank)]);

    // Each client publishes its OMEMO device list and bundle through PEP when it starts.
    const devices = async (jid: string) =>
      (await sql<{ n: number | string }>`select count(*) as n from pep_items where localpart = ${jid.split('@')[0]} and node like '%devicelist%'`.execute(ts.server.storage.db)).rows[0]!.n;
    const deadline = Date.now() + 30_000;
    while ((Number(await devices(erin.jid)) === 0 || Number(await devices(frank.jid)) === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.ok(Number(await devices(erin.jid)) > 0 && Number(await devices(frank.jid)) > 0, 'both clients published an OMEMO device list');

    await startChat(e.page, frank.jid);
    const toggle = `converse-chat[jid="${frank.jid}"] .toggle-omemo`;
    await e.page.waitForSelector(toggle, { timeout: 20_000 });
    await e.page.click(toggle);
    await until(e.page, 'OMEMO to be switched on', `!!document.querySelector(${JSON.stringify(`${toggle} .fa-lock, ${toggle} converse-icon[class*="lock"]:not([class*="unlock"])`)})`);

    const secret = `The secret word is ${Date.now().toString(36)}`;
    await say(e.page, frank.jid, secret);
    await until(e.page, 'Erin to see her own message', textIn(`converse-chat[jid="${frank.jid}"] .chat-msg__text`, secret));
    await f.page.click(`#converse-roster a.open-chat[data-jid="${erin.jid}"]`, { timeout: 20_000 });
    await until(f.page, 'Frank to decrypt the message', textIn(`converse-chat[jid="${erin.jid}"] .chat-msg__text`, secret), 30_000);
    t.diagnostic(`screenshot: ${await screenshot(f.page, 'omemo-frank')}`);

    // Both archives (sender's and recipient's) hold the message, encrypted; the plain text is nowhere on the server.
    const rows = (await sql<{ localpart: string; xml: string }>`select localpart, xml from mam_messages where localpart in ('erin', 'frank')`.execute(ts.server.storage.db)).rows;
    const encrypted = rows.filter((r) => r.xml.includes('<encrypted'));
    assert.deepEqual([...new Set(encrypted.map((r) => r.localpart))].sort(), ['erin', 'frank'], 'the encrypted message is in both archives');
    for (const r of rows) assert.ok(!r.xml.includes(secret), `${r.localpart}'s archive does not hold the plain text`);
  });
});
