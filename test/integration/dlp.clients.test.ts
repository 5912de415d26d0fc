// Must show (content rules, through a real client library): @xmpp/client over
// STARTTLS: a card number to a partner is refused with the rule's condition
// and text (audited without the number, nothing reaches the partner), an IBAN
// arrives redacted, and the other sessions carry on.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';
import type { AuditEntry } from '../../src/storage/types.ts';

const TEXT = 'Card numbers may not be sent to partners.';
const POLICY = `
version: 1
groups:
  staff: { members: [alice@localhost, bob@localhost] }
  partners: { members: [pat@localhost] }
rules:
  - name: no-cards-to-partners
    subject: { groups: [staff] }
    peer: { groups: [partners] }
    content: { detectors: [card-number], action: block }
    text: ${TEXT}
  - name: redact-ibans-to-partners
    subject: { groups: [staff] }
    peer: { groups: [partners] }
    content: { detectors: [iban], action: redact }
  - name: local
    subject: { local: true }
    decision: allow
`;

describe('content rules (DLP) through a real client (@xmpp/client)', () => {
  let ts: TestServer;
  let policyDir: string;
  const open: ConnectedClient[] = [];
  let alice: ConnectedClient;
  let bob: ConnectedClient;
  let pat: ConnectedClient;

  before(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-dlp-clients-'));
    const policyFile = join(policyDir, 'policy.yaml');
    writeFileSync(policyFile, POLICY);
    ts = await startTestServer({ policy: { file: policyFile } });
    trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
    const login = async (name: string) => {
      const u = await ts.addUser(name);
      const c = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: u.local, password: u.password, resource: 'lib' });
      open.push(c);
      return c;
    };
    alice = await login('alice');
    bob = await login('bob');
    pat = await login('pat');
  });

  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.stop()));
    await ts?.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  const send = (from: ConnectedClient, to: string, id: string, body: string) => from.xmpp.send(xml('message', { to, type: 'chat', id }, xml('body', {}, body)));

  test('block: policy-violation with the text; nothing reaches pat; audited without the number', async () => {
    await send(alice, 'pat@localhost', 'lib-block', 'card 5500-0055-5555-5559');
    const m = await alice.nextMessage((s) => s.attrs.id === 'lib-block' && s.attrs.type === 'error');
    const err = m.getChild('error')!;
    assert.equal(err.attrs.type, 'modify');
    assert.equal(err.getChildElements().find((e) => e.name !== 'text')?.name, 'policy-violation');
    assert.equal(err.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas'), TEXT);

    // A later message from bob arrives, and the refused one never did.
    await send(bob, 'pat@localhost', 'lib-after', 'hello');
    await pat.nextMessage((s) => s.attrs.id === 'lib-after');
    assert.equal(pat.messages.some((s) => s.attrs.id === 'lib-block'), false);

    let entry: AuditEntry | undefined;
    // Appended off the stanza path, in a batch: up to 5 s on a loaded machine.
    for (let i = 0; i < 250 && !entry; i++) {
      entry = (await ts.server.storage.audit.list({ limit: 1000 })).find((e) => e.details.rule === 'no-cards-to-partners');
      if (!entry) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(entry, 'audited');
    assert.equal(entry.decision, 'deny');
    assert.deepEqual(entry.details.detectors, ['card-number']);
    assert.ok(!JSON.stringify(entry).includes('5555'));
  });

  test('redact: pat gets the IBAN redacted; alice carries on', async () => {
    await send(alice, 'pat@localhost', 'lib-redact', 'pay to GB82 WEST 1234 5698 7654 32 please');
    const m = await pat.nextMessage((s) => s.attrs.id === 'lib-redact');
    assert.equal(m.getChildText('body'), 'pay to [redacted IBAN] please');
    await alice.xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), ts.domain);
  });
});
