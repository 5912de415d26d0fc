// Must show, through client libraries others wrote: a session whose connection is
// killed mid-stream (no </stream:stream>) and resumed (XEP-0198) loses nothing,
// and messages sent while the recipient's phone session is being resumed arrive
// exactly once.
//
// The recipient is Debian's python3-slixmpp 1.8 with its xep_0198 plugin (it
// enables stream management with resumption by itself). It aborts its own
// transport after the KILL_AFTER-th message (asyncio's transport.abort(): the
// socket is closed at once, unsent data dropped, no stream end), connects again
// on 'disconnected', and slixmpp resumes: it sends <resume previd h/> before
// binding, using its count of handled stanzas. The sender is @xmpp/client
// (xmpp.js 0.14) and sends numbered messages every few milliseconds the whole
// time, so some arrive before the kill, some while the session hibernates, some
// during the resumption and some after it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DEFAULT_MODULES } from '../../src/config/schema/modules.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';
import { PYTHON, assertSlixmppInstalled } from './clients/slixmpp.ts';
import { baseEnv, describeRun, run } from './clients/process.ts';

const SLIX_RECIPIENT = String.raw`
import asyncio, json, os
import slixmpp
env = os.environ
ADDRESS = (env['XMPP_HOST'], int(env['XMPP_PORT']))

class Recipient(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(env['XMPP_JID'], env['XMPP_PASSWORD'])
        self.register_plugin('xep_0198')
        self.sender = env['XMPP_SENDER']
        self.kill_after = int(env['XMPP_KILL_AFTER'])
        self.killed = False
        self.result = {'ok': False, 'error': None, 'bodies': [], 'sm_id': None, 'resumed': 0, 'starts': 0,
                       'handled_at_kill': None, 'resumed_h': None, 'sm_failed': 0}
        self.done = asyncio.get_running_loop().create_future()
        self.add_event_handler('session_start', self.on_start)
        self.add_event_handler('session_resumed', self.on_resumed)
        self.add_event_handler('sm_enabled', self.on_enabled)
        self.add_event_handler('sm_failed', lambda _s: self.count('sm_failed'))
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('disconnected', self.on_disconnected)
        for ev in ('failed_all_auth', 'no_auth', 'connection_failed', 'ssl_invalid_chain'):
            self.add_event_handler(ev, lambda e, ev=ev: self.finish(ev))

    def count(self, key):
        self.result[key] += 1

    def on_enabled(self, stanza):
        self.result['sm_id'] = stanza['id']

    async def on_start(self, _e):
        self.result['starts'] += 1
        self.send_message(mto=self.sender, mbody='ready', mtype='chat')

    def on_resumed(self, stanza):
        self.result['resumed'] += 1
        self.result['resumed_h'] = int(stanza['h'])
        self.send_message(mto=self.sender, mbody='resumed', mtype='chat')

    def on_message(self, msg):
        if msg['type'] != 'chat':
            return
        body = msg['body']
        if body == 'END':
            self.result['ok'] = True
            self.finish(None)
            return
        self.result['bodies'].append(body)
        if not self.killed and len(self.result['bodies']) >= self.kill_after:
            self.killed = True
            self.result['handled_at_kill'] = self['xep_0198'].handled
            # A connection that dies: no </stream:stream>, nothing more written or read.
            self.transport.abort()

    def on_disconnected(self, _e):
        if self.killed and not self.done.done() and self.result['resumed'] == 0:
            self.connect(ADDRESS, force_starttls=True)

    def finish(self, error):
        if self.done.done():
            return
        if error and not self.result['ok']:
            self.result['error'] = error
        self.done.set_result(None)

async def main():
    c = Recipient()
    c.ca_certs = env['XMPP_CA']
    c.connect(ADDRESS, force_starttls=True)
    try:
        await asyncio.wait_for(c.done, float(env.get('XMPP_TIMEOUT', '20')))
    except asyncio.TimeoutError:
        c.result['error'] = c.result['error'] or 'timeout'
    print(json.dumps(c.result), flush=True)
    c.disconnect(wait=1.0)
    try:
        await asyncio.wait_for(c.disconnected, 2)
    except Exception:
        pass

asyncio.run(main())
`;

