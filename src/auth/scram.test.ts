import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deriveCredential, type ScramCredential, type ScramHash } from './credentials.ts';
import { ScramClient, type ScramClientOptions } from './scram-client.ts';
import { AUTH_FAILED_TEXT, mechanismName, ScramServer, type ChannelBindingType, type ScramServerOptions, type ScramStepResult } from './scram.ts';
import { SCRAM_MAX_MESSAGE_BYTES } from './scram-syntax.ts';

const HASHES: ScramHash[] = ['SHA-1', 'SHA-256', 'SHA-512'];
const ITERATIONS = 4096;
const SECRET = Buffer.from('fake-credential-secret-for-tests');
const EXPORTER = Buffer.from('a1'.repeat(32), 'hex');
const END_POINT = Buffer.from('b2'.repeat(32), 'hex');

const credCache = new Map<string, Promise<ScramCredential>>();
function credFor(password: string, hash: ScramHash): Promise<ScramCredential> {
  const key = `${hash}\0${password}`;
  if (!credCache.has(key)) credCache.set(key, deriveCredential(password, hash, ITERATIONS));
  return credCache.get(key)!;
}

/** A server whose only account is `user` with password `pencil` (for the given hash). */
function server(overrides: Partial<ScramServerOptions> = {}): ScramServer {
  const hash = overrides.hash ?? 'SHA-256';
  return new ScramServer({
    hash,
    plus: false,
    channelBindings: {},
    serverSupportsPlus: false,
    lookup: async (username) => (username === 'user' ? credFor('pencil', hash) : undefined),
    fakeCredentialSecret: SECRET,
    iterationsForUnknown: ITERATIONS,
    ...overrides,
  });
}

function client(overrides: Partial<ScramClientOptions> = {}): ScramClient {
  return new ScramClient({ hash: 'SHA-256', username: 'user', password: 'pencil', ...overrides });
}

interface Outcome {
  first: ScramStepResult;
  final?: ScramStepResult;
  clientVerified?: boolean;
}

/** Runs a whole exchange; stops after the first step unless it was a challenge. */
async function exchange(srv: ScramServer, cli: ScramClient): Promise<Outcome> {
  const first = await srv.step(cli.first());
  if (first.kind !== 'challenge') return { first };
  const final = await srv.step(await cli.final(first.data));
  return { first, final, clientVerified: final.kind === 'success' ? cli.verify(final.data) : undefined };
}

function assertFailure(result: ScramStepResult | undefined, condition: string, text?: string | RegExp): void {
  assert.ok(result, 'expected a result');
  assert.equal(result.kind, 'failure', `expected failure, got ${JSON.stringify(result)}`);
  if (result.kind !== 'failure') return;
  assert.equal(result.condition, condition, result.text);
  if (typeof text === 'string') assert.equal(result.text, text);
  else if (text) assert.match(result.text, text);
}

/** Sends a hand-written client-first and returns the server and its challenge text. */
async function startWith(clientFirst: string, overrides: Partial<ScramServerOptions> = {}): Promise<{ srv: ScramServer; serverFirst: string }> {
  const srv = server(overrides);
  const result = await srv.step(Buffer.from(clientFirst));
  assert.equal(result.kind, 'challenge', JSON.stringify(result));
  return { srv, serverFirst: result.kind === 'challenge' ? result.data.toString() : '' };
}

const nonceOf = (serverFirst: string): string => /^r=([^,]+)/.exec(serverFirst)![1]!;
const saltOf = (result: ScramStepResult): string => {
  assert.equal(result.kind, 'challenge');
  return result.kind === 'challenge' ? /,s=([^,]+)/.exec(result.data.toString())![1]! : '';
};

describe('mechanismName', () => {
  it('names the mechanisms as IANA registers them', () => {
    assert.equal(mechanismName('SHA-1', false), 'SCRAM-SHA-1');
    assert.equal(mechanismName('SHA-256', true), 'SCRAM-SHA-256-PLUS');
    assert.equal(mechanismName('SHA-512', true), 'SCRAM-SHA-512-PLUS');
  });
});

