// Group commit: concurrent archive writes share a statement, each caller waits
// for its own rows, and one bad row fails only its own message. Against a real
// SQLite database with the archive's schema.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { openStorage, type Storage } from '../../storage/index.ts';
import { ArchiveStore, type MamTables, type NewArchived } from './store.ts';
import { ArchiveWriter } from './writer.ts';

let storage: Storage;
let store: ArchiveStore;
before(async () => {
  storage = await openStorage({ backend: 'sqlite', path: ':memory:' });
  await sql`insert into accounts (domain, localpart, created_at, disabled, is_admin) values ('d', 'a', 0, 0, 0), ('d', 'b', 0, 0, 0)`.execute(storage.db);
  store = new ArchiveStore(storage.db as unknown as Kysely<MamTables>);
});
after(() => storage.close());

let n = 0;
const row = (localpart: string): NewArchived => ({
  owner: { domain: 'd', localpart },
  stanzaId: `id-${++n}`,
  peer: 'x@d',
  peerResource: '',
  direction: 'in',
  storedAt: new Date(),
  xml: `<message xmlns='jabber:client'><body>${n}</body></message>`,
});

async function archived(localpart: string): Promise<string[]> {
  const page = await store.query({ domain: 'd', localpart }, {}, { max: 1000 });
  return page.items.map((i) => i.stanzaId);
}

test('rows added in one turn of the event loop are written in one statement, in order, before any caller resumes', async () => {
  const statements: number[] = [];
  const writer = new ArchiveWriter((rows) => (statements.push(rows.length), store.add(rows)), 100);
  const rows = [[row('a'), row('b')], [row('a')], [row('b'), row('a')]];
  await Promise.all(rows.map((r) => writer.add(r)));
  assert.deepEqual(statements, [5]);
  const ids = rows.flat();
  assert.deepEqual(await archived('a'), ids.filter((r) => r.owner.localpart === 'a').map((r) => r.stanzaId));
  assert.deepEqual(await archived('b'), ids.filter((r) => r.owner.localpart === 'b').map((r) => r.stanzaId));
});

test('a statement holds at most maxRows (whole callers); the rest follows once it is committed', async () => {
  const statements: number[] = [];
  const writer = new ArchiveWriter((rows) => (statements.push(rows.length), store.add(rows)), 3);
  await Promise.all([writer.add([row('a'), row('a')]), writer.add([row('a')]), writer.add([row('a')])]);
  assert.deepEqual(statements, [3, 1]);
});

test('rows that arrive while a statement is being committed go together into the next one', async () => {
  const statements: number[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const writer = new ArchiveWriter(async (rows) => {
    statements.push(rows.length);
    if (statements.length === 1) await held;
    await store.add(rows);
  }, 100);
  const first = writer.add([row('a')]);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(statements, [1], 'the first statement is being committed');
  const later = [writer.add([row('a')]), writer.add([row('b'), row('b')])];
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(statements, [1], 'nothing else is written while it is');
  release();
  await Promise.all([first, ...later]);
  assert.deepEqual(statements, [1, 3]);
});

test('a row that cannot be stored fails only its own caller; the others are committed', async () => {
  const writer = new ArchiveWriter((rows) => store.add(rows), 100);
  const good1 = row('a');
  const bad = row('nobody'); // no such account: the foreign key refuses it
  const good2 = row('b');
  const results = await Promise.allSettled([writer.add([good1]), writer.add([bad]), writer.add([good2])]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.match(String((results[1] as PromiseRejectedResult).reason), /FOREIGN KEY/);
  assert.ok((await archived('a')).includes(good1.stanzaId));
  assert.ok((await archived('b')).includes(good2.stanzaId));
  assert.deepEqual(await archived('nobody'), []);
});

test('nothing to write resolves at once without a statement', async () => {
  let statements = 0;
  const writer = new ArchiveWriter(async () => void statements++, 10);
  await writer.add([]);
  assert.equal(statements, 0);
});
