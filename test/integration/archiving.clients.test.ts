// Must show (issue #6, archiving per group): "compliance archiving keeps a
// message the user asked not to archive". With the policy's archiving section
//   finance (fiona): compliance, 3650 days; board (bella): none; the rest: user
// and a real server:
// - @xmpp/client: fiona sets her preferences to default='never' and exchanges
//   messages with ann: neither is in fiona's archive (query and live stanza-id),
//   both are in ann's; `palisade archive export` writes both from the
//   compliance archive with their metadata and bodies; the export is audited
//   (count, period, destination, never a body); a no-store hint does not keep
//   a message out of the compliance archive;
// - raw sockets: bella (none) with preferences 'always' keeps nothing, her
//   queries and metadata are empty, and no compliance copy exists for her;
//   bob (user) keeps what his preferences say, and no compliance copy;
// - legal hold: `palisade hold add` (audited) makes the retention job, run
//   with its clock 4,000 days ahead, keep fiona's copies while it deletes
//   ann's; `palisade user remove fiona` is refused (audited as a denial) and
//   the account stays; after `palisade hold remove` the same run deletes them.
// Archiving a message is not audited per message (the archive is the record).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { XmlElement } from '@xmpp/client';
import { ComplianceStore, type ComplianceTables } from '../../src/modules/mam/compliance.ts';
import { runRetention } from '../../src/modules/mam/retention.ts';
import { ArchiveStore, type MamTables } from '../../src/modules/mam/store.ts';
import type { AuditEntry } from '../../src/storage/types.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { login, type RawClient } from '../helpers/raw-client.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { baseEnv, describeRun, run } from './clients/process.ts';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';

const MAM = 'urn:xmpp:mam:2';
const DAY = 86_400_000;
const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin', 'palisade.js');

const POLICY = `
groups:
  finance: { members: [fiona@localhost] }
  board: { members: [bella@localhost] }
rules:
  - { name: local, subject: { local: true }, decision: allow }
archiving:
  - groups: [finance]
    mode: compliance
    retention_days: 3650
  - groups: [board]
    mode: none
  - mode: user
`;

