// Must show (issue "The policy engine and the audit log", content rules): over
// raw sockets, with staff (alice, two resources with carbons; bob) and a
// partner (pat), and carol outside both groups:
// - block: alice → pat with a card number is refused with the rule's condition
//   and text; pat gets nothing (made real by a later marker), neither archive
//   has it, and the audit entry names the rule and the detector, never the number;
// - redact: alice → pat with an IBAN and a project code: pat, alice's other
//   resource (carbon), pat's archive and alice's own archive all have the
//   redacted text; audited without the IBAN;
// - alert: alice → bob with a card number is delivered unchanged, audited with
//   severity alert;
// - a message without a match is delivered unchanged and not audited;
// - other sessions carry on: the sender's stream, carol's messages to pat.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry } from '../../src/storage/types.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';

const MAM = 'urn:xmpp:mam:2';
const CARD = '4111 1111 1111 1111';
const IBAN = 'DE89 3704 0044 0532 0130 00';
const BLOCK_TEXT = 'Card numbers may not be sent to partners.';

const POLICY = `
version: 1
groups:
  staff: { members: [alice@localhost, bob@localhost] }
  partners: { members: [pat@localhost] }
detectors:
  project-code: { regex: 'PRJ-\\d{4}', flags: i, replacement: '[project code]' }
rules:
  - name: no-cards-to-partners
    subject: { groups: [staff] }
    peer: { groups: [partners] }
    content: { detectors: [card-number], action: block }
    text: ${BLOCK_TEXT}
  - name: redact-to-partners
    subject: { groups: [staff] }
    peer: { groups: [partners] }
    content: { detectors: [iban, project-code], action: redact }
  - name: alert-cards-inside
    peer: { groups: [staff] }
    content: { detectors: [card-number], action: alert }
  - name: local
    subject: { local: true }
    decision: allow
`;

