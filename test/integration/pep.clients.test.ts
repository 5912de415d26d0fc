// Must show: PEP (XEP-0163) as OMEMO (XEP-0384, both namespaces), bookmarks
// (XEP-0402) and personal data use it, through client libraries others wrote.
// Alice publishes with @xmpp/client (xmpp.js 0.14): device lists and bundles
// with publish-options access_model=open, a presence-access node, a whitelist
// node. Bob (a contact) and Dave (a stranger) run slixmpp 1.8 (Debian's
// python3-slixmpp), whose xep_0115 computes their caps and xep_0163 adds
// '+notify': Bob reads what contacts may and gets the last items and the live
// notifications, Dave reads only the open nodes and gets no notification; Carol
// (a contact, xmpp.js, no '+notify') gets none either. Negative checks end with
// a marker that does arrive. Slixmpp also publishes with publish-options.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { XmlElement } from '@xmpp/client';
import { DEFAULT_MODULES } from '../../src/config/schema/modules.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';
import { assertSlixmppInstalled, PYTHON } from './clients/slixmpp.ts';
import { baseEnv, describeRun, run } from './clients/process.ts';

const SLIX_SCRIPT = fileURLToPath(new URL('./pep-slixmpp.py', import.meta.url));
const OMEMO = 'urn:xmpp:omemo:2';
const DEVICES = 'urn:xmpp:omemo:2:devices';
const BUNDLES = 'urn:xmpp:omemo:2:bundles';
const LEGACY = 'eu.siacs.conversations.axolotl';
const LEGACY_DEVICES = `${LEGACY}.devicelist`;
const LEGACY_BUNDLE = `${LEGACY}.bundles:1`;
const GEOLOC = 'http://jabber.org/protocol/geoloc';
const BOOKMARKS = 'urn:xmpp:bookmarks:1';

interface SlixPep {
  ok: boolean;
  error: string | null;
  caps_ver?: string;
  reads: Record<string, { ids?: string[]; error?: string; app?: string | null }>;
  events: { kind: string; from: string; node: string; ids: string[]; payloads: number[]; delayed: boolean }[];
  publish?: string;
}

let ts: TestServer;
const open: ConnectedClient[] = [];

before(async () => {
  await assertSlixmppInstalled();
  // slixmpp 1.8 can't do SCRAM-*-PLUS on TLS 1.3 (see slixmpp.clients.test.ts).
  const modules = { ...Object.fromEntries(Object.keys(DEFAULT_MODULES).map((m) => [m, {}])), pep: { max_payload_bytes: 4096 } };
  ts = await startTestServer({ auth: { channel_bindings: [] }, modules });
  trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
});
after(async () => {
  await Promise.all(open.splice(0).map((c) => c.stop()));
  await ts?.stop();
});

async function login(user: { local: string; password: string }, resource: string): Promise<ConnectedClient> {
  const c = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: user.local, password: user.password, resource });
  open.push(c);
  return c;
}

function publishOptions(fields: Record<string, string>): XmlElement {
  return xml(
    'publish-options',
    {},
    xml(
      'x',
      { xmlns: NS.dataForms, type: 'submit' },
      xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, NS.pubsubPublishOptions)),
      ...Object.entries(fields).map(([k, v]) => xml('field', { var: k }, xml('value', {}, v))),
    ),
  );
}

function publish(c: ConnectedClient, node: string, item: XmlElement, options?: Record<string, string>): Promise<XmlElement> {
  const pubsub = xml('pubsub', { xmlns: NS.pubsub }, xml('publish', { node }, item));
  if (options) pubsub.children.push(publishOptions(options));
  return c.xmpp.iqCaller.request(xml('iq', { type: 'set' }, pubsub));
}

function items(c: ConnectedClient, owner: string, node: string): Promise<XmlElement> {
  return c.xmpp.iqCaller.request(xml('iq', { type: 'get', to: owner }, xml('pubsub', { xmlns: NS.pubsub }, xml('items', { node }))));
}

/** The condition and pubsub#errors condition of a refused request. */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = err as Error & { condition?: string; application?: XmlElement };
    return e.application ? `${e.condition}+${e.application.name}` : (e.condition ?? String(err));
  }
  return 'no error';
}

const devices = (...ids: number[]) => xml('devices', { xmlns: OMEMO }, ...ids.map((id) => xml('device', { id: String(id) })));

/** `c` subscribes to alice's presence and alice (xmpp.js) approves. */
async function subscribeTo(alice: ConnectedClient, c: ConnectedClient): Promise<void> {
  const aliceBare = alice.jid.split('/')[0]!;
  const approved = new Promise<void>((resolve) => {
    c.xmpp.on('stanza', (st: XmlElement) => {
      if (st.name === 'presence' && st.attrs.type === 'subscribed' && st.attrs.from === aliceBare) resolve();
    });
  });
  await c.xmpp.send(xml('presence', { to: aliceBare, type: 'subscribe' }));
  await approved;
}

