// Unit tests for the SASL2 request parser, the HT mechanism messages and the
// XEP-0474 downgrade hash (with the XEP's own example value).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createHmac, randomBytes } from 'node:crypto';
import { x } from '../xmpp/element.ts';
import { NS_BIND2, NS_FAST, NS_SASL2, isRefusal, parseAuthenticate, parseSaslData } from './sasl2.ts';
import { htInitial, htMac, parseHtInitial } from './ht.ts';
import { ssdpHash, ssdpInput } from './ssdp.ts';
import { ScramServer } from './scram.ts';
import { ScramClient } from './scram-client.ts';
import { deriveCredential } from './credentials.ts';

const UA = 'd4565fa7-4d72-4749-b3d3-740edbf87770';

describe('XEP-0474 hash', () => {
  test("matches the XEP's example (SHA-1 over mechanisms, 0x1F, binding types)", () => {
    const lists = { mechanisms: ['SCRAM-SHA-1-PLUS', 'SCRAM-SHA-1'], channelBindings: ['tls-server-end-point', 'tls-exporter'] };
    assert.equal(ssdpInput(lists), 'SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point');
    assert.equal(ssdpHash('SHA-1', lists), 'G6k/rBLDqgOhRRaCuuatSDFkJ08=');
  });

  test('no 0x1F part without <sasl-channel-binding/>; an empty list still adds it', () => {
    assert.equal(ssdpInput({ mechanisms: ['SCRAM-SHA-256'], channelBindings: undefined }), 'SCRAM-SHA-256');
    assert.equal(ssdpInput({ mechanisms: ['SCRAM-SHA-256'], channelBindings: [] }), 'SCRAM-SHA-256\x1f');
  });

  test('a SCRAM exchange carries the hash; the client accepts it when it saw the same lists, refuses otherwise', async () => {
    const advertised = { mechanisms: ['SCRAM-SHA-256', 'SCRAM-SHA-256-PLUS'], channelBindings: ['tls-exporter'] };
    const credential = await deriveCredential('pencil', 'SHA-256', 4096);
    const server = () =>
      new ScramServer({
        hash: 'SHA-256',
        plus: false,
        channelBindings: {},
        serverSupportsPlus: false,
        lookup: async (u) => (u === 'user' ? credential : undefined),
        fakeCredentialSecret: randomBytes(32),
        iterationsForUnknown: 4096,
        advertised,
      });
    const run = async (seen: typeof advertised) => {
      const s = server();
      const c = new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil', expectAdvertised: seen });
      const first = await s.step(c.first());
      assert.equal(first.kind, 'challenge');
      const text = first.kind === 'challenge' ? first.data : Buffer.alloc(0);
      assert.match(text.toString(), new RegExp(`,h=${ssdpHash('SHA-256', advertised).replace(/[+/]/g, '\\$&')}$`));
      const final = await s.step(await c.final(text));
      return final.kind === 'success' && c.verify(final.data);
    };
    assert.equal(await run(advertised), true);
    await assert.rejects(run({ ...advertised, mechanisms: ['SCRAM-SHA-256'] }), /downgrade detected/);
    await assert.rejects(run({ ...advertised, channelBindings: ['tls-server-end-point'] }), /downgrade detected/);
    // A client that expects the hash refuses a server that sends none.
    const bare = new ScramServer({ hash: 'SHA-256', plus: false, channelBindings: {}, serverSupportsPlus: false, lookup: async () => credential, fakeCredentialSecret: randomBytes(32), iterationsForUnknown: 4096 });
    const c = new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil', expectAdvertised: advertised });
    const first = await bare.step(c.first());
    await assert.rejects(c.final(first.kind === 'challenge' ? first.data : Buffer.alloc(0)), /no downgrade protection hash/);
  });
});

describe('HT messages', () => {
  test('initiator and responder MACs are HMAC-SHA-256 keyed with the token over the role and the binding data', () => {
    const cb = Buffer.from('binding');
    const expected = createHmac('sha256', 'tok').update('Initiatorbinding').digest();
    assert.deepEqual(htMac('tok', 'Initiator', cb), expected);
    assert.notDeepEqual(htMac('tok', 'Responder', cb), expected);
    const msg = htInitial('alice', 'tok', cb);
    assert.deepEqual(parseHtInitial(msg), { authcid: 'alice', mac: expected });
  });

  test('malformed messages say why', () => {
    assert.match((parseHtInitial(Buffer.from('alice')) as { error: string }).error, /NUL byte/);
    assert.match((parseHtInitial(Buffer.concat([Buffer.from('\0'), randomBytes(32)])) as { error: string }).error, /NUL byte/);
    assert.match((parseHtInitial(Buffer.from('alice\0short')) as { error: string }).error, /32 bytes/);
    assert.match((parseHtInitial(Buffer.concat([Buffer.from('a'.repeat(1024)), Buffer.from([0]), randomBytes(32)])) as { error: string }).error, /longer than 1023/);
    assert.match((parseHtInitial(Buffer.concat([Buffer.from([0xff]), Buffer.from([0]), randomBytes(32)])) as { error: string }).error, /UTF-8/);
  });
});

