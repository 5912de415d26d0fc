// What an account logged in with lately (migration 0018), on SQLite and on
// PostgreSQL: the first login is only recorded, a new client or network is
// reported, only the last `remember` of each are kept, removal forgets.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openStorage } from '../../storage/index.ts';
import type { Storage, StorageConfig } from '../../storage/types.ts';
import { forgetKnownClients, ipPrefix, KnownClients } from './known-clients.ts';

test('addresses are kept as network prefixes: /24 for IPv4, /48 for IPv6', () => {
  assert.equal(ipPrefix('203.0.113.77'), '203.0.113.0/24');
  assert.equal(ipPrefix('::ffff:203.0.113.77'), '203.0.113.0/24');
  assert.equal(ipPrefix('2001:db8:abcd:12::1'), '2001:db8:abcd::/48');
  assert.equal(ipPrefix('2001:db8::1'), '2001:db8:0::/48');
  assert.equal(ipPrefix('::1'), '0:0:0::/48');
  assert.equal(ipPrefix('not an address'), 'unknown');
});

const ALICE = { domain: 'example.org', localpart: 'alice' };
const BOB = { domain: 'example.org', localpart: 'bob' };

function contract(name: string, open: () => Promise<Storage>) {
  describe(`known clients on ${name}`, () => {
    test('first login, new client, new network, known again', async () => {
      const s = await open();
      try {
        const k = new KnownClients(s.db, 3);
        const t = (n: number) => new Date(Date.UTC(2026, 0, 1, 0, n));
        assert.deepEqual(await k.see(ALICE, 'gajim', '192.0.2.0/24', t(0)), { first: true, newClient: true, newNetwork: true });
        assert.deepEqual(await k.see(ALICE, 'gajim', '192.0.2.0/24', t(1)), { first: false, newClient: false, newNetwork: false });
        assert.deepEqual(await k.see(ALICE, 'conversations', '192.0.2.0/24', t(2)), { first: false, newClient: true, newNetwork: false });
        assert.deepEqual(await k.see(ALICE, 'gajim', '198.51.100.0/24', t(3)), { first: false, newClient: false, newNetwork: true });
        // Another account's history is its own.
        assert.equal((await k.see(BOB, 'gajim', '192.0.2.0/24', t(4))).first, true);
        // Only the last 3 clients are remembered: the least recently used falls out.
        await k.see(ALICE, 'dino', '192.0.2.0/24', t(5));
        assert.equal((await k.see(ALICE, 'monal', '192.0.2.0/24', t(6))).newClient, true); // conversations (t2) dropped
        assert.equal((await k.see(ALICE, 'conversations', '192.0.2.0/24', t(7))).newClient, true); // gajim (t3) dropped
        assert.equal((await k.see(ALICE, 'dino', '192.0.2.0/24', t(8))).newClient, false);
        assert.equal((await k.see(ALICE, 'gajim', '192.0.2.0/24', t(9))).newClient, true);
        await forgetKnownClients(s.db, ALICE);
        assert.equal((await k.see(ALICE, 'gajim', '192.0.2.0/24', t(10))).first, true);
        assert.equal((await k.see(BOB, 'gajim', '192.0.2.0/24', t(11))).first, false);
      } finally {
        await s.close();
      }
    });
  });
}

contract('SQLite', () => openStorage({ backend: 'sqlite', path: ':memory:' }));

const adminUrl = process.env.PALISADE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
if (process.env.PALISADE_TEST_SKIP_PG === '1') {
  test('known clients on PostgreSQL', { skip: 'PALISADE_TEST_SKIP_PG=1' }, () => {});
} else {
  const admin = new pg.Pool({ connectionString: adminUrl, max: 2 });
  const name = `palisade_test_known_${randomBytes(6).toString('hex')}`;
  after(async () => {
    await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.end();
  });
  contract('PostgreSQL', async () => {
    await admin.query(`create database "${name}"`);
    const u = new URL(adminUrl);
    u.pathname = `/${name}`;
    const cfg: StorageConfig = { backend: 'postgres', url: u.toString(), poolSize: 2 };
    return openStorage(cfg);
  });
}
