// Message archive (XEP-0313, XEP-0359): which messages are archived, the ids
// removed and added, query forms and paging, preferences; then the module end
// to end on a real server over raw sockets. Through client libraries:
// test/integration/mam.clients.test.ts; the store: src/storage/contract/mam.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MODULES } from '../../config/schema/modules.ts';
import { parseElement } from '../../net/xml-stream.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { parseJID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';
import { startTestServer, type TestServer } from '../../../test/helpers/server.ts';
import { login, stanzaError, type RawClient } from '../../../test/helpers/raw-client.ts';
import { hasArchiveId, isArchivable, isComplianceArchivable, newStanzaId, stripForgedIds, toArchivedXml } from './archiving.ts';
import { MAX_IDS, parseDateTime, parseQuery, queryForm } from './form.ts';
import { PrefsCache } from './prefs-cache.ts';
import { parsePrefs, prefsElement, ruleFor, type Preferences } from './prefs.ts';
import { finElement, fromArchivedXml, resultMessage } from './results.ts';

const msg = (xml: string) => parseElement(`<message xmlns='jabber:client' from='a@example.org/laptop' to='b@example.org'${xml}</message>`);
const LIMITS = { defaultMax: 50, maxMax: 250 };

describe('archive ids', () => {
  test('96 random bits in 16 base64url characters, never repeated, also across refills of the random pool', () => {
    const ids = Array.from({ length: 2000 }, newStanzaId);
    for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{16}$/);
    assert.equal(new Set(ids).size, ids.length);
  });
});

describe('preferences cache', () => {
  const prefs = (d: Preferences['default']): Preferences => ({ default: d, always: [], never: [] });

  test('one storage read per account, shared by concurrent first uses; an account without preferences is cached too', async () => {
    const reads: string[] = [];
    const cache = new PrefsCache(async (bare) => (reads.push(bare), bare === 'a@d' ? prefs('never') : undefined), 10);
    const [a1, a2] = await Promise.all([cache.get('a@d'), cache.get('a@d')]);
    assert.deepEqual([a1?.default, a2?.default], ['never', 'never']);
    assert.equal(await cache.get('b@d'), undefined);
    assert.equal(await cache.get('b@d'), undefined);
    assert.equal(cache.get('a@d') instanceof Promise, false);
    assert.deepEqual(reads, ['a@d', 'b@d']);
  });

  test('a write replaces the entry; a read that was in flight does not overwrite it', async () => {
    let release!: (p: Preferences | undefined) => void;
    const cache = new PrefsCache(() => new Promise((r) => (release = r)), 10);
    const stale = cache.get('a@d');
    cache.set('a@d', prefs('roster'));
    release(prefs('always'));
    assert.equal((await stale)?.default, 'always');
    assert.equal((cache.get('a@d') as Preferences).default, 'roster');
  });

  test('bounded: the least recently used account is read again', async () => {
    const reads: string[] = [];
    const cache = new PrefsCache(async (bare) => (reads.push(bare), undefined), 2);
    await cache.get('a@d');
    await cache.get('b@d');
    await cache.get('a@d'); // a is now the most recent
    await cache.get('c@d'); // drops b
    assert.equal(cache.size, 2);
    await cache.get('a@d');
    await cache.get('b@d');
    assert.deepEqual(reads, ['a@d', 'b@d', 'c@d', 'b@d']);
  });

  test('a failed read is not cached', async () => {
    let fail = true;
    const cache = new PrefsCache(async () => {
      if (fail) throw new Error('database down');
      return prefs('never');
    }, 10);
    await assert.rejects(Promise.resolve(cache.get('a@d')), /database down/);
    fail = false;
    assert.equal((await cache.get('a@d'))?.default, 'never');
  });
});

/** Expects fn to throw a StanzaError with this condition; returns its text. */
function refusal(fn: () => unknown, condition: string): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StanzaError, String(err));
    assert.equal(err.condition, condition, err.message);
    return err.text;
  }
  assert.fail(`expected ${condition}`);
}

