// The RFC 5424 message of an audit entry and the RFC 6587 octet-counting frame.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEntry } from '../storage/types.ts';
import { SD_ID, formatSyslog, octetFrame } from './syslog.ts';

const entry = (over: Partial<AuditEntry> = {}): AuditEntry => ({
  seq: 42,
  ts: new Date('2026-01-02T03:04:05.678Z'),
  actor: 'alice@example.org',
  action: 'stanza.message',
  decision: 'deny',
  reason: 'Card numbers may not be sent outside.',
  details: { rule: 'no-cards', condition: 'policy-violation', target: 'pat@partner.example/desk', detectors: ['card-number'] },
  prevHash: 'p'.repeat(64),
  hash: 'h'.repeat(64),
  ...over,
});

describe('syslog message (RFC 5424)', () => {
  test('header, structured data with the entry and its details, UTF-8 message after a BOM', () => {
    const m = formatSyslog(entry(), { facility: 'authpriv', appName: 'palisade', hostname: 'xmpp1', pid: 123 });
    assert.equal(
      m,
      `<84>1 2026-01-02T03:04:05.678Z xmpp1 palisade 123 stanza.message [${SD_ID} seq="42" actor="alice@example.org" action="stanza.message" decision="deny" hash="${'h'.repeat(64)}" ` +
        `rule="no-cards" condition="policy-violation" target="pat@partner.example/desk" detectors="[\\"card-number\\"\\]"] \uFEFFCard numbers may not be sent outside.`,
    );
  });

  test('severity: warning for a refusal, alert for a content alert, notice for a redaction, informational otherwise', () => {
    const pri = (e: AuditEntry) => Number(/^<(\d+)>/.exec(formatSyslog(e, { facility: 'local0', appName: 'p' }))![1]);
    assert.equal(pri(entry()), 16 * 8 + 4);
    assert.equal(pri(entry({ decision: 'allow', details: { severity: 'alert' } })), 16 * 8 + 1);
    assert.equal(pri(entry({ decision: 'allow', details: { severity: 'notice' } })), 16 * 8 + 5);
    assert.equal(pri(entry({ decision: 'info', details: {} })), 16 * 8 + 6);
  });

  test('escapes ", \\ and ] in values; names and header fields lose spaces and control characters; null values are left out', () => {
    const m = formatSyslog(entry({ action: 'odd action', details: { 'a b=c': 'x"y\\z]w', gone: null } }), { facility: 'user', appName: 'my app', hostname: 'h', pid: 1 });
    assert.match(m, / my_app 1 odd_action \[/);
    assert.match(m, / a_b_c="x\\"y\\\\z\\]w"\]/);
    assert.ok(!m.includes('gone'));
  });

  test('octet counting: the length in bytes (not characters), a space, the message', () => {
    const f = octetFrame('<14>1 - - - - - - \uFEFFGrüße');
    const text = f.toString('utf8');
    const space = text.indexOf(' ');
    assert.equal(Number(text.slice(0, space)), f.length - space - 1);
    assert.equal(Number(text.slice(0, space)), Buffer.byteLength('<14>1 - - - - - - \uFEFFGrüße'));
  });
});
