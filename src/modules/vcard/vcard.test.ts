// vCards (XEP-0054) and avatar hashes in presence (XEP-0153): the element
// helpers, then the module end to end on a real server over raw sockets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { x, type Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { parseElement } from '../../net/xml-stream.ts';
import { startTestServer, type TestServer } from '../../../test/helpers/server.ts';
import { login, stanzaError, type RawClient } from '../../../test/helpers/raw-client.ts';
import { parseStored, standaloneXml } from '../../xmpp/stored-xml.ts';
import { photoHash } from './vcard.ts';

const IMAGE = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
const IMAGE_B64 = IMAGE.toString('base64');
const IMAGE_SHA1 = createHash('sha1').update(IMAGE).digest('hex');
const OTHER_IMAGE = Buffer.from('GIF89a-another-image', 'latin1');

const vcard = (...children: Element[]) => x('vCard', { xmlns: NS.vcard }, ...children);
const photo = (b64: string) => x('PHOTO', {}, x('TYPE').t('image/png'), x('BINVAL').t(b64));

describe('vCard helpers', () => {
  test('photo hash: SHA-1 of the decoded BINVAL, whitespace ignored; no image is the empty string', () => {
    assert.equal(photoHash(vcard(photo(IMAGE_B64))), IMAGE_SHA1);
    const wrapped = IMAGE_B64.replace(/(.{8})/g, '$1\r\n  ');
    assert.equal(photoHash(vcard(photo(`\n ${wrapped}\n`))), IMAGE_SHA1);
    assert.equal(photoHash(vcard(x('FN').t('No Photo'))), '');
    assert.equal(photoHash(vcard(x('PHOTO', {}, x('BINVAL')))), '');
    assert.equal(photoHash(vcard(x('PHOTO', {}, x('EXTVAL').t('https://example.com/a.png')))), '');
  });

  test('a BINVAL that is not base64 is bad-request', () => {
    for (const bad of ['not base64!', 'abc=d', 'a', 'ab=c', '====']) {
      assert.throws(
        () => photoHash(vcard(photo(bad))),
        (err: unknown) => err instanceof StanzaError && err.condition === 'bad-request',
        bad,
      );
    }
  });

  test('standalone XML keeps the namespace and prefixes declared on the stanza, and parses back', () => {
    const iq = parseElement(`<iq xmlns='jabber:client' xmlns:p='urn:p' type='set' id='1'><vCard xmlns='vcard-temp'><FN p:x='1'>A &amp; B</FN></vCard></iq>`);
    const xml = standaloneXml(iq.elements[0]!);
    const back = parseStored(xml);
    assert.equal(back.attrs.xmlns, NS.vcard);
    assert.equal(back.getChild('FN')!.attrs['p:x'], '1');
    assert.equal(back.getChildText('FN'), 'A & B');
  });
});

// ---------------------------------------------------------------------------

interface User {
  local: string;
  jid: string;
  password: string;
}