describe('SASL2 <authenticate/> parsing', () => {
  const authenticate = (attrs: Record<string, string>, ...children: ReturnType<typeof x>[]) => x('authenticate', { xmlns: NS_SASL2, ...attrs }, ...children);

  test('reads the mechanism, initial response, user-agent, Bind 2 with inline features, and FAST elements', () => {
    const r = parseAuthenticate(
      authenticate(
        { mechanism: 'HT-SHA-256-NONE' },
        x('initial-response', {}, 'AAEC\n'),
        x('user-agent', { id: UA.toUpperCase() }, x('software', {}, ' App '), x('device', {}, 'Phone')),
        x('bind', { xmlns: NS_BIND2 }, x('tag', {}, 'App'), x('enable', { xmlns: 'urn:xmpp:sm:3', resume: 'true' }), x('inactive', { xmlns: 'urn:xmpp:csi:0' }), x('enable', { xmlns: 'urn:xmpp:carbons:2' })),
        x('fast', { xmlns: NS_FAST, count: '7', invalidate: '1' }),
        x('request-token', { xmlns: NS_FAST, mechanism: 'HT-SHA-256-NONE' }),
      ),
    );
    assert.ok(!isRefusal(r));
    assert.deepEqual(r, {
      mechanism: 'HT-SHA-256-NONE',
      initialResponse: Buffer.from([0, 1, 2]),
      userAgent: { id: UA, software: 'App', device: 'Phone' },
      bind: { tag: 'App', sm: { resume: true }, csi: 'inactive', carbons: true },
      requestToken: 'HT-SHA-256-NONE',
      fast: { count: 7, invalidate: true },
      resume: undefined,
    });
    const resume = parseAuthenticate(authenticate({ mechanism: 'X' }, x('resume', { xmlns: 'urn:xmpp:sm:3', previd: 'p', h: '3' })));
    assert.ok(!isRefusal(resume) && resume.resume?.previd === 'p' && resume.resume.h === '3');
  });

  test('an empty <initial-response/> is an empty message; none at all is absent', () => {
    const empty = parseAuthenticate(authenticate({ mechanism: 'X' }, x('initial-response')));
    assert.ok(!isRefusal(empty) && empty.initialResponse?.length === 0);
    const none = parseAuthenticate(authenticate({ mechanism: 'X' }));
    assert.ok(!isRefusal(none) && none.initialResponse === undefined && none.bind === undefined && none.userAgent === undefined);
  });

  test('refusals', () => {
    const refused = (el: ReturnType<typeof x>) => {
      const r = parseAuthenticate(el);
      assert.ok(isRefusal(r));
      return `${r.condition}: ${r.text}`;
    };
    assert.match(refused(authenticate({})), /^invalid-mechanism: .*missing/);
    assert.match(refused(authenticate({ mechanism: 'X', upgrade: 'UPGR-X' })), /^invalid-mechanism/);
    assert.match(refused(authenticate({ mechanism: 'X' }, x('user-agent', { id: 'nope' }))), /^malformed-request: .*UUID/);
    assert.match(refused(authenticate({ mechanism: 'X' }, x('bind', { xmlns: NS_BIND2 }, x('tag')))), /^malformed-request: .*1 to 64/);
    assert.match(refused(authenticate({ mechanism: 'X' }, x('user-agent', { id: UA }), x('fast', { xmlns: NS_FAST, count: '-1' }))), /^malformed-request: .*count/);
    assert.match(refused(authenticate({ mechanism: 'X' }, x('fast', { xmlns: NS_FAST }))), /^malformed-request: .*user-agent/);
  });

  test('SASL data: whitespace ignored, strict base64, a size limit', () => {
    assert.deepEqual(parseSaslData(' AAEC \r\n'), Buffer.from([0, 1, 2]));
    assert.deepEqual(parseSaslData(''), Buffer.alloc(0));
    assert.ok(isRefusal(parseSaslData('AAE')));
    assert.ok(isRefusal(parseSaslData('AAF=')), 'non-canonical trailing bits');
    const big = parseSaslData('A'.repeat(11_000));
    assert.ok(isRefusal(big) && big.condition === 'malformed-request');
  });
});
