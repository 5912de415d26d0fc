// Must show (issue "The policy engine and the audit log"): contacts-only cannot
// be bypassed through group chat private messages. A partner P may only
// communicate with contacts; S1 is a mutual contact, S2 is not. All three are
// in one room (rooms are allowed to everyone by a `services` rule). A private
// message P → S2 through the room is relayed with the real sender and recipient
// and refused by the contacts-only rule, with its text, audited, and nothing
// reaches S2; P → S1 through the room arrives. What P says to the whole room
// is group chat, which rules decide as traffic to the service (peer: services).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Element } from '../../src/xmpp/element.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';

const MUC = 'http://jabber.org/protocol/muc';
const SERVICE = 'conference.localhost';
const ROOM = `team@${SERVICE}`;
const RULE = 'partners-contacts-only';
const TEXT = 'Partners can only write to staff who have added them as a contact.';

const OPEN_POLICY = `
version: 1
rules:
  - { name: local-accounts, subject: { local: true }, decision: allow }
`;

const POLICY = `
version: 1
groups:
  staff: { members: [s1@localhost, s2@localhost] }
  partners: { members: [p@localhost] }
rules:
  - { name: local-login, action: login, subject: { local: true }, decision: allow }
  - { name: own-account-and-server, peer: [self, server], decision: allow }
  - { name: rooms, subject: { local: true }, peer: services, decision: allow }
  - name: ${RULE}
    subject: { groups: [partners] }
    peer: non-contacts
    decision: deny
    text: ${TEXT}
  - { name: inside, subject: { local: true }, peer: same-domain, decision: allow }
default:
  decision: deny
  text: Not allowed by the test policy.
`;

describe('contacts-only through group chat private messages (raw sockets)', () => {
  let ts: TestServer;
  let policyDir: string;
  const passwords = new Map<string, string>();
  const open: RawClient[] = [];
  let p: RawClient;
  let s1: RawClient;
  let s2: RawClient;

  const connect = async (name: string, resource: string): Promise<RawClient> => {
    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: name, password: passwords.get(name)!, resource });
    open.push(c);
    c.send('<presence/>');
    await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid);
    return c;
  };

  /** Joins the room; resolves once the subject that ends the join arrived. */
  const enter = async (c: RawClient, nick: string): Promise<void> => {
    c.sendRaw(`<presence to='${ROOM}/${nick}'><x xmlns='${MUC}'/></presence>`);
    await c.next((e) => e.name === 'message' && e.attrs.from === ROOM && e.getChild('subject') !== undefined);
  };

  before(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-contacts-only-muc-'));
    const policyFile = join(policyDir, 'policy.yaml');
    writeFileSync(policyFile, OPEN_POLICY);
    ts = await startTestServer({ policy: { file: policyFile } });
    for (const name of ['p', 's1', 's2']) passwords.set(name, (await ts.addUser(name)).password);

    // P and S1 become mutual contacts while the open policy is in force.
    const [sp, ss1] = await Promise.all([connect('p', 'setup'), connect('s1', 'setup')]);
    for (const [from, to] of [
      [ss1, sp],
      [sp, ss1],
    ] as const) {
      const toBare = to.jid!.split('/')[0]!;
      const fromBare = from.jid!.split('/')[0]!;
      from.send(`<presence to='${toBare}' type='subscribe'/>`);
      await to.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe' && e.attrs.from === fromBare);
      to.send(`<presence to='${fromBare}' type='subscribed'/>`);
      await from.next((e) => e.name === 'presence' && e.attrs.type === 'subscribed' && e.attrs.from === toBare);
    }
    await Promise.all([sp.ping(), ss1.ping()]);
    await Promise.all([sp.close(), ss1.close()]);

    writeFileSync(policyFile, POLICY);
    const reloaded = await ts.server.policyEngine.reload('test');
    assert.equal(reloaded.ok, true, reloaded.message);

    s1 = await connect('s1', 'desk');
    s2 = await connect('s2', 'desk');
    p = await connect('p', 'phone');
    // S1 creates the room (instant: the default configuration accepted), then S2 and P join.
    s1.sendRaw(`<presence to='${ROOM}/s1'><x xmlns='${MUC}'/></presence>`);
    await s1.next((e) => e.name === 'message' && e.attrs.from === ROOM && e.getChild('subject') !== undefined);
    const made = await s1.iq('set', `<query xmlns='${MUC}#owner'><x xmlns='jabber:x:data' type='submit'/></query>`, { to: ROOM });
    assert.equal(made.attrs.type, 'result', made.toString());
    await enter(s2, 's2');
    await enter(p, 'partner');
  });

  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
    await ts?.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  const pm = (from: RawClient, nick: string, id: string, body: string) =>
    from.sendRaw(`<message to='${ROOM}/${nick}' type='chat' id='${id}'><body>${body}</body></message>`);

  test('a private message to a non-contact through the room is refused with the rule text, audited, and never arrives', async () => {
    const since = s2.received.length;
    pm(p, 's2', 'pm-s2', 'psst, not a contact');
    const refused = await p.next((e: Element) => e.attrs.type === 'error' && e.attrs.id === 'pm-s2');
    assert.equal(refused.attrs.from, `${ROOM}/s2`);
    assert.deepEqual(stanzaError(refused), { type: 'modify', condition: 'policy-violation', text: TEXT });

    // S1 writes to S2 through the room afterwards: once it has arrived, P's message would have too.
    pm(s1, 's2', 'pm-marker', 'marker');
    await s2.next((e) => e.attrs.id === 'pm-marker');
    assert.deepEqual(
      s2.received.slice(since).filter((e) => e.getChildText('body') === 'psst, not a contact').map(String),
      [],
      'the private message reached S2',
    );

    let entry;
    for (let i = 0; i < 50 && !entry; i++) {
      entry = (await ts.server.storage.audit.list({ afterSeq: 0, limit: 1000 })).find((e) => e.details.rule === RULE && e.details.target === 's2@localhost/desk');
      if (!entry) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(entry, 'the refusal is in the audit log');
    assert.equal(entry.actor, 'p@localhost');
    assert.equal(entry.decision, 'deny');
    assert.equal(entry.reason, TEXT);
  });

  test('a private message to a mutual contact through the room arrives, from the room nick', async () => {
    pm(p, 's1', 'pm-s1', 'hello contact');
    const got = await s1.next((e) => e.attrs.id === 'pm-s1');
    assert.equal(got.attrs.from, `${ROOM}/partner`);
    assert.equal(got.getChildText('body'), 'hello contact');
  });
});
