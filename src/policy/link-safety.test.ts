// Link and file safety and the subscription request limit: the facts the
// classifier sets, the policy syntax and its refusals, and what the compiled
// policy decides (refuse, flag, allow; the limit per sender and hour).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { x, type Element } from '../xmpp/element.ts';
import { parseElement } from '../net/xml-stream.ts';
import { classifyPayload } from './classify.ts';
import { FACT_HAS_FILE, FACT_HAS_LINK, OBLIGATION_LINK_FLAG, flagBodies, linkFacts } from './link-safety.ts';
import { applyObligations } from './obligations.ts';
import { DOMAIN, compileText, request } from './test-helpers.ts';
import type { PolicyRequest } from './types.ts';
import { ConfigError } from '../config/errors.ts';

const facts = (xml: string): Record<string, boolean | string> => {
  const f: Record<string, boolean | string> = {};
  linkFacts(parseElement(xml), f);
  return f;
};
const body = (text: string) => facts(`<message xmlns='jabber:client'><body>${text}</body></message>`);

describe('link and file facts', () => {
  test('links in the body: http(s), xmpp:, aesgcm://, www.; any language', () => {
    for (const t of ['see https://example.com/x', 'http://a.b', 'HTTPS://EXAMPLE.COM', 'join xmpp:room@conference.example.org?join', 'www.example.com', '(www.example.com)']) {
      assert.equal(body(t)[FACT_HAS_LINK], true, t);
    }
    assert.equal(facts(`<message xmlns='jabber:client'><body>hi</body><body xml:lang='de'>siehe http://x.de</body></message>`)[FACT_HAS_LINK], true);
  });

  test('no link: plain words, a scheme inside a word, a bare scheme, an e-mail address', () => {
    for (const t of ['hello', 'xmpp: the protocol', 'fooxmpp:bar', 'myhttps://x', 'awww.example', 'mail bob@example.com', 'http:// alone']) {
      assert.deepEqual(body(t), {}, t);
    }
  });

  test('files: out-of-band URL, stateless file sharing and its sources, encrypted file sharing, aesgcm:// links', () => {
    assert.deepEqual(facts(`<message xmlns='jabber:client'><x xmlns='jabber:x:oob'><url>https://up.example/f.pdf</url></x></message>`), { [FACT_HAS_FILE]: true });
    assert.equal(facts(`<message xmlns='jabber:client'><file-sharing xmlns='urn:xmpp:sfs:0'><file xmlns='urn:xmpp:file:metadata:0'/></file-sharing></message>`)[FACT_HAS_FILE], true);
    assert.equal(facts(`<message xmlns='jabber:client'><sources xmlns='urn:xmpp:sfs:0' id='f1'/></message>`)[FACT_HAS_FILE], true);
    assert.equal(facts(`<message xmlns='jabber:client'><file-sharing xmlns='urn:xmpp:esfs:0'/></message>`)[FACT_HAS_FILE], true);
    assert.deepEqual(body('aesgcm://up.example/f.jpg#abcd'), { [FACT_HAS_LINK]: true, [FACT_HAS_FILE]: true });
    assert.deepEqual(facts(`<message xmlns='jabber:client'><x xmlns='urn:example:oob'><url>u</url></x></message>`), {});
  });

  test('XHTML-IM: an href or src, or a link in its text', () => {
    const im = (inner: string) => facts(`<message xmlns='jabber:client'><body>click</body><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>${inner}</body></html></message>`);
    assert.equal(im(`<a href='https://evil.example'>click</a>`)[FACT_HAS_LINK], true);
    assert.equal(im(`<img src='https://evil.example/i.png'/>`)[FACT_HAS_LINK], true);
    assert.equal(im(`<p>go to <em>www.evil.example</em></p>`)[FACT_HAS_LINK], true);
    assert.deepEqual(im(`<p>just <em>words</em></p>`), {});
  });

  test('linear on hostile input: 200,000 characters of near-misses are checked without backtracking blow-up', () => {
    // Not a timing assertion: a catastrophic pattern would not finish at all in a test run.
    assert.deepEqual(body('www'.repeat(10_000) + 'http:/'.repeat(20_000) + 'xmpp: '.repeat(3_000)), {});
  });

  test('the classifier sets the facts on messages only when true', () => {
    const req: PolicyRequest = { action: 'stanza.message', subject: { jid: `alice@${DOMAIN}`, domain: DOMAIN, groups: [] }, resource: { jid: `bob@${DOMAIN}`, scope: 'local' }, time: new Date() };
    classifyPayload(req, x('message', { type: 'chat' }, x('body').t('https://example.com')));
    assert.equal(req.facts?.[FACT_HAS_LINK], true);
    assert.equal(req.facts?.[FACT_HAS_FILE], undefined);
  });
});

