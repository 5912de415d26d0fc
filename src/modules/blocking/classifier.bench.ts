// What the blocking classifier costs per routed stanza (not a test):
//   node --import ./bin/ts-loader.js src/modules/blocking/classifier.bench.ts
// Every list cached (the steady state for online accounts); the request object
// is made per iteration as the router does, and its cost is measured apart.
import { performance } from 'node:perf_hooks';
import type { PolicyRequest } from '../../policy/types.ts';
import { x } from '../../xmpp/element.ts';
import { parseJID, type JID } from '../../xmpp/jid.ts';
import { BlockList } from './block-list.ts';
import { BlockListCache } from './cache.ts';
import { blockingClassifier } from './classifier.ts';

const HOST = 'example.test';
const ACCOUNTS = 10_000;
const N = 2_000_000;

const cache = new BlockListCache({ capacity: 0, isOnline: () => true, read: async () => [] });
for (let i = 0; i < ACCOUNTS; i++) cache.set(`u${i}@${HOST}`, BlockList.EMPTY);
const big = Array.from({ length: 1000 }, (_, i) => `spam${i}@elsewhere.example`);
cache.set(`big@${HOST}`, new BlockList(big));
cache.set(`domains@${HOST}`, new BlockList([...big.slice(0, 500), 'a.example', 'b.example', 'c.example']));
const classify = blockingClassifier(HOST, cache, () => undefined);
const stanza = x('message', { type: 'chat' });

function request(): PolicyRequest {
  return { action: 'stanza.message', subject: { domain: HOST, groups: [] }, facts: {}, time: new Date() };
}

function nsPerOp(pairs: [JID, JID][], withClassifier: boolean): number {
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const [from, to] = pairs[i % pairs.length]!;
    const req = request();
    if (withClassifier && classify(req, stanza, from, to) !== undefined) throw new Error('expected the synchronous path');
    sink += Object.keys(req.facts!).length;
  }
  const ns = ((performance.now() - t0) * 1e6) / N;
  if (sink < 0) console.log(sink);
  return ns;
}

const local = (i: number) => parseJID(`u${i % ACCOUNTS}@${HOST}/r`);
const cases: [string, [JID, JID][]][] = [
  ['local → local, nobody blocks anyone', Array.from({ length: 1024 }, (_, i) => [local(i), parseJID(`u${(i * 7 + 1) % ACCOUNTS}@${HOST}`)])],
  ['local → remote, no list', Array.from({ length: 1024 }, (_, i) => [local(i), parseJID(`x${i}@remote.example`)])],
  ['sender blocks 1000 JIDs, recipient not among them', Array.from({ length: 1024 }, (_, i) => [parseJID(`big@${HOST}/r`), local(i)])],
  ['sender blocks 500 JIDs + 3 domains (parent-domain walk)', Array.from({ length: 1024 }, (_, i) => [parseJID(`domains@${HOST}/r`), parseJID(`x${i}@chat.deep.remote.example`)])],
  ['recipient blocks the sender (fact set)', [[parseJID(`spam1@elsewhere.example/r`), parseJID(`big@${HOST}`)]]],
];

for (let round = 0; round < 2; round++) {
  // The first round warms the JIT up; the second is reported.
  for (const [name, pairs] of cases) {
    const base = nsPerOp(pairs, false);
    const total = nsPerOp(pairs, true);
    if (round === 1) console.log(`${name.padEnd(58)} ${(total - base).toFixed(1).padStart(6)} ns/stanza (request object alone: ${base.toFixed(1)} ns)`);
  }
}
