// Roster versioning (XEP-0237): the plan for a get with 'ver', the changes
// since a version, and the service's pushes (versions strictly increasing,
// interim pushes before later ones), on a real SQLite database.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { openStorage } from '../../storage/index.ts';
import type { Storage } from '../../storage/types.ts';
import { SessionRegistry } from '../../core/sessions.ts';
import type { ClientSession } from '../../core/session.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { parseJID } from '../../xmpp/jid.ts';
import { RosterStore, MAX_TOMBSTONES, type ItemData } from './store.ts';
import { RosterService } from './service.ts';
import { changesSince, planFor } from './versioning.ts';

describe('planFor', () => {
  test('no ver: the full roster, as before XEP-0237', () => assert.deepEqual(planFor(undefined, 10, 5), { kind: 'full' }));
  test('the current version: unchanged', () => assert.deepEqual(planFor('10', 10, 5), { kind: 'unchanged' }));
  test('a known older version: the changes since', () => {
    assert.deepEqual(planFor('7', 10, 5), { kind: 'since', since: 7 });
    assert.deepEqual(planFor('5', 10, 5), { kind: 'since', since: 5 });
  });
  test('older than the history kept, newer than the roster, or not a version: full', () => {
    assert.deepEqual(planFor('4', 10, 5), { kind: 'full' });
    assert.deepEqual(planFor('11', 10, 5), { kind: 'full' });
    for (const bad of ['', 'abc', '-1', '1.5', '007', '99999999999999999999', ' 7']) assert.deepEqual(planFor(bad, 10, 5), { kind: 'full' }, bad);
  });
  test("'0' (a client bootstrapping) against a roster that never changed: unchanged (both are empty)", () => {
    assert.deepEqual(planFor('0', 0, 0), { kind: 'unchanged' });
    assert.deepEqual(planFor('3', 0, 0), { kind: 'full' });
    assert.deepEqual(planFor('0', 10, 5), { kind: 'full' });
  });
});

describe('changesSince', () => {
  const items = [
    { jid: 'a@x', version: 3 },
    { jid: 'b@x', version: 9 },
    { jid: 'c@x', version: 6 },
    { jid: 'd@x', version: 1 },
  ];
  test('items changed and removed after the version, oldest first', () => {
    const c = changesSince(items, [{ jid: 'gone@x', version: 8 }, { jid: 'old@x', version: 2 }], 5);
    assert.deepEqual(
      c?.map((e) => [e.jid, e.version, e.item ? 'item' : 'removed']),
      [
        ['c@x', 6, 'item'],
        ['gone@x', 8, 'removed'],
        ['b@x', 9, 'item'],
      ],
    );
  });
  test('more changes than items: the full roster is smaller', () => {
    assert.equal(changesSince(items, [{ jid: 'gone@x', version: 2 }], 0), undefined);
    assert.equal(changesSince([], [{ jid: 'gone@x', version: 2 }], 1), undefined);
    assert.equal(changesSince(items, [], 0)?.length, 4, 'as many as items: still pushes');
  });
});

function fakeSession(full: string): ClientSession & { sent: Element[] } {
  const sent: Element[] = [];
  return {
    id: full,
    jid: parseJID(full),
    ip: '127.0.0.1',
    security: { tls: true },
    connectedAt: new Date(),
    available: true,
    priority: 0,
    presence: undefined,
    sent,
    send: (el: Element) => void sent.push(el),
    close: () => undefined,
  };
}

const item = (jid: string, extra: Partial<ItemData> = {}): ItemData => ({ jid, name: undefined, groups: [], subscription: 'none', ask: false, approved: false, ...extra });

