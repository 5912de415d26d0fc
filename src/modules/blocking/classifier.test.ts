// The blocking classifier: which facts it establishes for which pair of
// addresses, when it needs to read a list, and what it does when it can't.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PolicyRequest } from '../../policy/types.ts';
import { x } from '../../xmpp/element.ts';
import { parseJID } from '../../xmpp/jid.ts';
import { BlockListCache } from './cache.ts';
import { blockingClassifier } from './classifier.ts';
import { BLOCK_LIST_UNAVAILABLE, RECIPIENT_BLOCKS_SENDER, SENDER_BLOCKS_RECIPIENT, STANZA_TYPE } from './verdicts.ts';

const HOST = 'example.test';

function setup(lists: Record<string, string[]>, opts: { failReads?: boolean } = {}) {
  const reads: string[] = [];
  const errors: unknown[] = [];
  const cache = new BlockListCache({
    capacity: 100,
    isOnline: () => true,
    read: async (bare) => {
      reads.push(bare);
      if (opts.failReads) throw new Error('database down');
      return lists[bare] ?? [];
    },
  });
  const classify = blockingClassifier(HOST, cache, (err) => errors.push(err));
  const run = async (from: string, to: string, stanza = x('message', { type: 'chat' })) => {
    const req: PolicyRequest = { action: `stanza.${stanza.name}`, subject: { domain: HOST, groups: [] }, facts: {}, time: new Date() };
    const pending = classify(req, stanza, parseJID(from), parseJID(to));
    await pending;
    return { facts: req.facts!, sync: pending === undefined };
  };
  return { cache, run, reads, errors };
}

describe('blocking classifier', () => {
  test('outbound and inbound facts, with the stanza type for the rule', async () => {
    const t = setup({ [`alice@${HOST}`]: [`bob@${HOST}`] });
    assert.deepEqual((await t.run(`alice@${HOST}/a`, `bob@${HOST}`)).facts, { [SENDER_BLOCKS_RECIPIENT]: true, [STANZA_TYPE]: 'chat' });
    assert.deepEqual((await t.run(`bob@${HOST}/b`, `alice@${HOST}/a`, x('iq', { type: 'get' }))).facts, {
      [RECIPIENT_BLOCKS_SENDER]: true,
      [STANZA_TYPE]: 'get',
    });
    assert.deepEqual((await t.run(`bob@${HOST}/b`, `alice@${HOST}`, x('presence'))).facts, { [RECIPIENT_BLOCKS_SENDER]: true, [STANZA_TYPE]: '' });
    assert.deepEqual((await t.run(`carol@${HOST}/c`, `alice@${HOST}`)).facts, {}, 'others are not blocked');
    assert.deepEqual((await t.run(`alice@${HOST}/a`, `carol@${HOST}`)).facts, {});
  });

  test('both directions at once', async () => {
    const t = setup({ [`alice@${HOST}`]: [`bob@${HOST}`], [`bob@${HOST}`]: [HOST] });
    assert.deepEqual((await t.run(`alice@${HOST}/a`, `bob@${HOST}/b`)).facts, {
      [SENDER_BLOCKS_RECIPIENT]: true,
      [RECIPIENT_BLOCKS_SENDER]: true,
      [STANZA_TYPE]: 'chat',
    });
  });

  test('one’s own account and the server are never blocked; nothing is read for them', async () => {
    const t = setup({ [`alice@${HOST}`]: [`alice@${HOST}`, HOST] });
    assert.deepEqual((await t.run(`alice@${HOST}/a`, `alice@${HOST}/b`)).facts, {});
    assert.deepEqual((await t.run(`alice@${HOST}/a`, `alice@${HOST}`)).facts, {});
    assert.deepEqual(t.reads, []);
    assert.deepEqual((await t.run(`alice@${HOST}/a`, HOST, x('iq', { type: 'get' }))).facts, {});
    assert.deepEqual(t.reads, [], 'to the server: no list is consulted');
    // The domain item still covers everyone else there.
    assert.deepEqual((await t.run(`alice@${HOST}/a`, `bob@${HOST}`)).facts[SENDER_BLOCKS_RECIPIENT], true);
  });

  test('remote peers: the local account’s list is checked; no list is read for a remote account', async () => {
    const t = setup({ [`alice@${HOST}`]: ['evil.example'] });
    assert.equal((await t.run(`alice@${HOST}/a`, 'mallory@chat.evil.example')).facts[SENDER_BLOCKS_RECIPIENT], true);
    assert.equal((await t.run('mallory@evil.example/x', `alice@${HOST}`)).facts[RECIPIENT_BLOCKS_SENDER], true);
    assert.deepEqual((await t.run('a@other.example/x', 'b@third.example')).facts, {});
    assert.deepEqual(t.reads, [`alice@${HOST}`]);
  });

  test('synchronous once the lists are cached; one read per list, shared', async () => {
    const t = setup({});
    const first = await Promise.all([t.run(`alice@${HOST}/a`, `bob@${HOST}`), t.run(`alice@${HOST}/a`, `bob@${HOST}`)]);
    assert.equal(first[0].sync, false);
    assert.deepEqual(t.reads.sort(), [`alice@${HOST}`, `bob@${HOST}`]);
    assert.equal((await t.run(`alice@${HOST}/a`, `bob@${HOST}`)).sync, true);
    assert.equal((await t.run(`bob@${HOST}/b`, `alice@${HOST}`)).sync, true);
    assert.equal(t.reads.length, 2);
  });

  test('a list that cannot be read: the fact that makes the rule refuse, and the error logged', async () => {
    const t = setup({}, { failReads: true });
    const { facts } = await t.run(`alice@${HOST}/a`, `bob@${HOST}`);
    assert.equal(facts[BLOCK_LIST_UNAVAILABLE], true);
    assert.equal(t.errors.length, 2);
  });
});
