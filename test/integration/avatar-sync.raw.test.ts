// Avatars over raw sockets: XEP-0084 through pep (a 64 KiB base64 image under
// the default limits), converted to the vCard photo and the XEP-0153 hash in
// presence (XEP-0398 §3.1, §4), and a vCard photo published as XEP-0084 items
// (§3.2) on open nodes or on the nodes as their owner configured them; data
// that is missing, mismatched or too large is refused and changes nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';

const P = `xmlns='${NS.pubsub}'`;
const MODULES = ['disco', 'roster', 'presence', 'message', 'vcard', 'private', 'pep', 'bookmarks', 'avatar-sync'];

const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');
const png = (n: number) => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(n - 8)]);

function publishOptions(fields: Record<string, string>): string {
  let x = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS.pubsubPublishOptions}</value></field>`;
  for (const [k, v] of Object.entries(fields)) x += `<field var='${k}'><value>${v}</value></field>`;
  return `<publish-options>${x}</x></publish-options>`;
}
const open = publishOptions({ 'pubsub#access_model': 'open' });
const publish = (node: string, item: string, options = '') => `<pubsub ${P}><publish node='${node}'>${item}</publish>${options}</pubsub>`;
const dataItem = (img: Buffer, id = sha1(img)) => `<item id='${id}'><data xmlns='${NS.avatarData}'>${img.toString('base64')}</data></item>`;
const metadataItem = (img: Buffer, attrs: { id?: string; bytes?: number } = {}) => {
  const id = attrs.id ?? sha1(img);
  return `<item id='${id}'><metadata xmlns='${NS.avatarMetadata}'><info id='${id}' type='image/png' bytes='${attrs.bytes ?? img.length}'/></metadata></item>`;
};

function pubsubErrorOf(r: Element): string {
  const app = r.getChild('error')?.elements.find((e) => e.ns === NS.pubsubErrors);
  return `${stanzaError(r).condition}${app ? `+${app.name}` : ''}`;
}

const photoIn = (p: Element) => p.getChild('x', NS.vcardUpdate)?.getChildText('photo');

describe('Avatars (XEP-0084 ⇄ XEP-0153, XEP-0398) over raw sockets', () => {
  let ts: TestServer;
  const clients: RawClient[] = [];
  let alice: RawClient;
  let bob: RawClient; // alice's contact, receives her presence
  let dave: RawClient; // a stranger

  const connect = async (name: string, resource: string): Promise<RawClient> => {
    const { password } = await ts.addUser(name);
    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: name, password, resource });
    clients.push(c);
    c.send('<presence/>');
    await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid);
    return c;
  };

  /** The vCard of `who` as another account reads it: [TYPE, BINVAL] of its PHOTO. */
  const photoOf = async (reader: RawClient, who: string): Promise<[string | undefined, string | undefined]> => {
    const r = await reader.iq('get', `<vCard xmlns='${NS.vcard}'/>`, { to: who });
    const photo = r.getChild('vCard', NS.vcard)?.getChild('PHOTO', NS.vcard);
    return [photo?.getChildText('TYPE', NS.vcard), photo?.getChildText('BINVAL', NS.vcard)];
  };

  const itemIds = async (c: RawClient, owner: string, node: string): Promise<string[]> => {
    const r = await c.iq('get', `<pubsub ${P}><items node='${node}'/></pubsub>`, { to: owner });
    assert.equal(r.attrs.type, 'result', r.toString());
    return r.getChild('pubsub', NS.pubsub)!.getChild('items')!.getChildren('item').map((i) => i.attrs.id ?? '');
  };

  before(async () => {
    ts = await startTestServer({ auth: { channel_bindings: [] }, modules: Object.fromEntries(MODULES.map((m) => [m, {}])) });
    alice = await connect('alice', 'phone');
    bob = await connect('bob', 'pc');
    dave = await connect('dave', 'pc');
    bob.send(`<presence to='alice@localhost' type='subscribe'/>`);
    await alice.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe');
    alice.send(`<presence to='bob@localhost' type='subscribed'/>`);
    await bob.next((e) => e.name === 'presence' && e.attrs.type === 'subscribed');
    await Promise.all([alice.ping(), bob.ping()]);
    for (const c of clients) c.inbox.length = 0;
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await ts?.stop();
  });

  test('PEP to vCard: a 64 KiB base64 avatar fits the defaults; the vCard gets the photo and contacts the new hash in presence', async () => {
    const img = png(48 * 1024); // 65536 base64 characters
    const r1 = await alice.iq('set', publish(NS.avatarData, dataItem(img), open));
    assert.equal(r1.attrs.type, 'result', r1.toString());
    const r2 = await alice.iq('set', publish(NS.avatarMetadata, metadataItem(img), open));
    assert.equal(r2.attrs.type, 'result', r2.toString());

    const presence = await bob.next((e) => e.name === 'presence' && e.attrs.from === alice.jid && photoIn(e) !== undefined);
    assert.equal(photoIn(presence), sha1(img));
    assert.deepEqual(await photoOf(bob, 'alice@localhost'), ['image/png', img.toString('base64')]);
    // And through XEP-0084 itself, the open nodes: for a stranger too.
    assert.deepEqual(await itemIds(dave, 'alice@localhost', NS.avatarMetadata), [sha1(img)]);
    assert.deepEqual(await itemIds(dave, 'alice@localhost', NS.avatarData), [sha1(img)]);
  });

  test('refused, nothing changed: data under another id, metadata without data or with other bytes, an image over max_image_bytes', async () => {
    const [, before] = await photoOf(bob, 'alice@localhost');
    const other = png(1000);
    assert.equal(pubsubErrorOf(await alice.iq('set', publish(NS.avatarData, dataItem(other, sha1(png(10)))))), 'bad-request+invalid-payload');
    assert.equal(pubsubErrorOf(await alice.iq('set', publish(NS.avatarData, `<item id='${sha1(other)}'><data xmlns='${NS.avatarData}'>not base64!</data></item>`))), 'bad-request+invalid-payload');
    const missing = await alice.iq('set', publish(NS.avatarMetadata, metadataItem(other)));
    assert.equal(pubsubErrorOf(missing), 'bad-request+invalid-payload');
    assert.match(stanzaError(missing).text ?? '', /publish the image data first/);
    assert.equal((await alice.iq('set', publish(NS.avatarData, dataItem(other)))).attrs.type, 'result');
    const wrongSize = await alice.iq('set', publish(NS.avatarMetadata, metadataItem(other, { bytes: 999 })));
    assert.equal(pubsubErrorOf(wrongSize), 'bad-request+invalid-payload');
    assert.equal(pubsubErrorOf(await alice.iq('set', publish(NS.avatarMetadata, `<item id='x'><metadata xmlns='${NS.avatarMetadata}'><info id='x' type='image/png' bytes='3'/></metadata></item>`))), 'bad-request+invalid-payload');
    const big = png(140 * 1024);
    assert.equal(pubsubErrorOf(await alice.iq('set', publish(NS.avatarData, dataItem(big)))), 'not-acceptable+payload-too-big');

    assert.equal((await itemIds(alice, 'alice@localhost', NS.avatarMetadata)).length, 1);
    assert.deepEqual((await photoOf(bob, 'alice@localhost'))[1], before);
  });

  test('vCard to PEP: a vCard photo is published as data and metadata (SHA-1 id, bytes, type) on open nodes', async () => {
    const erin = await connect('erin', 'pc');
    const img = png(2000);
    const r = await erin.iq('set', `<vCard xmlns='${NS.vcard}'><FN>Erin</FN><PHOTO><BINVAL>${img.toString('base64')}</BINVAL></PHOTO></vCard>`);
    assert.equal(r.attrs.type, 'result', r.toString());
    const meta = await dave.iq('get', `<pubsub ${P}><items node='${NS.avatarMetadata}'/></pubsub>`, { to: 'erin@localhost' });
    const item = meta.getChild('pubsub', NS.pubsub)!.getChild('items')!.getChild('item')!;
    assert.equal(item.attrs.id, sha1(img));
    assert.deepEqual(item.getChild('metadata', NS.avatarMetadata)!.getChild('info')!.attrs, { id: sha1(img), type: 'image/png', bytes: '2000' });
    const data = await dave.iq('get', `<pubsub ${P}><items node='${NS.avatarData}'/></pubsub>`, { to: 'erin@localhost' });
    assert.equal(data.getChild('pubsub', NS.pubsub)!.getChild('items')!.getChild('item')!.getChildText('data', NS.avatarData), img.toString('base64'));
    // The vCard is kept as the client set it.
    const [, binval] = await photoOf(dave, 'erin@localhost');
    assert.equal(binval, img.toString('base64'));
  });

  test("vCard to PEP honours the owner's node configuration; an empty <metadata/> removes the vCard photo", async () => {
    const frank = await connect('frank', 'pc');
    const first = png(500);
    await frank.iq('set', publish(NS.avatarData, dataItem(first)));
    await frank.iq('set', publish(NS.avatarMetadata, metadataItem(first)));
    const img = png(700);
    assert.equal((await frank.iq('set', `<vCard xmlns='${NS.vcard}'><PHOTO><TYPE>image/png</TYPE><BINVAL>${img.toString('base64')}</BINVAL></PHOTO></vCard>`)).attrs.type, 'result');
    assert.deepEqual(await itemIds(frank, 'frank@localhost', NS.avatarMetadata), [sha1(img)]);
    // Still 'presence' (the default when frank created it): a stranger may not read.
    const r = await dave.iq('get', `<pubsub ${P}><items node='${NS.avatarMetadata}'/></pubsub>`, { to: 'frank@localhost' });
    assert.equal(pubsubErrorOf(r), 'not-authorized+presence-subscription-required');

    assert.equal((await frank.iq('set', publish(NS.avatarMetadata, `<item id='off'><metadata xmlns='${NS.avatarMetadata}'/></item>`))).attrs.type, 'result');
    assert.deepEqual(await photoOf(dave, 'frank@localhost'), [undefined, undefined]);
  });
});
