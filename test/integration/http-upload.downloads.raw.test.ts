// Who may download an upload, and how much of it (raw XMPP, Node's https
// client, a real clamd): with `downloads: recipients-only` a GET needs the
// password of the uploader or of an account the policy let a message with the
// link reach; a message with an upload link is a file transfer for the
// policy, so a contacts-only rule refuses it to a stranger; a login rule
// refuses downloads of a suspended account; byte ranges of a
// multi-megabyte file are exact; a file altered on disk never gives a
// complete answer; `encrypted_archives: allow` lets password-protected zips in.
// The password check is the server's login check: wrong download passwords
// count toward the configured `auth.lockout_failures` of XMPP logins, the lock
// answers as it does there, and download logins are audited like XMPP ones.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startClamd, type TestClamd } from '../helpers/clamd.ts';
import { RawClient, login, stanzaError, type AuthResult } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const UP = 'urn:xmpp:http:upload:0';
const SERVICE = 'upload.localhost';
const MIB = 1024 * 1024;
const RULE_TEXT = 'Files may only be shared with contacts.';
const POLICY = `
version: 1
rules:
  - name: files-to-contacts-only
    feature: file-transfer
    peer: non-contacts
    decision: deny
    text: ${RULE_TEXT}
  - name: local-accounts
    subject: { local: true }
    decision: allow
`;

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The response ended with all of Content-Length (false: the server cut it off). */
  complete: boolean;
}