interface SlixResult {
  ok: boolean;
  error: string | null;
  bodies: string[];
  sm_id: string | null;
  resumed: number;
  starts: number;
  handled_at_kill: number | null;
  resumed_h: number | null;
  sm_failed: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('stream management through client libraries: slixmpp recipient, xmpp.js sender', () => {
  let ts: TestServer;
  const open: ConnectedClient[] = [];

  before(async () => {
    await assertSlixmppInstalled();
    // Every default module except mam and carbons (no extra copies to count); slixmpp 1.8
    // offers channel binding it cannot do on TLS 1.3 (see slixmpp.clients.test.ts).
    const modules = Object.fromEntries(Object.keys(DEFAULT_MODULES).filter((id) => id !== 'mam' && id !== 'carbons').map((id) => [id, {}]));
    ts = await startTestServer({ modules, auth: { channel_binding_downgrade: 'allow' } });
    trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
  });

  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.stop()));
    await ts?.stop();
  });

  test('a session killed mid-stream and resumed loses nothing; what was sent during the resumption arrives exactly once', async () => {
    const alice = await ts.addUser('alice');
    const bob = await ts.addUser('bob');
    const a = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: alice.local, password: alice.password, resource: 'desk' });
    open.push(a);
    const bobJid = `${bob.jid}/phone`;
    const recipient = run(PYTHON, ['-c', SLIX_RECIPIENT], {
      env: baseEnv({
        XMPP_HOST: '127.0.0.1',
        XMPP_PORT: String(ts.starttlsPort),
        XMPP_JID: bobJid,
        XMPP_PASSWORD: bob.password,
        XMPP_CA: `${ts.dataDir}/tls/localhost.crt`,
        XMPP_SENDER: a.jid,
        XMPP_KILL_AFTER: '25',
        XMPP_TIMEOUT: '30',
      }),
      timeoutMs: 45_000,
    });
    await a.nextMessage((m) => m.getChildText('body') === 'ready', 15_000);

    // Numbered messages every 10 ms until 40 more have gone out after slixmpp said it resumed.
    let sent = 0;
    let afterResume = -1;
    const resumedSeen = a.nextMessage((m) => m.getChildText('body') === 'resumed', 20_000).then(() => (afterResume = 0));
    resumedSeen.catch(() => undefined);
    const deadline = Date.now() + 20_000;
    while (afterResume < 40 && Date.now() < deadline) {
      sent++;
      await a.xmpp.send(xml('message', { to: bobJid, type: 'chat', id: `n${sent}` }, xml('body', {}, String(sent))));
      if (afterResume >= 0) afterResume++;
      await sleep(10);
    }
    await a.xmpp.send(xml('message', { to: bobJid, type: 'chat', id: 'end' }, xml('body', {}, 'END')));
    const r = await recipient;
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    let result: SlixResult;
    try {
      result = JSON.parse(line) as SlixResult;
    } catch {
      throw new Error(`the slixmpp recipient printed no JSON\n${describeRun(r)}`);
    }
    const why = `${JSON.stringify({ ...result, bodies: `${result.bodies.length} bodies` })}\n${describeRun(r)}`;
    assert.equal(result.ok, true, why);
    assert.equal(result.starts, 1, `one session, never a second bind: ${why}`);
    assert.equal(result.resumed, 1, why);
    assert.equal(result.sm_failed, 0, why);
    assert.ok(result.sm_id, why);
    // What the server handled from slixmpp before the kill: its 'ready' message, nothing else.
    assert.equal(result.resumed_h, 1, why);
    assert.equal(result.handled_at_kill, 25, why);
    assert.ok(afterResume >= 40, `the sender went on after the resumption (${afterResume})`);
    assert.ok(sent > 25 + 40, why);
    // Every number exactly once, in order: nothing lost with the killed connection, nothing doubled.
    assert.deepEqual(
      result.bodies,
      Array.from({ length: sent }, (_, i) => String(i + 1)),
      why,
    );
    assert.deepEqual(
      a.messages.filter((m) => m.attrs.type === 'error').map(String),
      [],
      'no message bounced',
    );
  });
});