describe('which messages are archived (XEP-0313 §5.1.1, XEP-0334)', () => {
  test('chat and normal (or untyped) messages with a body', () => {
    assert.equal(isArchivable(msg(` type='chat'><body>hi</body>`)), true);
    assert.equal(isArchivable(msg(` type='normal'><body>hi</body>`)), true);
    assert.equal(isArchivable(msg(`><body>hi</body>`)), true);
  });

  test('an OMEMO payload (either namespace) or a <store/> hint counts as content; a body elsewhere does not', () => {
    assert.equal(isArchivable(msg(` type='chat'><encrypted xmlns='urn:xmpp:omemo:2'><payload>eA==</payload></encrypted>`)), true);
    assert.equal(isArchivable(msg(` type='chat'><encrypted xmlns='eu.siacs.conversations.axolotl'><payload>eA==</payload></encrypted>`)), true);
    assert.equal(isArchivable(msg(` type='chat'><received xmlns='urn:xmpp:receipts' id='m1'/><store xmlns='urn:xmpp:hints'/>`)), true);
    assert.equal(isArchivable(msg(` type='chat'><received xmlns='urn:xmpp:receipts' id='m1'/>`)), false);
    assert.equal(isArchivable(msg(` type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/>`)), false);
    assert.equal(isArchivable(msg(` type='chat'><body xmlns='urn:example'>hi</body>`)), false);
    assert.equal(isArchivable(msg(` type='chat'><encrypted xmlns='urn:example'/>`)), false);
  });

  test('never groupchat, headline or error; <no-store/> and <no-permanent-store/> opt out, even with <store/>', () => {
    for (const type of ['groupchat', 'headline', 'error']) assert.equal(isArchivable(msg(` type='${type}'><body>hi</body>`)), false, type);
    assert.equal(isArchivable(msg(` type='chat'><body>hi</body><no-store xmlns='urn:xmpp:hints'/>`)), false);
    assert.equal(isArchivable(msg(` type='chat'><body>hi</body><no-permanent-store xmlns='urn:xmpp:hints'/>`)), false);
    assert.equal(isArchivable(msg(` type='chat'><body>hi</body><store xmlns='urn:xmpp:hints'/><no-store xmlns='urn:xmpp:hints'/>`)), false);
  });

  test('the compliance archive ignores the hints against storing, and keeps only what has content in chat or normal messages', () => {
    assert.equal(isComplianceArchivable(msg(` type='chat'><body>hi</body><no-store xmlns='urn:xmpp:hints'/>`)), true);
    assert.equal(isComplianceArchivable(msg(` type='chat'><body>hi</body><no-permanent-store xmlns='urn:xmpp:hints'/>`)), true);
    assert.equal(isComplianceArchivable(msg(`><encrypted xmlns='urn:xmpp:omemo:2'><payload>eA==</payload></encrypted><no-store xmlns='urn:xmpp:hints'/>`)), true);
    assert.equal(isComplianceArchivable(msg(` type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/>`)), false);
    for (const type of ['groupchat', 'headline', 'error']) assert.equal(isComplianceArchivable(msg(` type='${type}'><body>hi</body>`)), false, type);
  });
});

describe('stanza ids (XEP-0359)', () => {
  test("a client's stanza-id claiming this server (any account, the domain) or naming no archive is removed; others stay", () => {
    const m = msg(
      ` type='chat'><body>hi</body>` +
        `<stanza-id xmlns='urn:xmpp:sid:0' id='f1' by='b@example.org'/>` +
        `<stanza-id xmlns='urn:xmpp:sid:0' id='f2' by='a@example.org'/>` +
        `<stanza-id xmlns='urn:xmpp:sid:0' id='f3' by='example.org'/>` +
        `<stanza-id xmlns='urn:xmpp:sid:0' id='f4' by='room@muc.example.org'/>` +
        `<stanza-id xmlns='urn:xmpp:sid:0' id='f5'/>` +
        `<stanza-id xmlns='urn:xmpp:sid:0' id='k1' by='room@conference.example.net'/>` +
        `<stanza-id xmlns='urn:example' id='k2' by='b@example.org'/>` +
        `<origin-id xmlns='urn:xmpp:sid:0' id='o1'/>`,
    );
    assert.equal(stripForgedIds(m, 'example.org'), 4);
    assert.deepEqual(
      m.elements.filter((e) => e.name !== 'body').map((e) => e.attrs.id),
      ['f4', 'k1', 'k2', 'o1'],
      'muc.example.org is another domain; other namespaces and origin-id are not ours to judge',
    );
    assert.equal(hasArchiveId(m, 'room@conference.example.net'), true);
    assert.equal(hasArchiveId(m, 'b@example.org'), false);
  });

  test('the stored form is the stanza with its namespace; it parses back to the same message', () => {
    const m = msg(` type='chat' id='m1' xml:lang='fr'><body>l'été &lt;3 &amp; ☃</body><x xmlns='urn:example'><y/></x></message>`.replace('</message>', ''));
    delete m.attrs.xmlns; // as routed: the stream's content namespace
    const back = fromArchivedXml(toArchivedXml(m));
    assert.equal(back.attrs.xmlns, NS.client);
    assert.equal(back.attrs.id, 'm1');
    assert.equal(back.attrs['xml:lang'], 'fr');
    assert.equal(back.getChildText('body'), "l'été <3 & ☃");
    assert.ok(back.getChild('x', 'urn:example')?.getChild('y'));
    assert.throws(() => fromArchivedXml("<iq xmlns='jabber:client'/>"));
    assert.throws(() => fromArchivedXml('<message/>'));
  });
});

