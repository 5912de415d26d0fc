// vCards (XEP-0054) and avatar hashes (XEP-0153) through client libraries others
// wrote: @xmpp/client (xmpp.js 0.14) and Debian's python3-slixmpp 1.8 with its
// xep_0054 plugin. Each library publishes a vCard with a photo and reads the
// other's; the avatar hash the server puts in presence is the SHA-1 of the bytes
// the library put in the photo.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';
import { PYTHON, assertSlixmppInstalled } from './clients/slixmpp.ts';
import { baseEnv, describeRun, run } from './clients/process.ts';

const PHOTO = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
const PHOTO_SHA1 = createHash('sha1').update(PHOTO).digest('hex');
const SLIX_PHOTO = Buffer.from('GIF89a slixmpp avatar bytes', 'latin1');

// slixmpp: publishes its own vCard (FN + PHOTO) with xep_0054, then reads
// XMPP_PEER's vCard; prints one JSON object.
const SLIX_VCARD = String.raw`
import asyncio, hashlib, json, os
import slixmpp
env = os.environ

class C(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__(env['XMPP_JID'], env['XMPP_PASSWORD'])
        self.register_plugin('xep_0054')
        self.result = {'ok': False, 'error': None}
        self.done = asyncio.get_running_loop().create_future()
        self.add_event_handler('session_start', self.on_start)
        for ev in ('failed_all_auth', 'no_auth', 'disconnected', 'connection_failed'):
            self.add_event_handler(ev, lambda e, ev=ev: self.finish(ev))

    async def on_start(self, _e):
        try:
            card = self['xep_0054'].make_vcard()
            card['FN'] = 'Slix Client'
            card['PHOTO']['TYPE'] = 'image/gif'
            card['PHOTO']['BINVAL'] = bytes.fromhex(env['XMPP_PHOTO_HEX'])
            await self['xep_0054'].publish_vcard(card)
            iq = await self['xep_0054'].get_vcard(slixmpp.JID(env['XMPP_PEER']), local=False)
            peer = iq['vcard_temp']
            self.result['peer_fn'] = peer['FN']
            self.result['peer_photo_sha1'] = hashlib.sha1(peer['PHOTO']['BINVAL']).hexdigest()
            try:
                await self['xep_0054'].get_vcard(slixmpp.JID(env['XMPP_NOBODY']), local=False)
                self.result['nobody'] = 'result'
            except slixmpp.exceptions.IqError as e:
                self.result['nobody'] = e.iq['error']['condition']
            self.result['ok'] = True
        except Exception as e:
            self.result['error'] = repr(e)
        self.finish(None)

    def finish(self, error):
        if self.done.done():
            return
        if error and not self.result['ok']:
            self.result['error'] = self.result['error'] or error
        self.done.set_result(None)

async def main():
    c = C()
    c.ca_certs = env['XMPP_CA']
    c['feature_mechanisms'].use_mechs = {'SCRAM-SHA-256'}
    c.connect((env['XMPP_HOST'], int(env['XMPP_PORT'])), force_starttls=True)
    try:
        await asyncio.wait_for(c.done, 15)
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

/** An iq set for xmpp.js's iqCaller.request (its set() is not in the test type declarations). */
function iqSet(payload: ReturnType<typeof xml>) {
  return xml('iq', { type: 'set' }, payload);
}

describe('vCards through client libraries', () => {
  let ts: TestServer;
  const open: ConnectedClient[] = [];
  let alice: { jid: string; local: string; password: string };
  let bob: { jid: string; local: string; password: string };
  let slix: { jid: string; local: string; password: string };

  before(async () => {
    await assertSlixmppInstalled();
    ts = await startTestServer({ auth: { channel_binding_downgrade: 'allow' } });
    trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
    alice = await ts.addUser('alice');
    bob = await ts.addUser('bob');
    slix = await ts.addUser('slix');
  });
  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.stop()));
    await ts?.stop();
  });

  const login = async (u: { local: string; password: string }, resource: string) => {
    const c = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: u.local, password: u.password, resource });
    open.push(c);
    return c;
  };

  test('@xmpp/client: publish with a photo; the other resource sees the hash in presence; another account reads it', async () => {
    const phone = await login(alice, 'phone');
    const presences: ReturnType<typeof xml>[] = [];
    phone.xmpp.on('stanza', (st) => {
      if (st.name === 'presence') presences.push(st);
    });
    const desk = await login(alice, 'desk');
    await desk.xmpp.iqCaller.request(iqSet(
      xml('vCard', { xmlns: 'vcard-temp' }, xml('FN', {}, 'Alice from xmpp.js'), xml('PHOTO', {}, xml('TYPE', {}, 'image/png'), xml('BINVAL', {}, PHOTO.toString('base64')))),
    ));
    // The server re-sends desk's presence (and phone's) with the new hash.
    const deadline = Date.now() + 3000;
    const hashFromDesk = () =>
      presences
        .filter((p) => p.attrs.from === desk.jid)
        .map((p) => p.getChild('x', 'vcard-temp:x:update')?.getChildText('photo'))
        .find(Boolean);
    while (!hashFromDesk() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(hashFromDesk(), PHOTO_SHA1, presences.map(String).join('\n'));

    const b = await login(bob, 'reader');
    const card = await b.xmpp.iqCaller.get(xml('vCard', { xmlns: 'vcard-temp' }), alice.jid);
    assert.equal(card.getChildText('FN'), 'Alice from xmpp.js');
    assert.deepEqual(Buffer.from(card.getChild('PHOTO')!.getChildText('BINVAL')!, 'base64'), PHOTO);
  });

  test('@xmpp/client: an oversized vCard is refused with not-acceptable and the limit in the text', async () => {
    const b = await login(bob, 'big');
    await assert.rejects(b.xmpp.iqCaller.request(iqSet(xml('vCard', { xmlns: 'vcard-temp' }, xml('DESC', {}, 'x'.repeat(70_000))))), (err: Error & { condition?: string; text?: string }) => {
      assert.equal(err.condition, 'not-acceptable');
      assert.match(err.text ?? '', /up to 65536 bytes/);
      return true;
    });
    const own = await b.xmpp.iqCaller.get(xml('vCard', { xmlns: 'vcard-temp' }));
    assert.equal(own.children.length, 0, 'nothing stored');
  });

  test("slixmpp (xep_0054): publishes its vCard with a photo, reads alice's; xmpp.js reads slixmpp's", async () => {
    const r = await run(PYTHON, ['-c', SLIX_VCARD], {
      env: baseEnv({
        XMPP_HOST: '127.0.0.1',
        XMPP_PORT: String(ts.starttlsPort),
        XMPP_JID: `${slix.jid}/py`,
        XMPP_PASSWORD: slix.password,
        XMPP_CA: `${ts.dataDir}/tls/localhost.crt`,
        XMPP_PEER: alice.jid,
        XMPP_NOBODY: `nobody@${ts.domain}`,
        XMPP_PHOTO_HEX: SLIX_PHOTO.toString('hex'),
      }),
      timeoutMs: 25_000,
    });
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    let result: { ok: boolean; error: string | null; peer_fn?: string; peer_photo_sha1?: string; nobody?: string };
    try {
      result = JSON.parse(line) as typeof result;
    } catch {
      throw new Error(`slixmpp printed no JSON\n${describeRun(r)}`);
    }
    const why = `${JSON.stringify(result)}\n${describeRun(r)}`;
    assert.equal(result.ok, true, why);
    assert.equal(result.peer_fn, 'Alice from xmpp.js', why);
    assert.equal(result.peer_photo_sha1, PHOTO_SHA1, why);
    assert.equal(result.nobody, 'service-unavailable', why);

    const b = await login(bob, 'reader2');
    const card = await b.xmpp.iqCaller.get(xml('vCard', { xmlns: 'vcard-temp' }), slix.jid);
    assert.equal(card.getChildText('FN'), 'Slix Client');
    const bytes = Buffer.from(card.getChild('PHOTO')!.getChildText('BINVAL')!.replace(/\s+/g, ''), 'base64');
    assert.deepEqual(bytes, SLIX_PHOTO);
    const row = (await ts.server.storage.db
      .selectFrom('vcards' as never)
      .selectAll()
      .where('localpart' as never, '=', 'slix' as never)
      .executeTakeFirst()) as { photo_hash: string } | undefined;
    assert.equal(row?.photo_hash, createHash('sha1').update(SLIX_PHOTO).digest('hex'));
  });
});