describe('content rules (DLP) over raw sockets', () => {
  let ts: TestServer;
  let policyDir: string;
  const open: RawClient[] = [];
  let alice: RawClient;
  let alicePhone: RawClient;
  let bob: RawClient;
  let pat: RawClient;
  let carol: RawClient;

  const lastSeq = async (): Promise<number> => {
    let seq = 0;
    for (;;) {
      const page = await ts.server.storage.audit.list({ afterSeq: seq, limit: 1000 });
      if (page.length === 0) return seq;
      seq = page[page.length - 1]!.seq;
    }
  };

  /** The audit entry after `since` (appended off the stanza path, so wait for it). */
  const audited = async (since: number, match: (e: AuditEntry) => boolean): Promise<AuditEntry> => {
    for (let i = 0; i < 50; i++) {
      const found = (await ts.server.storage.audit.list({ afterSeq: since, limit: 1000 })).find(match);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail('no matching audit entry');
  };

  const contentEntries = async (since: number) =>
    (await ts.server.storage.audit.list({ afterSeq: since, limit: 1000 })).filter((e) => e.details.content_action !== undefined);

  /** A message from carol, awaited at `to`: whatever was sent to `to` before it has arrived. */
  let markers = 0;
  const marker = async (to: RawClient) => {
    const id = `marker-${++markers}`;
    carol.send(`<message type='chat' to='${to.jid}' id='${id}'><body>marker</body></message>`);
    await to.next((e) => e.name === 'message' && e.attrs.id === id);
  };

  /** The bodies of the messages with `id` in the account's archive (XEP-0313). */
  const archived = async (c: RawClient, id: string): Promise<string[]> => {
    const queryid = `q-${id}-${c.newId()}`;
    const since = c.received.length;
    const fin = await c.iq('set', `<query xmlns='${MAM}' queryid='${queryid}'/>`);
    assert.equal(fin.attrs.type, 'result', fin.toString());
    return c.received
      .slice(since)
      .map((m) => m.getChild('result', MAM))
      .filter((r): r is Element => r?.attrs.queryid === queryid)
      .map((r) => r.getChild('forwarded', NS.forward)!.getChild('message')!)
      .filter((m) => m.attrs.id === id)
      .map((m) => m.getChildText('body') ?? '');
  };

  const chat = (to: RawClient, id: string, body: string, extra = '') => `<message type='chat' to='${to.jid}' id='${id}'><body>${body}</body>${extra}</message>`;

  before(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-dlp-'));
    const policyFile = join(policyDir, 'policy.yaml');
    writeFileSync(policyFile, POLICY);
    ts = await startTestServer({ policy: { file: policyFile } });
    const connect = async (name: string, resource: string) => {
      const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: name, password: `pw-${name}-secret`, resource });
      open.push(c);
      c.send('<presence/>');
      await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid);
      return c;
    };
    for (const name of ['alice', 'bob', 'pat', 'carol']) await ts.addUser(name);
    alice = await connect('alice', 'desk');
    alicePhone = await connect('alice', 'phone');
    bob = await connect('bob', 'desk');
    pat = await connect('pat', 'desk');
    carol = await connect('carol', 'desk');
    for (const c of [alice, alicePhone]) assert.equal((await c.iq('set', `<enable xmlns='${NS.carbons}'/>`)).attrs.type, 'result');
  });

  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
    await ts?.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  test('block: the sender gets the error with the text; the partner and the archives get nothing; audited without the number', async () => {
    const since = await lastSeq();
    const patMark = pat.received.length;
    const phoneMark = alicePhone.received.length;
    alice.send(chat(pat, 'block-1', `my card: ${CARD}`));
    const reply = await alice.next((e) => e.name === 'message' && e.attrs.id === 'block-1' && e.attrs.type === 'error');
    assert.deepEqual(stanzaError(reply), { type: 'modify', condition: 'policy-violation', text: BLOCK_TEXT });
    await marker(pat);
    await marker(alicePhone);
    assert.deepEqual(pat.received.slice(patMark).filter((e) => e.attrs.id === 'block-1').map(String), []);
    assert.deepEqual(alicePhone.received.slice(phoneMark).filter((e) => e.toString().includes('block-1')).map(String), [], 'no carbon');
    assert.deepEqual(await archived(pat, 'block-1'), []);
    assert.deepEqual(await archived(alice, 'block-1'), []);

    const entry = await audited(since, (e) => e.details.rule === 'no-cards-to-partners');
    assert.equal(entry.actor, 'alice@localhost');
    assert.equal(entry.action, 'stanza.message');
    assert.equal(entry.decision, 'deny');
    assert.equal(entry.reason, BLOCK_TEXT);
    assert.equal(entry.details.condition, 'policy-violation');
    assert.equal(entry.details.target, pat.jid);
    assert.equal(entry.details.content_action, 'block');
    assert.deepEqual(entry.details.detectors, ['card-number']);
    assert.ok(!JSON.stringify(entry).includes('1111'), 'the audit entry has no part of the number');
  });

  test('redact: the partner, the carbon, and both archives get the redacted text; audited without the IBAN', async () => {
    const since = await lastSeq();
    alice.send(chat(pat, 'redact-1', `IBAN ${IBAN}, ref prj-4711`, `<subject>About PRJ-4711</subject>`));
    const got = await pat.next((e) => e.name === 'message' && e.attrs.id === 'redact-1');
    const want = 'IBAN [redacted IBAN], ref [project code]';
    assert.equal(got.getChildText('body'), want);
    assert.equal(got.getChildText('subject'), 'About [project code]');
    const carbon = await alicePhone.next((e) => e.name === 'message' && e.getChild('sent', NS.carbons) !== undefined && e.toString().includes('redact-1'));
    const copied = carbon.getChild('sent', NS.carbons)!.getChild('forwarded', NS.forward)!.getChild('message')!;
    assert.equal(copied.getChildText('body'), want);
    await alice.ping();
    assert.deepEqual(await archived(pat, 'redact-1'), [want]);
    assert.deepEqual(await archived(alice, 'redact-1'), [want], "the sender's own archive");

    const entry = await audited(since, (e) => e.details.content_action === 'redact');
    assert.equal(entry.actor, 'alice@localhost');
    assert.equal(entry.decision, 'allow');
    assert.equal(entry.details.target, pat.jid);
    assert.deepEqual(entry.details.rules, ['redact-to-partners']);
    assert.deepEqual(entry.details.detectors, ['iban', 'project-code']);
    assert.ok(!/3704|4711/.test(JSON.stringify(entry)), 'the audit entry has none of the content');
  });

  test('alert: delivered unchanged, audited with severity alert and no number', async () => {
    const since = await lastSeq();
    alice.send(chat(bob, 'alert-1', `use ${CARD}`));
    const got = await bob.next((e) => e.name === 'message' && e.attrs.id === 'alert-1');
    assert.equal(got.getChildText('body'), `use ${CARD}`);
    const entry = await audited(since, (e) => e.details.content_action === 'alert');
    assert.equal(entry.actor, 'alice@localhost');
    assert.equal(entry.decision, 'allow');
    assert.equal(entry.details.severity, 'alert');
    assert.equal(entry.details.rule, 'alert-cards-inside');
    assert.equal(entry.details.target, bob.jid);
    assert.deepEqual(entry.details.detectors, ['card-number']);
    assert.ok(!JSON.stringify(entry).includes('1111'));
  });

  test('no match: delivered unchanged, nothing audited', async () => {
    const since = await lastSeq();
    const body = 'order 4111 1111 1111 1112 (not a card), DE00 1234, PRJ-12';
    alice.send(chat(pat, 'plain-1', body));
    const got = await pat.next((e) => e.name === 'message' && e.attrs.id === 'plain-1');
    assert.equal(got.getChildText('body'), body);
    await alice.ping();
    assert.deepEqual(await archived(pat, 'plain-1'), [body]);
    assert.deepEqual(await contentEntries(since), []);
  });

  test('other sessions are unaffected: the sender carries on, and carol (no content rule) sends a card number to pat', async () => {
    assert.equal((await alice.ping()).attrs.type, 'result');
    assert.equal(alice.streamEnded, false);
    carol.send(chat(pat, 'carol-1', `card ${CARD}`));
    const got = await pat.next((e) => e.name === 'message' && e.attrs.id === 'carol-1');
    assert.equal(got.getChildText('body'), `card ${CARD}`);
    alice.send(chat(pat, 'after-1', 'still here'));
    assert.equal((await pat.next((e) => e.name === 'message' && e.attrs.id === 'after-1')).getChildText('body'), 'still here');
  });
});
