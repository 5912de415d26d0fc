// Must show (issue "The policy engine and the audit log"): contacts-only cannot
// be bypassed. A partner, P, may only communicate with contacts (mutual
// subscription), as the docs' worked example writes it: S1 is a mutual contact,
// S2 is not on P's roster, S3 subscribed to P's presence one-way (P's roster
// says 'from'), P subscribed to S4's one-way ('to'). For each path: P → S2 is
// refused with the rule's condition and text, nothing reaches S2 (made real by
// a later marker that does arrive), the refusal is in the audit log; P → S1
// works. The subscriptions are made under an open policy first, then the
// contacts-only policy is loaded (as when an account becomes a partner later):
// under contacts-only, P could not answer a subscription request itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseElement } from '../../src/net/xml-stream.ts';
import { capsVer } from '../../src/modules/pep/caps.ts';
import { verifyAuditLog } from '../../src/policy/audit-log.ts';
import type { AuditEntry } from '../../src/storage/types.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';

const RULE = 'partners-contacts-only';
const TEXT = 'You can only write to Example Ltd. staff who have added you as a contact.';
const REFUSED = { type: 'modify', condition: 'policy-violation', text: TEXT };

const OPEN_POLICY = `
version: 1
rules:
  - name: local-accounts
    subject: { local: true }
    decision: allow
`;

const POLICY = `
version: 1
groups:
  staff: { members: [s1@localhost, s2@localhost, s3@localhost, s4@localhost] }
  partners: { members: [p@localhost] }
rules:
  - name: local-login
    action: login
    subject: { local: true }
    decision: allow
  - name: own-account-and-server
    peer: [self, server]
    decision: allow
  - name: ${RULE}
    subject: { groups: [partners] }
    peer: non-contacts
    decision: deny
    text: ${TEXT}
  - name: partners-with-staff
    subject: { groups: [partners] }
    peer: { groups: [staff] }
    decision: allow
  - name: staff-to-partners
    subject: { groups: [staff] }
    peer: { groups: [partners] }
    decision: allow
  - name: inside
    subject: { local: true }
    peer: same-domain
    decision: allow
default:
  decision: deny
  text: Not allowed by the test policy.
`;

const DEVICELIST = `${NS.omemoLegacy}.devicelist`;
const CAPS_NODE = 'urn:palisade:test';

const bare = (c: RawClient) => c.jid!.split('/')[0]!;

