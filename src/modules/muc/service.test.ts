// The service with a real store and no sockets: persistent rooms come back
// after a restart with their configuration, subject and affiliations;
// temporary rooms don't; a refused change leaves the room as it was.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import { openStorage } from '../../storage/index.ts';
import type { Storage } from '../../storage/types.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { parseJID } from '../../xmpp/jid.ts';
import { defaultConfig } from './config.ts';
import { prepareNick } from './nick.ts';
import { JoinRate } from './rate.ts';
import { MucService, type MucLimits } from './service.ts';
import { MucStore, type MucTables } from './store.ts';

const LIMITS: MucLimits = { maxRoomsPerUser: 10, maxUsers: 50, maxHistory: 50, maxNickChars: 20, maxSubjectChars: 100, maxNameChars: 30 };
const DOMAIN = 'conference.example.org';
let storage: Storage;
let sent: Element[];

beforeEach(async () => {
  storage = await openStorage({ backend: 'sqlite', path: ':memory:' });
  sent = [];
});
afterEach(() => storage.close());

function service(): MucService {
  return new MucService({
    domain: DOMAIN,
    store: new MucStore(storage.db as unknown as Kysely<MucTables>, DOMAIN),
    limits: LIMITS,
    rate: new JoinRate(60, 10),
    send: async (s) => void sent.push(s),
    relay: async (s) => (sent.push(s), { decision: 'allow', rule: 'test' }),
  });
}

async function join(s: MucService, room: string, full: string, nick: string): Promise<void> {
  await s.join(room, {
    user: parseJID(full),
    requested: nick,
    nick: prepareNick(nick, 20),
    presence: x('presence'),
    mucAware: true,
    password: undefined,
    history: {},
  });
}

test('a persistent room survives a restart; a temporary one does not', async () => {
  const first = service();
  await join(first, 'team', 'alice@example.org/a', 'alice');
  await join(first, 'scratch', 'alice@example.org/a', 'alice');
  const team = first.rooms.get('team')!;
  await first.configure(team, { ...defaultConfig(LIMITS), persistent: true, membersOnly: true, name: 'Team' });
  await first.configure(first.rooms.get('scratch')!, defaultConfig(LIMITS));
  await first.apply(team, [{ kind: 'affiliation', bare: 'bob@example.org', affiliation: 'member', reason: undefined }], undefined);
  await first.setSubject(team, team.occupants.get('alice')!, x('subject').t('Plans'), x('message'));

  const second = service();
  await second.load();
  assert.deepEqual([...second.rooms.keys()], ['team']);
  const back = second.rooms.get('team')!;
  assert.equal(back.config.name, 'Team');
  assert.equal(back.config.membersOnly, true);
  assert.equal(back.locked, false);
  assert.deepEqual(back.subject, { text: 'Plans', nick: 'alice' });
  assert.deepEqual([...back.affiliations].sort(), [
    ['alice@example.org', 'owner'],
    ['bob@example.org', 'member'],
  ]);
  assert.equal(back.creator, 'alice@example.org');
  assert.equal(back.occupants.size, 0);
});

test('the last owner cannot go: conflict, and neither memory nor the store changes', async () => {
  const s = service();
  await join(s, 'team', 'alice@example.org/a', 'alice');
  const room = s.rooms.get('team')!;
  await s.configure(room, { ...defaultConfig(LIMITS), persistent: true });
  await assert.rejects(
    s.apply(room, [{ kind: 'affiliation', bare: 'alice@example.org', affiliation: 'member', reason: undefined }], undefined),
    (err: unknown) => err instanceof StanzaError && err.condition === 'conflict',
  );
  assert.equal(room.affiliationOf('alice@example.org'), 'owner');
  const again = service();
  await again.load();
  assert.equal(again.rooms.get('team')!.affiliationOf('alice@example.org'), 'owner');
});

test('destroying a persistent room removes it from the store; a temporary room goes with its last occupant', async () => {
  const s = service();
  await join(s, 'team', 'alice@example.org/a', 'alice');
  const room = s.rooms.get('team')!;
  await s.configure(room, { ...defaultConfig(LIMITS), persistent: true });
  await s.destroy(room, x('destroy'));
  const again = service();
  await again.load();
  assert.equal(again.rooms.size, 0);

  await join(s, 'brief', 'alice@example.org/a', 'alice');
  const brief = s.rooms.get('brief')!;
  await s.leave(brief, brief.occupants.get('alice')!, undefined);
  assert.equal(s.rooms.has('brief'), false);
});