describe('RFC test vectors', () => {
  const rfc5802 = {
    hash: 'SHA-1' as const,
    salt: 'QSXCR+Q6sek8bf92',
    clientNonce: 'fyko+d2lbbFgONRv9qkxdawL',
    serverNonce: '3rfcNHYJY1ZVvWVs7j',
    clientFirst: 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL',
    serverFirst: 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096',
    clientFinal: 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
    serverFinal: 'v=rmF9pqV8S7suAoZWja4dJRkFsKQ=',
  };
  const rfc7677 = {
    hash: 'SHA-256' as const,
    salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
    clientNonce: 'rOprNGfwEbeRWgbNEkqO',
    serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
    clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
    serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
  };

  for (const [name, v] of [
    ['RFC 5802 §5 (SCRAM-SHA-1)', rfc5802],
    ['RFC 7677 §3 (SCRAM-SHA-256)', rfc7677],
  ] as const) {
    it(`${name}: the server produces the exact messages`, async () => {
      const cred = await deriveCredential('pencil', v.hash, 4096, Buffer.from(v.salt, 'base64'));
      const srv = server({ hash: v.hash, serverNonce: v.serverNonce, lookup: async (u) => (u === 'user' ? cred : undefined) });
      const first = await srv.step(Buffer.from(v.clientFirst));
      assert.deepEqual(first, { kind: 'challenge', data: Buffer.from(v.serverFirst) });
      const final = await srv.step(Buffer.from(v.clientFinal));
      assert.deepEqual(final, { kind: 'success', data: Buffer.from(v.serverFinal), username: 'user' });
    });

    it(`${name}: the client produces the exact messages and accepts the server signature`, async () => {
      const cli = new ScramClient({ hash: v.hash, username: 'user', password: 'pencil', clientNonce: v.clientNonce });
      assert.equal(cli.first().toString(), v.clientFirst);
      assert.equal((await cli.final(Buffer.from(v.serverFirst))).toString(), v.clientFinal);
      assert.equal(cli.verify(Buffer.from(v.serverFinal)), true);
      assert.equal(cli.verify(Buffer.from(v.serverFinal.replace('v=r', 'v=s').replace('v=6', 'v=7'))), false);
    });
  }
});

describe('ScramServer with ScramClient', () => {
  it('SCRAM-SHA-512 round trip', async () => {
    const out = await exchange(server({ hash: 'SHA-512' }), client({ hash: 'SHA-512' }));
    assert.equal(out.final?.kind, 'success');
    assert.equal(out.clientVerified, true);
  });

  for (const hash of HASHES) {
    for (const plus of [false, true]) {
      it(`${mechanismName(hash, plus)} succeeds with the right password and fails with a wrong one`, async () => {
        const bindings = plus ? { 'tls-exporter': EXPORTER } : {};
        const cb = plus ? { channelBinding: { type: 'tls-exporter' as const, data: EXPORTER } } : {};
        const ok = await exchange(server({ hash, plus, channelBindings: bindings, serverSupportsPlus: plus }), client({ hash, ...cb }));
        assert.equal(ok.final?.kind, 'success');
        if (ok.final?.kind === 'success') {
          assert.equal(ok.final.username, 'user');
          assert.equal(ok.final.channelBinding, plus ? 'tls-exporter' : undefined);
          assert.equal(ok.final.authzid, undefined);
        }
        assert.equal(ok.clientVerified, true);

        const bad = await exchange(
          server({ hash, plus, channelBindings: bindings, serverSupportsPlus: plus }),
          client({ hash, password: 'pencil!', ...cb }),
        );
        assertFailure(bad.final, 'not-authorized', AUTH_FAILED_TEXT);
      });
    }
  }

  it('a client does not accept a server-final signed with another key', async () => {
    const srv = server();
    const cli = client();
    const first = await srv.step(cli.first());
    assert.equal(first.kind, 'challenge');
    if (first.kind !== 'challenge') return;
    const final = await srv.step(await cli.final(first.data));
    assert.equal(final.kind, 'success');
    if (final.kind !== 'success') return;
    const forged = Buffer.from(final.data.toString().replace(/^v=(.)/, (_m, c: string) => `v=${c === 'A' ? 'B' : 'A'}`));
    assert.equal(cli.verify(forged), false);
    assert.equal(cli.verify(Buffer.from('e=invalid-proof')), false);
    assert.equal(cli.verify(final.data), true);
  });

  it('escapes "," and "=" in the username as =2C and =3D and hands the lookup the unescaped name', async () => {
    const seen: string[] = [];
    const cli = client({ username: 'a,b=c' });
    assert.match(cli.first().toString(), /^n,,n=a=2Cb=3Dc,r=/);
    const srv = server({
      lookup: async (u) => {
        seen.push(u);
        return credFor('pencil', 'SHA-256');
      },
    });
    const out = await exchange(srv, cli);
    assert.deepEqual(seen, ['a,b=c']);
    assert.equal(out.final?.kind === 'success' && out.final.username, 'a,b=c');
  });

  it('accepts optional extensions in client-first', async () => {
    const { srv, serverFirst } = await startWith('n,,n=user,r=abcdef,x=ignored=ok');
    assert.match(serverFirst, /^r=abcdef[A-Za-z0-9+/]+,s=/);
    assertFailure(await srv.step(Buffer.from(`c=biws,r=${nonceOf(serverFirst)},p=${Buffer.alloc(32).toString('base64')}`)), 'not-authorized', AUTH_FAILED_TEXT);
  });

  it('uses a fresh server nonce per exchange', async () => {
    const a = await startWith('n,,n=user,r=same');
    const b = await startWith('n,,n=user,r=same');
    assert.notEqual(nonceOf(a.serverFirst), nonceOf(b.serverFirst));
    assert.ok(nonceOf(a.serverFirst).length >= 'same'.length + 24);
  });
});