describe('contacts-only cannot be bypassed (raw sockets)', () => {
  let ts: TestServer;
  let policyDir: string;
  const passwords = new Map<string, string>();
  const open: RawClient[] = [];
  let p: RawClient; // the partner, carbons on
  let p2: RawClient; // the partner's second resource, carbons on
  let s1: RawClient; // mutual contact of P
  let s2: RawClient; // not a contact, carbons on
  let s2b: RawClient; // S2's second resource, carbons on
  let s3: RawClient; // subscribed to P's presence, one-way
  let s4: RawClient; // P is subscribed to S4's presence, one-way

  const connect = async (name: string, resource: string): Promise<RawClient> => {
    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: name, password: passwords.get(name)!, resource });
    open.push(c);
    return c;
  };

  /** Each client's <c/>: updated presence repeats it, as clients do, or the server forgets its +notify. */
  const caps = new Map<RawClient, string>();

  /**
   * Initial presence with entity caps wanting the OMEMO device list (each client
   * its own caps, so the server always asks), answering the server's disco#info.
   */
  const available = async (c: RawClient): Promise<void> => {
    const inner =
      `<identity category='client' type='pc' name='raw test'/><feature var='${NS.discoInfo}'/>` +
      `<feature var='${DEVICELIST}+notify'/><feature var='urn:palisade:test:${c.jid}'/>`;
    const ver = capsVer(parseElement(`<query xmlns='${NS.discoInfo}'>${inner}</query>`), 'sha-1')!;
    caps.set(c, `<c xmlns='${NS.caps}' hash='sha-1' node='${CAPS_NODE}' ver='${ver}'/>`);
    c.send(`<presence>${caps.get(c)!}</presence>`);
    const q = await c.next((e) => e.name === 'iq' && e.attrs.type === 'get' && e.getChild('query', NS.discoInfo) !== undefined);
    c.send(`<iq type='result' id='${q.attrs.id}' to='${ts.domain}'><query xmlns='${NS.discoInfo}' node='${CAPS_NODE}#${ver}'>${inner}</query></iq>`);
    await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid && e.attrs.type === undefined);
    await c.ping();
  };

  const enableCarbons = async (c: RawClient) => assert.equal((await c.iq('set', `<enable xmlns='${NS.carbons}'/>`)).attrs.type, 'result');

  /** `from` subscribes to `to`'s presence and `to` approves (RFC 6121 §3.1). */
  const subscribe = async (from: RawClient, to: RawClient) => {
    from.send(`<presence to='${bare(to)}' type='subscribe'/>`);
    await to.next((e) => e.name === 'presence' && e.attrs.type === 'subscribe' && e.attrs.from === bare(from));
    to.send(`<presence to='${bare(from)}' type='subscribed'/>`);
    await from.next((e) => e.name === 'presence' && e.attrs.type === 'subscribed' && e.attrs.from === bare(to));
    await Promise.all([from.ping(), to.ping()]);
  };

  /** A chat message S1 → `to`, awaited there: whatever was sent to `to` before it has arrived. */
  let markers = 0;
  const marker = async (to: RawClient) => {
    const id = `marker-${++markers}`;
    s1.send(`<message type='chat' to='${to.jid}' id='${id}'><body>marker</body></message>`);
    await to.next((e) => e.name === 'message' && e.attrs.id === id);
  };

  /** What `c` received from the partner's account since `since` (an index into c.received), besides errors. */
  const fromPartner = (c: RawClient, since: number) =>
    c.received.slice(since).filter((e) => e.attrs.from?.startsWith('p@') && e.attrs.type !== 'error');

  /** Asserts the recipients got nothing from P since the marks (each made real by a marker). */
  const nothingReached = async (marks: Map<RawClient, number>) => {
    for (const [c, since] of marks) {
      await marker(c);
      assert.deepEqual(fromPartner(c, since).map(String), [], `${c.jid} got something from P`);
    }
  };
  const mark = (...cs: RawClient[]) => new Map(cs.map((c) => [c, c.received.length]));

  const lastSeq = async (): Promise<number> => {
    let seq = 0;
    for (;;) {
      const page = await ts.server.storage.audit.list({ afterSeq: seq, limit: 1000 });
      if (page.length === 0) return seq;
      seq = page[page.length - 1]!.seq;
    }
  };

  /** The audit entry of a refusal after `since` (appended off the stanza path, so wait for it). */
  const audited = async (since: number, match: (e: AuditEntry) => boolean): Promise<AuditEntry> => {
    for (let i = 0; i < 50; i++) {
      const found = (await ts.server.storage.audit.list({ afterSeq: since, limit: 1000 })).find(match);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail('no matching audit entry');
  };

  const refusalOf = (since: number, action: string, target: string, feature: string) =>
    audited(since, (e) => e.details.rule === RULE && e.action === action && e.details.target === target && e.details.feature === feature).then((e) => {
      assert.equal(e.actor, 'p@localhost');
      assert.equal(e.decision, 'deny');
      assert.equal(e.reason, TEXT);
      assert.equal(e.details.condition, 'policy-violation');
      return e;
    });

  before(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-contacts-only-'));
    const policyFile = join(policyDir, 'policy.yaml');
    writeFileSync(policyFile, OPEN_POLICY);
    ts = await startTestServer({ policy: { file: policyFile } });
    for (const name of ['p', 's1', 's2', 's3', 's4']) passwords.set(name, (await ts.addUser(name)).password);

    // The rosters, made by the clients while the open policy is in force.
    const setup = await Promise.all(['p', 's1', 's3', 's4'].map((n) => connect(n, 'setup')));
    for (const c of setup) {
      c.send('<presence/>');
      await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid);
    }
    const [sp, ss1, ss3, ss4] = setup as [RawClient, RawClient, RawClient, RawClient];
    await subscribe(ss1, sp);
    await subscribe(sp, ss1);
    await subscribe(ss3, sp);
    await subscribe(sp, ss4);
    await Promise.all(setup.map((c) => c.close()));

    writeFileSync(policyFile, POLICY);
    const reloaded = await ts.server.policyEngine.reload('test');
    assert.equal(reloaded.ok, true, reloaded.message);

    s1 = await connect('s1', 'desk');
    s2 = await connect('s2', 'desk');
    s2b = await connect('s2', 'phone');
    s3 = await connect('s3', 'desk');
    s4 = await connect('s4', 'desk');
    p = await connect('p', 'phone');
    p2 = await connect('p', 'laptop');
    for (const c of [s1, s2, s2b, s3, s4, p, p2]) await available(c);
    for (const c of [p, p2, s2, s2b]) await enableCarbons(c);
  });

  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
    await ts?.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  describe('presence', () => {
    test('broadcast presence with status text reaches the mutual contact S1, not the one-way subscriber S3 (audited) nor S2', async () => {
      const since = await lastSeq();
      const marks = mark(s2, s3);
      p.send(`<presence>${caps.get(p)!}<status>Call me on +49 30 1234567</status></presence>`);
      const got = await s1.next((e) => e.name === 'presence' && e.attrs.from === p.jid && e.getChildText('status') !== undefined);
      assert.equal(got.getChildText('status'), 'Call me on +49 30 1234567');
      await p.ping(); // the broadcast is done
      await nothingReached(marks);
      await refusalOf(since, 'stanza.presence', 's3@localhost', 'presence');
    });

    test("a probe from S3's new session is not answered with P's presence either", async () => {
      const since = await lastSeq();
      const s3b = await connect('s3', 'tablet');
      s3b.send('<presence/>'); // probes the presence S3 is subscribed to: P's
      await s3b.next((e) => e.name === 'presence' && e.attrs.from === s3b.jid);
      await s3b.ping();
      await refusalOf(since, 'stanza.presence', s3b.jid!, 'presence');
      await nothingReached(new Map([[s3b, 0]]));
      await s3b.close();
    });

    test('directed presence P → S2 (full and bare JID) and a subscription request with a status text are refused', async () => {
      const since = await lastSeq();
      const marks = mark(s2, s2b);
      for (const [to, extra] of [
        [s2.jid!, ''],
        ['s2@localhost', ''],
        ['s2@localhost', " type='subscribe'"],
      ] as const) {
        p.send(`<presence to='${to}'${extra}><status>Please add me, I have news</status></presence>`);
        const reply = await p.next((e) => e.name === 'presence' && e.attrs.type === 'error' && e.attrs.from === to);
        assert.deepEqual(stanzaError(reply), REFUSED);
      }
      await nothingReached(marks);
      await refusalOf(since, 'stanza.presence', s2.jid!, 'presence');
      await refusalOf(since, 'stanza.presence', 's2@localhost', 'presence:subscribe');
      // The refused subscription request changed nothing: S2 has no request pending and P no item.
      const roster = await p.iq('get', `<query xmlns='jabber:iq:roster'/>`);
      assert.equal(
        roster.getChild('query')!.getChildren('item').some((i) => i.attrs.jid === 's2@localhost'),
        false,
      );
    });
  });

  describe('iq', () => {
    test("iq to S2's full JID (version, ping) is refused and never reaches S2; a ping to S1's resource is answered by S1", async () => {
      const since = await lastSeq();
      const marks = mark(s2);
      for (const payload of [`<query xmlns='${NS.version}'/>`, `<ping xmlns='${NS.ping}'/>`]) {
        const reply = await p.iq('get', payload, { to: s2.jid! });
        assert.deepEqual(stanzaError(reply), REFUSED);
      }
      await nothingReached(marks);
      await refusalOf(since, 'stanza.iq', s2.jid!, `iq:${NS.version}`);
      await refusalOf(since, 'stanza.iq', s2.jid!, `iq:${NS.ping}`);

      const answered = p.iq('get', `<ping xmlns='${NS.ping}'/>`, { to: s1.jid!, id: 'ping-s1' });
      const ping = await s1.next((e) => e.name === 'iq' && e.attrs.id === 'ping-s1');
      assert.equal(ping.attrs.from, p.jid);
      s1.send(`<iq type='result' id='ping-s1' to='${p.jid}'/>`);
      assert.equal((await answered).attrs.type, 'result');
    });

    test("vCard: P fetching S2's is refused, S1's is answered", async () => {
      await s1.iq('set', `<vCard xmlns='${NS.vcard}'><FN>Sam One</FN></vCard>`);
      await s2.iq('set', `<vCard xmlns='${NS.vcard}'><FN>Sue Two</FN></vCard>`);
      const since = await lastSeq();
      assert.deepEqual(stanzaError(await p.iq('get', `<vCard xmlns='${NS.vcard}'/>`, { to: 's2@localhost' })), REFUSED);
      await refusalOf(since, 'stanza.iq', 's2@localhost', `iq:${NS.vcard}`);
      const ok = await p.iq('get', `<vCard xmlns='${NS.vcard}'/>`, { to: 's1@localhost' });
      assert.equal(ok.getChild('vCard', NS.vcard)?.getChildText('FN'), 'Sam One');
    });

    test("MAM: P querying S2's archive is refused by the rule, S1's with service-unavailable (only the owner reads an archive); no results either way", async () => {
      const since = await lastSeq();
      const before = p.received.length;
      const query = (id: string) => `<query xmlns='${NS.mam}' queryid='${id}'/>`;
      assert.deepEqual(stanzaError(await p.iq('set', query('q-s2'), { to: 's2@localhost' })), REFUSED);
      await refusalOf(since, 'stanza.iq', 's2@localhost', `iq:${NS.mam}`);
      const s1Archive = await p.iq('set', query('q-s1'), { to: 's1@localhost' });
      assert.equal(stanzaError(s1Archive).condition, 'service-unavailable');
      await p.ping();
      assert.deepEqual(
        p.received.slice(before).filter((e) => e.getChild('result', NS.mam) !== undefined),
        [],
        'no archived message was sent',
      );
    });
  });

  describe('PEP', () => {
    test('an open OMEMO device list notifies S1 and P\'s own resources; the one-way subscriber S3 (audited) and S2 get nothing', async () => {
      const since = await lastSeq();
      const marks = mark(s2, s2b, s3);
      const options =
        `<publish-options><x xmlns='${NS.dataForms}' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS.pubsubPublishOptions}</value></field>` +
        `<field var='pubsub#access_model'><value>open</value></field></x></publish-options>`;
      const published = await p.iq(
        'set',
        `<pubsub xmlns='${NS.pubsub}'><publish node='${DEVICELIST}'><item id='current'><list xmlns='${NS.omemoLegacy}'><device id='4711'/></list></item></publish>${options}</pubsub>`,
      );
      assert.equal(published.attrs.type, 'result', published.toString());
      const isEvent = (e: Element) => e.name === 'message' && e.getChild('event', NS.pubsubEvent) !== undefined;
      for (const c of [s1, p, p2]) assert.equal((await c.next(isEvent)).attrs.from, 'p@localhost');
      await nothingReached(marks);
      await refusalOf(since, 'stanza.message', s3.jid!, 'headline');
    });

    test("a new session asking for the device list gets P's last item at S1, not at S3 (XEP-0163 §4.3)", async () => {
      const since = await lastSeq();
      const s1c = await connect('s1', 'watch');
      const s3c = await connect('s3', 'watch');
      await available(s1c);
      await available(s3c);
      const last = await s1c.next((e) => e.name === 'message' && e.getChild('event', NS.pubsubEvent) !== undefined);
      assert.equal(last.attrs.from, 'p@localhost');
      await refusalOf(since, 'stanza.message', s3c.jid!, 'headline');
      await nothingReached(new Map([[s3c, 0]]));
      await Promise.all([s1c.close(), s3c.close()]);
    });

    test("P cannot read S2's nodes; S2 reading P's open node is S2's own request, decided by the staff rules (allowed here)", async () => {
      const items = `<pubsub xmlns='${NS.pubsub}'><items node='${DEVICELIST}'/></pubsub>`;
      assert.deepEqual(stanzaError(await p.iq('get', items, { to: 's2@localhost' })), REFUSED);
      const read = await s2.iq('get', items, { to: 'p@localhost' });
      assert.equal(read.attrs.type, 'result', read.toString());
    });
  });

  describe('messages', () => {
    let n = 0;
    const send = (from: RawClient, to: string, type: string | undefined, extra = '') => {
      const id = `msg-${++n}`;
      from.send(`<message to='${to}' id='${id}'${type ? ` type='${type}'` : ''}><body>hello ${id}</body>${extra}</message>`);
      return id;
    };
    const refusal = (c: RawClient, id: string) => c.next((e) => e.name === 'message' && e.attrs.id === id && e.attrs.type === 'error');

    test('chat, normal, headline and untyped messages to S2 are refused, each audited with its type', async () => {
      for (const [type, feature] of [
        ['chat', 'chat'],
        ['normal', 'normal'],
        ['headline', 'headline'],
        [undefined, 'normal'],
      ] as const) {
        const since = await lastSeq();
        const marks = mark(s2, s2b);
        const id = send(p, 's2@localhost', type);
        assert.deepEqual(stanzaError(await refusal(p, id)), REFUSED, `type ${type ?? '(none)'}`);
        await nothingReached(marks);
        await refusalOf(since, 'stanza.message', 's2@localhost', feature);
      }
    });

    test("'mutual' is required: a one-way subscription either way is not a contact", async () => {
      for (const c of [s3, s4]) {
        const since = await lastSeq();
        const marks = mark(c);
        const id = send(p, bare(c), 'chat');
        assert.deepEqual(stanzaError(await refusal(p, id)), REFUSED, bare(c));
        await nothingReached(marks);
        await refusalOf(since, 'stanza.message', bare(c), 'chat');
      }
    });

    test("carbons: a refused message leaves no sent copy at P's other resource and nothing at S2's; allowed ones are copied as before", async () => {
      const marks = mark(s2, s2b, p2);
      const refused = send(p, 's2@localhost', 'chat');
      assert.deepEqual(stanzaError(await refusal(p, refused)), REFUSED);
      await nothingReached(marks);
      const carbonOf = (id: string, dir: 'sent' | 'received') => (e: Element) =>
        e.getChild(dir, NS.carbons)?.getChild('forwarded', NS.forward)?.getChild('message')?.attrs.id === id;
      assert.equal(p2.received.some(carbonOf(refused, 'sent')), false);

      const toP = send(s1, p.jid!, 'chat');
      await p.next((e) => e.attrs.id === toP);
      await p2.next(carbonOf(toP, 'received'));
      const fromP = send(p, 's1@localhost', 'chat');
      await s1.next((e) => e.attrs.id === fromP);
      await p2.next(carbonOf(fromP, 'sent'));
    });

    test('a correction (XEP-0308) to S2 is refused like any message; to S1 it is delivered', async () => {
      const replace = (id: string) => `<replace xmlns='urn:xmpp:message-correct:0' id='${id}'/>`;
      const since = await lastSeq();
      const marks = mark(s2, s2b);
      const refused = send(p, 's2@localhost', 'chat', replace('msg-1'));
      assert.deepEqual(stanzaError(await refusal(p, refused)), REFUSED);
      await nothingReached(marks);
      await refusalOf(since, 'stanza.message', 's2@localhost', 'chat');

      const original = send(p, 's1@localhost', 'chat');
      await s1.next((e) => e.attrs.id === original);
      const correction = send(p, 's1@localhost', 'chat', replace(original));
      const got = await s1.next((e) => e.attrs.id === correction);
      assert.equal(got.getChild('replace', 'urn:xmpp:message-correct:0')?.attrs.id, original);
    });

    test('other sessions are unaffected: S1 ↔ S2 and S2 → P chat, and P ↔ S1, after all the refusals', async () => {
      const a = send(s1, 's2@localhost', 'chat');
      await s2.next((e) => e.attrs.id === a);
      const b = send(s2, 's1@localhost', 'chat');
      await s1.next((e) => e.attrs.id === b);
      const c = send(s2, p.jid!, 'chat'); // staff may write to partners; P cannot answer S2
      await p.next((e) => e.attrs.id === c);
      const d = send(p, 's1@localhost', 'chat');
      await s1.next((e) => e.attrs.id === d);
      assert.equal((await p.ping()).attrs.type, 'result');
    });
  });

  test('the audit log of the run verifies', async () => {
    await new Promise((r) => setTimeout(r, 100));
    const r = await verifyAuditLog(ts.server.storage, ts.dataDir);
    assert.equal(r.ok, true, JSON.stringify(r));
  });
});