const POLICY = `
version: 1
groups:
  partners: { members: [pat@example.org] }
link_safety:
  - name: outsiders
    from: [non-contacts, external]
    links: flag
    files: refuse
    text: Links from people outside your contacts are marked.
    refuse_text: Files are delivered between contacts only.
rules:
  - name: partners-no-mail
    subject: { groups: [partners] }
    peer: server
    decision: deny
  - name: local
    subject: { local: true }
    decision: allow
  - name: from-elsewhere
    subject: { domains: [other.example] }
    decision: allow
`;

describe('link safety in the compiled policy', () => {
  const policy = compileText(POLICY);
  const msg = (facts: Record<string, boolean>, spec: Parameters<typeof request>[1] = {}) =>
    policy.evaluate(request(policy, { to: `bob@${DOMAIN}/desk`, relation: 'none', ...spec, facts }));

  test('a file from a non-contact is refused with the refusal text, naming the entry', () => {
    const v = msg({ [FACT_HAS_FILE]: true, [FACT_HAS_LINK]: true });
    assert.equal(v.decision, 'deny');
    assert.equal(v.rule, 'outsiders');
    assert.equal(v.condition, 'policy-violation');
    assert.equal(v.text, 'Files are delivered between contacts only.');
    assert.deepEqual(v.details, { link_safety: 'refuse', found: ['has-link', 'has-file'], allowed_by: 'local' });
  });

  test('a link from a non-contact is flagged; from a contact it passes; without links nothing happens', () => {
    const v = msg({ [FACT_HAS_LINK]: true });
    assert.equal(v.decision, 'allow');
    assert.equal(v.rule, 'local');
    assert.deepEqual(v.obligations, [{ kind: OBLIGATION_LINK_FLAG, rule: 'outsiders', text: 'Links from people outside your contacts are marked.', found: ['has-link'] }]);
    assert.deepEqual(msg({ [FACT_HAS_LINK]: true, [FACT_HAS_FILE]: true }, { relation: 'contact' }), { decision: 'allow', rule: 'local' });
    assert.deepEqual(msg({}), { decision: 'allow', rule: 'local' });
  });

  test('an external sender is covered even when the roster calls it a contact', () => {
    const v = msg({ [FACT_HAS_LINK]: true }, { from: 'eve@other.example', relation: 'contact' });
    assert.equal(v.obligations?.[0]?.kind, OBLIGATION_LINK_FLAG);
  });

  test('not applied to refused messages, to the own account, the server, rooms, or other stanzas', () => {
    assert.equal(msg({ [FACT_HAS_FILE]: true }, { from: 'pat@example.org', to: DOMAIN }).rule, 'partners-no-mail');
    assert.equal(msg({ [FACT_HAS_FILE]: true }, { to: `alice@${DOMAIN}/phone` }).decision, 'allow');
    assert.equal(msg({ [FACT_HAS_FILE]: true }, { to: `room@conference.${DOMAIN}` }).decision, 'allow');
    assert.equal(policy.evaluate(request(policy, { action: 'stanza.iq', to: `bob@${DOMAIN}/desk`, facts: { [FACT_HAS_FILE]: true } })).decision, 'allow');
  });

  test('links: refuse takes files too (a file address is a link): the stricter applies', () => {
    const p = compileText(`link_safety: [{ from: anyone, links: refuse, files: flag }]\nrules: [{ name: all, decision: allow }]\n`);
    const v = p.evaluate(request(p, { to: `bob@${DOMAIN}`, facts: { [FACT_HAS_FILE]: true, [FACT_HAS_LINK]: true } }));
    assert.equal(v.decision, 'deny');
    assert.equal(v.rule, 'link-safety-1');
    assert.match(v.text!, /not delivered \(rule 'link-safety-1'\)/);
    const fileOnly = p.evaluate(request(p, { to: `bob@${DOMAIN}`, facts: { [FACT_HAS_FILE]: true } }));
    assert.equal(fileOnly.obligations?.[0]?.kind, OBLIGATION_LINK_FLAG);
  });

  test('explain shows the same outcome', () => {
    const e = policy.explain(request(policy, { to: `bob@${DOMAIN}/desk`, relation: 'none', facts: { [FACT_HAS_FILE]: true } }));
    assert.equal(e.verdict.decision, 'deny');
    assert.equal(e.verdict.rule, 'outsiders');
  });

  test('invalid entries stop loading with the path', () => {
    const problems = (yaml: string) => {
      try {
        compileText(yaml);
      } catch (err) {
        if (err instanceof ConfigError) return err.message;
        throw err;
      }
      return 'no error';
    };
    assert.match(problems('link_safety: [{ from: strangers, links: flag }]'), /link_safety\[0\]\.from/);
    assert.match(problems('link_safety: [{ from: anyone, links: block }]'), /link_safety\[0\]\.links/);
    assert.match(problems('link_safety: [{ from: anyone, links: flag, refuse_text: no }]'), /link_safety\[0\]\.refuse_text: only an entry that refuses/);
    assert.match(problems('link_safety: [{ from: anyone, files: refuse, text: hi }]'), /link_safety\[0\]\.text: only an entry that flags/);
    assert.match(problems('subscription_limit: { per_hour: 0 }'), /subscription_limit\.per_hour/);
  });
});