describe('channel binding', () => {
  const both = { 'tls-exporter': EXPORTER, 'tls-server-end-point': END_POINT };
  const plusServer = (o: Partial<ScramServerOptions> = {}): ScramServer =>
    server({ plus: true, serverSupportsPlus: true, channelBindings: both, ...o });

  for (const [type, data] of [
    ['tls-exporter', EXPORTER],
    ['tls-server-end-point', END_POINT],
  ] as [ChannelBindingType, Buffer][]) {
    it(`${type}: succeeds with matching data and reports the type`, async () => {
      const out = await exchange(plusServer(), client({ channelBinding: { type, data } }));
      assert.equal(out.final?.kind === 'success' && out.final.channelBinding, type);
      assert.equal(out.clientVerified, true);
    });

    it(`${type}: fails when the client's channel differs (man in the middle)`, async () => {
      // The client's TLS session ends at the attacker, so its binding data differs from the server's.
      const altered = Buffer.from(data);
      altered[0] = altered[0]! ^ 1;
      const viaOtherChannel = await exchange(plusServer(), client({ channelBinding: { type, data: altered } }));
      assertFailure(viaOtherChannel.final, 'not-authorized', 'channel binding mismatch');
      const tampered = await exchange(plusServer(), client({ channelBinding: { type, data }, tamperChannelBindingData: altered }));
      assertFailure(tampered.final, 'not-authorized', 'channel binding mismatch');
      const empty = await exchange(plusServer(), client({ channelBinding: { type, data }, tamperChannelBindingData: Buffer.alloc(0) }));
      assertFailure(empty.final, 'not-authorized', 'channel binding mismatch');
    });
  }

  it('refuses a binding type the server does not have for this connection', async () => {
    const out = await exchange(
      plusServer({ channelBindings: { 'tls-server-end-point': END_POINT } }),
      client({ channelBinding: { type: 'tls-exporter', data: EXPORTER } }),
    );
    assertFailure(out.first, 'not-authorized', /unsupported channel binding type/);
  });

  it('refuses an unknown binding type such as tls-unique', async () => {
    assertFailure(await plusServer().step(Buffer.from('p=tls-unique,,n=user,r=abc')), 'not-authorized', /unsupported channel binding type/);
    assertFailure(await plusServer().step(Buffer.from('p=tls_unique,,n=user,r=abc')), 'malformed-request');
  });

  it('a -PLUS mechanism without TLS binding data is encryption-required', async () => {
    const out = await exchange(plusServer({ channelBindings: {} }), client({ channelBinding: { type: 'tls-exporter', data: EXPORTER } }));
    assertFailure(out.first, 'encryption-required');
  });

  it("a -PLUS mechanism with 'n' or 'y' fails", async () => {
    assertFailure((await exchange(plusServer(), client())).first, 'malformed-request', /requires the 'p=' channel binding flag/);
    assertFailure((await exchange(plusServer(), client({ clientSupportsPlus: true }))).first, 'malformed-request');
  });

  it("a non-PLUS mechanism with 'p=' fails", async () => {
    const out = await exchange(
      server({ channelBindings: both, serverSupportsPlus: true }),
      client({ channelBinding: { type: 'tls-exporter', data: EXPORTER } }),
    );
    assertFailure(out.first, 'malformed-request', /'p=' channel binding flag used with SCRAM-SHA-256/);
  });

  it("refuses 'y' when the server advertised -PLUS (downgrade, RFC 5802 §6)", async () => {
    const out = await exchange(server({ channelBindings: both, serverSupportsPlus: true }), client({ clientSupportsPlus: true }));
    assertFailure(out.first, 'not-authorized', 'channel binding downgrade detected');
  });

  it("accepts 'y' when the server did not advertise -PLUS, binding the flag in c=", async () => {
    const cli = client({ clientSupportsPlus: true });
    assert.match(cli.first().toString(), /^y,,n=user,r=/);
    const out = await exchange(server(), cli);
    assert.equal(out.final?.kind, 'success');
    assert.equal(out.clientVerified, true);
  });

  it("detects an attacker who rewrites the client's 'y' to 'n' to hide the downgrade", async () => {
    const srv = server({ channelBindings: both, serverSupportsPlus: true });
    const cli = client({ clientSupportsPlus: true });
    const rewritten = Buffer.from(cli.first().toString().replace(/^y,/, 'n,'));
    const first = await srv.step(rewritten);
    assert.equal(first.kind, 'challenge');
    if (first.kind !== 'challenge') return;
    // The client's c= still carries 'y,,', which the attacker cannot change without breaking the proof.
    assertFailure(await srv.step(await cli.final(first.data)), 'not-authorized', 'channel binding mismatch');
  });

  it('the authzid is part of the bound gs2 header', async () => {
    const srv = server({ authorize: () => true });
    const cli = client({ authzid: 'admin@example.org' });
    const first = await srv.step(Buffer.from(cli.first().toString().replace('a=admin@', 'a=other@')));
    assert.equal(first.kind, 'challenge');
    if (first.kind !== 'challenge') return;
    assertFailure(await srv.step(await cli.final(first.data)), 'not-authorized', 'channel binding mismatch');
  });
});

