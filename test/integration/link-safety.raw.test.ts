// Must show (issue #6, link and file safety; contacts-only subscription rate
// limit), over raw sockets: alice and bob are mutual contacts, eve is neither's
// contact and carol is a bystander.
// - refuse: eve → bob with a file (out-of-band URL) is refused with the
//   configured condition and text; bob gets nothing (made real by a later
//   marker); the refusal is audited with the entry's name and what was found,
//   never the body;
// - flag: eve → bob with a link arrives with the warning in front of every
//   body, its XHTML-IM copy removed, and bob's archive holds the flagged text;
// - allow: alice → bob (a contact) with a link and a file, and eve → bob
//   without links, arrive unchanged;
// - subscription requests to non-contacts: eve's first two pass, the third is
//   refused with resource-constraint and the text, audited; carol's own pass.
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
const WARNING = 'Links from people outside your contacts are marked: check before you open them.';
const REFUSED = 'Files are delivered between contacts only.';
const SLOW = 'Too many contact requests; try again in an hour.';

const POLICY = `
version: 1
link_safety:
  - name: outsiders
    from: [non-contacts, external]
    links: flag
    files: refuse
    text: "${WARNING}"
    refuse_text: ${REFUSED}
subscription_limit: { per_hour: 2, text: ${SLOW} }
rules:
  - name: local
    subject: { local: true }
    decision: allow
`;