describe('vcard module, end to end', () => {
  let ts: TestServer;
  let alice: User;
  let bob: User;
  let a: RawClient;
  let b: RawClient;
  let n = 0;

  const connect = (u: User, resource: string) => login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password, resource });
  const setVCard = (c: RawClient, card: Element | string, to?: string) => c.iq('set', card.toString(), to ? { to } : {});
  const getVCard = (c: RawClient, to?: string) => c.iq('get', `<vCard xmlns='${NS.vcard}'/>`, to ? { to } : {});
  const storedRow = async (local: string) =>
    ts.server.storage.db
      .selectFrom('vcards' as never)
      .selectAll()
      .where('localpart' as never, '=', local as never)
      .executeTakeFirst() as Promise<{ xml: string; photo_hash: string } | undefined>;

  before(async () => {
    ts = await startTestServer();
    alice = await ts.addUser('alice');
    bob = await ts.addUser('bob');
    a = await connect(alice, 'desk');
    b = await connect(bob, 'phone');
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await ts?.stop();
  });

  test('an account without a vCard gets an empty one for itself', async () => {
    const r = await getVCard(a);
    assert.equal(r.attrs.type, 'result');
    const card = r.getChild('vCard', NS.vcard);
    assert.ok(card);
    assert.equal(card.children.length, 0);
  });

  test('set, then get: without to, at the own bare JID, and by another account at that bare JID', async () => {
    const card = vcard(x('FN').t('Alice Liddell'), x('NICKNAME').t('al'), x('X-CUSTOM', { xmlns: 'urn:example:ext' }).t('kept'), photo(IMAGE_B64));
    const r = await setVCard(a, card);
    assert.equal(r.attrs.type, 'result', r.toString());
    for (const [c, to] of [
      [a, undefined],
      [a, alice.jid],
      [b, alice.jid],
    ] as const) {
      const got = await getVCard(c, to);
      assert.equal(got.attrs.type, 'result', got.toString());
      if (to) assert.equal(got.attrs.from, alice.jid);
      const v = got.getChild('vCard', NS.vcard)!;
      assert.equal(v.getChildText('FN'), 'Alice Liddell');
      assert.equal(v.getChild('X-CUSTOM', 'urn:example:ext')?.text, 'kept');
      assert.equal(v.getChild('PHOTO')?.getChildText('BINVAL'), IMAGE_B64);
    }
    assert.equal((await storedRow('alice'))?.photo_hash, IMAGE_SHA1);
  });

  test("another account's missing vCard and a missing account answer alike: service-unavailable", async () => {
    const carol = await ts.addUser(`carol${++n}`);
    const noVCard = await getVCard(b, carol.jid);
    const noAccount = await getVCard(b, `nobody@${ts.domain}`);
    assert.equal(noVCard.attrs.type, 'error');
    assert.deepEqual(stanzaError(noVCard), stanzaError(noAccount));
    assert.equal(stanzaError(noVCard).condition, 'service-unavailable');
  });

  test("setting someone else's vCard is forbidden, whether or not the account exists; nothing changes", async () => {
    const before = await storedRow('alice');
    const onAlice = await setVCard(b, vcard(x('FN').t('Mallory')), alice.jid);
    const onNobody = await setVCard(b, vcard(x('FN').t('Mallory')), `nobody@${ts.domain}`);
    assert.deepEqual(stanzaError(onAlice), { type: 'auth', condition: 'forbidden', text: 'Only the owner of a vCard can change it.' });
    assert.deepEqual(stanzaError(onNobody), stanzaError(onAlice));
    assert.deepEqual(await storedRow('alice'), before);
  });

  test('an oversized vCard is not-acceptable with the sizes; a bad BINVAL is bad-request; nothing changes', async () => {
    const before = await storedRow('alice');
    const big = await setVCard(a, vcard(x('DESC').t('x'.repeat(70_000))));
    assert.equal(stanzaError(big).condition, 'not-acceptable');
    assert.match(stanzaError(big).text ?? '', /^The vCard is \d+ bytes; this server keeps vCards of up to 65536 bytes\.$/);
    const bad = await setVCard(a, vcard(x('FN').t('Broken'), photo('@@not-base64@@')));
    assert.deepEqual(stanzaError(bad), { type: 'modify', condition: 'bad-request', text: 'The PHOTO/BINVAL of the vCard is not base64 data.' });
    assert.deepEqual(await storedRow('alice'), before);
  });

  test('XML that is not well-formed ends the stream (RFC 6120 §4.9.3.13) and stores nothing', async () => {
    const before = await storedRow('alice');
    const c = await connect(alice, 'broken');
    c.sendRaw(`<iq type='set' id='bad'><vCard xmlns='${NS.vcard}'><FN>Broken</vCard></iq>`);
    await c.expectStreamError('not-well-formed');
    await c.waitClosed();
    assert.deepEqual(await storedRow('alice'), before);
  });

  test('disco: vcard-temp on the server and on accounts; the server has an empty vCard', async () => {
    const host = await a.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: ts.domain });
    const account = await b.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: alice.jid });
    for (const r of [host, account]) {
      const features = r.getChild('query', NS.discoInfo)!.getChildren('feature').map((f) => f.attrs.var);
      assert.ok(features.includes('vcard-temp'), features.join(' '));
    }
    const serverCard = await getVCard(a, ts.domain);
    assert.equal(serverCard.attrs.type, 'result');
    assert.equal(serverCard.getChild('vCard', NS.vcard)?.children.length, 0);
  });
});