describe('unknown users', () => {
  it('fail exactly like a wrong password: same condition and text', async () => {
    const unknown = await exchange(server(), client({ username: 'nobody' }));
    const wrong = await exchange(server(), client({ password: 'wrong' }));
    assert.equal(unknown.first.kind, 'challenge');
    assert.equal(wrong.first.kind, 'challenge');
    assertFailure(unknown.final, 'not-authorized', AUTH_FAILED_TEXT);
    assert.deepEqual(unknown.final, wrong.final);
  });

  it('fail even with a proof computed from the fake salt (no password makes the fake credential valid)', async () => {
    const out = await exchange(server({ lookup: async () => undefined }), client({ password: '' }));
    assertFailure(out.final, 'not-authorized', AUTH_FAILED_TEXT);
  });

  it('see the same salt and iteration count on every attempt, and the salt differs per username', async () => {
    const a1 = await server().step(client({ username: 'ghost' }).first());
    const a2 = await server().step(client({ username: 'ghost' }).first());
    const b = await server().step(client({ username: 'phantom' }).first());
    assert.equal(saltOf(a1), saltOf(a2));
    assert.notEqual(saltOf(a1), saltOf(b));
    assert.equal(Buffer.from(saltOf(a1), 'base64').length, 16);
    assert.match(a1.kind === 'challenge' ? a1.data.toString() : '', /,i=4096$/);
    const otherSecret = await server({ fakeCredentialSecret: Buffer.from('another secret') }).step(client({ username: 'ghost' }).first());
    assert.notEqual(saltOf(a1), saltOf(otherSecret));
  });

  it('a real account and an unknown one get the same salt length and configured iteration count', async () => {
    const real = await server().step(client().first());
    const fake = await server().step(client({ username: 'nobody' }).first());
    assert.equal(Buffer.from(saltOf(real), 'base64').length, Buffer.from(saltOf(fake), 'base64').length);
    const iters = (r: ScramStepResult): string => (r.kind === 'challenge' ? /,i=(\d+)$/.exec(r.data.toString())![1]! : '');
    assert.equal(iters(real), iters(fake));
  });

  it('a credential for another hash is treated as no credential', async () => {
    const sha1 = await credFor('pencil', 'SHA-1');
    const out = await exchange(server({ lookup: async () => sha1 }), client());
    assertFailure(out.final, 'not-authorized', AUTH_FAILED_TEXT);
  });
});