describe('query form and paging (XEP-0313 §4, XEP-0059)', () => {
  const query = (inner: string, attrs = '') => parseElement(`<query xmlns='urn:xmpp:mam:2'${attrs}>${inner}</query>`);
  const form = (...fields: string[]) =>
    `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>${fields.join('')}</x>`;
  const field = (name: string, ...values: string[]) => `<field var='${name}'>${values.map((v) => `<value>${v}</value>`).join('')}</field>`;
  const rsm = (inner: string) => `<set xmlns='http://jabber.org/protocol/rsm'>${inner}</set>`;

  test('no form and no <set/>: everything, the default page size', () => {
    assert.deepEqual(parseQuery(query('', " queryid='q1'"), LIMITS), { queryId: 'q1', filter: {}, paging: { max: 50 }, flip: false });
    assert.equal(parseQuery(query(''), LIMITS).queryId, undefined);
  });

  test('every field of the form', () => {
    const q = parseQuery(
      query(
        form(
          field('with', 'Bob@Example.org/Phone'),
          field('start', '2024-05-06T07:08:09Z'),
          field('end', '2024-05-06T09:08:09.5+02:00'),
          field('after-id', 'a1'),
          field('before-id', 'b1'),
          field('ids', 'i1', 'i2'),
        ),
      ),
      LIMITS,
    );
    assert.deepEqual(q.filter, {
      with: { bare: 'bob@example.org', resource: 'Phone' },
      start: new Date('2024-05-06T07:08:09.000Z'),
      end: new Date('2024-05-06T07:08:09.500Z'),
      afterId: 'a1',
      beforeId: 'b1',
      ids: ['i1', 'i2'],
    });
    assert.deepEqual(parseQuery(query(form(field('with', 'bob@example.org'), field('start'))), LIMITS).filter, { with: { bare: 'bob@example.org', resource: '' } }, 'an empty field is no filter');
  });

  test('RSM: max (capped silently), after, before, empty before = last page, flip-page', () => {
    assert.deepEqual(parseQuery(query(rsm('<max>10</max><after>x1</after>')), LIMITS).paging, { max: 10, after: 'x1' });
    assert.deepEqual(parseQuery(query(rsm('<max>100000</max><before>x2</before>')), LIMITS).paging, { max: 250, before: 'x2' });
    assert.deepEqual(parseQuery(query(rsm('<max>0</max><before/>')), LIMITS).paging, { max: 0, before: '' });
    assert.equal(parseQuery(query(`${rsm('<max>5</max>')}<flip-page/>`), LIMITS).flip, true);
  });

  test('refused: unknown fields (feature-not-implemented), malformed values, both after and before, paging by index, a node', () => {
    assert.match(refusal(() => parseQuery(query(form(field('include-groupchat', 'true'))), LIMITS), 'feature-not-implemented')!, /include-groupchat/);
    refusal(() => parseQuery(query(form(field('{urn:example}search', 'x'))), LIMITS), 'feature-not-implemented');
    refusal(() => parseQuery(query(`<x xmlns='jabber:x:data' type='submit'>${field('FORM_TYPE', 'urn:xmpp:mam:1')}</x>`), LIMITS), 'bad-request');
    refusal(() => parseQuery(query(`<x xmlns='jabber:x:data' type='form'/>`), LIMITS), 'bad-request');
    refusal(() => parseQuery(query(form(field('with', 'a@b'), field('with', 'c@d'))), LIMITS), 'bad-request');
    refusal(() => parseQuery(query(form(field('with', 'a@b', 'c@d'))), LIMITS), 'bad-request');
    refusal(() => parseQuery(query(form(field('with', '@nobody'))), LIMITS), 'bad-request');
    assert.match(refusal(() => parseQuery(query(form(field('start', 'yesterday'))), LIMITS), 'bad-request')!, /XEP-0082/);
    refusal(() => parseQuery(query(form(field('ids', ...Array.from({ length: MAX_IDS + 1 }, (_, i) => `i${i}`)))), LIMITS), 'not-acceptable');
    refusal(() => parseQuery(query(rsm('<max>-1</max>')), LIMITS), 'bad-request');
    refusal(() => parseQuery(query(rsm('<max>ten</max>')), LIMITS), 'bad-request');
    refusal(() => parseQuery(query(rsm('<after>a</after><before>b</before>')), LIMITS), 'bad-request');
    refusal(() => parseQuery(query(rsm('<after/>')), LIMITS), 'bad-request');
    refusal(() => parseQuery(query(rsm('<index>3</index>')), LIMITS), 'feature-not-implemented');
    refusal(() => parseQuery(query('', " node='urn:xmpp:mam:2'"), LIMITS), 'item-not-found');
  });

  test('XEP-0082 date and time: zones, fractions; impossible dates refused', () => {
    assert.deepEqual(parseDateTime('2010-06-07T00:00:00Z'), new Date('2010-06-07T00:00:00Z'));
    assert.deepEqual(parseDateTime('2010-06-07T01:30:00+01:30'), new Date('2010-06-07T00:00:00Z'));
    assert.deepEqual(parseDateTime('2010-06-06T20:00:00-04:00'), new Date('2010-06-07T00:00:00Z'));
    assert.deepEqual(parseDateTime('2010-06-07T00:00:00.123456Z'), new Date('2010-06-07T00:00:00.123Z'));
    assert.deepEqual(parseDateTime('2024-02-29T12:00:00Z'), new Date('2024-02-29T12:00:00Z'));
    for (const bad of ['2010-06-07', '2010-06-07T00:00:00', '2023-02-29T00:00:00Z', '2010-13-01T00:00:00Z', '2010-06-07T24:00:00Z', '2010-06-07T00:00:60Z', '2010-06-07T00:00:00+25:00', ' 2010-06-07T00:00:00Z']) {
      assert.equal(parseDateTime(bad), undefined, bad);
    }
  });

  test('the form a client gets lists FORM_TYPE and the six fields, ids open to any value', () => {
    const f = queryForm().getChild('x', NS.dataForms)!;
    assert.equal(f.attrs.type, 'form');
    assert.deepEqual(
      f.getChildren('field', NS.dataForms).map((e) => [e.attrs.var, e.attrs.type]),
      [
        ['FORM_TYPE', 'hidden'],
        ['with', 'jid-single'],
        ['start', 'text-single'],
        ['end', 'text-single'],
        ['before-id', 'text-single'],
        ['after-id', 'text-single'],
        ['ids', 'list-multi'],
      ],
    );
    assert.ok(f.getChildren('field', NS.dataForms).at(-1)!.getChild('validate', 'http://jabber.org/protocol/xdata-validate')?.getChild('open'));
  });

  test('a result wraps the message with the archive time; <fin/> names the page', () => {
    const item = { stanzaId: 's1', storedAt: new Date('2024-01-02T03:04:05.678Z'), xml: '' };
    const r = resultMessage('b@example.org/phone', 'b@example.org', 'q1', item, fromArchivedXml(`<message xmlns='jabber:client' id='m1'><body>x</body></message>`));
    assert.deepEqual(r.attrs, { to: 'b@example.org/phone', from: 'b@example.org' });
    const result = r.getChild('result', NS.mam)!;
    assert.deepEqual(result.attrs, { xmlns: NS.mam, queryid: 'q1', id: 's1' });
    const fwd = result.getChild('forwarded', NS.forward)!;
    assert.equal(fwd.getChild('delay', NS.delay)?.attrs.stamp, '2024-01-02T03:04:05.678Z');
    assert.equal(fwd.getChild('message', NS.client)?.getChildText('body'), 'x');
    assert.equal(resultMessage('t', 'a', undefined, item, x('message')).getChild('result', NS.mam)!.attrs.queryid, undefined);

    const fin = finElement({ items: [item, { ...item, stanzaId: 's2' }], complete: false, count: 7 });
    assert.equal(fin.toString(), `<fin xmlns="urn:xmpp:mam:2" complete="false"><set xmlns="http://jabber.org/protocol/rsm"><first>s1</first><last>s2</last><count>7</count></set></fin>`);
    assert.equal(finElement({ items: [], complete: true, count: 0 }).toString(), `<fin xmlns="urn:xmpp:mam:2" complete="true"><set xmlns="http://jabber.org/protocol/rsm"><count>0</count></set></fin>`);
  });
});