describe('HTTP upload downloads: recipients-only, policy on links, ranges', () => {
  let ts: TestServer;
  let clamd: TestClamd;
  let policyDir: string;
  let ca: Buffer;
  const open: RawClient[] = [];
  const passwords = new Map<string, string>();
  const clients = new Map<string, RawClient>();

  before(async () => {
    clamd = await startClamd();
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-upload-policy-'));
    writeFileSync(join(policyDir, 'policy.yaml'), POLICY);
    ts = await startTestServer({
      listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } },
      policy: { file: join(policyDir, 'policy.yaml') },
      modules: {
        disco: {},
        ping: {},
        roster: {},
        presence: {},
        message: {},
        muc: {},
        'http-upload': {
          max_file_size: 8 * MIB,
          downloads: 'recipients-only',
          encrypted_archives: 'allow',
          antivirus: { socket: clamd.socket, timeout_ms: 10_000 },
        },
      },
    });
    ca = readFileSync(join(ts.dataDir, 'tls', 'localhost.crt'));
    for (const name of ['alice', 'bob', 'carol', 'dave']) {
      passwords.set(name, (await ts.addUser(name)).password);
      const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: name, password: passwords.get(name)! });
      open.push(c);
      clients.set(name, c);
      c.send('<presence/>');
      await c.ping();
    }
    // alice and bob are contacts, and so are carol and dave; nobody else is.
    await subscribe('alice', 'bob');
    await subscribe('bob', 'alice');
    await subscribe('carol', 'dave');
    await subscribe('dave', 'carol');
  });
  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
    await ts?.stop();
    await clamd?.stop();
    if (policyDir) rmSync(policyDir, { recursive: true, force: true });
  });

  const client = (name: string) => clients.get(name)!;
  const bare = (name: string) => `${name}@localhost`;

  /** `from` subscribes to `to`'s presence and `to` approves (RFC 6121 §3.1). */
  async function subscribe(from: string, to: string): Promise<void> {
    client(from).send(`<presence to='${bare(to)}' type='subscribe'/>`);
    await client(to).next((e) => e.name === 'presence' && e.attrs.type === 'subscribe' && e.attrs.from === bare(from));
    client(to).send(`<presence to='${bare(from)}' type='subscribed'/>`);
    await client(from).next((e) => e.name === 'presence' && e.attrs.type === 'subscribed' && e.attrs.from === bare(to));
    await Promise.all([client(from).ping(), client(to).ping()]);
  }

  const http = (method: string, url: string, headers: Record<string, string> = {}, body?: Buffer): Promise<HttpAnswer> => {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const req = request({ method, host: '127.0.0.1', port: u.port, path: u.pathname, servername: 'localhost', ca, headers, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        const done = () => {
          const b = Buffer.concat(parts);
          resolve({ status: res.statusCode!, headers: res.headers, body: b, complete: res.complete });
        };
        res.on('end', done);
        res.on('error', done);
        res.on('aborted', done);
      });
      req.on('error', reject);
      req.end(body);
    });
  };
  const basic = (user: string, password = passwords.get(user.split('@')[0]!)!) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

  const upload = async (owner: string, filename: string, data: Buffer): Promise<string> => {
    const r = await client(owner).iq('get', `<request xmlns='${UP}' filename='${filename}' size='${data.length}'/>`, { to: SERVICE });
    assert.equal(r.attrs.type, 'result', r.toString());
    const slot = r.getChild('slot', UP)!;
    const put = await http('PUT', slot.getChild('put')!.attrs.url!, { 'content-length': String(data.length) }, data);
    assert.equal(put.status, 201, put.body.toString());
    return slot.getChild('get')!.attrs.url!;
  };

  /** Sends a chat message and waits for the recipient to get it, or for the sender to get its error. */
  const send = async (from: string, to: string, inner: string): Promise<{ delivered: boolean; error?: ReturnType<typeof stanzaError> }> => {
    const id = randomBytes(6).toString('hex');
    client(from).send(`<message type='chat' to='${bare(to)}' id='${id}'>${inner}</message>`);
    const got = await Promise.race([
      client(to).next((e) => e.name === 'message' && e.attrs.id === id).then(() => ({ delivered: true })),
      client(from)
        .next((e) => e.name === 'message' && e.attrs.id === id && e.attrs.type === 'error')
        .then((e) => ({ delivered: false, error: stanzaError(e) })),
    ]);
    return got;
  };

  test('recipients-only: the uploader, and whom the policy let the link reach; nobody else', async () => {
    const data = randomBytes(50_000);
    const url = await upload('alice', 'plan.bin', data);

    const anonymous = await http('GET', url);
    assert.equal(anonymous.status, 401);
    assert.match(String(anonymous.headers['www-authenticate']), /^Basic realm="file downloads", charset="UTF-8"$/);
    assert.match(anonymous.body.toString(), /Log in with your account/);
    assert.equal((await http('GET', url, basic('alice', 'wrong password'))).status, 401);
    assert.equal((await http('GET', url, basic('nobody', 'whatever'))).status, 401);

    for (const user of ['alice', 'alice@localhost', 'ALICE']) {
      const own = await http('GET', url, basic(user, passwords.get('alice')));
      assert.equal(own.status, 200, user);
      assert.ok(own.body.equals(data), user);
    }

    const before = await http('GET', url, basic('bob'));
    assert.equal(before.status, 403);
    assert.equal(before.body.toString(), 'This file was not shared with your account.\n');

    // alice shares it with her contact bob in the body: bob may download now.
    assert.deepEqual(await send('alice', 'bob', `<body>the plan: ${url}</body>`), { delivered: true });
    const shared = await http('GET', url, basic('bob'));
    assert.equal(shared.status, 200);
    assert.ok(shared.body.equals(data));

    // Knowing the URL is not sharing it: carol got it elsewhere and sends it to her contact dave; neither may download.
    assert.deepEqual(await send('carol', 'dave', `<body>${url}</body>`), { delivered: true });
    assert.equal((await http('GET', url, basic('carol'))).status, 403);
    assert.equal((await http('GET', url, basic('dave'))).status, 403);

    // bob, a recipient, passes it on (an out-of-band URL, XEP-0066) to alice: allowed, and nothing changes for others.
    assert.deepEqual(await send('bob', 'alice', `<x xmlns='jabber:x:oob'><url>${url}</url></x>`), { delivered: true });
    assert.equal((await http('GET', url, basic('dave'))).status, 403);
  });

  test('a link to an upload is a file transfer: the contacts-only rule refuses it to a stranger and allows it to a contact', async () => {
    const data = randomBytes(10_000);
    const url = await upload('alice', 'notes.bin', data);
    // XEP-0447 stateless file sharing carries the URL in an attribute.
    const sfs = `<file-sharing xmlns='urn:xmpp:sfs:0'><sources><url-data xmlns='http://jabber.org/protocol/url-data' target='${url}'/></sources></file-sharing>`;
    for (const inner of [`<body>${url}</body>`, sfs]) {
      const refused = await send('alice', 'carol', inner);
      assert.equal(refused.delivered, false);
      assert.deepEqual([refused.error?.condition, refused.error?.text], ['policy-violation', RULE_TEXT]);
      assert.equal((await http('GET', url, basic('carol'))).status, 403, 'a refused message shares nothing');
    }
    // The rule is about files: a message without a link reaches the stranger.
    assert.deepEqual(await send('alice', 'carol', '<body>hello</body>'), { delivered: true });
    // To a contact: delivered, and downloadable.
    assert.deepEqual(await send('alice', 'bob', sfs), { delivered: true });
    assert.equal((await http('GET', url, basic('bob'))).status, 200);
  });

  test('a link said in a room: the occupants who hear it, now or from the history, may download; nobody else', async () => {
    const MUC = 'http://jabber.org/protocol/muc';
    const room = 'team@conference.localhost';
    const enter = async (name: string) => {
      client(name).send(`<presence to='${room}/${name}'><x xmlns='${MUC}'/></presence>`);
      await client(name).next((e) => e.name === 'message' && e.attrs.from?.startsWith(room) === true && e.getChild('subject') !== undefined);
    };
    await enter('alice');
    const config = await client('alice').iq('set', `<query xmlns='${MUC}#owner'><x xmlns='jabber:x:data' type='submit'/></query>`, { to: room });
    assert.equal(config.attrs.type, 'result', config.toString());
    await enter('bob');
    await enter('dave');
    const data = randomBytes(20_000);
    const url = await upload('alice', 'minutes.bin', data);
    // Only contacts may get links one to one, but a room is no contact relation: the room decides who hears it.
    client('alice').send(`<message to='${room}' type='groupchat' id='room-link'><body>minutes: ${url}</body></message>`);
    for (const name of ['alice', 'bob', 'dave']) await client(name).next((e) => e.name === 'message' && e.attrs.id === 'room-link');
    for (const name of ['bob', 'dave']) {
      const got = await http('GET', url, basic(name));
      assert.equal(got.status, 200, name);
      assert.ok(got.body.equals(data), name);
    }
    assert.equal((await http('GET', url, basic('carol'))).status, 403, 'not in the room');
    // Joining later, carol reads the link in the room's history (sent before the subject): now she may download it.
    await enter('carol');
    assert.ok(client('carol').received.some((e) => e.name === 'message' && e.attrs.id === 'room-link'), 'the link came with the history');
    assert.equal((await http('GET', url, basic('carol'))).status, 200);
    // A link nobody in the room may download is passed on, but grants nothing.
    const other = await upload('carol', 'carols.bin', randomBytes(1000));
    client('dave').send(`<message to='${room}' type='groupchat' id='room-other'><body>${other}</body></message>`);
    await client('bob').next((e) => e.name === 'message' && e.attrs.id === 'room-other');
    assert.equal((await http('GET', other, basic('bob'))).status, 403);
  });

  test('ranges: byte-exact parts of a 5 MiB file, suffixes, open ends, 416, and the whole file when ranges are many', async () => {
    const data = randomBytes(5 * MIB);
    const url = await upload('alice', 'big.bin', data);
    const auth = basic('alice');
    const whole = await http('GET', url, auth);
    assert.equal(whole.headers['accept-ranges'], 'bytes');
    assert.ok(whole.body.equals(data));

    for (const [header, start, end] of [
      ['bytes=0-0', 0, 0],
      ['bytes=1000-2000000', 1000, 2_000_000],
      ['bytes=4194303-4194320', 4_194_303, 4_194_320],
      ['bytes=-12345', data.length - 12_345, data.length - 1],
      ['bytes=5000000-', 5_000_000, data.length - 1],
      ['bytes=5242879-99999999', data.length - 1, data.length - 1],
    ] as const) {
      const r = await http('GET', url, { ...auth, range: header });
      assert.equal(r.status, 206, header);
      assert.equal(r.headers['content-range'], `bytes ${start}-${end}/${data.length}`, header);
      assert.equal(r.headers['content-length'], String(end - start + 1), header);
      assert.ok(r.body.equals(data.subarray(start, end + 1)), header);
    }

    const past = await http('GET', url, { ...auth, range: `bytes=${data.length}-` });
    assert.equal(past.status, 416);
    assert.equal(past.headers['content-range'], `bytes */${data.length}`);
    assert.match(past.body.toString(), /outside the file, which has 5242880 bytes/);

    const many = await http('GET', url, { ...auth, range: 'bytes=0-9,20-29' });
    assert.equal(many.status, 200);
    assert.ok(many.body.equals(data));
    // If-Range with another validator: the file may have changed, so all of it.
    const stale = await http('GET', url, { ...auth, range: 'bytes=0-9', 'if-range': '"something-else"' });
    assert.equal(stale.status, 200);
    const fresh = await http('GET', url, { ...auth, range: 'bytes=0-9', 'if-range': String(whole.headers.etag) });
    assert.equal(fresh.status, 206);
    assert.ok(fresh.body.equals(data.subarray(0, 10)));
    // Ranges need the same permission.
    assert.equal((await http('GET', url, { ...basic('carol'), range: 'bytes=0-9' })).status, 403);
  });

  test('a file altered on disk is never answered completely, whole or in part', async () => {
    const data = randomBytes(300_000);
    const url = await upload('alice', 'victim.bin', data);
    const token = new URL(url).pathname.split('/')[2]!;
    const row = await (ts.server.storage.db as any).selectFrom('http_upload_files').select('blob').where('get_token', '=', token).executeTakeFirst();
    const path = join(ts.dataDir, 'uploads', row.blob);
    const blob = readFileSync(path);
    blob.writeUInt8(blob.readUInt8(200_000) ^ 1, 200_000);
    writeFileSync(path, blob);
    for (const range of [undefined, 'bytes=0-99', 'bytes=-10']) {
      const r = await http('GET', url, { ...basic('alice'), ...(range ? { range } : {}) });
      const expected = range === undefined ? data.length : range === 'bytes=-10' ? 10 : 100;
      // Either an error before the first byte (a range held back whole until the tag is checked), or a cut-off answer.
      const served = r.status < 300 && r.complete && r.body.length === expected;
      assert.equal(served, false, `${String(range)}: ${r.status}, ${r.body.length} bytes`);
      if (r.status < 300) assert.equal(r.headers['content-length'], String(expected));
    }
  });

  test('path traversal and listing: nothing but a token and a name reach a file', async () => {
    const auth = basic('alice');
    const origin = `https://localhost:${ts.httpsPort}`;
    for (const path of [
      '/upload/',
      '/upload/..%2f..%2fhttp-upload.key/x',
      '/upload/%2e%2e/http-upload.key',
      '/upload/..%2fuploads/x',
      '/upload/x/..%2f..%2f..%2fetc%2fpasswd',
      '/upload/%2e%2e%2f%2e%2e%2fhttp-upload.key/a',
      '/http-upload.key',
    ]) {
      const r = await http('GET', `${origin}${path}`, auth);
      assert.equal(r.status, 404, path);
      assert.equal(r.body.includes(readFileSync(join(ts.dataDir, 'http-upload.key'))), false, path);
    }
  });

  test('encrypted_archives: allow takes a zip made with zip -P', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-zip-'));
    try {
      writeFileSync(join(dir, 'secret.txt'), 'the combination is 1234\n');
      execFileSync('zip', ['-q', '-P', 'password', 'locked.zip', 'secret.txt'], { cwd: dir });
      const zip = readFileSync(join(dir, 'locked.zip'));
      const url = await upload('alice', 'locked.zip', zip);
      const got = await http('GET', url, basic('alice'));
      assert.equal(got.status, 200);
      assert.ok(got.body.equals(zip));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('HTTP upload downloads: the login policy applies to downloads too', () => {
  const SUSPENDED = 'Your account is suspended.';
  let ts: TestServer;
  let clamd: TestClamd;
  let policyDir: string;

  before(async () => {
    clamd = await startClamd();
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-upload-policy-'));
    writeFileSync(
      join(policyDir, 'policy.yaml'),
      `version: 1
groups:
  suspended: { members: [frank@localhost] }
rules:
  - name: suspended-accounts
    action: login
    subject: { groups: [suspended] }
    decision: deny
    text: ${SUSPENDED}
  - name: local-accounts
    subject: { local: true }
    decision: allow
`,
    );
    ts = await startTestServer({
      listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } },
      policy: { file: join(policyDir, 'policy.yaml') },
      modules: {
        ping: {},
        roster: {},
        presence: {},
        message: {},
        offline: {},
        'http-upload': { downloads: 'recipients-only', antivirus: { socket: clamd.socket, timeout_ms: 10_000 } },
      },
    });
  });
  after(async () => {
    await ts?.stop();
    await clamd?.stop();
    if (policyDir) rmSync(policyDir, { recursive: true, force: true });
  });

  test('a suspended account the file was shared with gets the rule text, not the file', async () => {
    const ca = readFileSync(join(ts.dataDir, 'tls', 'localhost.crt'));
    const alice = await ts.addUser('alice');
    const frank = await ts.addUser('frank');
    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'alice', password: alice.password });
    try {
      const data = randomBytes(1000);
      const r = await c.iq('get', `<request xmlns='${UP}' filename='f.bin' size='${data.length}'/>`, { to: SERVICE });
      const slot = r.getChild('slot', UP)!;
      const get = (url: string, user: string, password: string, method = 'GET', body?: Buffer) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const u = new URL(url);
          const headers: Record<string, string> = { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
          if (body) headers['content-length'] = String(body.length);
          const req = request({ method, host: '127.0.0.1', port: u.port, path: u.pathname, servername: 'localhost', ca, headers, agent: false }, (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, body: text }));
          });
          req.on('error', reject);
          req.end(body);
        });
      assert.equal((await get(slot.getChild('put')!.attrs.url!, 'alice', alice.password, 'PUT', data)).status, 201);
      const url = slot.getChild('get')!.attrs.url!;
      // frank is offline (and could not log in): the message is kept for him, and the link is shared with him.
      c.send(`<message type='chat' to='frank@localhost' id='to-frank'><body>${url}</body></message>`);
      await c.ping();
      const refused = await get(url, 'frank', frank.password);
      assert.equal(refused.status, 403);
      assert.equal(refused.body, `${SUSPENDED}\n`);
      assert.equal((await get(url, 'alice', alice.password)).status, 200);
    } finally {
      await c.close();
    }
  });
});