describe('authzid', () => {
  it('is refused by default, but only after a valid proof', async () => {
    const out = await exchange(server(), client({ authzid: 'boss@example.org' }));
    assertFailure(out.final, 'invalid-authzid');
    const wrongPassword = await exchange(server(), client({ authzid: 'boss@example.org', password: 'nope' }));
    assertFailure(wrongPassword.final, 'not-authorized', AUTH_FAILED_TEXT);
  });

  it('is accepted when authorize() allows it, and escaped in the gs2 header', async () => {
    const asked: [string, string | undefined][] = [];
    const srv = server({
      authorize: (user, authzid) => {
        asked.push([user, authzid]);
        return authzid === 'user=x,y@example.org';
      },
    });
    const cli = client({ authzid: 'user=x,y@example.org' });
    assert.match(cli.first().toString(), /^n,a=user=3Dx=2Cy@example\.org,n=user,/);
    const out = await exchange(srv, cli);
    assert.equal(out.final?.kind, 'success');
    if (out.final?.kind === 'success') assert.equal(out.final.authzid, 'user=x,y@example.org');
    assert.deepEqual(asked, [['user', 'user=x,y@example.org']]);
  });

  it('may be decided asynchronously', async () => {
    const out = await exchange(server({ authorize: async () => false }), client({ authzid: 'x@example.org' }));
    assertFailure(out.final, 'invalid-authzid');
  });
});

describe('malformed client-first-message', () => {
  const cases: [string, string | Buffer][] = [
    ['empty', ''],
    ['no gs2 header', 'n=user,r=abc'],
    ['missing nonce', 'n,,n=user'],
    ['missing username', 'n,,r=abc'],
    ['wrong order', 'n,,r=abc,n=user'],
    ['empty username', 'n,,n=,r=abc'],
    ['empty nonce', 'n,,n=user,r='],
    ['nonce with a non-printable character', 'n,,n=user,r=ab c'],
    ['bad saslname escape', 'n,,n=us=2Xer,r=abc'],
    ['lower-case saslname escape', 'n,,n=us=2cer,r=abc'],
    ['bare "=" in username', 'n,,n=us=er,r=abc'],
    ['trailing "=" in username', 'n,,n=user=,r=abc'],
    ['bad authzid escape', 'n,a=x=,n=user,r=abc'],
    ['empty authzid', 'n,a=,n=user,r=abc'],
    ['authzid without a=', 'n,x=admin,n=user,r=abc'],
    ['unknown gs2 flag', 'x,,n=user,r=abc'],
    ['gs2 flag "p" without name', 'p,,n=user,r=abc'],
    ['mandatory extension', 'n,,m=ext,n=user,r=abc'],
    ['duplicate attribute as extension', 'n,,n=user,r=abc,r=def'],
    ['empty trailing attribute', 'n,,n=user,r=abc,'],
    ['extension without value', 'n,,n=user,r=abc,x='],
    ['extension with a long name', 'n,,n=user,r=abc,xy=1'],
    ['NUL byte', 'n,,n=us\0er,r=abc'],
    ['invalid UTF-8', Buffer.from([...Buffer.from('n,,n=us'), 0xc3, 0x28, ...Buffer.from(',r=abc')])],
    ['too long', `n,,n=user,r=${'a'.repeat(SCRAM_MAX_MESSAGE_BYTES)}`],
  ];
  for (const [name, msg] of cases) {
    it(`${name} → malformed-request`, async () => {
      assertFailure(await server().step(Buffer.isBuffer(msg) ? msg : Buffer.from(msg)), 'malformed-request');
    });
  }

  it('a message just under the size limit is still parsed', async () => {
    const prefix = 'n,,n=user,r=';
    const msg = prefix + 'a'.repeat(SCRAM_MAX_MESSAGE_BYTES - prefix.length);
    assert.equal((await server().step(Buffer.from(msg))).kind, 'challenge');
  });
});

