// The verdict table of XEP-0191 §3.3, row by row, for both directions.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PolicyRequest } from '../../policy/types.ts';
import { NS } from '../../xmpp/ns.ts';
import { BLOCKED_TEXT, BLOCK_LIST_UNAVAILABLE, RECIPIENT_BLOCKS_SENDER, SENDER_BLOCKS_RECIPIENT, STANZA_TYPE, UNAVAILABLE_TEXT, blockingVerdict } from './verdicts.ts';

type Kind = 'message' | 'presence' | 'iq';

function request(kind: Kind, type: string, facts: Record<string, boolean | string>): PolicyRequest {
  return {
    action: `stanza.${kind}`,
    subject: { jid: 'alice@example.test', domain: 'example.test', groups: [] },
    resource: { jid: 'bob@example.test', scope: 'local', relation: 'unknown' },
    facts: { ...facts, [STANZA_TYPE]: type },
    time: new Date(),
  };
}

/** A compact view of a verdict: 'allow' (no opinion), 'drop', or 'condition[+blocked]'. */
function outcome(kind: Kind, type: string, facts: Record<string, boolean | string>): string {
  const v = blockingVerdict(request(kind, type, facts));
  if (v === undefined) return 'no opinion';
  assert.equal(v.decision, 'deny');
  assert.equal(v.audit, false, 'a user’s block is never audited as a policy refusal');
  if (v.silent) return 'drop';
  const blocked = v.appCondition ? `+${v.appCondition.name}(${v.appCondition.attrs.xmlns})` : '';
  return `${v.condition}${blocked}`;
}

const OUT = { [SENDER_BLOCKS_RECIPIENT]: true };
const IN = { [RECIPIENT_BLOCKS_SENDER]: true };
const BLOCKED = `not-acceptable+blocked(${NS.blockingErrors})`;

describe('blocking verdicts (XEP-0191 §3.3)', () => {
  const table: [Kind, string, string, string][] = [
    // kind, type, user → blocked (outbound), blocked → user (inbound)
    ['presence', '', 'drop', 'drop'],
    ['presence', 'unavailable', 'drop', 'drop'],
    ['presence', 'subscribe', 'drop', 'drop'],
    ['presence', 'subscribed', 'drop', 'drop'],
    ['presence', 'probe', 'drop', 'drop'],
    ['presence', 'error', 'drop', 'drop'],
    ['message', '', BLOCKED, 'service-unavailable'],
    ['message', 'normal', BLOCKED, 'service-unavailable'],
    ['message', 'chat', BLOCKED, 'service-unavailable'],
    ['message', 'groupchat', BLOCKED, 'service-unavailable'],
    ['message', 'headline', BLOCKED, 'drop'],
    ['message', 'error', 'drop', 'drop'],
    ['iq', 'get', BLOCKED, 'service-unavailable'],
    ['iq', 'set', BLOCKED, 'service-unavailable'],
    ['iq', 'result', 'drop', 'drop'],
    ['iq', 'error', 'drop', 'drop'],
  ];
  for (const [kind, type, outbound, inbound] of table) {
    test(`${kind}${type ? ` type=${type}` : ''}: outbound ${outbound}, inbound ${inbound}`, () => {
      assert.equal(outcome(kind, type, OUT), outbound);
      assert.equal(outcome(kind, type, IN), inbound);
      assert.equal(outcome(kind, type, { ...OUT, ...IN }), outbound, 'the user’s own block wins when both block each other');
    });
  }

  test('no facts, false facts, or another action: no opinion', () => {
    assert.equal(outcome('message', 'chat', {}), 'no opinion');
    assert.equal(outcome('message', 'chat', { [SENDER_BLOCKS_RECIPIENT]: false, [RECIPIENT_BLOCKS_SENDER]: false }), 'no opinion');
    assert.equal(blockingVerdict({ action: 'login', subject: { domain: 'x', groups: [] }, time: new Date() }), undefined);
    assert.equal(blockingVerdict({ ...request('message', 'chat', OUT), action: 'upload' }), undefined);
  });

  test('texts: the blocking user is told why; a blocked sender sees what an unavailable recipient gives', () => {
    assert.equal(blockingVerdict(request('message', 'chat', OUT))?.text, BLOCKED_TEXT);
    assert.equal(blockingVerdict(request('message', 'chat', IN))?.text, UNAVAILABLE_TEXT);
    assert.equal(blockingVerdict(request('iq', 'get', IN))?.text, '', 'an iq to an absent resource has no text either');
    assert.equal(blockingVerdict(request('message', 'chat', IN))?.rule, 'blocking:inbound');
    assert.equal(blockingVerdict(request('iq', 'set', OUT))?.rule, 'blocking:outbound');
  });

  test('a block list that could not be read: refused (fail closed), and audited as a server fault', () => {
    for (const kind of ['message', 'presence', 'iq'] as const) {
      const v = blockingVerdict(request(kind, 'chat', { [BLOCK_LIST_UNAVAILABLE]: true, ...OUT }));
      assert.equal(v?.decision, 'deny');
      assert.equal(v?.condition, 'internal-server-error');
      assert.equal(v?.rule, 'blocking:unreadable');
      assert.notEqual(v?.audit, false);
    }
  });

  test('a missing stanza-type fact is read as the error-answering kind (get/set, normal message)', () => {
    const req = request('iq', '', OUT);
    delete req.facts![STANZA_TYPE];
    assert.equal(blockingVerdict(req)?.condition, 'not-acceptable');
  });
});