function runDriver(user: { jid: string; password: string }, env: { notify: string[]; read: string[]; publish?: string }): Promise<{ result: SlixPep; why: string }> {
  return run(PYTHON, [SLIX_SCRIPT], {
    env: baseEnv({
      XMPP_HOST: '127.0.0.1',
      XMPP_PORT: String(ts.starttlsPort),
      XMPP_JID: `${user.jid}/slixmpp`,
      XMPP_PASSWORD: user.password,
      XMPP_CA: `${ts.dataDir}/tls/localhost.crt`,
      XMPP_OWNER: `alice@${ts.domain}`,
      XMPP_NOTIFY: JSON.stringify(env.notify),
      XMPP_READ: JSON.stringify(env.read),
      XMPP_PUBLISH: env.publish ?? '',
      XMPP_TIMEOUT: '25',
      SLIX_DEBUG: process.env.SLIX_DEBUG,
    }),
    timeoutMs: 40_000,
  }).then((r) => {
    const why = describeRun(r);
    try {
      return { result: JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as SlixPep, why };
    } catch {
      throw new Error(`pep-slixmpp.py printed no JSON result\n${why}`);
    }
  });
}

describe('PEP with @xmpp/client and slixmpp', () => {
  test('OMEMO device lists and bundles, presence and whitelist nodes: reads, last items and notifications by access and +notify', async () => {
    const [aliceU, bobU, carolU, daveU] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => ts.addUser(n)));
    const alice = await login(aliceU!, 'js');
    alice.xmpp.on('stanza', (st: XmlElement) => {
      if (st.name === 'presence' && st.attrs.type === 'subscribe') void alice.xmpp.send(xml('presence', { to: st.attrs.from, type: 'subscribed' }));
    });
    const bobSetup = await login(bobU!, 'setup');
    await subscribeTo(alice, bobSetup);
    await bobSetup.stop();
    const carol = await login(carolU!, 'js');
    await subscribeTo(alice, carol);

    const open = { 'pubsub#access_model': 'open' };
    await publish(alice, DEVICES, xml('item', { id: 'current' }, devices(1, 2)), open);
    await publish(alice, LEGACY_DEVICES, xml('item', { id: 'current' }, xml('list', { xmlns: LEGACY }, xml('device', { id: '1' }))), open);
    const bundle = xml('bundle', { xmlns: LEGACY }, xml('signedPreKeyPublic', { signedPreKeyId: '1' }, 'BQ=='), xml('identityKey', {}, 'BR=='));
    await publish(alice, LEGACY_BUNDLE, xml('item', { id: 'current' }, bundle), open);
    for (const id of ['1', '2']) await publish(alice, BUNDLES, xml('item', { id }, xml('bundle', { xmlns: OMEMO }, xml('spk', { id }, 'c3Br'))), { ...open, 'pubsub#max_items': 'max' });
    await publish(alice, GEOLOC, xml('item', { id: 'here' }, xml('geoloc', { xmlns: GEOLOC }, xml('locality', {}, 'Paris'))));
    const bookmarks = { 'pubsub#persist_items': 'true', 'pubsub#max_items': 'max', 'pubsub#send_last_published_item': 'never', 'pubsub#access_model': 'whitelist' };
    await publish(alice, BOOKMARKS, xml('item', { id: 'team@muc.example' }, xml('conference', { xmlns: BOOKMARKS, name: 'Team', autojoin: 'true' })), bookmarks);

    // Refused: an item over max_payload_bytes (nothing stored), and options the node doesn't have.
    const big = xml('item', { id: 'current' }, xml('devices', { xmlns: OMEMO }, xml('device', { id: '1', label: 'x'.repeat(5000) })));
    assert.equal(await refusal(publish(alice, DEVICES, big)), 'not-acceptable+payload-too-big');
    assert.equal(await refusal(publish(alice, BOOKMARKS, xml('item', { id: 'x' }, xml('conference', { xmlns: BOOKMARKS })), open)), 'conflict+precondition-not-met');
    const own = await items(alice, `alice@${ts.domain}`, DEVICES);
    assert.equal(own.getChild('pubsub', NS.pubsub)!.getChild('items')!.getChild('item')!.getChild('devices', OMEMO)!.getChildren('device').length, 2);
    assert.deepEqual(
      (await items(alice, `alice@${ts.domain}`, BOOKMARKS)).getChild('pubsub', NS.pubsub)!.getChild('items')!.getChildren('item').map((i) => i.attrs.id),
      ['team@muc.example'],
    );

    // Bob and Dave (slixmpp) read, say they are ready, and collect notifications until alice says done.
    const notify = [DEVICES, LEGACY_DEVICES, GEOLOC, BOOKMARKS];
    const read = [DEVICES, LEGACY_DEVICES, LEGACY_BUNDLE, BUNDLES, GEOLOC, BOOKMARKS];
    const bobRun = runDriver(bobU!, { notify, read, publish: DEVICES });
    const daveRun = runDriver(daveU!, { notify, read });
    const ready = (who: string) => alice.nextMessage((m) => m.attrs.from?.startsWith(`${who}@`) === true && m.getChildText('body') === 'ready', 30_000);
    await Promise.all([ready('bob'), ready('dave')]);
    await publish(alice, DEVICES, xml('item', { id: 'current' }, devices(1, 2, 3)));
    await publish(alice, GEOLOC, xml('item', { id: 'there' }, xml('geoloc', { xmlns: GEOLOC }, xml('locality', {}, 'Lyon'))));
    for (const who of ['bob', 'dave', 'carol']) await alice.xmpp.send(xml('message', { to: `${who}@${ts.domain}`, type: 'chat' }, xml('body', {}, 'done')));
    const [bob, dave] = await Promise.all([bobRun, daveRun]);
    assert.ok(bob.result.ok, bob.why);
    assert.ok(dave.result.ok, dave.why);
    assert.match(bob.result.caps_ver ?? '', /^[A-Za-z0-9+/]{27}=$/, 'slixmpp sent sha-1 caps');

    assert.deepEqual(bob.result.reads, {
      [DEVICES]: { ids: ['current'] },
      [LEGACY_DEVICES]: { ids: ['current'] },
      [LEGACY_BUNDLE]: { ids: ['current'] },
      [BUNDLES]: { ids: ['1', '2'] },
      [GEOLOC]: { ids: ['here'] },
      [BOOKMARKS]: { error: 'not-allowed', app: 'closed-node' },
    });
    assert.deepEqual(dave.result.reads, {
      [DEVICES]: { ids: ['current'] },
      [LEGACY_DEVICES]: { ids: ['current'] },
      [LEGACY_BUNDLE]: { ids: ['current'] },
      [BUNDLES]: { ids: ['1', '2'] },
      [GEOLOC]: { error: 'not-authorized', app: 'presence-subscription-required' },
      [BOOKMARKS]: { error: 'not-allowed', app: 'closed-node' },
    });

    // Bob: the last item of each +notify node he may read (delayed), then the two live ones; never the whitelist node.
    const a = `alice@${ts.domain}`;
    const bobEvents = bob.result.events.filter((e) => e.from === a).map((e) => `${e.kind} ${e.from} ${e.node} ${e.ids.join(',')} ${e.delayed ? 'delayed' : 'live'}`);
    // His own device list too: live or as the last item, depending on whether his caps were known when he published.
    assert.ok(bob.result.events.some((e) => e.from === `bob@${ts.domain}` && e.node === DEVICES), bob.why);
    assert.deepEqual([...bobEvents].sort(), [
      `publish ${a} ${DEVICES} current delayed`,
      `publish ${a} ${DEVICES} current live`,
      `publish ${a} ${LEGACY_DEVICES} current delayed`,
      `publish ${a} ${GEOLOC} here delayed`,
      `publish ${a} ${GEOLOC} there live`,
    ].sort(), bob.why);
    assert.ok(bobEvents.indexOf(`publish ${a} ${DEVICES} current live`) > bobEvents.indexOf(`publish ${a} ${DEVICES} current delayed`));
    assert.deepEqual(bob.result.events.find((e) => e.node === DEVICES && !e.delayed)?.payloads, [1], 'the payload came with the notification');
    assert.deepEqual(dave.result.events, [], `the stranger was notified of nothing\n${dave.why}`);

    // Carol (a contact without +notify): the 'done' marker arrived, and no event before it.
    await carol.nextMessage((m) => m.getChildText('body') === 'done');
    assert.deepEqual(
      carol.messages.filter((m) => m.getChild('event', NS.pubsubEvent)),
      [],
    );

    // Slixmpp published with publish-options (access_model open): anyone reads Bob's device list, Carol included.
    assert.equal(bob.result.publish, 'current');
    const bobDevices = await items(carol, `bob@${ts.domain}`, DEVICES);
    const device = bobDevices.getChild('pubsub', NS.pubsub)!.getChild('items')!.getChild('item')!.getChild('devices', OMEMO)!.getChild('device')!;
    assert.deepEqual(device.attrs, { id: '4242', label: 'slixmpp' });
  });
});