describe('malformed or forged client-final-message', () => {
  const proof32 = Buffer.alloc(32, 7).toString('base64');

  async function finalResult(build: (nonce: string) => string | Buffer): Promise<ScramStepResult> {
    const { srv, serverFirst } = await startWith('n,,n=user,r=clientnonce');
    const msg = build(nonceOf(serverFirst));
    return srv.step(Buffer.isBuffer(msg) ? msg : Buffer.from(msg));
  }

  const malformed: [string, (nonce: string) => string | Buffer][] = [
    ['empty', () => ''],
    ['missing proof', (n) => `c=biws,r=${n}`],
    ['missing channel binding', (n) => `r=${n},p=${proof32}`],
    ['wrong order', (n) => `r=${n},c=biws,p=${proof32}`],
    ['proof not last', (n) => `c=biws,p=${proof32},r=${n}`],
    ['bad base64 in proof', (n) => `c=biws,r=${n},p=not*base64`],
    ['unpadded base64 in proof', (n) => `c=biws,r=${n},p=${proof32.replace(/=+$/, '')}`],
    ['non-canonical base64 in c=', (n) => `c=bix=,r=${n},p=${proof32}`],
    ['bad base64 in c=', (n) => `c=b!ws,r=${n},p=${proof32}`],
    ['empty c=', (n) => `c=,r=${n},p=${proof32}`],
    ['proof of the wrong length', (n) => `c=biws,r=${n},p=${Buffer.alloc(20).toString('base64')}`],
    ['unexpected attribute', (n) => `c=biws,r=${n},s=abcd,p=${proof32}`],
    ['too long', (n) => `c=biws,r=${n},x=${'a'.repeat(SCRAM_MAX_MESSAGE_BYTES)},p=${proof32}`],
    ['invalid UTF-8', (n) => Buffer.concat([Buffer.from(`c=biws,r=${n},x=`), Buffer.from([0xff]), Buffer.from(`,p=${proof32}`)])],
  ];
  for (const [name, build] of malformed) {
    it(`${name} → malformed-request`, async () => {
      assertFailure(await finalResult(build), 'malformed-request');
    });
  }

  it('a nonce that is not the combined nonce → not-authorized', async () => {
    assertFailure(await finalResult(() => `c=biws,r=clientnonce,p=${proof32}`), 'not-authorized', 'nonce mismatch');
    assertFailure(await finalResult((n) => `c=biws,r=${n}x,p=${proof32}`), 'not-authorized', 'nonce mismatch');
    assertFailure(await finalResult((n) => `c=biws,r=other${n.slice(5)},p=${proof32}`), 'not-authorized', 'nonce mismatch');
  });

  it('a wrong proof → not-authorized', async () => {
    assertFailure(await finalResult((n) => `c=biws,r=${n},p=${proof32}`), 'not-authorized', AUTH_FAILED_TEXT);
  });

  it('c= for a different gs2 header → not-authorized', async () => {
    const yHeader = Buffer.from('y,,').toString('base64');
    assertFailure(await finalResult((n) => `c=${yHeader},r=${n},p=${proof32}`), 'not-authorized', 'channel binding mismatch');
  });

  it('a client-final replayed from an earlier exchange → not-authorized', async () => {
    const cli = client({ clientNonce: 'fixed-client-nonce' });
    const srv1 = server();
    const first1 = await srv1.step(cli.first());
    assert.equal(first1.kind, 'challenge');
    if (first1.kind !== 'challenge') return;
    const recorded = await cli.final(first1.data);
    assert.equal((await srv1.step(recorded)).kind, 'success');

    const srv2 = server();
    assert.equal((await srv2.step(cli.first())).kind, 'challenge');
    assertFailure(await srv2.step(recorded), 'not-authorized', 'nonce mismatch');
  });
});