describe('XEP-0153 avatar hash in presence', () => {
  let ts: TestServer;
  let n = 0;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts?.stop());

  const connect = (u: User, resource: string) => login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password, resource });
  const update = (p: Element) => p.getChildren('x', NS.vcardUpdate);
  const photoOf = (p: Element) => {
    const u = update(p);
    assert.equal(u.length, 1, p.toString());
    return u[0]!.getChild('photo')?.text;
  };
  /** The next presence c receives from `from`. */
  const presenceFrom = (c: RawClient, from: string) => c.next((el) => el.name === 'presence' && el.attrs.from === from);

  test('no vCard: presence is left alone; with one, the hash (or an empty photo) is added', async () => {
    const u = await ts.addUser(`u${++n}`);
    const c = await connect(u, 'r');
    c.send('<presence/>');
    assert.equal(update(await presenceFrom(c, c.jid!)).length, 0);
    await c.iq('set', vcard(x('FN').t('No Photo')).toString());
    c.send('<presence><show>away</show></presence>');
    assert.equal(photoOf(await presenceFrom(c, c.jid!)), '');
    await c.iq('set', vcard(photo(IMAGE_B64)).toString());
    // The photo changed: the last presence goes out again with the new hash.
    const again = await presenceFrom(c, c.jid!);
    assert.equal(again.getChildText('show'), 'away');
    assert.equal(photoOf(again), IMAGE_SHA1);
    await c.close();
  });

  test("a client's own <photo/> is kept; an empty update element (not ready) is filled in", async () => {
    const u = await ts.addUser(`u${++n}`);
    const c = await connect(u, 'r');
    await c.iq('set', vcard(photo(IMAGE_B64)).toString());
    c.send(`<presence><x xmlns='${NS.vcardUpdate}'><photo>0123456789abcdef0123456789abcdef01234567</photo></x></presence>`);
    assert.equal(photoOf(await presenceFrom(c, c.jid!)), '0123456789abcdef0123456789abcdef01234567');
    c.send(`<presence><x xmlns='${NS.vcardUpdate}'/></presence>`);
    assert.equal(photoOf(await presenceFrom(c, c.jid!)), IMAGE_SHA1);
    // Directed presence and presence types are not touched.
    c.send(`<presence type='unavailable'/>`);
    assert.equal(update(await presenceFrom(c, c.jid!)).length, 0);
    await c.close();
  });

  test("a photo change re-sends every available session's presence with the new hash; the same photo again does not", async () => {
    const u = await ts.addUser(`u${++n}`);
    const laptop = await connect(u, 'laptop');
    const phone = await connect(u, 'phone');
    laptop.send('<presence><status>working</status></presence>');
    await presenceFrom(laptop, laptop.jid!);
    phone.send('<presence><priority>3</priority></presence>');
    await presenceFrom(phone, phone.jid!);
    await presenceFrom(laptop, phone.jid!);

    await phone.iq('set', vcard(photo(OTHER_IMAGE.toString('base64'))).toString());
    const hash = createHash('sha1').update(OTHER_IMAGE).digest('hex');
    // laptop hears both sessions' presences again, each as it was, with the hash.
    const fromLaptop = await presenceFrom(laptop, laptop.jid!);
    const fromPhone = await presenceFrom(laptop, phone.jid!);
    assert.equal(fromLaptop.getChildText('status'), 'working');
    assert.equal(fromPhone.getChildText('priority'), '3');
    assert.equal(photoOf(fromLaptop), hash);
    assert.equal(photoOf(fromPhone), hash);

    laptop.inbox.length = 0;
    await phone.iq('set', vcard(x('FN').t('same photo'), photo(OTHER_IMAGE.toString('base64'))).toString());
    await laptop.ping();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(laptop.inbox.filter((e) => e.name === 'presence').length, 0, laptop.describeInbox());

    // Removing the photo is a change too: an empty photo element (XEP-0153 §4.1.3).
    await phone.iq('set', vcard(x('FN').t('no photo now')).toString());
    assert.equal(photoOf(await presenceFrom(laptop, laptop.jid!)), '');
    assert.equal(photoOf(await presenceFrom(laptop, phone.jid!)), '');
    // An empty vCard deletes it (no image before or after: nothing re-sent); presence then has no update element.
    await phone.iq('set', vcard().toString());
    laptop.send('<presence/>');
    const last = await presenceFrom(laptop, laptop.jid!);
    assert.equal(update(last).length, 0, last.toString());
    await Promise.all([laptop.close(), phone.close()]);
  });
});
