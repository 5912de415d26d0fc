// Must show: offline messages (XEP-0160) survive a server restart and reach a
// recipient that logs in afterwards, with an XEP-0203 delay stamp, through two
// client libraries others wrote: @xmpp/client (xmpp.js 0.14) and Debian's
// python3-slixmpp 1.8 (with its xep_0203 plugin parsing the stamp).
//
// alice (xmpp.js) sends while the recipients are offline; a ping round trip
// after the messages proves they were handled (one stream's stanzas are handled
// in order, and a stored message is written before its handling ends). The
// server is then stopped and a new one started on the same data folder.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { Server } from '../../src/core/server.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';
import { PYTHON, assertSlixmppInstalled } from './clients/slixmpp.ts';
import { baseEnv, describeRun, run } from './clients/process.ts';

// A slixmpp recipient: logs in, sends initial presence, prints each message it
// receives (with xep_0203's parse of the stamp) and exits after `XMPP_EXPECT`
// messages or the timeout. One JSON object on stdout.
const SLIX_RECIPIENT = String.raw`
import asyncio, json, os, sys
import slixmpp
env = os.environ

class Recipient(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(env['XMPP_JID'], env['XMPP_PASSWORD'])
        self.register_plugin('xep_0203')
        self.expect = int(env['XMPP_EXPECT'])
        self.result = {'ok': False, 'error': None, 'messages': []}
        self.done = asyncio.get_running_loop().create_future()
        self.add_event_handler('session_start', self.on_start)
        self.add_event_handler('message', self.on_message)
        for ev in ('failed_all_auth', 'no_auth', 'disconnected', 'connection_failed', 'ssl_invalid_chain'):
            self.add_event_handler(ev, lambda e, ev=ev: self.finish(ev))

    async def on_start(self, _e):
        self.send_presence()

    def on_message(self, msg):
        delay = msg['delay']
        has_delay = msg.xml.find('{urn:xmpp:delay}delay') is not None
        stamp = delay['stamp'] if has_delay else None
        self.result['messages'].append({
            'id': msg['id'], 'from': str(msg['from']), 'type': msg['type'], 'body': msg['body'],
            'delay_from': str(delay['from']) if has_delay else None,
            'delay_stamp_raw': delay.xml.attrib.get('stamp') if has_delay else None,
            'delay_stamp_utc': stamp.isoformat() if stamp else None,
        })
        if len(self.result['messages']) >= self.expect:
            self.result['ok'] = True
            self.finish(None)

    def finish(self, error):
        if self.done.done():
            return
        if error and not self.result['ok']:
            self.result['error'] = error
        self.done.set_result(None)

async def main():
    c = Recipient()
    c.ca_certs = env['XMPP_CA']
    c['feature_mechanisms'].use_mechs = {'SCRAM-SHA-256'}
    c.connect((env['XMPP_HOST'], int(env['XMPP_PORT'])), force_starttls=True)
    try:
        await asyncio.wait_for(c.done, float(env.get('XMPP_TIMEOUT', '15')))
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

interface SlixMessage {
  id: string;
  from: string;
  type: string;
  body: string;
  delay_from: string | null;
  delay_stamp_raw: string | null;
  delay_stamp_utc: string | null;
}

describe('offline messages across a restart, through client libraries', () => {
  let ts: TestServer;
  let restarted: Server | undefined;
  const open: ConnectedClient[] = [];
  let alice: { jid: string; local: string; password: string };
  let bobJs: { jid: string; local: string; password: string };
  let bobSlix: { jid: string; local: string; password: string };
  let sentAt: number;
  /** alice's full JID as bound (Bind 2 makes it `desk/<id>`), the `from` of what she sent. */
  let aliceFull: string;

  before(async () => {
    await assertSlixmppInstalled();
    // slixmpp 1.8 offers channel binding it cannot do on TLS 1.3 (see slixmpp.clients.test.ts).
    ts = await startTestServer({ auth: { channel_binding_downgrade: 'allow' } });
    trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
    alice = await ts.addUser('alice');
    bobJs = await ts.addUser('bobjs');
    bobSlix = await ts.addUser('bobslix');

    const a = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: alice.local, password: alice.password, resource: 'desk' });
    aliceFull = a.jid;
    sentAt = Date.now();
    for (const [to, n] of [
      [bobJs.jid, 3],
      [bobSlix.jid, 3],
    ] as const) {
      for (let i = 1; i <= n; i++) await a.xmpp.send(xml('message', { to, type: 'chat', id: `${to}-${i}` }, xml('body', {}, `offline ${i} — ✓`)));
    }
    // Handled in order: when this answer arrives, every message above is stored.
    await a.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), ts.domain);
    assert.deepEqual(
      a.messages.filter((m) => m.attrs.type === 'error'),
      [],
      'no message bounced',
    );
    await a.stop();

    await ts.server.stop();
    restarted = new Server(ts.server.loaded);
    await restarted.start();
  });

  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.stop()));
    await restarted?.stop();
    await ts?.server.stop();
    if (ts) rmSync(ts.dataDir, { recursive: true, force: true });
  });

  test('@xmpp/client: the recipient logs in after the restart and gets them in order, each with a delay stamp', async () => {
    const b = await connect({
      service: `xmpp://127.0.0.1:${restarted!.addresses.c2s!.port}`,
      domain: ts.domain,
      username: bobJs.local,
      password: bobJs.password,
      resource: 'phone',
    });
    open.push(b);
    for (let i = 1; i <= 3; i++) await b.nextMessage((m) => m.attrs.id === `${bobJs.jid}-${i}`);
    const got = b.messages.filter((m) => m.attrs.type === 'chat');
    assert.deepEqual(
      got.map((m) => m.attrs.id),
      [1, 2, 3].map((i) => `${bobJs.jid}-${i}`),
    );
    for (const [i, m] of got.entries()) {
      assert.equal(m.attrs.from, aliceFull);
      assert.equal(m.getChildText('body'), `offline ${i + 1} — ✓`);
      const delay = m.getChild('delay', 'urn:xmpp:delay');
      assert.ok(delay, m.toString());
      assert.equal(delay.attrs.from, ts.domain);
      const stamp = Date.parse(delay.attrs.stamp!);
      assert.ok(stamp >= sentAt - 1000 && stamp < Date.now(), delay.attrs.stamp);
    }
  });

  test('slixmpp: the recipient logs in after the restart and gets them in order; xep_0203 parses each stamp', async () => {
    const r = await run(PYTHON, ['-c', SLIX_RECIPIENT], {
      env: baseEnv({
        XMPP_HOST: '127.0.0.1',
        XMPP_PORT: String(restarted!.addresses.c2s!.port),
        XMPP_JID: `${bobSlix.jid}/slix`,
        XMPP_PASSWORD: bobSlix.password,
        XMPP_CA: `${ts.dataDir}/tls/localhost.crt`,
        XMPP_EXPECT: '3',
        XMPP_TIMEOUT: '15',
      }),
      timeoutMs: 25_000,
    });
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    let result: { ok: boolean; error: string | null; messages: SlixMessage[] };
    try {
      result = JSON.parse(line) as typeof result;
    } catch {
      throw new Error(`the slixmpp recipient printed no JSON\n${describeRun(r)}`);
    }
    const why = `${JSON.stringify(result)}\n${describeRun(r)}`;
    assert.equal(result.ok, true, why);
    assert.deepEqual(
      result.messages.map((m) => [m.id, m.from, m.type, m.body, m.delay_from]),
      [1, 2, 3].map((i) => [`${bobSlix.jid}-${i}`, aliceFull, 'chat', `offline ${i} — ✓`, ts.domain]),
      why,
    );
    for (const m of result.messages) {
      // slixmpp's datetime (UTC) is the same instant as the stamp the server wrote.
      assert.equal(Date.parse(m.delay_stamp_utc!), Date.parse(m.delay_stamp_raw!), why);
      assert.ok(Date.parse(m.delay_stamp_raw!) >= sentAt - 1000, why);
    }
  });
});
