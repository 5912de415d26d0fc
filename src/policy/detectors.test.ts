// Content rules (DLP): the detectors (Luhn, IBAN mod-97 with the country
// lengths, custom patterns and the refusal of those that can backtrack
// catastrophically, with the path in the file), and each action through the
// compiled policy: block (deny, condition, text, audit details without the
// content), redact (the obligation's text), alert (delivered, the obligation),
// a message without a match, explain().
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/errors.ts';
import { issueAt } from '../config/test-helpers.ts';
import { Element, x } from '../xmpp/element.ts';
import { classifyPayload } from './classify.ts';
import { CONTENT_TOO_LONG_TEXT, CONTENT_UNCHECKED_TEXT, OBLIGATION_ALERT, OBLIGATION_REDACT } from './compile.ts';
import { MAX_SCAN_CHARS, findCardNumbers, findIbans, ibanValid, luhnValid, redact, regexProblem } from './detectors.ts';
import { parsePolicy } from './load.ts';
import { applyObligations } from './obligations.ts';
import { compileText, request, type RequestSpec } from './test-helpers.ts';
import type { CompiledPolicy } from './compile.ts';
import type { PolicyRequest } from './types.ts';

const found = (fn: (t: string) => { start: number; end: number }[], text: string) => fn(text).map((f) => text.slice(f.start, f.end));

describe('card numbers', () => {
  test('Luhn', () => {
    for (const n of ['4111111111111111', '5500005555555559', '378282246310005', '6011111111111117', '4222222222222']) assert.ok(luhnValid(n), n);
    for (const n of ['4111111111111112', '5500005555555558', '378282246310006']) assert.ok(!luhnValid(n), n);
  });

  test('13 to 19 digits with spaces or dashes, Luhn-valid, delimited', () => {
    assert.deepEqual(found(findCardNumbers, 'card 4111 1111 1111 1111, exp 12/29'), ['4111 1111 1111 1111']);
    assert.deepEqual(found(findCardNumbers, 'amex 3782-822463-10005.'), ['3782-822463-10005']);
    assert.deepEqual(found(findCardNumbers, 'x4111111111111111y and 5500005555555559'), ['4111111111111111', '5500005555555559']);
    // Not Luhn-valid, too short, part of a longer number, a placeholder, separators doubled.
    assert.deepEqual(found(findCardNumbers, '4111 1111 1111 1112'), []);
    assert.deepEqual(found(findCardNumbers, 'order 411111111111'), []);
    assert.deepEqual(found(findCardNumbers, '41111111111111111111111'), []);
    assert.deepEqual(found(findCardNumbers, '0000 0000 0000 0000'), []);
    assert.deepEqual(found(findCardNumbers, '4111  1111  1111  1111'), []);
  });
});

describe('IBAN', () => {
  const valid = [
    'DE89370400440532013000',
    'GB82WEST12345698765432',
    'FR1420041010050500013M02606',
    'NL91ABNA0417164300',
    'BE68539007547034',
    'CH9300762011623852957',
    'ES9121000418450200051332',
    'NO9386011117947',
    'IT60X0542811101000000123456',
  ];
  test('mod-97 and the length of the country', () => {
    for (const i of valid) assert.ok(ibanValid(i), i);
    assert.ok(!ibanValid('DE89370400440532013001'), 'check digits wrong');
    assert.ok(!ibanValid('DE8937040044053201300'), 'one character short for DE');
    assert.ok(!ibanValid('GB82WEST1234569876543'), 'short for GB');
    assert.ok(!ibanValid('QQ89370400440532013000'), 'no such country');
  });

  test('found in text, compact or in groups of four, any case', () => {
    assert.deepEqual(found(findIbans, 'pay to DE89 3704 0044 0532 0130 00 and thanks'), ['DE89 3704 0044 0532 0130 00']);
    assert.deepEqual(found(findIbans, 'NL91ABNA0417164300;gb82 west 1234 5698 7654 32'), ['NL91ABNA0417164300', 'gb82 west 1234 5698 7654 32']);
    assert.deepEqual(found(findIbans, 'FR14 2004 1010 0505 0001 3M02 606.'), ['FR14 2004 1010 0505 0001 3M02 606']);
    // Wrong check digits; longer than the country's length; in the middle of a word.
    assert.deepEqual(found(findIbans, 'DE89 3704 0044 0532 0130 01'), []);
    assert.deepEqual(found(findIbans, 'DE89370400440532013000X'), []);
    assert.deepEqual(found(findIbans, 'XDE89370400440532013000'), []);
  });
});

