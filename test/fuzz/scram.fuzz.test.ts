// Fuzzing the SCRAM server (src/auth/scram.ts, src/auth/scram-syntax.ts) with
// random and mutated client-first and client-final messages. Properties: step()
// never throws, answers within a bounded time, and every answer is a challenge
// or a failure with one of the defined conditions and a text; a mutated final
// message never succeeds. Seeded (printed) and bounded; see docs/fuzzing.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ScramServer, type ScramStepResult } from '../../src/auth/scram.ts';
import { ScramClient } from '../../src/auth/scram-client.ts';
import { deriveCredential, type ScramCredential } from '../../src/auth/credentials.ts';
import { fuzzSettings } from './fuzz-config.ts';

const CONDITIONS = new Set(['not-authorized', 'malformed-request', 'invalid-authzid', 'encryption-required', 'invalid-mechanism']);
const PER_INPUT_MS = 2000;
const PASSWORD = 'correct horse';

let credential: ScramCredential;

function server(): ScramServer {
  return new ScramServer({
    hash: 'SHA-256',
    plus: false,
    channelBindings: {},
    serverSupportsPlus: false,
    lookup: async (username) => (username === 'user' ? credential : undefined),
    fakeCredentialSecret: Buffer.alloc(32, 7),
    iterationsForUnknown: 4096,
  });
}

/** step() with the properties checked: no exception, bounded time, a defined answer. */
async function checkedStep(s: ScramServer, input: Buffer): Promise<ScramStepResult> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    s.step(input),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${PER_INPUT_MS} ms`)), PER_INPUT_MS))),
  ]).finally(() => clearTimeout(timer));
  if (result.kind === 'failure') {
    assert.ok(CONDITIONS.has(result.condition), `undefined condition ${result.condition}`);
    assert.ok(result.text.length > 0, 'a failure has a text');
  } else assert.ok(result.kind === 'challenge' || result.kind === 'success', `unknown kind ${(result as { kind: string }).kind}`);
  return result;
}

/** Pieces SCRAM messages are made of, so that mutations reach the deeper parsing paths. */
const token = fc.constantFrom('n', 'y', 'p=tls-exporter', 'p=', 'a=', 'n=', 'r=', 'c=', 'p=', 's=', 'i=', 'm=', 'e=', '=2C', '=3D', '=', ',', 'user', 'biws', '\u0000', '\u00e9', '\ud800', 'x'.repeat(300));
const scramLike = fc.array(fc.oneof(token, fc.string({ maxLength: 12 }), fc.base64String({ maxLength: 40 })), { maxLength: 16 }).map((parts) => parts.join(''));
const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));

/** Random edits of a valid message: flip, delete, insert, duplicate, truncate. */
const mutation = fc.array(fc.tuple(fc.constantFrom('flip', 'delete', 'insert', 'dup', 'cut'), fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 });
function mutate(msg: Buffer, edits: [string, number, number][]): Buffer {
  let b = Buffer.from(msg);
  for (const [op, at, value] of edits) {
    const i = b.length === 0 ? 0 : at % b.length;
    if (op === 'flip' && b.length) b[i] = b[i]! ^ (value || 1);
    else if (op === 'delete') b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
    else if (op === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([value]), b.subarray(i)]);
    else if (op === 'dup') b = Buffer.concat([b.subarray(0, i), b.subarray(i, i + 8), b.subarray(i)]);
    else if (op === 'cut') b = b.subarray(0, i);
  }
  return b;
}

test('SCRAM server: random and mutated client messages get a defined answer, never an exception or a hang', async (t) => {
  credential = await deriveCredential(PASSWORD, 'SHA-256', 4096);
  const settings = fuzzSettings();
  t.diagnostic(settings.describe());
  // 1. Random client-first messages (bytes and SCRAM-shaped text).
  await fc.assert(
    fc.asyncProperty(fc.oneof(bytes, scramLike.map((s) => Buffer.from(s))), async (input) => {
      await checkedStep(server(), input);
    }),
    settings.params(2000),
  );
  // 2. A valid client-first mutated, then whatever comes back answered with random client-final text.
  const valid = new ScramClient({ hash: 'SHA-256', username: 'user', password: PASSWORD }).first();
  await fc.assert(
    fc.asyncProperty(mutation, scramLike, async (edits, final) => {
      const s = server();
      const first = await checkedStep(s, mutate(valid, edits));
      if (first.kind === 'challenge') assert.notEqual((await checkedStep(s, Buffer.from(final))).kind, 'success');
    }),
    settings.params(1000),
  );
  // 3. A real exchange whose client-final is mutated: never a success, always a defined failure.
  await fc.assert(
    fc.asyncProperty(mutation, async (edits) => {
      const client = new ScramClient({ hash: 'SHA-256', username: 'user', password: PASSWORD });
      const s = server();
      const challenge = await checkedStep(s, client.first());
      assert.equal(challenge.kind, 'challenge');
      const final = await client.final((challenge as { data: Buffer }).data);
      const mutated = mutate(final, edits);
      const answer = await checkedStep(s, mutated);
      if (!mutated.equals(final)) assert.equal(answer.kind, 'failure', 'a mutated proof must not succeed');
    }),
    settings.params(300),
  );
});