describe('archiving per group: compliance, none, user; legal hold; export', () => {
  let ts: TestServer;
  let dir: string;
  let config: string;
  let fiona: ConnectedClient;
  let ann: RawClient;
  let bella: RawClient;
  let bob: RawClient;
  const raws: RawClient[] = [];

  const palisade = (...args: string[]) => run(process.execPath, [BIN, ...args, '--config', config], { cwd: ROOT, env: baseEnv(), timeoutMs: 60_000 });
  const compliance = () => new ComplianceStore(ts.server.storage.db as unknown as Kysely<ComplianceTables>);
  const stores = () => {
    const db = ts.server.storage.db as unknown as Kysely<MamTables>;
    return { accounts: new ArchiveStore(db), rooms: new ArchiveStore(db, 'muc_mam_messages'), compliance: compliance() };
  };
  const complianceBodies = async (local: string) =>
    (await compliance().page({ domain: 'localhost', localpart: local }, {}, 0, 1000)).map((c) => /<body>([^<]*)<\/body>/.exec(c.xml)?.[1]);

  const lastSeq = async (): Promise<number> => {
    let seq = 0;
    for (;;) {
      const page = await ts.server.storage.audit.list({ afterSeq: seq, limit: 1000 });
      if (page.length === 0) return seq;
      seq = page[page.length - 1]!.seq;
    }
  };
  const auditSince = (seq: number): Promise<AuditEntry[]> => ts.server.storage.audit.list({ afterSeq: seq, limit: 1000 });

  /** Bodies of a raw client's own archive, and the <fin/>. */
  const rawArchive = async (c: RawClient): Promise<{ bodies: string[]; count: string | undefined }> => {
    const queryid = `q${c.newId()}`;
    const since = c.received.length;
    const fin = await c.iq('set', `<query xmlns='${MAM}' queryid='${queryid}'/>`);
    assert.equal(fin.attrs.type, 'result', fin.toString());
    const bodies = c.received
      .slice(since)
      .map((m) => m.getChild('result', MAM))
      .filter((r): r is Element => r?.attrs.queryid === queryid)
      .map((r) => r.getChild('forwarded', NS.forward)!.getChild('message')!.getChildText('body') ?? '');
    return { bodies, count: fin.getChild('fin', MAM)?.getChild('set', NS.rsm)?.getChildText('count') };
  };
  const rawPrefs = async (c: RawClient, mode: string) => assert.equal((await c.iq('set', `<prefs xmlns='${MAM}' default='${mode}'/>`)).attrs.type, 'result');
  const rawChat = async (from: RawClient, to: RawClient, id: string, body: string) => {
    from.send(`<message type='chat' to='${to.jid}' id='${id}'><body>${body}</body></message>`);
    return to.next((e) => e.name === 'message' && e.attrs.id === id);
  };

  /** fiona's archive through xmpp.js: the bodies of the results of one query. */
  const fionaArchive = async (): Promise<string[]> => {
    const queryid = `f${Date.now()}`;
    const reply = await fiona.xmpp.iqCaller.request(xml('iq', { type: 'set' }, xml('query', { xmlns: MAM, queryid })));
    assert.ok(reply.getChild('fin', MAM), reply.toString());
    return fiona.messages
      .filter((m) => m.getChild('result', MAM)?.attrs.queryid === queryid)
      .map((m) => m.getChild('result', MAM)!.getChild('forwarded', NS.forward)!.getChild('message', NS.client)!.getChildText('body') ?? '');
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-archiving-'));
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    ts = await startTestServer({ policy: { file: join(dir, 'policy.yaml') } });
    config = join(dir, 'palisade.yaml');
    writeFileSync(config, `domain: localhost\ndata_dir: ${ts.dataDir}\n`);
    trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
    for (const name of ['fiona', 'ann', 'bella', 'bob']) await ts.addUser(name);
    const raw = async (name: string) => {
      const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: name, password: `pw-${name}-secret`, resource: 'desk' });
      raws.push(c);
      c.send('<presence/>');
      await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid);
      return c;
    };
    ann = await raw('ann');
    bella = await raw('bella');
    bob = await raw('bob');
    // xmpp.js logs in with SASL2 and Bind 2: it is bound to `laptop/<id>` (fiona.jid), not `laptop`.
    fiona = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: 'fiona', password: 'pw-fiona-secret', resource: 'laptop' });
  });

  after(async () => {
    await fiona?.stop();
    await Promise.all(raws.map((c) => c.close()));
    await ts?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("compliance: fiona's preferences say never; her archive has nothing, the compliance archive has both messages; the export is audited", async () => {
    const prefs = await fiona.xmpp.iqCaller.request(xml('iq', { type: 'set' }, xml('prefs', { xmlns: MAM, default: 'never' })));
    assert.equal(prefs.getChild('prefs', MAM)?.attrs.default, 'never');
    const seq = await lastSeq();

    ann.send(`<message type='chat' to='fiona@localhost' id='to-fiona'><body>invoice 4711 approved?</body></message>`);
    const received: XmlElement = await fiona.nextMessage((m) => m.attrs.id === 'to-fiona');
    assert.deepEqual(received.getChildren('stanza-id', NS.stanzaId).filter((s) => s.attrs.by === 'fiona@localhost'), [], 'no id: her archive did not keep it');
    await fiona.xmpp.send(xml('message', { to: 'ann@localhost', type: 'chat', id: 'from-fiona' }, xml('body', {}, 'yes, paid today')));
    const atAnn = await ann.next((e) => e.name === 'message' && e.attrs.id === 'from-fiona');
    assert.equal(atAnn.getChildren('stanza-id', NS.stanzaId).filter((s) => s.attrs.by === 'ann@localhost').length, 1, "ann's archive (user, default always) kept it");

    assert.deepEqual(await fionaArchive(), [], "fiona's MAM results show what her preferences allow: nothing");
    assert.deepEqual((await rawArchive(ann)).bodies, ['invoice 4711 approved?', 'yes, paid today']);
    assert.deepEqual(await complianceBodies('fiona'), ['invoice 4711 approved?', 'yes, paid today']);
    assert.deepEqual(await complianceBodies('ann'), [], 'ann is not in a compliance group: fiona’s compliance puts nothing in an archive of hers');

    const out = join(dir, 'fiona.jsonl');
    const r = await palisade('archive', 'export', '--account', 'fiona@localhost', '--since', '2000-01-01', '--out', out);
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stderr, /exported 2 messages of fiona@localhost/);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((l) => [l.account, l.direction, l.peer, l.from, l.to, l.type, l.message_id, l.in_user_archive, l.body]),
      [
        ['fiona@localhost', 'in', 'ann@localhost/desk', 'ann@localhost/desk', 'fiona@localhost', 'chat', 'to-fiona', false, 'invoice 4711 approved?'],
        ['fiona@localhost', 'out', 'ann@localhost', fiona.jid, 'ann@localhost', 'chat', 'from-fiona', false, 'yes, paid today'],
      ],
    );
    for (const l of lines) {
      const stored = Date.parse(String(l.stored_at));
      assert.ok(Math.abs(stored - Date.now()) < 60_000, String(l.stored_at));
      assert.equal(Date.parse(String(l.expires_at)) - stored, 3650 * DAY, 'the policy’s retention_days');
      assert.match(String(l.xml), /^<message /);
    }
    const before = readFileSync(out, 'utf8');
    const again = await palisade('archive', 'export', '--account', 'fiona@localhost', '--out', out);
    assert.equal(again.code, 1, 'an existing file is not overwritten');
    assert.match(again.stderr, /--out: .*EEXIST/);
    assert.equal(readFileSync(out, 'utf8'), before);

    const entries = await auditSince(seq);
    assert.deepEqual(
      entries.map((e) => [e.action, e.decision]),
      [['archive.export', 'info']],
      'one entry: archiving the messages is not audited; the refused export never opened the archive',
    );
    assert.deepEqual(entries[0]!.details, { account: 'fiona@localhost', since: '2000-01-01T00:00:00.000Z', until: null, messages: 2, to: out });
    assert.ok(!JSON.stringify(entries).includes('4711') && !JSON.stringify(entries).includes('paid'), 'no body in the audit log');
  });

  test("a no-store hint keeps a message out of the users' archives, not out of the compliance archive", async () => {
    ann.send(`<message type='chat' to='fiona@localhost' id='hinted'><body>off the record</body><no-store xmlns='urn:xmpp:hints'/></message>`);
    await fiona.nextMessage((m) => m.attrs.id === 'hinted');
    assert.ok(!(await rawArchive(ann)).bodies.includes('off the record'));
    assert.deepEqual((await complianceBodies('fiona')).at(-1), 'off the record');
  });

  test('none: bella keeps nothing though her preferences say always; queries and metadata are empty, also of what was kept before; no compliance copy', async () => {
    await rawPrefs(bella, 'always');
    // Until the policy makes the board 'none', bella's archive keeps what her preferences say.
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, POLICY.replace('mode: none', 'mode: user'));
    assert.equal((await ts.server.policyEngine.reload('test')).ok, true);
    await rawChat(ann, bella, 'before-none', 'kept before');
    assert.deepEqual((await rawArchive(bella)).bodies, ['kept before']);
    writeFileSync(policyFile, POLICY);
    assert.equal((await ts.server.policyEngine.reload('test')).ok, true);
    const seq = await lastSeq();
    const got = await rawChat(ann, bella, 'to-bella', 'board minutes');
    assert.equal(got.getChildren('stanza-id', NS.stanzaId).length, 0);
    await rawChat(bella, ann, 'from-bella', 'noted');
    assert.deepEqual(await rawArchive(bella), { bodies: [], count: '0' });
    const kept = await stores().accounts.query({ domain: 'localhost', localpart: 'bella' }, {}, { max: 10 });
    assert.equal(kept.count, 1, 'the earlier message stays stored (until retention), unseen');
    const meta = await bella.iq('get', `<metadata xmlns='${MAM}'/>`);
    assert.equal(meta.attrs.type, 'result');
    assert.equal(meta.getChild('metadata', MAM)?.elements.length, 0, meta.toString());
    assert.deepEqual((await rawArchive(ann)).bodies.slice(-2), ['board minutes', 'noted'], "ann's side is hers: user mode keeps it");
    assert.deepEqual(await complianceBodies('bella'), []);
    assert.deepEqual(await auditSince(seq), [], 'nothing to audit');
  });

  test('user: bob’s preferences decide (never, then always); no compliance copy', async () => {
    await rawPrefs(bob, 'never');
    await rawChat(ann, bob, 'to-bob-1', 'lunch?');
    await rawPrefs(bob, 'always');
    await rawChat(ann, bob, 'to-bob-2', 'lunch at noon');
    assert.deepEqual((await rawArchive(bob)).bodies, ['lunch at noon']);
    assert.deepEqual(await complianceBodies('bob'), []);
  });

  test('legal hold: the retention run keeps fiona’s copies, removal is refused; released, the same run deletes them; all audited', async () => {
    const seq = await lastSeq();
    const later = new Date(Date.now() + 4000 * DAY);
    const placed = await palisade('hold', 'add', 'fiona@localhost', '--reason', 'matter 2026-17');
    assert.equal(placed.code, 0, describeRun(placed));
    const twice = await palisade('hold', 'add', 'fiona', '--reason', 'other');
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /fiona@localhost is already on legal hold \(since .*: matter 2026-17\)/);
    assert.match((await palisade('hold', 'list')).stdout, /^fiona@localhost\t\S+\tcli:\S+\tmatter 2026-17$/m);
    const unknown = await palisade('hold', 'add', 'nobody@localhost');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no account nobody@localhost and no compliance archive/);

    const r = await runRetention(stores(), later, 365);
    assert.ok(r.archived >= 2, 'ann’s and bob’s messages are past the retention');
    assert.deepEqual(await complianceBodies('fiona'), ['invoice 4711 approved?', 'yes, paid today', 'off the record'], 'kept past their expiry while on hold');
    assert.deepEqual((await rawArchive(ann)).bodies, [], 'not held: purged');

    const removal = await palisade('user', 'remove', 'fiona@localhost');
    assert.equal(removal.code, 1);
    assert.match(removal.stderr, /fiona@localhost is on legal hold \(since .*: matter 2026-17\); it cannot be removed until the hold is released with 'palisade hold remove fiona@localhost'/);
    assert.ok(await ts.server.storage.accounts.get('localhost', 'fiona'), 'the account stays');

    const released = await palisade('hold', 'remove', 'fiona@localhost');
    assert.equal(released.code, 0, describeRun(released));
    assert.equal((await palisade('hold', 'remove', 'fiona@localhost')).code, 1, 'not on hold any more');
    const r2 = await runRetention(stores(), later, 365);
    assert.equal(r2.compliance, 3);
    assert.deepEqual(await complianceBodies('fiona'), []);

    const entries = (await auditSince(seq)).map((e) => [e.action, e.decision, e.details.account, e.details.reason ?? e.details.hold_reason]);
    assert.deepEqual(entries, [
      ['legal-hold.place', 'info', 'fiona@localhost', 'matter 2026-17'],
      ['user.remove', 'deny', 'fiona@localhost', 'matter 2026-17'],
      ['legal-hold.release', 'info', 'fiona@localhost', 'matter 2026-17'],
    ]);
    const verify = await palisade('audit', 'verify');
    assert.equal(verify.code, 0, describeRun(verify));
  });

  test('export refusals: a bad date, a reversed range, another domain', async () => {
    for (const [args, message] of [
      [['--since', 'yesterday'], /--since: 'yesterday' is not a date/],
      [['--since', '2026-02-01', '--until', '2026-01-01'], /--since is after --until/],
    ] as const) {
      const r = await palisade('archive', 'export', '--account', 'fiona@localhost', ...args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, message);
    }
    const other = await palisade('archive', 'export', '--account', 'eve@elsewhere.example');
    assert.equal(other.code, 1);
    assert.match(other.stderr, /not on this server's domain localhost/);
  });
});
