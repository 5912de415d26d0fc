// Decision cost of the policy engine (issue 6 target: < 5 µs median per routed
// stanza with 50 rules). Standalone: node --import ./bin/ts-loader.js bench/policy-decide.ts;
// also part of `npm run bench` (scenario `policy`, Palisade only, in-process).
//
// The policy has 50 rules of every kind (subject groups, users, IP ranges,
// peer groups and scopes, features, time windows in Europe/Berlin, e2ee); the
// measured message matches none of the first 49, so every rule is tried: the
// worst case for first-match evaluation; the sender is in a group whose
// office-hours rule is checked against the Berlin clock. Three figures, each the median over
// batches of 2000 decisions:
//   evaluate   CompiledPolicy.evaluate() alone
//   decide     DecisionPoint.decide() (module rules, await, fail-closed wrapper)
//   classify+decide   the policy classifier (groups, clock, payload facts) + decide
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { CompiledPolicy } from '../src/policy/compile.ts';
import { DecisionPoint } from '../src/policy/decision-point.ts';
import { parsePolicy } from '../src/policy/load.ts';
import { policyClassifier } from '../src/policy/classify.ts';
import type { PolicyRequest } from '../src/policy/types.ts';
import { x } from '../src/xmpp/element.ts';
import { parseJID } from '../src/xmpp/jid.ts';

export const RULES = 50;
const BATCH = 2000;
const BATCHES = 200;
const WARMUP_BATCHES = 20;
/** Each of the three measurements stops after this long, with the batches it has. */
const MEASURE_LIMIT_MS = 20_000;
export const TARGET_MEDIAN_US = 5;

export interface Cost {
  medianUs: number;
  p90Us: number;
  batches: number;
}

export interface PolicyCost {
  rules: number;
  evaluate: Cost;
  decide: Cost;
  classifyDecide: Cost;
}

function policyText(): string {
  const groups = Array.from({ length: 20 }, (_, i) => `  g${i}: { members: [${Array.from({ length: 20 }, (_, j) => `u${i}-${j}@example.org`).join(', ')}], patterns: ['p${i}-*@example.org'] }`);
  const rules: string[] = [];
  for (let i = 0; i < RULES - 1; i++) {
    const g = `g${i % 20}`;
    switch (i % 7) {
      case 0:
        rules.push(`  - { name: r${i}, subject: { groups: [${g}] }, peer: { groups: [g${(i + 1) % 20}] }, decision: deny, text: no }`);
        break;
      case 1:
        rules.push(`  - { name: r${i}, subject: { groups: [${g}] }, feature: [groupchat, voice, video], decision: deny }`);
        break;
      case 2:
        rules.push(`  - { name: r${i}, subject: { groups: [${g}] }, outside: office, decision: deny, text: closed }`);
        break;
      case 3:
        rules.push(`  - { name: r${i}, action: login, subject: { ip: [10.${i}.0.0/16, '2001:db8:${i}::/48'] }, decision: allow }`);
        break;
      case 4:
        rules.push(`  - { name: r${i}, subject: { users: [x${i}@example.org] }, peer: external, decision: deny }`);
        break;
      case 5:
        rules.push(`  - { name: r${i}, subject: { groups: [${g}] }, action: stanza.message, feature: chat, e2ee: required, decision: allow }`);
        break;
      default:
        rules.push(`  - { name: r${i}, peer: { domains: [partner${i}.example] }, subject: { domains: [other${i}.example] }, decision: deny }`);
    }
  }
  rules.push(`  - { name: last, subject: { local: true }, decision: allow }`);
  return `time_zone: Europe/Berlin
groups:
${groups.join('\n')}
time_windows:
  office: { days: [mon, tue, wed, thu, fri], hours: '08:00-18:00' }
rules:
${rules.join('\n')}
default: { decision: deny }
`;
}