describe('HTTP upload downloads: the password check is the server login check', () => {
  let ts: TestServer;
  let clamd: TestClamd;

  before(async () => {
    clamd = await startClamd();
    ts = await startTestServer({
      listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } },
      auth: { lockout_failures: 3, lockout_window: 300, lockout_duration: 300 },
      modules: {
        ping: {},
        'http-upload': { downloads: 'recipients-only', antivirus: { socket: clamd.socket, timeout_ms: 10_000 } },
      },
    });
  });
  after(async () => {
    await ts?.stop();
    await clamd?.stop();
  });

  test('wrong download passwords lock the account for XMPP logins too; the lock answers over HTTP as over XMPP; all audited', async () => {
    const ca = readFileSync(join(ts.dataDir, 'tls', 'localhost.crt'));
    const alice = await ts.addUser('alice');
    const get = (url: string, password: string, localAddress = '127.0.0.1', method = 'GET', body?: Buffer) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const u = new URL(url);
        const headers: Record<string, string> = { authorization: `Basic ${Buffer.from(`alice:${password}`).toString('base64')}` };
        if (body) headers['content-length'] = String(body.length);
        const req = request({ method, host: '127.0.0.1', port: u.port, path: u.pathname, servername: 'localhost', ca, headers, agent: false, localAddress }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    /** The audit log's login entries for alice (with the way in: details.via, 'xmpp' when absent), once there are at least n (they are appended off the login's path). */
    const logins = async (n: number) => {
      for (let i = 0; ; i++) {
        const entries = (await ts.server.storage.audit.list({ action: 'login', limit: 1000 })).filter((e) => e.actor === alice.jid);
        if (entries.length >= n || i === 50) return entries.map((e) => [e.decision, e.reason, (e.details as { ip?: string }).ip, (e.details as { via?: string }).via ?? 'xmpp']);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const xmppLogin = async (localAddress: string): Promise<string> => {
      const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir, localAddress });
      try {
        await c.openStream();
        await c.startTls();
        const r: AuthResult = await c.authenticate({ mechanism: 'SCRAM-SHA-256', username: 'alice', password: alice.password });
        return r.ok ? 'success' : `${r.condition}: ${r.text}`;
      } finally {
        c.destroy();
      }
    };

    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'alice', password: alice.password });
    let url: string;
    try {
      const data = randomBytes(1000);
      const r = await c.iq('get', `<request xmlns='${UP}' filename='f.bin' size='${data.length}'/>`, { to: SERVICE });
      const slot = r.getChild('slot', UP)!;
      assert.equal((await get(slot.getChild('put')!.attrs.url!, alice.password, '127.0.0.1', 'PUT', data)).status, 201);
      url = slot.getChild('get')!.attrs.url!;
    } finally {
      await c.close();
    }
    assert.deepEqual(await logins(1), [['allow', 'login succeeded', '127.0.0.1', 'xmpp']], 'the XMPP login');
    assert.equal((await get(url, alice.password)).status, 200);
    assert.deepEqual((await logins(2))[1], ['allow', 'login succeeded', '127.0.0.1', 'http-download'], 'the download login');

    // Three wrong passwords over HTTP: the configured lockout_failures.
    for (let i = 0; i < 3; i++) assert.equal((await get(url, `guess-${i}`)).status, 401);
    const lockouts = await ts.server.storage.audit.list({ action: 'auth.lockout' });
    assert.deepEqual(lockouts.map((e) => [e.actor, e.details]), [['ip:127.0.0.1', { account: alice.jid }]]);
    assert.deepEqual((await logins(5)).slice(2), Array(3).fill(['deny', 'wrong password or unknown account', '127.0.0.1', 'http-download']));

    // The guessing address: the right password is a wrong guess, over XMPP and over HTTP.
    assert.equal(await xmppLogin('127.0.0.1'), 'not-authorized: Authentication failed');
    const guesser = await get(url, alice.password);
    assert.equal(guesser.status, 401);
    assert.match(guesser.body, /Log in with your account/);
    // Another address: a wrong password is a wrong password; the right one is told of the lock, on both.
    assert.equal((await get(url, 'typo', '127.0.0.2')).status, 401);
    const told = await get(url, alice.password, '127.0.0.2');
    assert.equal(told.status, 403);
    assert.match(told.body, /^This account is locked after too many failed logins until \d{4}-\d\d-\d\dT[\d:.]+Z; an administrator can unlock it sooner\.\n$/);
    assert.match(await xmppLogin('127.0.0.2'), /^account-disabled: This account is locked after too many failed logins until /);
    const locked = (await logins(10)).filter(([, reason]) => reason === 'account locked');
    assert.deepEqual(locked, [
      ['deny', 'account locked', '127.0.0.2', 'http-download'],
      ['deny', 'account locked', '127.0.0.2', 'xmpp'],
    ]);

    // Unlocked (palisade user unlock): the download works again.
    assert.equal(await ts.server.guard.unlock('alice'), true);
    assert.equal((await get(url, alice.password)).status, 200);
  });
});