describe('the flag obligation', () => {
  test('the warning goes in front of every body; XHTML-IM is removed; other payloads stay', () => {
    const m = parseElement(
      `<message xmlns='jabber:client' type='chat'><body>see www.x.example</body><body xml:lang='de'>siehe www.x.example</body><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><a href='https://x.example'>x</a></body></html><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
    );
    applyObligations(m, { decision: 'allow', rule: 'r', obligations: [{ kind: OBLIGATION_LINK_FLAG, text: 'CAUTION' }] });
    assert.deepEqual(m.getChildren('body').map((b) => b.text), ['CAUTION\n\nsee www.x.example', 'CAUTION\n\nsiehe www.x.example']);
    assert.equal(m.getChild('html', 'http://jabber.org/protocol/xhtml-im'), undefined);
    assert.ok(m.getChild('active', 'http://jabber.org/protocol/chatstates'));
  });

  test('a message without a body gets no body', () => {
    const m: Element = x('message', {}, x('x', { xmlns: 'jabber:x:oob' }, x('url').t('https://f.example/a')));
    flagBodies(m, 'CAUTION');
    assert.equal(m.getChild('body'), undefined);
  });
});

describe('subscription requests to non-contacts, per sender and hour', () => {
  const LIMITED = `
subscription_limit: { per_hour: 3, text: Slow down. }
rules: [{ name: local, subject: { local: true }, decision: allow }]
`;
  const sub = (p: ReturnType<typeof compileText>, spec: Parameters<typeof request>[1]) =>
    p.evaluate(request(p, { action: 'stanza.presence', feature: 'presence:subscribe', relation: 'none', ...spec }));

  test('N requests in an hour pass; the next is refused with resource-constraint and the text; an hour after the first, one more passes', () => {
    const p = compileText(LIMITED);
    const at = (min: number) => new Date(Date.parse('2025-06-04T10:00:00Z') + min * 60_000);
    for (const [i, m] of [0, 10, 20].entries()) assert.equal(sub(p, { to: `u${i}@${DOMAIN}`, at: at(m) }).decision, 'allow');
    const refused = sub(p, { to: `u9@${DOMAIN}`, at: at(30) });
    assert.equal(refused.decision, 'deny');
    assert.equal(refused.rule, 'subscription-limit');
    assert.equal(refused.condition, 'resource-constraint');
    assert.equal(refused.text, 'Slow down.');
    assert.equal(refused.details?.retry_after, '2025-06-04T11:00:00.000Z');
    assert.equal(sub(p, { to: `u9@${DOMAIN}`, at: at(59) }).decision, 'deny');
    assert.equal(sub(p, { to: `u9@${DOMAIN}`, at: at(60) }).decision, 'allow');
  });

  test('per sender; not counted: requests to contacts, other presence, refused requests', () => {
    const p = compileText(LIMITED);
    for (let i = 0; i < 3; i++) assert.equal(sub(p, { to: `u${i}@${DOMAIN}` }).decision, 'allow');
    assert.equal(sub(p, { to: `z@${DOMAIN}` }).decision, 'deny');
    assert.equal(sub(p, { from: `bob@${DOMAIN}`, to: `z@${DOMAIN}` }).decision, 'allow', 'another sender has its own count');
    assert.equal(sub(p, { to: `friend@${DOMAIN}`, relation: 'contact' }).decision, 'allow');
    assert.equal(p.evaluate(request(p, { action: 'stanza.presence', feature: 'presence:subscribed', to: `z@${DOMAIN}` })).decision, 'allow');
    const q = compileText(LIMITED);
    for (let i = 0; i < 5; i++) assert.equal(sub(q, { from: 'eve@other.example', to: `u@${DOMAIN}` }).decision, 'deny', 'refused by the rules, not counted');
    assert.equal(sub(q, { to: `u@${DOMAIN}` }).decision, 'allow');
  });

  test('on by default (30 an hour); per_hour: null turns it off', () => {
    const p = compileText(`rules: [{ name: all, decision: allow }]`);
    for (let i = 0; i < 30; i++) assert.equal(sub(p, { to: `u${i}@${DOMAIN}` }).decision, 'allow');
    const v = sub(p, { to: `u@${DOMAIN}` });
    assert.equal(v.condition, 'resource-constraint');
    assert.match(v.text!, /at most 30 an hour/);
    const off = compileText(`subscription_limit: { per_hour: null }\nrules: [{ name: all, decision: allow }]`);
    for (let i = 0; i < 40; i++) assert.equal(sub(off, { to: `u${i}@${DOMAIN}` }).decision, 'allow');
  });
});
