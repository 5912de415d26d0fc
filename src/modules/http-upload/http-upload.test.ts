// Unit tests: file name and content type clean-up, encryption at rest, and
// the clamd client's refusal to call anything clean but "stream: OK" (the
// real clamd is in test/integration/http-upload.raw.test.ts; here a fake
// socket breaks in the ways a real one can).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileDecipher, loadServerKey, newFileCipher } from './at-rest.ts';
import { Clamd, parseScanReply } from './clamd.ts';
import { contentDisposition, parseContentType, sanitiseFilename, urlName } from './names.ts';

describe('file names', () => {
  test('path parts, controls, direction overrides and leading dots go; too long is refused', () => {
    assert.equal(sanitiseFilename('../../etc/passwd'), 'passwd');
    assert.equal(sanitiseFilename('C:\\Users\\x\\report.pdf'), 'report.pdf');
    assert.equal(sanitiseFilename('invoice\u202Efdp.exe'), 'invoicefdp.exe');
    assert.equal(sanitiseFilename('a\u0000b\nc.txt'), 'abc.txt');
    assert.equal(sanitiseFilename('.htaccess'), 'htaccess');
    assert.equal(sanitiseFilename('...'), 'file');
    assert.equal(sanitiseFilename('name. '), 'name');
    assert.equal(sanitiseFilename('e\u0301.txt'), '\u00e9.txt');
    assert.equal(sanitiseFilename('x'.repeat(255)), 'x'.repeat(255));
    assert.equal(sanitiseFilename('x'.repeat(256)), undefined);
    assert.equal(sanitiseFilename('é'.repeat(128)), undefined);
  });

  test('URL segment and Content-Disposition stay within limits and quote safely', () => {
    assert.equal(urlName('a b.txt'), 'a%20b.txt');
    assert.ok(urlName('日'.repeat(80)).length <= 200);
    assert.equal(contentDisposition('attachment', 'ré"sumé;.pdf'), `attachment; filename="r__sum__.pdf"; filename*=UTF-8''r%C3%A9%22sum%C3%A9%3B.pdf`);
  });

  test('content types: plain media types only', () => {
    assert.equal(parseContentType(' Image/PNG '), 'image/png');
    assert.equal(parseContentType('text/plain; charset=utf-8'), 'text/plain; charset=utf-8');
    for (const bad of ['text', 'text/html\r\nx: y', 'a/b; c="d"', `a/${'b'.repeat(300)}`]) assert.equal(parseContentType(bad), undefined, bad);
  });
});

describe('encryption at rest', () => {
  test('the server key is created 0600 and reused; a file round-trips; a changed byte is detected', () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-at-rest-'));
    try {
      const file = join(dir, 'k');
      const key = loadServerKey(file);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.ok(loadServerKey(file).equals(key));
      const plain = Buffer.from('the quarterly numbers');
      const { cipher, secrets } = newFileCipher(key);
      const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
      const tag = cipher.getAuthTag().toString('base64');
      assert.ok(!ct.equals(plain));
      const d = fileDecipher(key, secrets, tag);
      assert.ok(Buffer.concat([d.update(ct), d.final()]).equals(plain));
      ct[0]! ^= 1;
      const bad = fileDecipher(key, secrets, tag);
      bad.update(ct);
      assert.throws(() => bad.final());
      assert.throws(() => fileDecipher(loadServerKey(join(dir, 'other')), secrets, tag), 'another server key cannot unwrap it');
      writeFileSync(join(dir, 'short'), 'x');
      assert.throws(() => loadServerKey(join(dir, 'short')), /exactly 32 bytes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('clamd client', () => {
  test('replies: only "stream: OK" is clean', () => {
    assert.deepEqual(parseScanReply('stream: OK'), { verdict: 'clean' });
    assert.deepEqual(parseScanReply('stream: Eicar-Test FOUND'), { verdict: 'infected', signature: 'Eicar-Test' });
    assert.equal(parseScanReply('INSTREAM size limit exceeded. ERROR').verdict, 'error');
    assert.equal(parseScanReply('').verdict, 'error');
    assert.equal(parseScanReply('stream: OK trailing').verdict, 'error');
  });

  /** A fake clamd on a Unix socket that does `behave` with every connection. */
  async function fake(behave: (s: Socket) => void): Promise<{ clamd: Clamd; close(): Promise<void> }> {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-fake-clamd-'));
    const path = join(dir, 's');
    const server = createServer(behave);
    await new Promise<void>((r) => server.listen(path, r));
    return {
      clamd: new Clamd(path, 2000),
      close: () => new Promise((r) => server.close(() => (rmSync(dir, { recursive: true, force: true }), r()))),
    };
  }

  test('a size limit, a broken pipe or an early close is an error, never clean', async () => {
    const cases: [string, (s: Socket) => void][] = [
      ['size limit', (s) => s.once('data', () => s.end('INSTREAM size limit exceeded. ERROR\0'))],
      ['destroyed mid-stream (EPIPE, ECONNRESET)', (s) => s.once('data', () => s.destroy())],
      ['closed without verdict', (s) => s.once('data', () => s.end())],
    ];
    for (const [name, behave] of cases) {
      const f = await fake(behave);
      try {
        const scan = await f.clamd.scan();
        await scan.write(Buffer.alloc(100_000));
        assert.equal((await scan.result()).verdict, 'error', name);
      } finally {
        await f.close();
      }
    }
  });

  test('no clamd: ping is false and a scan cannot start', async () => {
    const clamd = new Clamd(join(tmpdir(), 'palisade-no-such-clamd.sock'), 500);
    assert.equal(await clamd.ping(), false);
    await assert.rejects(clamd.scan());
  });
});

describe('options', () => {
  test('downloads and encrypted_archives: documented defaults; anything else is refused with its key', async () => {
    const { default: module } = await import('./index.ts');
    const defaults = module.options!.parse({}) as { downloads: string; encrypted_archives: string };
    assert.deepEqual([defaults.downloads, defaults.encrypted_archives], ['capability', 'refuse']);
    for (const [key, value] of [
      ['downloads', 'everyone'],
      ['encrypted_archives', 'maybe'],
    ] as const) {
      const r = module.options!.safeParse({ [key]: value });
      assert.equal(r.success, false);
      assert.deepEqual(r.error!.issues[0]!.path, [key]);
    }
  });
});
