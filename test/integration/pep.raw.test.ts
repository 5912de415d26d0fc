// Personal eventing (XEP-0163) over raw sockets, exact stanzas: nodes created
// on publish with publish-options, access models enforced on reads, owner-only
// changes, limits, XEP-0060's errors, and notifications only to the sessions
// whose entity capabilities (XEP-0115) ask for them and who may read the node —
// each negative made real by a later marker that does arrive.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseElement } from '../../src/net/xml-stream.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { capsVer } from '../../src/modules/pep/caps.ts';
import { PUBSUB_FEATURES } from '../../src/modules/pep/index.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';

const P = `xmlns='${NS.pubsub}'`;
const OWNER = `xmlns='${NS.pubsubOwner}'`;
const DEVICES = 'urn:xmpp:omemo:2:devices';
const BUNDLES = 'urn:xmpp:omemo:2:bundles';
const CAPS_NODE = 'urn:palisade:test';
const MODULES = ['disco', 'ping', 'version', 'roster', 'presence', 'message', 'offline', 'vcard', 'private', 'blocking', 'last-activity', 'carbons', 'pep'];

function publishOptions(fields: Record<string, string>): string {
  let x = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS.pubsubPublishOptions}</value></field>`;
  for (const [k, v] of Object.entries(fields)) x += `<field var='${k}'><value>${v}</value></field>`;
  return `<publish-options>${x}</x></publish-options>`;
}

function publish(node: string, item: string, options = ''): string {
  return `<pubsub ${P}><publish node='${node}'>${item}</publish>${options}</pubsub>`;
}

const devices = (...ids: number[]) => `<devices xmlns='urn:xmpp:omemo:2'>${ids.map((id) => `<device id='${id}'/>`).join('')}</devices>`;

/** The error of a reply as condition + pubsub#errors condition. */
function pubsubErrorOf(r: Element): string {
  const err = r.getChild('error');
  const app = err?.elements.find((e) => e.ns === NS.pubsubErrors);
  return `${stanzaError(r).condition}${app ? `+${app.name}` : ''}`;
}

function itemIds(r: Element): string[] {
  return r.getChild('pubsub', NS.pubsub)!.getChild('items')!.getChildren('item').map((i) => i.attrs.id ?? '');
}

const isEvent = (node?: string) => (e: Element) =>
  e.name === 'message' && e.getChild('event', NS.pubsubEvent) !== undefined && (node === undefined || eventNode(e) === node);

function eventNode(m: Element): string | undefined {
  const content = m.getChild('event', NS.pubsubEvent)!.elements[0];
  return content?.attrs.node;
}

describe('PEP over raw sockets', () => {
  let ts: TestServer;
  const open: RawClient[] = [];
  const passwords = new Map<string, string>();

  const connect = async (name: string, resource: string): Promise<RawClient> => {
    if (!passwords.has(name)) passwords.set(name, (await ts.addUser(name)).password);
    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: name, password: passwords.get(name)!, resource });
    open.push(c);
    return c;
  };

  /**
   * Sends initial presence with caps for these features (none: no <c/>) and
   * answers the server's disco#info query when one comes (expectQuery).
   */
  const available = async (c: RawClient, features: string[] | undefined, expectQuery = true): Promise<void> => {
    if (features === undefined) {
      c.send('<presence/>');
    } else {
      const inner = `<identity category='client' type='pc' name='raw test'/>${features.map((f) => `<feature var='${f}'/>`).join('')}`;
      const ver = capsVer(parseElement(`<query xmlns='${NS.discoInfo}'>${inner}</query>`), 'sha-1')!;
      c.send(`<presence><c xmlns='${NS.caps}' hash='sha-1' node='${CAPS_NODE}' ver='${ver}'/></presence>`);
      if (expectQuery) {
        const q = await c.next((e) => e.name === 'iq' && e.attrs.type === 'get' && e.getChild('query', NS.discoInfo) !== undefined);
        assert.equal(q.attrs.from, ts.domain);
        assert.equal(q.getChild('query', NS.discoInfo)!.attrs.node, `${CAPS_NODE}#${ver}`);
        c.send(`<iq type='result' id='${q.attrs.id}' to='${ts.domain}'><query xmlns='${NS.discoInfo}' node='${CAPS_NODE}#${ver}'>${inner}</query></iq>`);
      }
    }
    await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid && e.attrs.type === undefined);
    await c.ping();
  };

  /** `from` subscribes to the presence of `to`, which approves: to's roster has from with 'from'. */
  const subscribe = async (from: RawClient, to: RawClient) => {
    const [f, t] = [from.jid!.split('/')[0]!, to.jid!.split('/')[0]!];
    from.send(`<presence to='${t}' type='subscribe'/>`);
    await to.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe' && e.attrs.from === f);
    to.send(`<presence to='${f}' type='subscribed'/>`);
    await from.next((e) => e.name === 'presence' && e.attrs.type === 'subscribed');
    await Promise.all([from.ping(), to.ping()]);
  };

  /** A chat message from → to, awaited at `to`: everything sent to `to` before it has arrived. */
  let markers = 0;
  const marker = async (from: RawClient, to: RawClient) => {
    const id = `marker-${++markers}`;
    from.send(`<message type='chat' to='${to.jid}' id='${id}'><body>marker</body></message>`);
    await to.next((e) => e.name === 'message' && e.attrs.id === id);
  };

  let alice: RawClient; // publisher, +notify for the devices node
  let alice2: RawClient; // alice's second resource, no caps
  let bob: RawClient; // subscribed to alice's presence, +notify for devices, bundles and the mood node
  let carol: RawClient; // subscribed to alice's presence, no +notify
  let dave: RawClient; // a stranger, +notify for devices

  before(async () => {
    ts = await startTestServer({
      auth: { channel_bindings: [] },
      modules: {
        ...Object.fromEntries(MODULES.map((m) => [m, {}])),
        pep: { max_payload_bytes: 2048, max_items_per_node: 5, max_nodes: 8 },
      },
    });
    alice = await connect('alice', 'phone');
    alice2 = await connect('alice', 'desk');
    bob = await connect('bob', 'laptop');
    carol = await connect('carol', 'pc');
    dave = await connect('dave', 'pc');
    await available(alice, [`${DEVICES}+notify`, NS.discoInfo]);
    await available(alice2, undefined);
    await available(bob, [`${DEVICES}+notify`, `${BUNDLES}+notify`, 'http://jabber.org/protocol/mood+notify', 'urn:xmpp:bookmarks:1+notify']);
    await available(carol, [NS.discoInfo]);
    await available(dave, [`${DEVICES}+notify`, `${BUNDLES}+notify`, 'http://jabber.org/protocol/mood+notify']);
    await subscribe(bob, alice);
    await subscribe(carol, alice);
    for (const c of [alice, alice2, bob, carol, dave]) c.inbox.length = 0;
  });
  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await ts?.stop();
  });

  test('disco: the account and the server advertise PEP; both have the pubsub/pep identity (XEP-0163 §6.1)', async () => {
    const account = await bob.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: 'alice@localhost' });
    const identities = account.getChild('query', NS.discoInfo)!.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`);
    assert.deepEqual(identities.sort(), ['account/registered', 'pubsub/pep']);
    const features = account.getChild('query', NS.discoInfo)!.getChildren('feature').map((f) => f.attrs.var);
    for (const f of ['publish', 'publish-options', 'access-presence', 'access-open', 'access-whitelist', 'auto-create', 'retrieve-items', 'last-published', 'multi-items']) {
      assert.ok(features.includes(`${NS.pubsub}#${f}`), f);
    }
    const host = await bob.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: ts.domain });
    const q = host.getChild('query', NS.discoInfo)!;
    assert.ok(q.getChildren('identity').some((i) => i.attrs.category === 'pubsub' && i.attrs.type === 'pep'));
    assert.ok(PUBSUB_FEATURES.every((f) => q.getChildren('feature').some((e) => e.attrs.var === f)));
  });

  test('OMEMO device list, access open: created on publish; read by the owner, a contact and a stranger; notified to +notify sessions only', async () => {
    const r = await alice.iq('set', publish(DEVICES, `<item id='current'>${devices(1, 2)}</item>`, publishOptions({ 'pubsub#access_model': 'open' })));
    assert.equal(r.attrs.type, 'result', r.toString());
    assert.equal(r.getChild('pubsub', NS.pubsub)!.getChild('publish')!.getChild('item')!.attrs.id, 'current');

    // Notified: alice's own +notify session and bob (contact, +notify). Not: alice2 (no caps), carol (no +notify), dave (stranger).
    for (const c of [alice, bob]) {
      const m = await c.next(isEvent(DEVICES));
      assert.equal(m.attrs.type, 'headline');
      assert.equal(m.attrs.from, 'alice@localhost');
      assert.equal(m.attrs.to, c.jid);
      const item = m.getChild('event', NS.pubsubEvent)!.getChild('items')!.getChild('item')!;
      assert.equal(item.attrs.id, 'current');
      assert.deepEqual(
        item.getChild('devices', 'urn:xmpp:omemo:2')!.getChildren('device').map((d) => d.attrs.id),
        ['1', '2'],
      );
    }
    for (const c of [alice2, carol, dave]) {
      await marker(alice, c);
      assert.deepEqual(c.inbox.filter(isEvent()), [], `${c.jid} got no notification`);
    }

    for (const c of [alice, bob, dave]) {
      const read = await c.iq('get', `<pubsub ${P}><items node='${DEVICES}'/></pubsub>`, { to: 'alice@localhost' });
      assert.equal(read.attrs.type, 'result', `${c.jid}: ${read.toString()}`);
      assert.deepEqual(itemIds(read), ['current']);
      assert.equal(read.getChild('pubsub', NS.pubsub)!.getChild('items')!.getChild('item')!.getChild('devices', 'urn:xmpp:omemo:2')!.elements.length, 2);
    }
    const config = await alice.iq('get', `<pubsub ${OWNER}><configure node='${DEVICES}'/></pubsub>`);
    const fields = Object.fromEntries(
      config.getChild('pubsub', NS.pubsubOwner)!.getChild('configure')!.getChild('x', NS.dataForms)!.getChildren('field').map((f) => [f.attrs.var, f.getChildText('value')]),
    );
    assert.deepEqual(fields, {
      FORM_TYPE: NS.pubsubNodeConfig,
      'pubsub#access_model': 'open',
      'pubsub#persist_items': 'true',
      'pubsub#max_items': '1',
      'pubsub#send_last_published_item': 'on_sub_and_presence',
    });
  });

  test('OMEMO bundles, multi-item with publish-options; a conflicting publish-options gets precondition-not-met and stores nothing', async () => {
    const opts = publishOptions({ 'pubsub#access_model': 'open', 'pubsub#max_items': 'max' });
    for (const id of ['1', '2']) {
      const r = await alice.iq('set', publish(BUNDLES, `<item id='${id}'><bundle xmlns='urn:xmpp:omemo:2'><spk id='${id}'>c3Br</spk></bundle></item>`, opts));
      assert.equal(r.attrs.type, 'result', r.toString());
      await bob.next(isEvent(BUNDLES));
    }
    const conflict = await alice.iq('set', publish(BUNDLES, `<item id='3'><bundle xmlns='urn:xmpp:omemo:2'/></item>`, publishOptions({ 'pubsub#access_model': 'whitelist' })));
    assert.equal(pubsubErrorOf(conflict), 'conflict+precondition-not-met');
    assert.equal(stanzaError(conflict).type, 'cancel');
    assert.match(stanzaError(conflict).text ?? '', /pubsub#access_model/);
    const read = await dave.iq('get', `<pubsub ${P}><items node='${BUNDLES}'/></pubsub>`, { to: 'alice@localhost' });
    assert.deepEqual(itemIds(read), ['1', '2'], 'item 3 was not stored');
    // Specific ids, and max_items: the newest.
    const one = await bob.iq('get', `<pubsub ${P}><items node='${BUNDLES}'><item id='2'/></items></pubsub>`, { to: 'alice@localhost' });
    assert.deepEqual(itemIds(one), ['2']);
    const newest = await bob.iq('get', `<pubsub ${P}><items node='${BUNDLES}' max_items='1'/></pubsub>`, { to: 'alice@localhost' });
    assert.deepEqual(itemIds(newest), ['2']);
    const missing = await bob.iq('get', `<pubsub ${P}><items node='${BUNDLES}'><item id='9'/></items></pubsub>`, { to: 'alice@localhost' });
    assert.equal(pubsubErrorOf(missing), 'item-not-found');
    // After the owner configures the node, the same options are met.
    const configure = `<pubsub ${OWNER}><configure node='${BUNDLES}'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS.pubsubNodeConfig}</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></configure></pubsub>`;
    assert.equal((await alice.iq('set', configure)).attrs.type, 'result');
    const again = await alice.iq('set', publish(BUNDLES, `<item id='3'><bundle xmlns='urn:xmpp:omemo:2'/></item>`, publishOptions({ 'pubsub#access_model': 'whitelist' })));
    assert.equal(again.attrs.type, 'result', again.toString());
    // Whitelist: bob (+notify, a contact) was not notified, and can't read it now.
    await marker(alice, bob);
    assert.deepEqual(bob.inbox.filter(isEvent(BUNDLES)), []);
    const closed = await bob.iq('get', `<pubsub ${P}><items node='${BUNDLES}'/></pubsub>`, { to: 'alice@localhost' });
    assert.equal(pubsubErrorOf(closed), 'not-allowed+closed-node');
    assert.deepEqual(itemIds(await alice.iq('get', `<pubsub ${P}><items node='${BUNDLES}'/></pubsub>`)), ['1', '2', '3']);
  });

  test("presence access (the default): contacts read, strangers get presence-subscription-required; an unknown node or account answers alike for all", async () => {
    const mood = 'http://jabber.org/protocol/mood';
    assert.equal((await alice.iq('set', publish(mood, `<item><mood xmlns='${mood}'><happy/></mood></item>`), { to: 'alice@localhost' })).attrs.type, 'result');
    const notified = await bob.next(isEvent(mood));
    const generated = notified.getChild('event', NS.pubsubEvent)!.getChild('items')!.getChild('item')!.attrs.id;
    assert.match(generated ?? '', /^[0-9a-f-]{36}$/, 'a server-generated id');
    await marker(alice, dave);
    assert.deepEqual(dave.inbox.filter(isEvent(mood)), [], 'the stranger is not notified');

    assert.deepEqual(itemIds(await carol.iq('get', `<pubsub ${P}><items node='${mood}'/></pubsub>`, { to: 'alice@localhost' })), [generated]);
    const stranger = await dave.iq('get', `<pubsub ${P}><items node='${mood}'/></pubsub>`, { to: 'alice@localhost' });
    assert.equal(pubsubErrorOf(stranger), 'not-authorized+presence-subscription-required');
    assert.equal(stanzaError(stranger).type, 'auth');
    assert.equal(pubsubErrorOf(await dave.iq('get', `<pubsub ${P}><items node='nope'/></pubsub>`, { to: 'alice@localhost' })), 'item-not-found');
    assert.equal(pubsubErrorOf(await dave.iq('get', `<pubsub ${P}><items node='${mood}'/></pubsub>`, { to: 'nobody@localhost' })), 'service-unavailable');
    // Alice is subscribed to no one: bob's nodes are closed to her even though she is in his roster.
    await bob.iq('set', publish(mood, `<item id='b'><mood xmlns='${mood}'><sad/></mood></item>`));
    assert.equal(pubsubErrorOf(await alice.iq('get', `<pubsub ${P}><items node='${mood}'/></pubsub>`, { to: 'bob@localhost' })), 'not-authorized+presence-subscription-required');
  });

  test('only the owner changes nodes: forbidden for others, whether or not the account exists; nothing changes', async () => {
    for (const to of ['alice@localhost', 'nobody@localhost']) {
      for (const [type, payload] of [
        ['set', publish(DEVICES, `<item id='current'>${devices(666)}</item>`)],
        ['set', `<pubsub ${P}><retract node='${DEVICES}'><item id='current'/></retract></pubsub>`],
        ['get', `<pubsub ${OWNER}><configure node='${DEVICES}'/></pubsub>`],
        ['get', `<pubsub ${P}><configure node='${DEVICES}'/></pubsub>`],
        ['set', `<pubsub ${OWNER}><delete node='${DEVICES}'/></pubsub>`],
        ['set', `<pubsub ${OWNER}><purge node='${DEVICES}'/></pubsub>`],
      ] as const) {
        const r = await dave.iq(type, payload, { to });
        assert.equal(pubsubErrorOf(r), 'forbidden', `${to} ${payload}`);
      }
    }
    const read = await dave.iq('get', `<pubsub ${P}><items node='${DEVICES}'/></pubsub>`, { to: 'alice@localhost' });
    assert.equal(read.getChild('pubsub', NS.pubsub)!.getChild('items')!.getChild('item')!.getChild('devices', 'urn:xmpp:omemo:2')!.elements.length, 2);
  });

  test('bad requests get XEP-0060 errors with a text', async () => {
    const cases: [string, string, string][] = [
      ['set', `<pubsub ${P}><publish><item>${devices(1)}</item></publish></pubsub>`, 'bad-request+nodeid-required'],
      ['set', `<pubsub ${P}><publish node='x'/></pubsub>`, 'bad-request+item-required'],
      ['set', `<pubsub ${P}><publish node='x'><item/></publish></pubsub>`, 'bad-request+payload-required'],
      ['set', `<pubsub ${P}><publish node='x'><item><a xmlns='urn:a'/><b xmlns='urn:b'/></item></publish></pubsub>`, 'bad-request+invalid-payload'],
      ['set', `<pubsub ${P}><publish node='x'><item><a xmlns='urn:a'/></item><item><a xmlns='urn:a'/></item></publish></pubsub>`, 'bad-request+invalid-payload'],
      ['set', `<pubsub ${P}><subscribe node='x' jid='alice@localhost'/></pubsub>`, 'feature-not-implemented+unsupported'],
      ['get', `<pubsub ${P}><items/></pubsub>`, 'bad-request+nodeid-required'],
      ['get', `<pubsub ${P}><items node='${DEVICES}' max_items='none'/></pubsub>`, 'bad-request'],
      ['set', `<pubsub ${P}><retract node='${DEVICES}'/></pubsub>`, 'bad-request+item-required'],
      ['set', `<pubsub ${P}><retract node='${DEVICES}'><item id='nope'/></retract></pubsub>`, 'item-not-found'],
      ['set', `<pubsub ${P}><create node='${DEVICES}'/></pubsub>`, 'conflict'],
      ['set', `<pubsub ${OWNER}><delete node='nope'/></pubsub>`, 'item-not-found'],
      ['set', publish('y', `<item><a xmlns='urn:a'/></item>`, publishOptions({ 'pubsub#access_model': 'roster' })), 'feature-not-implemented+unsupported'],
      ['set', publish('y', `<item><a xmlns='urn:a'/></item>`, publishOptions({ 'pubsub#max_items': '6' })), 'policy-violation'],
    ];
    for (const [type, payload, expected] of cases) {
      const r = await alice.iq(type as 'get' | 'set', payload);
      assert.equal(pubsubErrorOf(r), expected, payload);
      assert.ok(stanzaError(r).text, `a readable text for ${payload}`);
    }
    const unsupported = await alice.iq('set', `<pubsub ${P}><subscribe node='x' jid='alice@localhost'/></pubsub>`);
    assert.equal(unsupported.getChild('error')!.getChild('unsupported', NS.pubsubErrors)!.attrs.feature, 'subscribe');
    assert.equal(pubsubErrorOf(await alice.iq('get', `<pubsub ${P}><items node='y'/></pubsub>`)), 'item-not-found', 'no node was created by a refused publish');
  });

  test('limits: an oversized item is not-acceptable+payload-too-big and not stored; max_items trims the oldest; max nodes is a policy-violation', async () => {
    const big = await alice.iq('set', publish(DEVICES, `<item id='current'><devices xmlns='urn:xmpp:omemo:2'><device id='1' label='${'x'.repeat(2100)}'/></devices></item>`));
    assert.equal(pubsubErrorOf(big), 'not-acceptable+payload-too-big');
    assert.match(stanzaError(big).text ?? '', /up to 2048 bytes/);
    const read = await alice.iq('get', `<pubsub ${P}><items node='${DEVICES}'/></pubsub>`);
    assert.equal(read.getChild('pubsub', NS.pubsub)!.getChild('items')!.getChild('item')!.getChild('devices', 'urn:xmpp:omemo:2')!.elements.length, 2);
    await marker(alice, bob);
    assert.deepEqual(bob.inbox.filter(isEvent(DEVICES)), [], 'no notification of a refused item');

    const node = 'urn:test:many';
    for (let i = 1; i <= 7; i++) {
      const r = await alice.iq('set', publish(node, `<item id='i${i}'><n xmlns='urn:test'>${i}</n></item>`, publishOptions({ 'pubsub#max_items': 'max' })));
      assert.equal(r.attrs.type, 'result');
    }
    assert.deepEqual(itemIds(await alice.iq('get', `<pubsub ${P}><items node='${node}'/></pubsub>`)), ['i3', 'i4', 'i5', 'i6', 'i7'], "'max' is the server's 5");
    // Nodes so far: devices, bundles, mood, many → 4 of 8.
    for (let i = 0; i < 4; i++) assert.equal((await alice.iq('set', `<pubsub ${P}><create node='extra${i}'/></pubsub>`)).attrs.type, 'result');
    const full = await alice.iq('set', publish('one-too-many', `<item><a xmlns='urn:a'/></item>`));
    assert.equal(pubsubErrorOf(full), 'policy-violation');
    assert.match(stanzaError(full).text ?? '', /at most 8 nodes/);
    assert.equal(pubsubErrorOf(await alice.iq('set', `<pubsub ${P}><create node='one-too-many'/></pubsub>`)), 'policy-violation');
    assert.equal((await alice.iq('set', `<pubsub ${OWNER}><delete node='extra0'/></pubsub>`)).attrs.type, 'result');
    assert.equal((await alice.iq('set', publish('one-too-many', `<item><a xmlns='urn:a'/></item>`))).attrs.type, 'result');
  });

  test('retract with notify, purge and delete notify the sessions that may read the node', async () => {
    const node = 'urn:xmpp:bookmarks:1';
    const opts = publishOptions({ 'pubsub#max_items': 'max', 'pubsub#access_model': 'presence' });
    await alice.iq('set', `<pubsub ${OWNER}><delete node='extra1'/></pubsub>`); // room for this node
    for (const id of ['room1@muc', 'room2@muc']) {
      assert.equal((await alice.iq('set', publish(node, `<item id='${id}'><conference xmlns='urn:xmpp:bookmarks:1' name='${id}'/></item>`, opts))).attrs.type, 'result');
      await bob.next(isEvent(node));
    }
    assert.equal((await alice.iq('set', `<pubsub ${P}><retract node='${node}' notify='true'><item id='room1@muc'/></retract></pubsub>`)).attrs.type, 'result');
    const retracted = await bob.next(isEvent(node));
    assert.equal(retracted.getChild('event', NS.pubsubEvent)!.getChild('items')!.getChild('retract')!.attrs.id, 'room1@muc');
    assert.deepEqual(itemIds(await bob.iq('get', `<pubsub ${P}><items node='${node}'/></pubsub>`, { to: 'alice@localhost' })), ['room2@muc']);

    assert.equal((await alice.iq('set', `<pubsub ${OWNER}><purge node='${node}'/></pubsub>`)).attrs.type, 'result');
    assert.ok((await bob.next(isEvent(node))).getChild('event', NS.pubsubEvent)!.getChild('purge'));
    assert.deepEqual(itemIds(await bob.iq('get', `<pubsub ${P}><items node='${node}'/></pubsub>`, { to: 'alice@localhost' })), []);
    assert.equal((await alice.iq('set', `<pubsub ${OWNER}><delete node='${node}'/></pubsub>`)).attrs.type, 'result');
    assert.ok((await bob.next(isEvent(node))).getChild('event', NS.pubsubEvent)!.getChild('delete'));
    assert.equal(pubsubErrorOf(await bob.iq('get', `<pubsub ${P}><items node='${node}'/></pubsub>`, { to: 'alice@localhost' })), 'item-not-found');
  });

  test('last published items on presence, with their time; caps answered once are cached by ver; whitelist and stranger excluded', async () => {
    const features = [`${DEVICES}+notify`, `${BUNDLES}+notify`, 'http://jabber.org/protocol/mood+notify'];
    // bob's second resource: same caps as his first, so the server asks nothing (verified and cached).
    const bob2 = await connect('bob', 'tablet');
    await available(bob2, [`${DEVICES}+notify`, `${BUNDLES}+notify`, 'http://jabber.org/protocol/mood+notify', 'urn:xmpp:bookmarks:1+notify'], false);
    const last = await bob2.next(isEvent(DEVICES));
    assert.ok(last.getChild('delay', NS.delay)?.attrs.stamp, 'the last item carries its publication time');
    assert.equal(last.getChild('event', NS.pubsubEvent)!.getChild('items')!.getChild('item')!.attrs.id, 'current');
    await bob2.next(isEvent('http://jabber.org/protocol/mood'));
    await marker(alice, bob2);
    assert.deepEqual(bob2.inbox.filter(isEvent(BUNDLES)), [], 'the whitelist node is not sent to a contact');
    assert.deepEqual(bob2.inbox.filter((e) => e.name === 'iq' && e.attrs.type === 'get'), [], 'no disco#info query for a cached ver');

    // A stranger with the same interests (and caps as his first session) gets nothing: PEP notifies contacts.
    const dave2 = await connect('dave', 'tablet');
    await available(dave2, features, false);
    await marker(alice, dave2);
    assert.deepEqual(dave2.inbox.filter(isEvent()), []);
  });

  test("a caps answer that doesn't hash to its ver is used for that session only, not cached", async () => {
    const fake = 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=';
    const c = await connect('carol', 'liar');
    c.send(`<presence><c xmlns='${NS.caps}' hash='sha-1' node='${CAPS_NODE}' ver='${fake}'/></presence>`);
    const q = await c.next((e) => e.name === 'iq' && e.attrs.type === 'get' && e.getChild('query', NS.discoInfo) !== undefined);
    c.send(`<iq type='result' id='${q.attrs.id}' to='${ts.domain}'><query xmlns='${NS.discoInfo}'><feature var='${DEVICES}+notify'/></query></iq>`);
    const last = await c.next(isEvent(DEVICES));
    assert.equal(last.attrs.to, c.jid, 'carol (a contact) gets the device list for this session');
    const other = await connect('dave', 'other');
    other.send(`<presence><c xmlns='${NS.caps}' hash='sha-1' node='${CAPS_NODE}' ver='${fake}'/></presence>`);
    const asked = await other.next((e) => e.name === 'iq' && e.attrs.type === 'get' && e.getChild('query', NS.discoInfo) !== undefined);
    assert.equal(asked.getChild('query', NS.discoInfo)!.attrs.node, `${CAPS_NODE}#${fake}`, 'asked again: the unverified answer was not cached');
  });

  test('a blocked contact gets no notifications (the decision point sees each one)', async () => {
    assert.equal((await alice.iq('set', `<block xmlns='${NS.blocking}'><item jid='bob@localhost'/></block>`)).attrs.type, 'result');
    await alice.iq('set', publish(DEVICES, `<item id='current'>${devices(1, 2, 3)}</item>`));
    await alice.next(isEvent(DEVICES));
    assert.equal((await alice.iq('set', `<unblock xmlns='${NS.blocking}'><item jid='bob@localhost'/></unblock>`)).attrs.type, 'result');
    await marker(alice, bob);
    assert.deepEqual(bob.inbox.filter(isEvent(DEVICES)), []);
  });
});