/** Builds the 50-rule policy and measures the three costs; `log` gets one line per measurement. */
export async function policyDecisionCost(log: (line: string) => void = () => undefined): Promise<PolicyCost> {
  const parsed = parsePolicy(policyText(), 'bench-policy.yaml');
  const compiled = new CompiledPolicy({ ...parsed, source: 'bench', builtin: false }, { domain: 'example.org' });
  if (compiled.ruleCount !== RULES) throw new Error(`expected ${RULES} rules, got ${compiled.ruleCount}`);

  const silent = pino({ level: 'silent' });
  const dp = new DecisionPoint(compiled, { append: async () => undefined }, silent);
  const now = new Date('2025-06-04T10:00:00Z');

  const request = (): PolicyRequest => ({
    action: 'stanza.message',
    subject: { jid: 'u2-0@example.org', domain: 'example.org', groups: compiled.groupsOf('u2-0@example.org'), ip: '192.0.2.7' },
    resource: { jid: 'bob@example.org/desk', scope: 'local', relation: 'unknown', groups: compiled.groupsOf('bob@example.org') },
    feature: 'chat',
    facts: { body: true, e2ee: 'none' },
    time: now,
  });

  const check = compiled.evaluate(request());
  if (check.rule !== 'last') throw new Error(`the bench request should reach the last rule, got ${check.rule}`);

  const classify = policyClassifier(() => ({ groupsOf: (j) => compiled.groupsOf(j), now: () => now }));
  const stanza = x('message', { type: 'chat', to: 'bob@example.org/desk', id: 'b1' }, x('body').t('hello'));
  const from = parseJID('u2-0@example.org/phone');
  const to = parseJID('bob@example.org/desk');

  const measure = async (name: string, run: () => unknown): Promise<Cost> => {
    const perDecision: number[] = [];
    const deadline = Date.now() + MEASURE_LIMIT_MS;
    for (let b = 0; b < BATCHES + WARMUP_BATCHES && Date.now() < deadline; b++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < BATCH; i++) {
        const r = run();
        if (r instanceof Promise) await r;
      }
      const ns = Number(process.hrtime.bigint() - t0) / BATCH;
      if (b >= WARMUP_BATCHES) perDecision.push(ns); // the first batches warm up the JIT
    }
    if (perDecision.length === 0) throw new Error(`${name}: not even the warm-up finished within ${MEASURE_LIMIT_MS} ms`);
    perDecision.sort((a, b) => a - b);
    const cost: Cost = {
      medianUs: perDecision[Math.floor(perDecision.length / 2)]! / 1000,
      p90Us: perDecision[Math.floor(perDecision.length * 0.9)]! / 1000,
      batches: perDecision.length,
    };
    log(`${name.padEnd(18)} median ${cost.medianUs.toFixed(2)} µs   p90 ${cost.p90Us.toFixed(2)} µs   per decision (${RULES} rules, all tried)`);
    return cost;
  };

  const evaluate = await measure('evaluate', () => compiled.evaluate(request()));
  const decide = await measure('decide', () => dp.decide(request()));
  const classifyDecide = await measure('classify+decide', () => {
    const req: PolicyRequest = {
      action: 'stanza.message',
      subject: { jid: 'u2-0@example.org', domain: 'example.org', groups: [], ip: '192.0.2.7' },
      resource: { jid: 'bob@example.org/desk', scope: 'local', relation: 'unknown' },
      feature: 'chat',
      facts: {},
      time: now,
    };
    classify(req, stanza, from, to);
    return dp.decide(req);
  });
  return { rules: RULES, evaluate, decide, classifyDecide };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(`policy decision cost, Node ${process.version}`);
  const cost = await policyDecisionCost((line) => console.log(line));
  console.log(cost.classifyDecide.medianUs < TARGET_MEDIAN_US ? `target < ${TARGET_MEDIAN_US} µs median: met` : `target < ${TARGET_MEDIAN_US} µs median: NOT met`);
}