describe('link and file safety, subscription request limit (raw sockets)', () => {
  let ts: TestServer;
  let policyDir: string;
  const open: RawClient[] = [];
  let alice: RawClient;
  let bob: RawClient;
  let eve: RawClient;
  let carol: RawClient;

  const bare = (c: RawClient) => c.jid!.split('/')[0]!;

  const connect = async (name: string) => {
    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: name, password: `pw-${name}-secret`, resource: 'desk' });
    open.push(c);
    c.send('<presence/>');
    await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid);
    return c;
  };

  const lastSeq = async (): Promise<number> => {
    let seq = 0;
    for (;;) {
      const page = await ts.server.storage.audit.list({ afterSeq: seq, limit: 1000 });
      if (page.length === 0) return seq;
      seq = page[page.length - 1]!.seq;
    }
  };

  const audited = async (since: number, match: (e: AuditEntry) => boolean): Promise<AuditEntry> => {
    for (let i = 0; i < 50; i++) {
      const found = (await ts.server.storage.audit.list({ afterSeq: since, limit: 1000 })).find(match);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail('no matching audit entry');
  };

  let markers = 0;
  const marker = async (to: RawClient) => {
    const id = `marker-${++markers}`;
    carol.send(`<message type='chat' to='${to.jid}' id='${id}'><body>marker</body></message>`);
    await to.next((e) => e.name === 'message' && e.attrs.id === id);
  };

  const archived = async (c: RawClient, id: string): Promise<string[]> => {
    const queryid = `q-${id}`;
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

  before(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-link-safety-'));
    const policyFile = join(policyDir, 'policy.yaml');
    writeFileSync(policyFile, POLICY);
    ts = await startTestServer({ policy: { file: policyFile } });
    for (const name of ['alice', 'bob', 'eve', 'carol']) await ts.addUser(name);
    alice = await connect('alice');
    bob = await connect('bob');
    eve = await connect('eve');
    carol = await connect('carol');
    // alice and bob: mutual subscription (RFC 6121 §3.1), each way.
    for (const [from, to] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      from.send(`<presence to='${bare(to)}' type='subscribe'/>`);
      await to.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe' && e.attrs.from === bare(from));
      to.send(`<presence to='${bare(from)}' type='subscribed'/>`);
      await from.next((e) => e.name === 'presence' && e.attrs.type === 'subscribed' && e.attrs.from === bare(to));
      await Promise.all([from.ping(), to.ping()]);
    }
  });

  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
    await ts?.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  test('refuse: a file from a non-contact comes back with the condition and text; nothing reaches bob; audited without the body', async () => {
    const since = await lastSeq();
    const mark = bob.received.length;
    eve.send(`<message type='chat' to='${bob.jid}' id='file-1'><body>https://up.example/secret-invoice.pdf</body><x xmlns='jabber:x:oob'><url>https://up.example/secret-invoice.pdf</url></x></message>`);
    const reply = await eve.next((e) => e.name === 'message' && e.attrs.id === 'file-1' && e.attrs.type === 'error');
    assert.deepEqual(stanzaError(reply), { type: 'modify', condition: 'policy-violation', text: REFUSED });
    await marker(bob);
    assert.deepEqual(bob.received.slice(mark).filter((e) => e.attrs.id === 'file-1').map(String), []);
    assert.deepEqual(await archived(bob, 'file-1'), []);
    const entry = await audited(since, (e) => e.details.rule === 'outsiders');
    assert.equal(entry.actor, 'eve@localhost');
    assert.equal(entry.action, 'stanza.message');
    assert.equal(entry.decision, 'deny');
    assert.equal(entry.reason, REFUSED);
    assert.equal(entry.details.target, bob.jid);
    assert.equal(entry.details.link_safety, 'refuse');
    assert.deepEqual(entry.details.found, ['has-link', 'has-file']);
    assert.ok(!JSON.stringify(entry).includes('secret-invoice'), 'no part of the message in the audit log');
    // eve's stream carries on.
    await eve.ping();
  });

  test('flag: a link from a non-contact arrives with the warning in front of each body, XHTML-IM removed; the archive has the same', async () => {
    eve.send(
      `<message type='chat' to='${bob.jid}' id='link-1'><body>please log in at https://examp1e.com/login</body><body xml:lang='de'>bitte anmelden: https://examp1e.com/login</body>` +
        `<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><a href='https://examp1e.com/login'>your bank</a></body></html></message>`,
    );
    const got = await bob.next((e) => e.name === 'message' && e.attrs.id === 'link-1');
    assert.deepEqual(
      got.getChildren('body').map((b) => b.text),
      [`${WARNING}\n\nplease log in at https://examp1e.com/login`, `${WARNING}\n\nbitte anmelden: https://examp1e.com/login`],
    );
    assert.equal(got.getChild('html', 'http://jabber.org/protocol/xhtml-im'), undefined);
    assert.deepEqual(await archived(bob, 'link-1'), [`${WARNING}\n\nplease log in at https://examp1e.com/login`]);
  });

  test('allow: from a contact, links and files arrive unchanged; a non-contact without links too', async () => {
    const withFile = `<body>aesgcm://up.example/photo.jpg#0011 and www.example.com</body><x xmlns='jabber:x:oob'><url>aesgcm://up.example/photo.jpg#0011</url></x>`;
    alice.send(`<message type='chat' to='${bob.jid}' id='contact-1'>${withFile}</message>`);
    const got = await bob.next((e) => e.name === 'message' && e.attrs.id === 'contact-1');
    assert.equal(got.getChildText('body'), 'aesgcm://up.example/photo.jpg#0011 and www.example.com');
    assert.equal(got.getChild('x', 'jabber:x:oob')?.getChildText('url'), 'aesgcm://up.example/photo.jpg#0011');
    eve.send(`<message type='chat' to='${bob.jid}' id='plain-1'><body>hello bob, no links here</body></message>`);
    assert.equal((await bob.next((e) => e.name === 'message' && e.attrs.id === 'plain-1')).getChildText('body'), 'hello bob, no links here');
  });

  test('subscription requests to non-contacts: two an hour pass, the third is refused with resource-constraint, audited; others unaffected', async () => {
    const since = await lastSeq();
    for (const to of [alice, bob]) {
      eve.send(`<presence to='${bare(to)}' type='subscribe'/>`);
      await to.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe' && e.attrs.from === 'eve@localhost');
    }
    const mark = carol.received.length;
    eve.send(`<presence to='${bare(carol)}' type='subscribe' id='sub-3'/>`);
    const reply = await eve.next((e) => e.name === 'presence' && e.attrs.type === 'error' && e.attrs.id === 'sub-3');
    assert.deepEqual(stanzaError(reply), { type: 'wait', condition: 'resource-constraint', text: SLOW });
    await marker(carol);
    assert.deepEqual(carol.received.slice(mark).filter((e) => e.name === 'presence' && e.attrs.from === 'eve@localhost').map(String), []);
    const entry = await audited(since, (e) => e.details.rule === 'subscription-limit');
    assert.equal(entry.actor, 'eve@localhost');
    assert.equal(entry.action, 'stanza.presence');
    assert.equal(entry.reason, SLOW);
    assert.equal(entry.details.condition, 'resource-constraint');
    assert.equal(entry.details.target, bare(carol));
    assert.equal(entry.details.per_hour, 2);
    // Another sender has its own count.
    carol.send(`<presence to='${bare(eve)}' type='subscribe'/>`);
    await eve.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe' && e.attrs.from === 'carol@localhost');
  });
});
