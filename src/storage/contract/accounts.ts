// Contract: AccountStore.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { StorageConflictError, type NewAccount } from '../types.ts';
import { account, cred, withStorage, type ContractTarget } from './harness.ts';

export function accountsContract(target: ContractTarget): void {
  test('create and get round-trip every field', () =>
    withStorage(target, async (s) => {
      const createdAt = new Date('2021-02-03T04:05:06.789Z');
      const creds = [cred('SHA-512', 7, 10000), cred('SHA-1', 3), cred('SHA-256', 5, 8192)];
      await s.accounts.create({ domain: 'example.org', localpart: 'alice', createdAt, disabled: true, isAdmin: true, credentials: creds });
      const a = await s.accounts.get('example.org', 'alice');
      assert.deepEqual(a, {
        domain: 'example.org',
        localpart: 'alice',
        createdAt,
        disabled: true,
        isAdmin: true,
        credentials: [cred('SHA-1', 3), cred('SHA-256', 5, 8192), cred('SHA-512', 7, 10000)],
      });
      assert.ok(Buffer.isBuffer(a.credentials[0]?.salt));
      assert.equal(await s.accounts.get('example.org', 'bob'), undefined);
      assert.equal(await s.accounts.get('example.com', 'alice'), undefined, 'domains are separate');
    }));

  test('create defaults createdAt to now and allows no credentials', () =>
    withStorage(target, async (s) => {
      const before = Date.now();
      await s.accounts.create(account('example.org', 'nocreds', { credentials: [] }));
      const a = await s.accounts.get('example.org', 'nocreds');
      assert.ok(a);
      assert.deepEqual(a.credentials, []);
      assert.ok(a.createdAt.getTime() >= before && a.createdAt.getTime() <= Date.now());
    }));

  test('create of an existing account throws StorageConflictError and changes nothing', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account('example.org', 'alice', { credentials: [cred('SHA-256', 1)] }));
      await assert.rejects(
        s.accounts.create(account('example.org', 'alice', { isAdmin: true, credentials: [cred('SHA-512', 9)] })),
        StorageConflictError,
      );
      const a = await s.accounts.get('example.org', 'alice');
      assert.equal(a?.isAdmin, false);
      assert.deepEqual(a?.credentials, [cred('SHA-256', 1)]);
      await s.accounts.create(account('example.com', 'alice')); // same localpart, other domain
    }));

  test('bad credentials are rejected before anything is written', () =>
    withStorage(target, async (s) => {
      await assert.rejects(
        s.accounts.create(account('example.org', 'dup', { credentials: [cred('SHA-256', 1), cred('SHA-256', 2)] })),
        TypeError,
      );
      await assert.rejects(
        s.accounts.create(account('example.org', 'md5', { credentials: [{ ...cred('SHA-1', 1), hash: 'MD5' as 'SHA-1' }] })),
        TypeError,
      );
      await assert.rejects(
        s.accounts.createMany([account('example.org', 'ok'), account('example.org', 'zero', { credentials: [cred('SHA-1', 1, 0)] })]),
        TypeError,
      );
      assert.equal(await s.accounts.count('example.org'), 0);
    }));

  test('createMany skips and reports existing accounts and repeats', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account('example.org', 'b', { isAdmin: true, credentials: [cred('SHA-1', 1)] }));
      const list: NewAccount[] = [
        account('example.org', 'a', { credentials: [cred('SHA-256', 4), cred('SHA-512', 5)] }),
        account('example.org', 'b', { credentials: [cred('SHA-512', 6)] }),
        account('example.org', 'c'),
        account('example.org', 'a', { isAdmin: true }),
        account('example.net', 'b'),
      ];
      assert.deepEqual(await s.accounts.createMany(list), { created: 3, existing: ['a@example.org', 'b@example.org'] });
      assert.deepEqual((await s.accounts.get('example.org', 'a'))?.credentials, [cred('SHA-256', 4), cred('SHA-512', 5)]);
      assert.equal((await s.accounts.get('example.org', 'a'))?.isAdmin, false, 'first of a repeat wins');
      const b = await s.accounts.get('example.org', 'b');
      assert.equal(b?.isAdmin, true, 'existing account untouched');
      assert.deepEqual(b?.credentials, [cred('SHA-1', 1)]);
      assert.equal(await s.accounts.count('example.org'), 3);
      assert.equal(await s.accounts.count('example.net'), 1);
      assert.deepEqual(await s.accounts.createMany([]), { created: 0, existing: [] });
    }));

  test('createMany imports 10,000 accounts with 3 credentials each', (t) =>
    withStorage(target, async (s) => {
      const bulk = (domain: string): NewAccount[] => {
        const pool = randomBytes(10_000 * (3 * 16 + 2 * (20 + 32 + 64)));
        let off = 0;
        const take = (n: number) => pool.subarray(off, (off += n));
        return Array.from({ length: 10_000 }, (_, i) => ({
          domain,
          localpart: `user${String(i).padStart(5, '0')}`,
          disabled: false,
          isAdmin: false,
          credentials: (['SHA-1', 'SHA-256', 'SHA-512'] as const).map((hash) => {
            const len = hash === 'SHA-1' ? 20 : hash === 'SHA-256' ? 32 : 64;
            return { hash, salt: take(16), iterations: 4096, storedKey: take(len), serverKey: take(len) };
          }),
        }));
      };
      // Speed belongs in benchmarks, not in a test's verdict; the time is only reported.
      const list = bulk('bulk.example');
      const start = performance.now();
      assert.deepEqual(await s.accounts.createMany(list), { created: 10_000, existing: [] });
      t.diagnostic(`createMany 10000 accounts x 3 credentials: ${(performance.now() - start).toFixed(0)} ms`);

      const domain = list[0]?.domain ?? '';
      assert.equal(await s.accounts.count(domain), 10_000);
      const { createdAt, ...sample } = (await s.accounts.get(domain, 'user04321')) ?? {};
      assert.ok(createdAt instanceof Date);
      assert.deepEqual(sample, list[4321]);
      const again = await s.accounts.createMany(list.slice(0, 2));
      assert.deepEqual(again, { created: 0, existing: [`user00000@${domain}`, `user00001@${domain}`] });
    }));

  test('list orders by localpart in code point order and pages by key', () =>
    withStorage(target, async (s) => {
      // Upper case before lower, é after z: byte order, whatever the database's locale.
      const names = ['zoe', 'Zed', 'émile', 'a.b', 'a', 'bob', 'b', '0day', 'ab', 'z'];
      await s.accounts.createMany(names.map((n) => account('example.org', n)));
      await s.accounts.create(account('other.example', 'aaa'));
      const sorted = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      assert.deepEqual(sorted, ['0day', 'Zed', 'a', 'a.b', 'ab', 'b', 'bob', 'z', 'zoe', 'émile']);

      const all = await s.accounts.list('example.org');
      assert.deepEqual(all.map((a) => a.localpart), sorted);
      assert.deepEqual(all[0]?.credentials, [cred('SHA-256', 1)]);

      const seen: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await s.accounts.list('example.org', { after, limit: 3 });
        if (page.length === 0) break;
        assert.ok(page.length <= 3);
        seen.push(...page.map((a) => a.localpart));
        after = page.at(-1)?.localpart;
      }
      assert.deepEqual(seen, sorted);
      assert.deepEqual((await s.accounts.list('example.org', { after: 'b', limit: 2 })).map((a) => a.localpart), ['bob', 'z']);
      assert.deepEqual(await s.accounts.list('nobody.example'), []);
      await assert.rejects(s.accounts.list('example.org', { limit: 0 }), RangeError);
      await assert.rejects(s.accounts.list('example.org', { limit: 1.5 }), RangeError);
      await assert.rejects(s.accounts.list('example.org', { limit: 100_000 }), RangeError);
    }));

  test('setCredentials replaces all credentials atomically', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account('example.org', 'alice', { credentials: [cred('SHA-1', 1), cred('SHA-256', 2), cred('SHA-512', 3)] }));
      assert.equal(await s.accounts.setCredentials('example.org', 'alice', [cred('SHA-256', 9, 20000)]), true);
      assert.deepEqual((await s.accounts.get('example.org', 'alice'))?.credentials, [cred('SHA-256', 9, 20000)]);
      assert.equal(await s.accounts.setCredentials('example.org', 'alice', [cred('SHA-512', 4), cred('SHA-1', 5)]), true);
      assert.deepEqual((await s.accounts.get('example.org', 'alice'))?.credentials, [cred('SHA-1', 5), cred('SHA-512', 4)]);
      // A bad list leaves the old one in place.
      await assert.rejects(s.accounts.setCredentials('example.org', 'alice', [cred('SHA-1', 6), cred('SHA-1', 7)]), TypeError);
      assert.deepEqual((await s.accounts.get('example.org', 'alice'))?.credentials, [cred('SHA-1', 5), cred('SHA-512', 4)]);
      assert.equal(await s.accounts.setCredentials('example.org', 'alice', []), true);
      assert.deepEqual((await s.accounts.get('example.org', 'alice'))?.credentials, []);
      assert.equal(await s.accounts.setCredentials('example.org', 'nobody', [cred('SHA-1', 1)]), false);
      assert.equal(await s.accounts.get('example.org', 'nobody'), undefined);
    }));

  test('setDisabled and setAdmin', () =>
    withStorage(target, async (s) => {
      await s.accounts.create(account('example.org', 'alice'));
      assert.equal(await s.accounts.setDisabled('example.org', 'alice', true), true);
      assert.equal(await s.accounts.setAdmin('example.org', 'alice', true), true);
      const a = await s.accounts.get('example.org', 'alice');
      assert.deepEqual([a?.disabled, a?.isAdmin], [true, true]);
      assert.equal(await s.accounts.setDisabled('example.org', 'alice', false), true);
      assert.equal((await s.accounts.get('example.org', 'alice'))?.disabled, false);
      assert.equal((await s.accounts.get('example.org', 'alice'))?.isAdmin, true);
      assert.equal(await s.accounts.setAdmin('example.org', 'alice', false), true);
      assert.equal((await s.accounts.get('example.org', 'alice'))?.isAdmin, false);
      assert.equal(await s.accounts.setDisabled('example.org', 'nobody', true), false);
      assert.equal(await s.accounts.setAdmin('example.org', 'nobody', true), false);
    }));

  test('remove deletes the account and its credentials; count follows', () =>
    withStorage(target, async (s) => {
      await s.accounts.createMany([
        account('example.org', 'alice', { credentials: [cred('SHA-1', 1), cred('SHA-256', 2)] }),
        account('example.org', 'bob'),
        account('example.com', 'alice'),
      ]);
      assert.equal(await s.accounts.count('example.org'), 2);
      assert.equal(await s.accounts.remove('example.org', 'alice'), true);
      assert.equal(await s.accounts.get('example.org', 'alice'), undefined);
      assert.equal(await s.accounts.remove('example.org', 'alice'), false);
      assert.equal(await s.accounts.count('example.org'), 1);
      assert.equal(await s.accounts.count('example.com'), 1);
      const left = await s.db.selectFrom('accounts').select('domain').where('localpart', '=', 'alice').execute();
      assert.deepEqual(left, [{ domain: 'example.com' }]);
      // The same name can be registered again, from scratch.
      await s.accounts.create(account('example.org', 'alice', { credentials: [] }));
      assert.deepEqual((await s.accounts.get('example.org', 'alice'))?.credentials, []);
    }));

  test('the schema has no plaintext password column', () =>
    withStorage(target, async (s) => {
      const tables = await s.db.introspection.getTables();
      const columns = tables.flatMap((t) => t.columns.map((c) => `${t.name}.${c.name}`));
      assert.ok(columns.includes('accounts.scram_sha256_stored_key'));
      assert.deepEqual(columns.filter((c) => /pass|plain/i.test(c)), []);
    }));
}