describe('archiving preferences (XEP-0441)', () => {
  const prefs = (xml: string) => parsePrefs(parseElement(xml));

  test('lists override the default; a bare JID matches every resource, a full one only itself; never wins over always', () => {
    const p = { default: 'roster' as const, always: ['bob@example.org', 'carol@example.org/desk'], never: ['eve@example.org', 'bob@example.org/spy'] };
    assert.equal(ruleFor(p, parseJID('bob@example.org/phone')), 'always');
    assert.equal(ruleFor(p, parseJID('bob@example.org')), 'always');
    assert.equal(ruleFor(p, parseJID('bob@example.org/spy')), 'never');
    assert.equal(ruleFor(p, parseJID('carol@example.org/desk')), 'always');
    assert.equal(ruleFor(p, parseJID('carol@example.org/phone')), 'roster');
    assert.equal(ruleFor(p, parseJID('eve@example.org/x')), 'never');
    assert.equal(ruleFor({ ...p, always: ['eve@example.org'] }, parseJID('eve@example.org')), 'never');
    assert.equal(ruleFor(p, parseJID('dave@example.org')), 'roster');
  });

  test('a set request is read with JIDs prepared and deduplicated; the answer lists both lists even when empty', () => {
    const p = prefs(`<prefs xmlns='urn:xmpp:mam:2' default='never'><always><jid>Bob@Example.org</jid><jid>bob@example.org</jid></always><never><jid>eve@example.org/x</jid></never></prefs>`);
    assert.deepEqual(p, { default: 'never', always: ['bob@example.org'], never: ['eve@example.org/x'] });
    assert.equal(
      prefsElement({ default: 'always', always: [], never: ['e@x'] }).toString(),
      `<prefs xmlns="urn:xmpp:mam:2" default="always"><always/><never><jid>e@x</jid></never></prefs>`,
    );
    assert.deepEqual(prefs(`<prefs xmlns='urn:xmpp:mam:2' default='roster'/>`), { default: 'roster', always: [], never: [] });
  });

  test('refused: a missing or unknown default, a malformed JID, too many JIDs', () => {
    refusal(() => prefs(`<prefs xmlns='urn:xmpp:mam:2'/>`), 'bad-request');
    refusal(() => prefs(`<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/>`), 'bad-request');
    refusal(() => prefs(`<prefs xmlns='urn:xmpp:mam:2' default='always'><never><jid>@bad</jid></never></prefs>`), 'jid-malformed');
    const many = Array.from({ length: 1001 }, (_, i) => `<jid>u${i}@example.org</jid>`).join('');
    refusal(() => prefs(`<prefs xmlns='urn:xmpp:mam:2' default='always'><always>${many}</always></prefs>`), 'not-acceptable');
  });
});

