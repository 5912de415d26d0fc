// Must show, through client libraries others wrote: (a) bookmarks a slixmpp
// client stores the XEP-0048 way (private storage) are XEP-0402 items to an
// @xmpp/client client, and what that client changes in XEP-0402 is what
// slixmpp reads back, through private storage and through PEP (XEP-0223);
// (b) an avatar slixmpp publishes with XEP-0084 becomes the vCard photo an
// @xmpp/client contact reads, with its hash in the presence the contact gets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { XmlElement } from '@xmpp/client';
import { DEFAULT_MODULES } from '../../src/config/schema/modules.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';
import { assertSlixmppInstalled, PYTHON } from './clients/slixmpp.ts';
import { baseEnv, describeRun, run } from './clients/process.ts';

const SLIX_SCRIPT = fileURLToPath(new URL('./bookmarks-avatar-slixmpp.py', import.meta.url));

interface Conference {
  jid: string;
  name: string;
  autojoin: boolean;
  nick: string;
}

interface SlixRun {
  ok: boolean;
  error: string | null;
  private?: Conference[];
  pep?: Conference[];
  pep_item_ids?: string[];
  avatar_id?: string;
}

let ts: TestServer;
const clients: ConnectedClient[] = [];

before(async () => {
  await assertSlixmppInstalled();
  // slixmpp 1.8 can't do SCRAM-*-PLUS on TLS 1.3 (see slixmpp.clients.test.ts).
  ts = await startTestServer({ auth: { channel_bindings: [] }, modules: Object.fromEntries(Object.keys(DEFAULT_MODULES).map((m) => [m, {}])) });
  trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
});
after(async () => {
  await Promise.all(clients.splice(0).map((c) => c.stop()));
  await ts?.stop();
});

async function login(user: { local: string; password: string }, resource: string): Promise<ConnectedClient> {
  const c = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: user.local, password: user.password, resource });
  clients.push(c);
  return c;
}

async function slix(user: { jid: string; password: string }, mode: string, extra: Record<string, string> = {}): Promise<SlixRun> {
  const r = await run(PYTHON, [SLIX_SCRIPT], {
    env: baseEnv({
      XMPP_HOST: '127.0.0.1',
      XMPP_PORT: String(ts.starttlsPort),
      XMPP_JID: `${user.jid}/slixmpp`,
      XMPP_PASSWORD: user.password,
      XMPP_CA: `${ts.dataDir}/tls/localhost.crt`,
      XMPP_MODE: mode,
      XMPP_TIMEOUT: '20',
      SLIX_DEBUG: process.env.SLIX_DEBUG,
      ...extra,
    }),
    timeoutMs: 30_000,
  });
  const why = describeRun(r);
  let result: SlixRun;
  try {
    result = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as SlixRun;
  } catch {
    throw new Error(`bookmarks-avatar-slixmpp.py printed no JSON result\n${why}`);
  }
  assert.ok(result.ok, why);
  return result;
}

const bookmarkItems = async (c: ConnectedClient): Promise<string[]> => {
  const r = await c.xmpp.iqCaller.request(xml('iq', { type: 'get' }, xml('pubsub', { xmlns: NS.pubsub }, xml('items', { node: NS.bookmarks }))));
  return r
    .getChild('pubsub', NS.pubsub)!
    .getChild('items')!
    .getChildren('item')
    .map((i: XmlElement) => {
      const c = i.getChild('conference', NS.bookmarks)!;
      return `${i.attrs.id} ${c.attrs.name} ${c.attrs.autojoin ?? 'false'} ${c.getChildText('nick') ?? '-'}`;
    });
};

