// Bookmarks over raw sockets: XEP-0402 through pep as clients publish them,
// and the XEP-0048 views — private XML storage (XEP-0049) and the PEP node
// 'storage:bookmarks' — reading and changing the same XEP-0402 items; only the
// owner reads any of them; malformed lists and the count limit change nothing;
// a list kept in private storage before is moved over at the next bind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import { parseElement } from '../../src/net/xml-stream.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { capsVer } from '../../src/modules/pep/caps.ts';
import { PrivateStore, type PrivateTables } from '../../src/modules/private/store.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';

const P = `xmlns='${NS.pubsub}'`;
const B = NS.bookmarks;
const LEGACY = NS.legacyBookmarks;
const MODULES = ['disco', 'roster', 'presence', 'message', 'vcard', 'private', 'pep', 'bookmarks', 'avatar-sync'];
const OPTIONS = { 'pubsub#persist_items': 'true', 'pubsub#max_items': 'max', 'pubsub#send_last_published_item': 'never', 'pubsub#access_model': 'whitelist' };

function publishOptions(fields: Record<string, string>): string {
  let x = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS.pubsubPublishOptions}</value></field>`;
  for (const [k, v] of Object.entries(fields)) x += `<field var='${k}'><value>${v}</value></field>`;
  return `<publish-options>${x}</x></publish-options>`;
}

const publish = (node: string, item: string, options = '') => `<pubsub ${P}><publish node='${node}'>${item}</publish>${options}</pubsub>`;
const items = (node: string) => `<pubsub ${P}><items node='${node}'/></pubsub>`;
const privateGet = `<query xmlns='${NS.privateXml}'><storage xmlns='${LEGACY}'/></query>`;
const privateSet = (conferences: string) => `<query xmlns='${NS.privateXml}'><storage xmlns='${LEGACY}'>${conferences}</storage></query>`;

function pubsubErrorOf(r: Element): string {
  const app = r.getChild('error')?.elements.find((e) => e.ns === NS.pubsubErrors);
  return `${stanzaError(r).condition}${app ? `+${app.name}` : ''}`;
}

/** The XEP-0402 items as 'jid name autojoin nick'. */
function bookmarksOf(r: Element): string[] {
  assert.equal(r.attrs.type, 'result', r.toString());
  return r
    .getChild('pubsub', NS.pubsub)!
    .getChild('items')!
    .getChildren('item')
    .map((i) => {
      const c = i.getChild('conference', B)!;
      return `${i.attrs.id} ${c.attrs.name ?? '-'} ${c.attrs.autojoin ?? '-'} ${c.getChildText('nick', B) ?? '-'}`;
    });
}

/** The XEP-0048 conferences of a private storage answer as 'jid name autojoin nick'. */
function conferencesOf(storage: Element | undefined): string[] {
  assert.ok(storage, 'a <storage/>');
  return storage.getChildren('conference', LEGACY).map((c) => `${c.attrs.jid} ${c.attrs.name ?? '-'} ${c.attrs.autojoin ?? '-'} ${c.getChildText('nick', LEGACY) ?? '-'}`);
}

const isEvent = (node: string) => (e: Element) => e.name === 'message' && e.getChild('event', NS.pubsubEvent)?.getChild('items')?.attrs.node === node;

describe('Bookmarks (XEP-0402, XEP-0048 views) over raw sockets', () => {
  let ts: TestServer;
  const open: RawClient[] = [];
  const passwords = new Map<string, string>();
  let alice: RawClient; // +notify for both bookmark nodes
  let bob: RawClient; // alice's contact (presence subscription to her)

  const connect = async (name: string, resource: string): Promise<RawClient> => {
    if (!passwords.has(name)) passwords.set(name, (await ts.addUser(name)).password);
    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: name, password: passwords.get(name)!, resource });
    open.push(c);
    return c;
  };

  /** Initial presence with caps listing these features; answers the server's disco#info query. */
  const available = async (c: RawClient, features: string[]) => {
    const inner = `<identity category='client' type='pc'/>${features.map((f) => `<feature var='${f}'/>`).join('')}`;
    const ver = capsVer(parseElement(`<query xmlns='${NS.discoInfo}'>${inner}</query>`), 'sha-1')!;
    c.send(`<presence><c xmlns='${NS.caps}' hash='sha-1' node='urn:palisade:test' ver='${ver}'/></presence>`);
    const q = await c.next((e) => e.name === 'iq' && e.attrs.type === 'get' && e.getChild('query', NS.discoInfo) !== undefined);
    c.send(`<iq type='result' id='${q.attrs.id}' to='${ts.domain}'><query xmlns='${NS.discoInfo}' node='urn:palisade:test#${ver}'>${inner}</query></iq>`);
    await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid);
    await c.ping();
  };

  before(async () => {
    ts = await startTestServer({
      auth: { channel_bindings: [] },
      modules: { ...Object.fromEntries(MODULES.map((m) => [m, {}])), bookmarks: { max_bookmarks: 3 } },
    });
    alice = await connect('alice', 'phone');
    bob = await connect('bob', 'pc');
    await available(alice, [`${B}+notify`, `${LEGACY}+notify`]);
    bob.send('<presence/>');
    await bob.next((e) => e.name === 'presence' && e.attrs.from === bob.jid);
    bob.send(`<presence to='alice@localhost' type='subscribe'/>`);
    await alice.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe');
    alice.send(`<presence to='bob@localhost' type='subscribed'/>`);
    await bob.next((e) => e.name === 'presence' && e.attrs.type === 'subscribed');
    await Promise.all([alice.ping(), bob.ping()]);
    for (const c of [alice, bob]) c.inbox.length = 0;
  });
  after(async () => {
    await Promise.all(open.map((c) => c.close()));
    await ts?.stop();
  });

  test('disco: the account advertises #compat and #compat-pep (XEP-0402 §5) and pep-vcard-conversion (XEP-0398 §2)', async () => {
    const r = await bob.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: 'alice@localhost' });
    const features = r.getChild('query', NS.discoInfo)!.getChildren('feature').map((f) => f.attrs.var);
    for (const f of [`${B}#compat`, `${B}#compat-pep`, NS.pepVcardConversion]) assert.ok(features.includes(f), f);
  });

  test('XEP-0402: published with its publish-options (max_items max), read by the owner only, seen through private storage and the legacy node', async () => {
    const conf = `<conference xmlns='${B}' name='Team' autojoin='true'><nick>Al</nick></conference>`;
    const r = await alice.iq('set', publish(B, `<item id='team@conference.localhost'>${conf}</item>`, publishOptions(OPTIONS)));
    assert.equal(r.attrs.type, 'result', r.toString());
    // The owner's +notify session hears of it, and of the legacy list it changed.
    await alice.next(isEvent(B));
    const legacyEvent = await alice.next(isEvent(LEGACY));
    assert.deepEqual(conferencesOf(legacyEvent.getChild('event', NS.pubsubEvent)!.getChild('items')!.getChild('item')!.getChild('storage', LEGACY)), [
      'team@conference.localhost Team true Al',
    ]);

    assert.deepEqual(bookmarksOf(await alice.iq('get', items(B))), ['team@conference.localhost Team true Al']);
    const fromPrivate = await alice.iq('get', privateGet);
    assert.deepEqual(conferencesOf(fromPrivate.getChild('query', NS.privateXml)?.getChild('storage', LEGACY)), ['team@conference.localhost Team true Al']);
    const fromLegacy = await alice.iq('get', items(LEGACY));
    const item = fromLegacy.getChild('pubsub', NS.pubsub)!.getChild('items')!.getChild('item')!;
    assert.equal(item.attrs.id, 'current');
    assert.deepEqual(conferencesOf(item.getChild('storage', LEGACY)), ['team@conference.localhost Team true Al']);

    // A contact reads none of them.
    assert.equal(pubsubErrorOf(await bob.iq('get', items(B), { to: 'alice@localhost' })), 'not-allowed+closed-node');
    assert.equal(pubsubErrorOf(await bob.iq('get', items(LEGACY), { to: 'alice@localhost' })), 'not-allowed+closed-node');
    assert.equal(stanzaError(await bob.iq('get', privateGet, { to: 'alice@localhost' })).condition, 'forbidden');
    const config = await alice.iq('get', `<pubsub xmlns='${NS.pubsubOwner}'><configure node='${B}'/></pubsub>`);
    const access = config.getChild('pubsub', NS.pubsubOwner)!.getChild('configure')!.getChild('x', NS.dataForms)!.getChildren('field').find((f) => f.attrs.var === 'pubsub#access_model');
    assert.equal(access?.getChildText('value'), 'whitelist');
  });

  test('XEP-0048 via private storage: changed and new rooms published, missing ones retracted, unchanged ones left alone', async () => {
    await alice.iq('set', publish(B, `<item id='lounge@conference.localhost'><conference xmlns='${B}' name='Lounge'/></item>`));
    await alice.next(isEvent(B));
    await alice.next(isEvent(LEGACY));
    alice.inbox.length = 0;
    const r = await alice.iq(
      'set',
      privateSet(
        `<conference jid='team@conference.localhost' name='Team' autojoin='true'><nick>Al</nick></conference>` +
          `<conference jid='ops@conference.localhost' name='Ops' autojoin='1'><nick>A</nick><password>s3cret</password></conference>` +
          `<url name='Site' url='https://example.org/'/>`,
      ),
    );
    assert.equal(r.attrs.type, 'result', r.toString());
    assert.deepEqual(bookmarksOf(await alice.iq('get', items(B))), ['team@conference.localhost Team true Al', 'ops@conference.localhost Ops true A']);
    const password = (await alice.iq('get', items(B))).getChild('pubsub', NS.pubsub)!.getChild('items')!.getChildren('item')[1]!.getChild('conference', B)!.getChildText('password', B);
    assert.equal(password, 's3cret');

    // Notifications: lounge retracted, ops published; nothing for the unchanged team room.
    await alice.ping();
    const events = alice.inbox.filter(isEvent(B)).map((m) => {
      const e = m.getChild('event', NS.pubsubEvent)!.getChild('items')!.elements[0]!;
      return `${e.name} ${e.attrs.id}`;
    });
    assert.deepEqual(events, ['retract lounge@conference.localhost', 'item ops@conference.localhost']);
    alice.inbox.length = 0;

    // Reading back through private storage: the conferences, no URL (XEP-0402 has none).
    const back = (await alice.iq('get', privateGet)).getChild('query', NS.privateXml)!.getChild('storage', LEGACY)!;
    assert.deepEqual(conferencesOf(back), ['team@conference.localhost Team true Al', 'ops@conference.localhost Ops true A']);
    assert.equal(back.getChildren('url', LEGACY).length, 0);
  });

  test('XEP-0048 via the legacy PEP node: publishing the list syncs XEP-0402; an empty list removes them all', async () => {
    const list = `<storage xmlns='${LEGACY}'><conference jid='ops@conference.localhost' name='Ops' autojoin='false'/></storage>`;
    const r = await alice.iq('set', publish(LEGACY, `<item id='current'>${list}</item>`, publishOptions({ 'pubsub#access_model': 'whitelist' })));
    assert.equal(r.attrs.type, 'result', r.toString());
    assert.equal(r.getChild('pubsub', NS.pubsub)!.getChild('publish')!.getChild('item')!.attrs.id, 'current');
    assert.deepEqual(bookmarksOf(await alice.iq('get', items(B))), ['ops@conference.localhost Ops false -']);

    const clear = await alice.iq('set', privateSet(''));
    assert.equal(clear.attrs.type, 'result', clear.toString());
    assert.deepEqual(bookmarksOf(await alice.iq('get', items(B))), []);
    assert.deepEqual(conferencesOf((await alice.iq('get', privateGet)).getChild('query', NS.privateXml)!.getChild('storage', LEGACY)), []);
    // The legacy node is a view: only read and publish.
    assert.equal(stanzaError(await alice.iq('set', `<pubsub xmlns='${NS.pubsubOwner}'><delete node='${LEGACY}'/></pubsub>`)).condition, 'not-allowed');
    alice.inbox.length = 0;
  });

  test('bad input changes nothing: malformed lists and items, too many bookmarks, another access model', async () => {
    const one = `<conference jid='a@conference.localhost' name='A'/>`;
    assert.equal((await alice.iq('set', privateSet(one))).attrs.type, 'result');
    const refused: [string, string, string][] = [
      [privateSet(`${one}<conference name='no jid'/>`), 'bad-request', 'is not a room JID'],
      [privateSet(`${one}<conference jid='b@conference.localhost/nick'/>`), 'bad-request', 'is not a room JID'],
      [privateSet(`${one}<conference jid='b@conference.localhost' autojoin='yes'/>`), 'bad-request', 'autojoin'],
      [privateSet(`${one}${one}`), 'bad-request', 'bookmarked twice'],
      [privateSet(['a', 'b', 'c', 'd'].map((r) => `<conference jid='${r}@conference.localhost'/>`).join('')), 'policy-violation', 'at most 3 bookmarks'],
      [publish(LEGACY, `<item id='current'><storage xmlns='${LEGACY}'><conference/></storage></item>`), 'bad-request', 'is not a room JID'],
    ];
    for (const [payload, condition, text] of refused) {
      const r = await alice.iq('set', payload);
      const err = stanzaError(r);
      assert.equal(err.condition, condition, r.toString());
      assert.match(err.text ?? '', new RegExp(text));
    }
    assert.equal(pubsubErrorOf(await alice.iq('set', publish(B, `<item id='x@conference.localhost'><storage xmlns='${LEGACY}'/></item>`))), 'bad-request+invalid-payload');
    assert.equal(pubsubErrorOf(await alice.iq('set', publish(B, `<item id='not a jid@'><conference xmlns='${B}'/></item>`))), 'bad-request+invalid-payload');
    for (const r of ['b', 'c']) assert.equal((await alice.iq('set', publish(B, `<item id='${r}@conference.localhost'><conference xmlns='${B}'/></item>`))).attrs.type, 'result');
    const fourth = await alice.iq('set', publish(B, `<item id='d@conference.localhost'><conference xmlns='${B}'/></item>`));
    assert.equal(stanzaError(fourth).condition, 'policy-violation');
    assert.equal(stanzaError(await alice.iq('set', `<pubsub xmlns='${NS.pubsubOwner}'><configure node='${B}'><x xmlns='jabber:x:data' type='submit'><field var='pubsub#access_model'><value>presence</value></field></x></configure></pubsub>`)).condition, 'not-acceptable');
    assert.deepEqual(bookmarksOf(await alice.iq('get', items(B))), ['a@conference.localhost A - -', 'b@conference.localhost - - -', 'c@conference.localhost - - -']);
  });

  test('a new node cannot be created readable by contacts', async () => {
    const carol = await connect('carol', 'pc');
    const r = await carol.iq('set', publish(B, `<item id='x@conference.localhost'><conference xmlns='${B}'/></item>`, publishOptions({ 'pubsub#access_model': 'presence' })));
    assert.equal(stanzaError(r).condition, 'not-acceptable');
    assert.equal(stanzaError(await carol.iq('get', items(B))).condition, 'item-not-found');
    // Without publish-options the node gets XEP-0402's configuration.
    assert.equal((await carol.iq('set', publish(B, `<item id='x@conference.localhost'><conference xmlns='${B}'/></item>`))).attrs.type, 'result');
    const config = await carol.iq('get', `<pubsub xmlns='${NS.pubsubOwner}'><configure node='${B}'/></pubsub>`);
    const fields = Object.fromEntries(
      config.getChild('pubsub', NS.pubsubOwner)!.getChild('configure')!.getChild('x', NS.dataForms)!.getChildren('field').map((f) => [f.attrs.var, f.getChildText('value')]),
    );
    assert.equal(fields['pubsub#access_model'], 'whitelist');
    assert.equal(fields['pubsub#max_items'], 'max');
  });

  test('a list kept in private storage before the module ran moves into XEP-0402 at the next bind', async () => {
    const { local } = await ts.addUser('erin');
    passwords.set('erin', `pw-erin-secret`);
    const store = new PrivateStore(ts.server.storage.db as unknown as Kysely<PrivateTables>);
    const xml = `<storage xmlns='${LEGACY}'><conference jid='old@conference.localhost' name='Old' autojoin='true'><nick>E</nick></conference></storage>`;
    await store.set(ts.domain, local, [{ ns: LEGACY, name: 'storage', xml }], 100);
    const erin = await connect('erin', 'pc');
    const fromPrivate = await erin.iq('get', privateGet);
    assert.deepEqual(conferencesOf(fromPrivate.getChild('query', NS.privateXml)!.getChild('storage', LEGACY)), ['old@conference.localhost Old true E']);
    assert.deepEqual(bookmarksOf(await erin.iq('get', items(B))), ['old@conference.localhost Old true E']);
    assert.equal(await store.get(ts.domain, local, LEGACY, 'storage'), undefined);
  });
});
