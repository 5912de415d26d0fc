// `palisade quarantine list|release|delete` as a real process, on the storage
// of a running server: EICAR uploaded through the server and quarantined by a
// real clamd, listed, released (only with --yes) and then served by the
// running server, deleted with its key and its file; every change audited.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { startClamd, eicar, type TestClamd } from '../helpers/clamd.ts';
import { login, type RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'palisade.js');
const UP = 'urn:xmpp:http:upload:0';

describe('palisade quarantine', () => {
  let ts: TestServer;
  let clamd: TestClamd;
  let ca: Buffer;
  let alice: RawClient;
  let config: string;

  before(async () => {
    clamd = await startClamd();
    ts = await startTestServer({
      listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } },
      modules: { disco: {}, ping: {}, 'http-upload': { antivirus: { socket: clamd.socket, timeout_ms: 10_000 } } },
    });
    ca = readFileSync(join(ts.dataDir, 'tls', 'localhost.crt'));
    const { password } = await ts.addUser('alice');
    alice = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'alice', password });
    // The CLI reads the same data folder (and so the same SQLite database) as the running server.
    config = join(ts.dataDir, 'palisade.yaml');
    writeFileSync(config, `domain: localhost\ndata_dir: ${ts.dataDir}\n`);
  });
  after(async () => {
    await alice?.close();
    await ts?.stop();
    await clamd?.stop();
  });

  const palisade = (args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args, '--config', config], { cwd: ROOT, input: '', encoding: 'utf8', env: { ...process.env, PALISADE_CONFIG: '' }, timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  const http = (method: string, url: string, body?: Buffer): Promise<{ status: number; body: Buffer }> => {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const req = request({ method, host: '127.0.0.1', port: u.port, path: u.pathname, servername: 'localhost', ca, agent: false, headers: body ? { 'content-length': String(body.length), 'content-type': 'text/plain' } : {} }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  };

  /** Uploads EICAR through the server; returns its download URL and blob (the quarantine id). */
  const uploadEicar = async (filename: string): Promise<{ get: string; id: string }> => {
    const r = await alice.iq('get', `<request xmlns='${UP}' filename='${filename}' size='${eicar().length}' content-type='text/plain'/>`, { to: 'upload.localhost' });
    const slot = r.getChild('slot', UP)!;
    const put = await http('PUT', slot.getChild('put')!.attrs.url!, eicar());
    assert.equal(put.status, 403, put.body.toString());
    assert.match(put.body.toString(), /quarantined/);
    const get = slot.getChild('get')!.attrs.url!;
    const token = new URL(get).pathname.split('/')[2]!;
    const row = await (ts.server.storage.db as any).selectFrom('http_upload_files').select('blob').where('get_token', '=', token).executeTakeFirst();
    return { get, id: row.blob };
  };

  test('list, release with --yes, delete; refusals; all audited', async () => {
    const first = await uploadEicar('first.txt');
    const second = await uploadEicar('second.txt');

    const list = palisade(['quarantine', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trim().split('\n');
    assert.equal(lines.length, 2, list.stdout);
    assert.match(lines[0]!, new RegExp(`^${first.id}\\talice@localhost\\t68 bytes\\ttext/plain\\tEicar-Test-Signature\\S*\\t\\d{4}-\\d\\d-\\d\\dT\\S+Z\\tfirst\\.txt$`));
    assert.match(lines[1]!, new RegExp(`^${second.id}\\talice@localhost\\t`));
    assert.ok(!list.stdout.includes(new URL(first.get).pathname.split('/')[2]!), 'no download token in the list');

    // Release needs --yes; until then the file stays unreachable.
    const unconfirmed = palisade(['quarantine', 'release', first.id]);
    assert.equal(unconfirmed.code, 1);
    assert.match(unconfirmed.stderr, /releasing makes first\.txt \(Eicar-Test-Signature\S*\) downloadable through its link; add --yes/);
    assert.equal((await http('GET', first.get)).status, 404);
    const released = palisade(['quarantine', 'release', first.id, '--yes']);
    assert.equal(released.code, 0, released.stderr);
    assert.match(released.stdout, new RegExp(`^released ${first.id}: first\\.txt from alice@localhost can be downloaded again until `));
    // The running server serves it at once, decrypted with its key.
    const served = await http('GET', first.get);
    assert.equal(served.status, 200);
    assert.ok(served.body.equals(eicar()));
    assert.equal(palisade(['quarantine', 'release', first.id, '--yes']).code, 1, 'not quarantined any more');

    const blob = join(ts.dataDir, 'uploads', second.id);
    assert.ok(existsSync(blob));
    const deleted = palisade(['quarantine', 'delete', second.id]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, `deleted ${second.id}\n`);
    assert.equal(existsSync(blob), false, 'the file is gone');
    const row = await (ts.server.storage.db as any).selectFrom('http_upload_files').selectAll().where('blob', '=', second.id).executeTakeFirst();
    assert.equal(row, undefined, 'the row, and with it the wrapped key, is gone');
    const again = palisade(['quarantine', 'delete', second.id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no quarantined file/);
    // A released file is not in quarantine: delete refuses it (it expires like any file).
    assert.equal(palisade(['quarantine', 'delete', first.id]).code, 1);

    for (const bad of ['../../http-upload.key', 'x', `${second.id}/..`]) {
      const r = palisade(['quarantine', 'delete', bad]);
      assert.equal(r.code, 1, bad);
      assert.match(r.stderr, /is not a quarantined file's id/, bad);
    }
    assert.ok(existsSync(join(ts.dataDir, 'http-upload.key')));

    const empty = palisade(['quarantine', 'list']);
    assert.equal(empty.code, 0);
    assert.equal(empty.stdout, '');
    assert.match(empty.stderr, /no quarantined files/);

    const entries = await ts.server.storage.audit.list({ afterSeq: 0, limit: 1000 });
    const release = entries.find((e) => e.action === 'http-upload.quarantine.release');
    const removal = entries.find((e) => e.action === 'http-upload.quarantine.delete');
    assert.deepEqual(
      [release?.details.file, release?.details.uploader, release?.details.filename],
      [first.id, 'alice@localhost', 'first.txt'],
    );
    assert.match(String(release?.actor), /^cli/);
    assert.equal(removal?.details.file, second.id);
    assert.match(String(removal?.details.signature), /^Eicar-Test-Signature/);
  });
});