describe('RosterService with versions (SQLite)', () => {
  let storage: Storage;
  let service: RosterService;
  const sessions = new SessionRegistry();
  const alice = parseJID('alice@example.org');

  before(async () => {
    storage = await openStorage({ backend: 'sqlite', path: ':memory:' });
    service = new RosterService({ store: new RosterStore(storage.db), sessions, log: pino({ level: 'silent' }), maxItems: 1000 });
  });
  after(() => storage.close());

  test('each change gets a new, higher version; pushes go to interested resources only, with ver if asked with ver', async () => {
    const laptop = fakeSession('alice@example.org/laptop');
    const phone = fakeSession('alice@example.org/phone');
    const old = fakeSession('alice@example.org/old');
    sessions.add(laptop);
    sessions.add(phone);
    sessions.add(old);
    service.markInterested(laptop, true);
    service.markInterested(phone, false);

    const r = await service.load(alice);
    assert.equal(r.version, 0);
    const v: number[] = [];
    await service.exclusive(alice, async (ro) => {
      v.push((await service.put(ro, item('bob@example.org', { name: 'Bob' }))).version);
      v.push((await service.put(ro, item('carol@example.org'))).version);
      v.push((await service.put(ro, item('bob@example.org', { name: 'Bobby', groups: ['Friends'] }))).version);
      assert.equal(await service.remove(ro, 'carol@example.org'), true);
      assert.equal(await service.remove(ro, 'nobody@example.org'), false);
    });
    assert.ok(v[0]! < v[1]! && v[1]! < v[2]!, `increasing: ${v.join(', ')}`);
    assert.equal(r.version, v[2]! + 1, 'the removal got the next version');

    assert.equal(laptop.sent.length, 4);
    assert.equal(phone.sent.length, 4);
    assert.equal(old.sent.length, 0, 'a session that never asked for the roster gets no pushes');
    const vers = laptop.sent.map((iq) => Number(iq.elements[0]!.attrs.ver));
    assert.deepEqual(vers, [...v, r.version]);
    assert.equal(phone.sent[0]!.elements[0]!.attrs.ver, undefined);
    assert.equal(laptop.sent[3]!.toString().includes(`<item jid="carol@example.org" subscription="remove"/>`), true);

    // A reload from the database has the same state.
    const stored = await new RosterStore(storage.db).load({ domain: 'example.org', localpart: 'alice' });
    assert.equal(stored.version, r.version);
    // The cached roster learnt where its history starts: a client bootstrapping with '0' gets everything.
    assert.equal(r.floor, stored.floor);
    assert.equal(r.floor, v[0]! - 1);
    assert.deepEqual(planFor('0', r.version, r.floor), { kind: 'full' });
    assert.deepEqual(
      stored.items.map((i) => [i.jid, i.name, i.groups, i.version]),
      [['bob@example.org', 'Bobby', ['Friends'], v[2]]],
    );
    const tomb = await new RosterStore(storage.db).tombstonesSince({ domain: 'example.org', localpart: 'alice' }, 0);
    assert.deepEqual(tomb, [{ jid: 'carol@example.org', version: r.version }]);
    sessions.remove(laptop);
    sessions.remove(phone);
    sessions.remove(old);
  });

  test('interim pushes go out after the result and before pushes of later changes', async () => {
    const s = fakeSession('alice@example.org/tablet');
    sessions.add(s);
    service.markInterested(s, true);
    const r = await service.load(alice);
    service.sendInterim(s, [{ version: 1, item: itemEl('x@example.org') }]);
    await service.exclusive(alice, (ro) => service.put(ro, item('dave@example.org')));
    assert.equal(s.sent.length, 0, 'held back until the result is out');
    await new Promise((res) => setImmediate(res));
    assert.deepEqual(
      s.sent.map((iq) => iq.elements[0]!.elements[0]!.attrs.jid),
      ['x@example.org', 'dave@example.org'],
    );
    assert.equal(Number(s.sent[1]!.elements[0]!.attrs.ver), r.version);
    sessions.remove(s);
  });

  test('tombstones are bounded; the floor rises so an older client version gets the full roster', async () => {
    const store = new RosterStore(storage.db);
    const owner = { domain: 'example.org', localpart: 'churn' };
    const n = MAX_TOMBSTONES + 5;
    await store.putMany(owner, Array.from({ length: n }, (_, i) => item(`c${i}@example.org`)));
    const start = await store.load(owner);
    for (let i = 0; i < n; i++) await store.removeItem(owner, `c${i}@example.org`);
    const end = await store.load(owner);
    const kept = await store.tombstonesSince(owner, 0);
    assert.equal(kept.length, MAX_TOMBSTONES);
    assert.ok(end.floor > start.floor);
    assert.equal(end.floor, kept[0]!.version - 1, 'the floor is the newest tombstone forgotten');
    assert.deepEqual(planFor(String(start.version), end.version, end.floor), { kind: 'full' });
    assert.deepEqual(planFor(String(end.floor), end.version, end.floor), { kind: 'since', since: end.floor });
  });
});

function itemEl(jid: string): Element {
  return x('item', { jid, subscription: 'none' });
}