describe('bookmarks and avatars with slixmpp and @xmpp/client', () => {
  test('(a) XEP-0048 bookmarks stored by slixmpp are XEP-0402 items for xmpp.js, and the other way round', async () => {
    const alice = await ts.addUser('alice');
    const rooms: Conference[] = [
      { jid: 'team@conference.localhost', name: 'Team', autojoin: true, nick: 'Al' },
      { jid: 'ops@conference.localhost', name: 'Ops', autojoin: false, nick: 'A' },
    ];
    await slix(alice, 'store-bookmarks', { XMPP_BOOKMARKS: JSON.stringify(rooms) });

    const js = await login(alice, 'js');
    assert.deepEqual(await bookmarkItems(js), ['team@conference.localhost Team true Al', 'ops@conference.localhost Ops false A']);

    // xmpp.js: a new room with XEP-0402's publish-options, and 'ops' retracted.
    const options = xml(
      'publish-options',
      {},
      xml(
        'x',
        { xmlns: NS.dataForms, type: 'submit' },
        xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, NS.pubsubPublishOptions)),
        ...Object.entries({ 'pubsub#persist_items': 'true', 'pubsub#max_items': 'max', 'pubsub#send_last_published_item': 'never', 'pubsub#access_model': 'whitelist' }).map(([k, v]) =>
          xml('field', { var: k }, xml('value', {}, v)),
        ),
      ),
    );
    const conference = xml('conference', { xmlns: NS.bookmarks, name: 'Lounge', autojoin: 'true' }, xml('nick', {}, 'Alice'));
    await js.xmpp.iqCaller.request(xml('iq', { type: 'set' }, xml('pubsub', { xmlns: NS.pubsub }, xml('publish', { node: NS.bookmarks }, xml('item', { id: 'lounge@conference.localhost' }, conference)), options)));
    await js.xmpp.iqCaller.request(
      xml('iq', { type: 'set' }, xml('pubsub', { xmlns: NS.pubsub }, xml('retract', { node: NS.bookmarks, notify: 'true' }, xml('item', { id: 'ops@conference.localhost' })))),
    );

    const back = await slix(alice, 'read-bookmarks');
    const expected = [rooms[0]!, { jid: 'lounge@conference.localhost', name: 'Lounge', autojoin: true, nick: 'Alice' }];
    assert.deepEqual(back.private, expected);
    assert.deepEqual(back.pep, expected);
    assert.deepEqual(back.pep_item_ids, ['current']);
  });

  test('(b) an XEP-0084 avatar published by slixmpp: the contact sees the XEP-0153 hash in presence and the vCard photo', async () => {
    const [carol, bob] = await Promise.all([ts.addUser('carol'), ts.addUser('bob')]);
    // Carol (xmpp.js, online while slixmpp publishes for her) and bob subscribed to her presence.
    const carolJs = await login(carol, 'js');
    carolJs.xmpp.on('stanza', (st: XmlElement) => {
      if (st.name === 'presence' && st.attrs.type === 'subscribe') void carolJs.xmpp.send(xml('presence', { to: st.attrs.from, type: 'subscribed' }));
    });
    const bobJs = await login(bob, 'js');
    const presences: XmlElement[] = [];
    bobJs.xmpp.on('stanza', (st: XmlElement) => {
      if (st.name === 'presence' && st.attrs.from?.startsWith(`carol@${ts.domain}/`)) presences.push(st);
    });
    const subscribed = new Promise<void>((resolve) => bobJs.xmpp.on('stanza', (st: XmlElement) => st.name === 'presence' && st.attrs.type === 'subscribed' && resolve()));
    await bobJs.xmpp.send(xml('presence', { to: `carol@${ts.domain}`, type: 'subscribe' }));
    await subscribed;

    const image = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(4000)]);
    const hash = createHash('sha1').update(image).digest('hex');
    const published = await slix(carol, 'publish-avatar', { XMPP_AVATAR: image.toString('base64') });
    assert.equal(published.avatar_id, hash);

    // Carol's xmpp.js session is online: its presence goes out again with the new hash.
    const deadline = Date.now() + 5000;
    const hashOf = (p: XmlElement) => p.getChild('x', NS.vcardUpdate)?.getChildText('photo');
    while (!presences.some((p) => hashOf(p) === hash) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(
      presences.some((p) => hashOf(p) === hash && p.attrs.from === carolJs.jid),
      `presences bob got: ${presences.map(String).join(' ')}`,
    );

    const vcard = await bobJs.xmpp.iqCaller.request(xml('iq', { type: 'get', to: `carol@${ts.domain}` }, xml('vCard', { xmlns: NS.vcard })));
    const photo = vcard.getChild('vCard', NS.vcard)!.getChild('PHOTO')!;
    assert.equal(photo.getChildText('TYPE'), 'image/png');
    assert.equal(photo.getChildText('BINVAL'), image.toString('base64'));
  });
});