describe('custom patterns', () => {
  test('accepted: the usual shapes', () => {
    for (const re of ['PRJ-\\d{4,6}', '\\b(?:secret|confidential)\\b', '[A-Z]{3}-\\d+', '(\\d{4}){3}', 'a.*b']) assert.equal(regexProblem(re), undefined, re);
  });

  test('refused: nested repetition, repeated alternatives, backreferences, lookaround, empty matches, bad syntax', () => {
    assert.match(regexProblem('(a+)+$')!, /nested quantifier/);
    assert.match(regexProblem('(\\d+-?){5}')!, /nested quantifier/);
    assert.match(regexProblem('(?:a|a)*b')!, /alternatives/);
    assert.match(regexProblem('((ab)*c)+')!, /nested quantifier/);
    assert.match(regexProblem('(a)\\1')!, /backreference/);
    assert.match(regexProblem('foo(?=bar)')!, /lookahead/);
    assert.match(regexProblem('x*')!, /empty string/);
    assert.match(regexProblem('(abc')!, /not a valid regular expression/);
  });

  test('a dangerous pattern in the policy file stops it, naming the path', () => {
    const yaml = `
detectors:
  order-id: { regex: '(a+)+$' }
rules:
  - name: r
    content: { detectors: [order-id], action: block }
`;
    const err = (() => {
      try {
        parsePolicy(yaml, 'policy.yaml');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof ConfigError);
    assert.match(issueAt(err, 'detectors.order-id.regex').message, /nested quantifier/);
    assert.match(err.message, /^policy\.yaml: detectors\.order-id\.regex: repeats a group/m);
  });

  test('unknown detectors, built-in names taken, decision on a content rule, no decision elsewhere', () => {
    const yaml = `
detectors:
  iban: { regex: 'x' }
rules:
  - name: a
    content: { detectors: [card-numbr], action: block }
  - name: b
    content: { detectors: [iban], action: alert }
    decision: deny
  - name: c
    subject: { local: true }
`;
    let err: unknown;
    try {
      parsePolicy(yaml, 'policy.yaml');
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError);
    assert.equal(issueAt(err, 'detectors.iban').message, "'iban' is a built-in detector");
    assert.equal(issueAt(err, 'rules[0].content.detectors[0]').hint, "did you mean 'card-number'?");
    assert.match(issueAt(err, 'rules[1].decision').message, /content\.action/);
    assert.match(issueAt(err, 'rules[2].decision').message, /is required/);
  });
});

const POLICY = `
groups:
  staff: { members: [alice@example.org] }
detectors:
  project: { regex: 'PRJ-\\d{4}', flags: i, replacement: '[project code]' }
rules:
  - name: staff-no-cards-outside
    subject: { groups: [staff] }
    peer: external
    content: { detectors: [card-number], action: block }
    text: Card numbers may not be sent outside Example Ltd.
  - name: redact-ibans-outside
    peer: external
    content: { detectors: [iban, project], action: redact }
  - name: alert-cards-inside
    peer: same-domain
    content: { detectors: [card-number], action: alert }
  - name: local
    subject: { local: true }
    decision: allow
`;

/** A request with the message's content, as the router's classifier builds it. */
function messageRequest(p: CompiledPolicy, spec: RequestSpec, stanza: Element): PolicyRequest {
  const req = request(p, spec);
  classifyPayload(req, stanza);
  return req;
}

const CARD_TEXT = 'card 4111 1111 1111 1111';
const msg = (body: string, extra: Element[] = []) => x('message', { type: 'chat' }, x('body', {}, body), ...extra);

describe('content rules', () => {
  const p = compileText(POLICY);

  test('block: refused with the rule text, audit details name the detector, not the number', () => {
    const v = p.evaluate(messageRequest(p, { to: 'x@partner.example' }, msg('my card is 4111 1111 1111 1111')));
    assert.equal(v.decision, 'deny');
    assert.equal(v.rule, 'staff-no-cards-outside');
    assert.equal(v.condition, 'policy-violation');
    assert.equal(v.text, 'Card numbers may not be sent outside Example Ltd.');
    assert.deepEqual(v.details, { content_action: 'block', detectors: ['card-number'] });
    assert.ok(!JSON.stringify(v).includes('4111'));
  });

  test('redact: an obligation with the redacted body and subject; the XHTML-IM copy goes', () => {
    const stanza = msg('IBAN DE89 3704 0044 0532 0130 00 for prj-1234', [
      x('subject', {}, 're prj-0001'),
      x('html', { xmlns: 'http://jabber.org/protocol/xhtml-im' }, x('body', { xmlns: 'http://www.w3.org/1999/xhtml' }, 'IBAN ', x('b', {}, 'DE89'), ' 3704 0044 0532 0130 00')),
    ]);
    const v = p.evaluate(messageRequest(p, { from: 'bob@example.org', to: 'x@partner.example' }, stanza));
    assert.equal(v.decision, 'allow');
    assert.equal(v.rule, 'local');
    const o = v.obligations?.find((x) => x.kind === OBLIGATION_REDACT);
    assert.ok(o);
    assert.deepEqual(o.rules, [{ rule: 'redact-ibans-outside', detectors: ['iban', 'project'] }]);
    applyObligations(stanza, v);
    assert.equal(stanza.getChildText('body'), 'IBAN [redacted IBAN] for [project code]');
    assert.equal(stanza.getChildText('subject'), 're [project code]');
    assert.equal(stanza.getChild('html', 'http://jabber.org/protocol/xhtml-im'), undefined);
  });

  test('alert: allowed unchanged, with an alert obligation', () => {
    const stanza = msg('4111-1111-1111-1111');
    const v = p.evaluate(messageRequest(p, { to: 'bob@example.org' }, stanza));
    assert.equal(v.decision, 'allow');
    assert.deepEqual(v.obligations, [{ kind: OBLIGATION_ALERT, rule: 'alert-cards-inside', detectors: ['card-number'] }]);
    applyObligations(stanza, v);
    assert.equal(stanza.getChildText('body'), '4111-1111-1111-1111');
  });

  test('no match: the content rules do not apply, nothing is asked', () => {
    const v = p.evaluate(messageRequest(p, { to: 'x@partner.example' }, msg('order 4111 1111 1111 1112, ref DE00 1234')));
    assert.deepEqual(v, { decision: 'allow', rule: 'local' });
  });

  test('a refusal by a later rule carries no obligation', () => {
    const q = compileText(`
rules:
  - name: redact
    content: { detectors: [card-number], action: redact }
default: { decision: deny }
`);
    const v = q.evaluate(messageRequest(q, { to: 'bob@example.org' }, msg('4111111111111111')));
    assert.equal(v.decision, 'deny');
    assert.equal(v.obligations, undefined);
  });

  test('fail closed: a message too long to read is refused by block and redact rules', () => {
    const long = msg('a'.repeat(MAX_SCAN_CHARS + 1));
    const v = p.evaluate(messageRequest(p, { to: 'x@partner.example' }, long));
    assert.equal(v.decision, 'deny');
    assert.equal(v.text, CONTENT_TOO_LONG_TEXT);
    assert.deepEqual(v.details, { content_action: 'block', detectors: ['card-number'], unchecked: 'too-long' });
  });

  test('fail closed: a custom pattern that runs out of time refuses', () => {
    // Accepted by the load-time check (polynomial, not exponential), but slow on a long run of digits.
    const q = compileText(`
detectors:
  slow: { regex: '\\d*\\d*\\d*\\d*x' }
rules:
  - name: slow
    content: { detectors: [slow], action: block }
  - { name: rest, decision: allow }
`);
    const v = q.evaluate(messageRequest(q, { to: 'bob@example.org' }, msg('1'.repeat(20_000))));
    assert.equal(v.decision, 'deny');
    assert.equal(v.text, CONTENT_UNCHECKED_TEXT);
  });

  test('explain names the detector that matched', () => {
    const req = messageRequest(p, { to: 'x@partner.example' }, msg('4111 1111 1111 1111'));
    const e = p.explain(req);
    assert.equal(e.verdict.rule, 'staff-no-cards-outside');
    assert.equal(e.steps[0]!.content, 'content [card-number] block: found card-number → refused');
    const r = p.explain(messageRequest(p, { from: 'bob@example.org', to: 'x@partner.example' }, msg('DE89370400440532013000')));
    assert.match(r.steps[1]!.content!, /found iban → redacted/);
    assert.equal(r.verdict.rule, 'local');
  });

  test('redact merges overlapping findings', () => {
    const t = 'abcdefgh';
    assert.equal(redact(t, [{ start: 1, end: 4, replacement: '[A]' }, { start: 2, end: 6, replacement: '[B]' }]), 'a[A]gh');
  });
});

describe('docs/policy.md', () => {
  test('the content rules example is a valid policy that decides as the text says', () => {
    const docs = readFileSync(new URL('../../docs/policy.md', import.meta.url), 'utf8');
    const text = /<!-- policy-dlp-example -->\n```yaml\n([^]*?)```/.exec(docs)?.[1];
    assert.ok(text);
    const p = compileText(text);
    const ev = (spec: RequestSpec, body: string) => p.evaluate(messageRequest(p, spec, msg(body)));
    assert.equal(ev({ from: 'ann@example.org', to: 'x@partner.example' }, CARD_TEXT).text, 'Card numbers may not be sent outside Example Ltd.');
    const redacted = ev({ from: 'carl@example.org', to: 'x@partner.example' }, 'see PRJ-0042');
    assert.equal(redacted.rule, 'local-accounts');
    assert.deepEqual(redacted.obligations?.[0]?.parts, [{ index: 0, part: 'body', text: 'see [project code]' }]);
    assert.equal(ev({ from: 'ann@example.org', to: 'bob@example.org' }, CARD_TEXT).obligations?.[0]?.kind, OBLIGATION_ALERT);
  });
});