// ---------------------------------------------------------------------------
// End to end, over raw sockets

interface User {
  local: string;
  jid: string;
  password: string;
}

const allModules = (mam: object = {}) => ({ ...Object.fromEntries(Object.keys(DEFAULT_MODULES).map((id) => [id, {}])), mam });

function connectAs(ts: TestServer, u: User, resource: string): Promise<RawClient> {
  return login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: u.local, password: u.password, resource });
}

async function goOnline(c: RawClient): Promise<void> {
  c.send('<presence/>');
  await c.next((el) => el.name === 'presence' && el.attrs.from === c.jid);
}

/** Waits until the server has handled everything c sent before. */
async function sync(c: RawClient): Promise<void> {
  assert.equal((await c.ping()).attrs.type, 'result');
}

const chat = (to: string, id: string, text: string, extra = '') => `<message to='${to}' type='chat' id='${id}'><body>${text}</body>${extra}</message>`;
const isChat = (el: Element) => el.name === 'message' && el.getChild('result', NS.mam) === undefined && el.attrs.type !== 'error';

interface Page {
  results: Element[];
  fin: Element;
}

/** Runs one archive query and collects its results (which must all come before the iq result). */
async function query(c: RawClient, inner = '', attrs: Record<string, string> = {}, queryid = c.newId()): Promise<Page> {
  const reply = await c.iq('set', `<query xmlns='urn:xmpp:mam:2' queryid='${queryid}'>${inner}</query>`, attrs);
  const fin = reply.getChild('fin', NS.mam);
  assert.ok(fin, `no <fin/>: ${reply.toString()}`);
  const results: Element[] = [];
  for (let i = c.inbox.findIndex((el) => el.getChild('result', NS.mam)?.attrs.queryid === queryid); i >= 0; i = c.inbox.findIndex((el) => el.getChild('result', NS.mam)?.attrs.queryid === queryid)) {
    results.push(c.inbox.splice(i, 1)[0]!);
  }
  return { results, fin };
}

const archived = (r: Element) => r.getChild('result', NS.mam)!.getChild('forwarded', NS.forward)!.getChild('message', NS.client)!;
const bodies = (p: Page) => p.results.map((r) => archived(r).getChildText('body'));
const resultIds = (p: Page) => p.results.map((r) => r.getChild('result', NS.mam)!.attrs.id);
const setOf = (p: Page) => {
  const s = p.fin.getChild('set', NS.rsm)!;
  return { first: s.getChildText('first'), last: s.getChildText('last'), count: Number(s.getChildText('count')), complete: p.fin.attrs.complete };
};
const formWith = (fields: Record<string, string>) =>
  `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>${Object.entries(fields)
    .map(([k, v]) => `<field var='${k}'><value>${v}</value></field>`)
    .join('')}</x>`;
const stanzaIds = (m: Element) => m.getChildren('stanza-id', NS.stanzaId).map((s) => ({ id: s.attrs.id, by: s.attrs.by }));

