// Contract: the store of the muc module (XEP-0045), migration 0011.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Kysely } from 'kysely';
import { defaultConfig } from '../../modules/muc/config.ts';
import { MucStore, type MucTables, type StoredRoom } from '../../modules/muc/store.ts';
import type { Affiliation } from '../../modules/muc/roles.ts';
import type { Storage } from '../types.ts';
import { withStorage, type ContractTarget } from './harness.ts';

const SERVICE = 'conference.example.org';
const mucOf = (s: Storage, service = SERVICE) => new MucStore(s.db as unknown as Kysely<MucTables>, service);
const CONFIG = defaultConfig({ maxUsers: 200, maxHistory: 100, maxNameChars: 100, maxSubjectChars: 1000 });
const at = new Date('2024-05-06T07:08:09.123Z');

function room(name: string, affiliations: [string, Affiliation][], extra: Partial<StoredRoom> = {}): StoredRoom {
  return {
    room: name,
    config: { ...CONFIG, persistent: true, name: `Room ${name} — é` },
    subject: undefined,
    creator: 'alice@example.org',
    createdAt: at,
    affiliations: new Map(affiliations),
    ...extra,
  };
}

export function mucContract(target: ContractTarget): void {
  test('muc: persistent rooms round-trip with configuration, subject and affiliations, per service', () =>
    withStorage(target, async (s) => {
      const store = mucOf(s);
      assert.deepEqual(await store.loadRooms(), []);
      const team = room('team', [
        ['alice@example.org', 'owner'],
        ['bob@example.org', 'member'],
        ['mallory@example.org', 'outcast'],
      ]);
      await store.saveRoom(team);
      await store.saveRoom(room('another', [['bob@example.org', 'owner']], { subject: { text: 'Hello 👋', nick: 'bob' }, creator: 'bob@example.org' }));
      await mucOf(s, 'rooms.example.org').saveRoom(room('team', [['carol@example.org', 'owner']]));

      const loaded = await store.loadRooms();
      assert.deepEqual(
        loaded.map((r) => r.room),
        ['another', 'team'],
      );
      assert.deepEqual(loaded[1], team);
      assert.deepEqual(loaded[0]!.subject, { text: 'Hello 👋', nick: 'bob' });
      assert.equal(loaded[0]!.creator, 'bob@example.org');
      assert.deepEqual(
        [...(await mucOf(s, 'rooms.example.org').loadRooms())[0]!.affiliations],
        [['carol@example.org', 'owner']],
        'another service keeps its own',
      );
    }));

  test('muc: saving again replaces configuration and affiliations; single affiliations and the subject change in place', () =>
    withStorage(target, async (s) => {
      const store = mucOf(s);
      await store.saveRoom(
        room('team', [
          ['alice@example.org', 'owner'],
          ['bob@example.org', 'member'],
        ]),
      );
      const changed = room('team', [['alice@example.org', 'owner']], { config: { ...CONFIG, persistent: true, membersOnly: true, password: 'pw' } });
      await store.saveRoom(changed);
      let [r] = await store.loadRooms();
      assert.deepEqual(r!.config, changed.config);
      assert.deepEqual([...r!.affiliations], [['alice@example.org', 'owner']]);
      assert.deepEqual(r!.createdAt, at, 'the creation time stays');

      await store.setAffiliation('team', 'carol@example.org', 'admin');
      await store.setAffiliation('team', 'carol@example.org', 'outcast');
      await store.setAffiliation('team', 'dave@example.org', 'member');
      await store.setAffiliation('team', 'dave@example.org', 'none');
      await store.setSubject('team', { text: 'New', nick: '' });
      [r] = await store.loadRooms();
      assert.deepEqual([...r!.affiliations].sort(), [
        ['alice@example.org', 'owner'],
        ['carol@example.org', 'outcast'],
      ]);
      assert.deepEqual(r!.subject, { text: 'New', nick: '' });
    }));

  test('muc: deleting a room deletes its affiliations; a room that is not stored is not there to delete', () =>
    withStorage(target, async (s) => {
      const store = mucOf(s);
      await store.saveRoom(room('gone', [['alice@example.org', 'owner']]));
      assert.equal(await store.deleteRoom('gone'), true);
      assert.equal(await store.deleteRoom('gone'), false);
      assert.deepEqual(await store.loadRooms(), []);
      const left = await (s.db as unknown as Kysely<MucTables>).selectFrom('muc_affiliations').selectAll().execute();
      assert.deepEqual(left, []);
      await assert.rejects(store.setAffiliation('never', 'bob@example.org', 'member'), 'an affiliation needs its room');
    }));
}