describe('single use', () => {
  it('refuses any step after success', async () => {
    const srv = server();
    const cli = client();
    const out = await exchange(srv, cli);
    assert.equal(out.final?.kind, 'success');
    assertFailure(await srv.step(cli.first()), 'malformed-request', /already finished/);
  });

  it('refuses any step after a failure, even a valid continuation', async () => {
    const srv = server();
    const cli = client();
    const first = await srv.step(cli.first());
    assert.equal(first.kind, 'challenge');
    if (first.kind !== 'challenge') return;
    assertFailure(await srv.step(Buffer.from('garbage')), 'malformed-request');
    assertFailure(await srv.step(await cli.final(first.data)), 'malformed-request', /already finished/);
  });

  it('refuses a failed first step followed by a good one', async () => {
    const srv = server();
    assertFailure(await srv.step(Buffer.from('bogus')), 'malformed-request');
    assertFailure(await srv.step(client().first()), 'malformed-request', /already finished/);
  });

  it('a step sent while another is running aborts the exchange', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const srv = server({
      lookup: async () => {
        await gate;
        return credFor('pencil', 'SHA-256');
      },
    });
    const cli = client();
    const pending = srv.step(cli.first());
    assertFailure(await srv.step(cli.first()), 'malformed-request', /in progress/);
    release();
    const first = await pending;
    assert.equal(first.kind, 'challenge');
    if (first.kind !== 'challenge') return;
    assertFailure(await srv.step(await cli.final(first.data)), 'malformed-request');
  });

  it('an error from lookup propagates and ends the exchange', async () => {
    const srv = server({ lookup: async () => Promise.reject(new Error('database down')) });
    await assert.rejects(srv.step(client().first()), /database down/);
    assertFailure(await srv.step(client().first()), 'malformed-request');
  });

  it('a stored credential with keys of the wrong length is an error, not a login', async () => {
    const cred = await credFor('pencil', 'SHA-256');
    const srv = server({ lookup: async () => ({ ...cred, storedKey: cred.storedKey.subarray(0, 20) }) });
    await assert.rejects(srv.step(client().first()), /wrong length/);
  });
});

describe('ScramClient', () => {
  const first = (cli: ScramClient): string => /r=([^,]+)/.exec(cli.first().toString())![1]!;

  it('generates a random client nonce', () => {
    assert.notEqual(first(client()), first(client()));
    assert.ok(first(client()).length >= 24);
  });

  it('refuses a server-first whose nonce does not extend its own', async () => {
    const cli = client({ clientNonce: 'abc' });
    await assert.rejects(cli.final(Buffer.from('r=xyzdef,s=QSXCR+Q6sek8bf92,i=4096')), /nonce/);
    await assert.rejects(cli.final(Buffer.from('r=abc,s=QSXCR+Q6sek8bf92,i=4096')), /nonce/);
  });

  it('refuses a malformed server-first', async () => {
    const cli = client({ clientNonce: 'abc' });
    for (const bad of [
      'r=abcdef,s=QSXCR+Q6sek8bf92',
      'r=abcdef,i=4096,s=QSXCR+Q6sek8bf92',
      'r=abcdef,s=QSXCR+Q6sek8bf92,i=0',
      'r=abcdef,s=QSXCR+Q6sek8bf92,i=04096',
      'r=abcdef,s=QSXCR+Q6sek8bf92,i=99999999999',
      'r=abcdef,s=not base64,i=4096',
      'm=ext,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096',
    ]) {
      await assert.rejects(cli.final(Buffer.from(bad)), Error, bad);
    }
  });

  it('does not verify a server-final before final() ran', () => {
    assert.equal(client().verify(Buffer.from('v=rmF9pqV8S7suAoZWja4dJRkFsKQ=')), false);
  });
});