describe('mam module, end to end', () => {
  let ts: TestServer;
  let n = 0;
  const users: RawClient[] = [];
  /** A new account, online with one resource. */
  const online = async (resource = 'r'): Promise<{ u: User; c: RawClient }> => {
    const u = await ts.addUser(`user${++n}`);
    const c = await connectAs(ts, u, resource);
    await goOnline(c);
    users.push(c);
    return { u, c };
  };

  before(async () => {
    ts = await startTestServer({ modules: allModules({ max_page_size: 20 }) });
  });
  after(async () => {
    await Promise.all(users.map((c) => c.close()));
    await ts?.stop();
  });

  test("both sides are archived; the recipient's copy carries the stanza-id of its archive; each owner sees the message", async () => {
    const { u: alice, c: a } = await online('desk');
    const { u: bob, c: b } = await online('phone');
    a.send(chat(bob.jid, 'm1', 'hello ☃ &amp; &lt;3'));
    const live = await b.next(isChat);
    const ids = stanzaIds(live);
    assert.equal(ids.length, 1, live.toString());
    assert.equal(ids[0]!.by, bob.jid);
    assert.match(ids[0]!.id!, /^[A-Za-z0-9_-]{16}$/);

    const bobs = await query(b);
    assert.deepEqual(resultIds(bobs), [ids[0]!.id]);
    assert.deepEqual(setOf(bobs), { first: ids[0]!.id, last: ids[0]!.id, count: 1, complete: 'true' });
    const r = bobs.results[0]!;
    assert.equal(r.attrs.to, `${bob.jid}/phone`);
    assert.equal(r.attrs.from, bob.jid);
    const inner = archived(r);
    assert.deepEqual([inner.attrs.from, inner.attrs.to, inner.attrs.id, inner.attrs.type, inner.getChildText('body')], [`${alice.jid}/desk`, bob.jid, 'm1', 'chat', 'hello ☃ & <3']);
    assert.deepEqual(stanzaIds(inner), [], 'the archive id is the result id, not repeated inside');
    const stamp = Date.parse(r.getChild('result', NS.mam)!.getChild('forwarded', NS.forward)!.getChild('delay', NS.delay)!.attrs.stamp!);
    assert.ok(Math.abs(stamp - Date.now()) < 10_000);

    const alices = await query(a);
    assert.equal(alices.results.length, 1);
    assert.notEqual(resultIds(alices)[0], ids[0]!.id, "each archive has its own ids");
    assert.equal(archived(alices.results[0]!).getChildText('body'), 'hello ☃ & <3');
  });

  test('a forged stanza-id (by the recipient, the sender or the server) is removed and the real one added; others are kept', async () => {
    const { u: alice, c: a } = await online();
    const { u: bob, c: b } = await online();
    const forged =
      `<stanza-id xmlns='urn:xmpp:sid:0' id='forged-1' by='${bob.jid}'/><stanza-id xmlns='urn:xmpp:sid:0' id='forged-2' by='${alice.jid}'/>` +
      `<stanza-id xmlns='urn:xmpp:sid:0' id='forged-3' by='${ts.domain}'/><stanza-id xmlns='urn:xmpp:sid:0' id='kept' by='room@conference.example.net'/>`;
    a.send(chat(bob.jid, 'f1', 'trust me', forged));
    const live = await b.next(isChat);
    const ids = stanzaIds(live);
    assert.deepEqual(
      ids.map((i) => i.id === 'kept' || i.by === bob.jid),
      [true, true],
      live.toString(),
    );
    const own = ids.find((i) => i.by === bob.jid)!;
    assert.ok(!own.id!.startsWith('forged'));
    assert.deepEqual(resultIds(await query(b)), [own.id]);
    const stored = archived((await query(a)).results[0]!);
    assert.deepEqual(stanzaIds(stored), [{ id: 'kept', by: 'room@conference.example.net' }], "what the sender's archive keeps has no forged ids either");
  });

  test('a message stored offline is archived too, and arrives later with the same stanza-id', async () => {
    const { c: a } = await online();
    const bob = await ts.addUser(`user${++n}`);
    a.send(chat(bob.jid, 'o1', 'while you were away'));
    await sync(a);
    assert.equal(a.inbox.length, 0, a.describeInbox());
    const b = await connectAs(ts, bob, 'later');
    users.push(b);
    await goOnline(b);
    const delivered = await b.next(isChat);
    assert.ok(delivered.getChild('delay', NS.delay), 'from offline storage');
    const [sid] = stanzaIds(delivered);
    assert.equal(sid?.by, bob.jid);
    const page = await query(b);
    assert.deepEqual(resultIds(page), [sid!.id]);
    assert.deepEqual(bodies(page), ['while you were away']);
  });

  test('a message to a resource that is gone is archived once, like one to the bare JID', async () => {
    const { c: a } = await online();
    const { u: bob, c: b } = await online('here');
    a.send(chat(`${bob.jid}/gone`, 'g1', 'to a resource'));
    const live = await b.next(isChat);
    assert.equal(stanzaIds(live).length, 1);
    assert.equal((await query(b)).results.length, 1);
    assert.equal((await query(a)).results.length, 1);
  });

  test('not archived: headline, groupchat, errors, hints against storing, chat states and receipts; archived: OMEMO and <store/>', async () => {
    const { c: a } = await online();
    const { u: bob, c: b } = await online();
    a.send(`<message to='${bob.jid}' type='headline' id='h'><body>news</body></message>`);
    a.send(`<message to='${bob.jid}' type='groupchat' id='gc'><body>room?</body></message>`);
    a.send(chat(bob.jid, 'ns', 'secret', `<no-store xmlns='${NS.hints}'/>`));
    a.send(chat(bob.jid, 'np', 'ephemeral', `<no-permanent-store xmlns='${NS.hints}'/>`));
    a.send(`<message to='${bob.jid}' type='chat' id='cs'><composing xmlns='${NS.chatStates}'/></message>`);
    a.send(`<message to='${bob.jid}' type='chat' id='rc'><received xmlns='urn:xmpp:receipts' id='x'/></message>`);
    a.send(`<message to='${bob.jid}' type='error' id='er'><error type='cancel'><item-not-found xmlns='${NS.stanzas}'/></error></message>`);
    a.send(`<message to='${bob.jid}' type='chat' id='om'><encrypted xmlns='urn:xmpp:omemo:2'><header sid='1'/><payload>Y3Q=</payload></encrypted></message>`);
    a.send(`<message to='${bob.jid}' type='chat' id='st'><received xmlns='urn:xmpp:receipts' id='y'/><store xmlns='${NS.hints}'/></message>`);
    await sync(a);
    await sync(b);
    const live = b.inbox.filter(isChat);
    const withId = live.filter((m) => stanzaIds(m).length > 0).map((m) => m.attrs.id);
    assert.deepEqual(withId, ['om', 'st'], 'only archived messages carry an archive id');
    assert.deepEqual(
      (await query(b)).results.map((r) => archived(r).attrs.id),
      ['om', 'st'],
    );
    assert.deepEqual(
      (await query(a)).results.map((r) => archived(r).attrs.id),
      ['om', 'st'],
    );
  });

  test('a message to oneself is one entry; a message to a remote domain is in the sender archive although it bounces', async () => {
    const { u: alice, c: a } = await online('one');
    a.send(chat(alice.jid, 's1', 'note to self'));
    await sync(a);
    a.send(chat('someone@elsewhere.example', 'x1', 'far away'));
    const bounce = await a.next((el) => el.attrs.id === 'x1');
    assert.equal(stanzaError(bounce).condition, 'remote-server-not-found');
    const page = await query(a);
    assert.deepEqual(bodies(page), ['note to self', 'far away']);
    assert.deepEqual(bodies(await query(a, formWith({ with: alice.jid }))), ['note to self'], "'with' one's own JID: messages to oneself");
    assert.deepEqual(bodies(await query(a, formWith({ with: 'someone@elsewhere.example' }))), ['far away']);
  });

  test('paging: default page, <max/> capped to max_page_size, after/before, flip-page, count and complete', async () => {
    const { u: alice, c: a } = await online();
    const { c: b } = await online();
    const bob = b.jid!.split('/')[0]!;
    for (let i = 1; i <= 30; i++) a.send(chat(bob, `p${i}`, `page ${i}`));
    await sync(a);
    const want = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `page ${from + i}`);

    const first = await query(b, `<set xmlns='${NS.rsm}'><max>1000</max></set>`);
    assert.deepEqual(bodies(first), want(1, 20), 'capped to 20');
    assert.deepEqual({ ...setOf(first), first: undefined, last: undefined }, { first: undefined, last: undefined, count: 30, complete: 'false' });
    const second = await query(b, `<set xmlns='${NS.rsm}'><max>20</max><after>${setOf(first).last}</after></set>`);
    assert.deepEqual(bodies(second), want(21, 30));
    assert.equal(setOf(second).complete, 'true');

    const last = await query(b, `<set xmlns='${NS.rsm}'><max>7</max><before/></set>`);
    assert.deepEqual(bodies(last), want(24, 30));
    assert.equal(setOf(last).complete, 'false');
    const earlier = await query(b, `<set xmlns='${NS.rsm}'><max>7</max><before>${setOf(last).first}</before></set>`);
    assert.deepEqual(bodies(earlier), want(17, 23));

    const flipped = await query(b, `<set xmlns='${NS.rsm}'><max>3</max><before/></set><flip-page/>`);
    assert.deepEqual(bodies(flipped), ['page 30', 'page 29', 'page 28']);
    assert.equal(setOf(flipped).first, resultIds(flipped)[2], 'first/last stay in archive order');

    const range = await query(b, formWith({ 'after-id': resultIds(first)[4]!, 'before-id': resultIds(first)[9]!, with: alice.jid }));
    assert.deepEqual(bodies(range), want(6, 9));
    const byIds = await query(b, `${formWith({})}`.replace('</x>', `<field var='ids'><value>${resultIds(first)[2]}</value><value>${resultIds(first)[0]}</value></field></x>`));
    assert.deepEqual(bodies(byIds), ['page 1', 'page 3']);

    const countOnly = await query(b, `<set xmlns='${NS.rsm}'><max>0</max></set>`);
    assert.deepEqual([countOnly.results.length, setOf(countOnly).count], [0, 30]);
  });

  test('errors: unknown ids (item-not-found), unknown fields (feature-not-implemented), bad values (bad-request)', async () => {
    const { c: a } = await online();
    const err = async (inner: string) => stanzaError(await a.iq('set', `<query xmlns='urn:xmpp:mam:2'>${inner}</query>`));
    assert.equal((await err(`<set xmlns='${NS.rsm}'><after>nope</after></set>`)).condition, 'item-not-found');
    assert.equal((await err(`<set xmlns='${NS.rsm}'><before>nope</before></set>`)).condition, 'item-not-found');
    assert.equal((await err(formWith({ 'after-id': 'nope' }))).condition, 'item-not-found');
    assert.equal((await err(formWith({ ids: 'nope' }))).condition, 'item-not-found');
    const unknown = await err(formWith({ 'include-groupchat': 'true' }));
    assert.equal(unknown.condition, 'feature-not-implemented');
    assert.match(unknown.text!, /include-groupchat/);
    assert.equal((await err(formWith({ start: 'last week' }))).condition, 'bad-request');
    assert.equal(a.inbox.length, 0, a.describeInbox());
  });

  test("another account's archive and preferences answer like an account that does not exist", async () => {
    const { c: a } = await online();
    const { u: bob, c: b } = await online();
    a.send(chat(bob.jid, 'priv', 'for bob only'));
    await b.next(isChat);
    const missing = await a.iq('set', `<query xmlns='urn:xmpp:mam:2'/>`, { to: `nobody@${ts.domain}` });
    for (const [type, payload] of [
      ['set', `<query xmlns='urn:xmpp:mam:2'/>`],
      ['get', `<query xmlns='urn:xmpp:mam:2'/>`],
      ['get', `<prefs xmlns='urn:xmpp:mam:2'/>`],
      ['set', `<prefs xmlns='urn:xmpp:mam:2' default='never'/>`],
      ['get', `<metadata xmlns='urn:xmpp:mam:2'/>`],
    ] as const) {
      const reply = await a.iq(type, payload, { to: bob.jid });
      assert.equal(reply.attrs.type, 'error', reply.toString());
      assert.deepEqual(stanzaError(reply), stanzaError(missing), payload);
    }
    assert.equal(stanzaError(missing).condition, 'service-unavailable');
    assert.equal(a.inbox.filter((el) => el.getChild('result', NS.mam)).length, 0, 'no results leaked');
    assert.deepEqual(bodies(await query(b)), ['for bob only'], "bob's archive is untouched");
  });

  test('preferences: get the default, set lists, and archiving follows them (roster mode asks the roster)', async () => {
    const { u: alice, c: a } = await online();
    const { u: bob, c: b } = await online();
    const { u: carol, c: c } = await online();
    const prefs = async (type: 'get' | 'set', inner = '') => (await a.iq(type, inner || `<prefs xmlns='urn:xmpp:mam:2'/>`)).getChild('prefs', NS.mam)!.toString();
    assert.equal(await prefs('get'), `<prefs xmlns="urn:xmpp:mam:2" default="always"><always/><never/></prefs>`);
    const set = `<prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>${carol.jid}</jid></always><never/></prefs>`;
    assert.equal(await prefs('set', set), `<prefs xmlns="urn:xmpp:mam:2" default="roster"><always><jid>${carol.jid}</jid></always><never/></prefs>`);
    assert.equal(await prefs('get'), `<prefs xmlns="urn:xmpp:mam:2" default="roster"><always><jid>${carol.jid}</jid></always><never/></prefs>`);

    b.send(chat(alice.jid, 'r1', 'bob, not on the roster'));
    c.send(chat(alice.jid, 'r2', 'carol, always'));
    await sync(b);
    await sync(c);
    const r1 = await a.next((el) => el.attrs.id === 'r1');
    assert.deepEqual(stanzaIds(r1), [], 'not archived for alice: no id');
    // Bob on alice's roster: archived from now on.
    assert.equal((await a.iq('set', `<query xmlns='jabber:iq:roster'><item jid='${bob.jid}'/></query>`)).attrs.type, 'result');
    b.send(chat(alice.jid, 'r3', 'bob, on the roster now'));
    await sync(b);
    assert.deepEqual(bodies(await query(a)), ['carol, always', 'bob, on the roster now']);
    assert.deepEqual(bodies(await query(b)), ['bob, not on the roster', 'bob, on the roster now'], "bob's own archive follows bob's preferences");

    await prefs('set', `<prefs xmlns='urn:xmpp:mam:2' default='always'><never><jid>${carol.jid}</jid></never></prefs>`);
    c.send(chat(alice.jid, 'r4', 'carol, never'));
    await sync(c);
    assert.equal((await query(a)).results.length, 2);
    assert.equal((await query(c)).results.length, 2, "carol's archive still has both of hers");
  });

  test('archive metadata and disco: the account advertises mam:2, #extended and stanza ids', async () => {
    const { c: a } = await online();
    const { u: bob, c: b } = await online();
    const empty = await b.iq('get', `<metadata xmlns='urn:xmpp:mam:2'/>`);
    assert.equal(empty.getChild('metadata', NS.mam)!.toString(), `<metadata xmlns="urn:xmpp:mam:2"/>`);
    a.send(chat(bob.jid, 'd1', 'one'));
    a.send(chat(bob.jid, 'd2', 'two'));
    await sync(a);
    const ids = resultIds(await query(b));
    const md = (await b.iq('get', `<metadata xmlns='urn:xmpp:mam:2'/>`)).getChild('metadata', NS.mam)!;
    assert.deepEqual([md.getChild('start')?.attrs.id, md.getChild('end')?.attrs.id], ids);
    assert.ok(!Number.isNaN(Date.parse(md.getChild('end')!.attrs.timestamp!)));

    const form = (await b.iq('get', `<query xmlns='urn:xmpp:mam:2'/>`)).getChild('query', NS.mam)!.getChild('x', NS.dataForms)!;
    assert.equal(form.getChildren('field', NS.dataForms).length, 7);

    const info = await b.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: bob.jid });
    const features = info.getChild('query', NS.discoInfo)!.getChildren('feature').map((f) => f.attrs.var);
    for (const f of ['urn:xmpp:mam:2', 'urn:xmpp:mam:2#extended', 'urn:xmpp:sid:0']) assert.ok(features.includes(f), features.join(' '));
  });

  test('removing an account removes its archive', async () => {
    const { c: a } = await online();
    const bob = await ts.addUser(`user${++n}`);
    a.send(chat(bob.jid, 'rm', 'soon gone'));
    await sync(a);
    const rows = async () =>
      (await ts.server.storage.db.selectFrom('mam_messages' as never).selectAll().execute()).filter((r) => (r as { localpart: string }).localpart === bob.local).length;
    assert.equal(await rows(), 1);
    await ts.server.storage.accounts.remove(ts.domain, bob.local);
    assert.equal(await rows(), 0);
  });
});
