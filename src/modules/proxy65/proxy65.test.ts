// The proxy's pieces without a server: the SOCKS5 handshake parser, the rate
// limit (with its own clock), the sids an offer names, the relay's refusals
// and relaying over real loopback sockets; and the policy's side of issue #8:
// p2p-file-transfer is allowed only by a rule that names it, and an allowed
// offer keeps only the proxy (the obligation).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import pino from 'pino';
import { ConfigError } from '../../config/errors.ts';
import { resolveModules } from '../../core/module-loader.ts';
import { parseElement } from '../../net/xml-stream.ts';
import { OBLIGATION_PROXY_ONLY, P2P_NOT_ALLOWED_TEXT } from '../../policy/compile.ts';
import { BUILTIN_POLICY } from '../../policy/load.ts';
import { applyObligations, setTransferProxy } from '../../policy/obligations.ts';
import { compileText, request } from '../../policy/test-helpers.ts';
import proxy65, { offeredSids } from './index.ts';
import { ProxyRelay, RateLimit, streamHash, type RelayLimits } from './relay.ts';
import { METHOD_REPLY, parseGreeting, parseRequest, reply } from './socks5.ts';

const P2P = { 'feature:p2p-file-transfer': true };
const HASH = 'a'.repeat(40);
const connectRequest = (addr: string, cmd = 1, atyp = 3) =>
  Buffer.concat([Buffer.from([5, cmd, 0, atyp, addr.length]), Buffer.from(addr, 'latin1'), Buffer.from([0, 0])]);

describe('SOCKS5 handshake (RFC 1928, XEP-0065 §6)', () => {
  test('a greeting offering "no authentication" is accepted, byte by byte too', () => {
    const greeting = Buffer.from([5, 2, 2, 0]);
    for (let n = 0; n < greeting.length; n++) assert.deepEqual(parseGreeting(greeting.subarray(0, n)), { done: false });
    const g = parseGreeting(Buffer.concat([greeting, Buffer.from([9])]));
    assert.ok(g.done && 'value' in g);
    assert.deepEqual([...g.rest], [9]);
    assert.deepEqual([...METHOD_REPLY], [5, 0]);
  });

  test('a greeting without "no authentication", or not SOCKS5, is refused', () => {
    const g = parseGreeting(Buffer.from([5, 1, 2]));
    assert.ok(g.done && 'error' in g);
    assert.deepEqual([...g.reply!], [5, 0xff]);
    const v4 = parseGreeting(Buffer.from([4, 1, 0]));
    assert.ok(v4.done && 'error' in v4 && v4.reply === undefined);
  });

  test('CONNECT to a 40-digit hex hash, port 0: the hash; anything else: the RFC reply code', () => {
    const r = parseRequest(connectRequest(HASH));
    assert.ok(r.done && 'value' in r);
    assert.equal(r.value, HASH);
    assert.deepEqual(parseRequest(connectRequest(HASH).subarray(0, 20)), { done: false });
    const codeOf = (buf: Buffer) => {
      const p = parseRequest(buf);
      assert.ok(p.done && 'error' in p);
      return p.reply?.[1];
    };
    assert.equal(codeOf(connectRequest(HASH, 2)), 7, 'BIND: command not supported');
    assert.equal(codeOf(connectRequest(HASH, 1, 1)), 8, 'IPv4: address type not supported');
    assert.equal(codeOf(connectRequest('example.org')), 2, 'not a hash: not allowed');
    assert.equal(codeOf(connectRequest('A'.repeat(40))), 2, 'upper-case hex is not what XEP-0065 makes');
    assert.deepEqual([...reply(0, 'ab')], [5, 0, 0, 3, 2, 97, 98, 0, 0]);
  });

  test('the hash is SHA-1 of sid, initiator and target, in that order (XEP-0065 §5.3.2)', () => {
    // Computed with Python's hashlib over the XEP's example names.
    assert.equal(streamHash('vxf9n471bn46', 'romeo@montague.lit/orchard', 'juliet@capulet.lit/balcony'), '01494a7e04f11decb0c82b29d36d172e55ebe7a9');
    assert.notEqual(streamHash('vxf9n471bn46', 'juliet@capulet.lit/balcony', 'romeo@montague.lit/orchard'), '01494a7e04f11decb0c82b29d36d172e55ebe7a9');
  });
});

describe('rate limit', () => {
  test('one second of burst, then pauses in proportion to what was taken', () => {
    let now = 0;
    const r = new RateLimit(1000, () => now);
    assert.equal(r.take(1000), 0);
    assert.equal(r.take(500), 500, 'half a second owed');
    now = 500;
    assert.equal(r.take(0), 0);
    now = 1500;
    assert.equal(r.take(1000), 0, 'refilled, never beyond one second');
    assert.equal(r.take(2000), 2000);
  });
});

describe('offers that name the proxy', () => {
  test('XEP-0065 streamhosts and XEP-0260 proxy candidates with our JID; others not', () => {
    const bs = parseElement(
      `<iq xmlns='jabber:client' type='set'><query xmlns='http://jabber.org/protocol/bytestreams' sid='s1'><streamhost jid='proxy.example.org' host='h' port='1'/></query></iq>`,
    );
    assert.deepEqual(offeredSids(bs, 'proxy.example.org'), ['s1']);
    assert.deepEqual(offeredSids(bs, 'proxy.other.example'), []);
    const jingle = parseElement(
      `<iq xmlns='jabber:client' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='j'><content name='f'>` +
        `<transport xmlns='urn:xmpp:jingle:transports:s5b:1' sid='t1'><candidate cid='c' jid='proxy.example.org' host='h' port='1' type='proxy'/></transport>` +
        `<transport xmlns='urn:xmpp:jingle:transports:s5b:1' sid='t2'><candidate cid='d' jid='proxy.example.org' host='h' port='1' type='direct'/></transport>` +
        `</content></jingle></iq>`,
    );
    assert.deepEqual(offeredSids(jingle, 'proxy.example.org'), ['t1']);
  });
});

describe('policy: p2p-file-transfer (issue #8)', () => {
  const POLICY = `
version: 1
groups:
  engineers: { members: [alice@example.org] }
rules:
  - name: engineers-p2p
    subject: { groups: [engineers] }
    feature: p2p-file-transfer
    decision: allow
  - name: everything
    subject: { local: true }
    decision: allow
default:
  decision: allow
`;

  test('only a rule naming it allows it; broader allow rules and an allowing default do not', () => {
    const p = compileText(POLICY);
    const iq = (from: string) => request(p, { action: 'stanza.iq', from, to: 'bob@example.org/desk', feature: 'iq:http://jabber.org/protocol/si', facts: P2P });
    const allowed = p.evaluate(iq('alice@example.org'));
    assert.equal(allowed.decision, 'allow');
    assert.equal(allowed.rule, 'engineers-p2p');
    assert.deepEqual(allowed.obligations, [{ kind: OBLIGATION_PROXY_ONLY, domain: 'example.org' }]);
    const refused = p.evaluate(iq('carol@example.org'));
    assert.deepEqual(refused, { decision: 'deny', rule: 'default', condition: 'policy-violation', text: P2P_NOT_ALLOWED_TEXT });
    // Anything else is untouched by the opt-in.
    const chat = p.evaluate(request(p, { from: 'carol@example.org', to: 'bob@example.org' }));
    assert.deepEqual(chat, { decision: 'allow', rule: 'everything' });
  });

  test('the built-in policy does not allow it, and explain says why', () => {
    const p = compileText(BUILTIN_POLICY);
    const req = request(p, { action: 'stanza.iq', to: 'bob@example.org/desk', feature: 'iq:http://jabber.org/protocol/ibb', facts: P2P });
    assert.equal(p.evaluate(req).text, P2P_NOT_ALLOWED_TEXT);
    const why = p.explain(req);
    assert.equal(why.verdict.decision, 'deny');
    const check = why.steps[0]!.checks.find((c) => !c.ok)!;
    assert.match(check.label, /not p2p-file-transfer \(allowed only by a rule naming it\)/);
  });
});

describe('obligation p2p.proxy-only', () => {
  test('keeps only our proxy, with its real address, in bytestreams and Jingle s5b; without a proxy, no candidate', () => {
    const remove = setTransferProxy('example.org', { jid: 'proxy.example.org', host: 'files.example.org', port: 7777 });
    try {
      const bs = parseElement(
        `<iq xmlns='jabber:client' type='set'><query xmlns='http://jabber.org/protocol/bytestreams' sid='s'>` +
          `<streamhost jid='alice@example.org/a' host='192.0.2.1' port='5000'/><streamhost jid='proxy.example.org' host='192.0.2.1' port='1'/><streamhost jid='proxy.evil.example' host='192.0.2.2' port='1'/></query></iq>`,
      );
      applyObligations(bs, { decision: 'allow', rule: 'r', obligations: [{ kind: OBLIGATION_PROXY_ONLY, domain: 'example.org' }] });
      assert.equal(
        bs.getChild('query')!.toString(),
        `<query xmlns="http://jabber.org/protocol/bytestreams" sid="s"><streamhost jid="proxy.example.org" host="files.example.org" port="7777"/></query>`,
      );
      const jingle = () =>
        parseElement(
          `<iq xmlns='jabber:client' type='set'><jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='j'><content name='f'>` +
            `<transport xmlns='urn:xmpp:jingle:transports:s5b:1' sid='t'><candidate cid='a' jid='alice@example.org/a' host='192.0.2.1' port='5' type='direct'/>` +
            `<candidate cid='b' jid='proxy.example.org' host='192.0.2.1' port='5' type='direct'/><candidate cid='c' jid='proxy.example.org' host='x' port='1' type='proxy'/></transport></content></jingle></iq>`,
        );
      const j = jingle();
      applyObligations(j, { decision: 'allow', rule: 'r', obligations: [{ kind: OBLIGATION_PROXY_ONLY, domain: 'example.org' }] });
      const cands = j.getChild('jingle')!.getChild('content')!.getChild('transport')!.getChildren('candidate');
      assert.deepEqual(cands.map((c) => [c.attrs.cid, c.attrs.host, c.attrs.port]), [['c', 'files.example.org', '7777']]);
      const none = jingle();
      applyObligations(none, { decision: 'allow', rule: 'r', obligations: [{ kind: OBLIGATION_PROXY_ONLY, domain: 'other.example' }] });
      assert.equal(none.getChild('jingle')!.getChild('content')!.getChild('transport')!.getChildren('candidate').length, 0);
    } finally {
      remove();
    }
  });
});

describe('relay (real loopback sockets)', () => {
  const LIMITS: RelayLimits = {
    maxStreamBytes: 1 << 20,
    streamRate: 1 << 30,
    totalRate: 1 << 30,
    idleMs: 60_000,
    pendingMs: 60_000,
    maxPending: 10,
    maxActive: 10,
    offerMs: 60_000,
    maxOffers: 2,
  };

  const socks = async (port: number, hash: string): Promise<{ s: Socket; code: number }> => {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.from([5, 1, 0]));
    s.write(connectRequest(hash));
    for (let i = 0; i < 100 && Buffer.concat(chunks).length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    s.removeAllListeners('data');
    return { s, code: Buffer.concat(chunks)[3]! };
  };

  test('offers are bounded (maxOffers): the oldest is forgotten; an unknown sid, a wrong activator, a missing party', async () => {
    const relay = new ProxyRelay(LIMITS, pino({ level: 'silent' }));
    const port = await relay.listen('127.0.0.1', 0);
    try {
      relay.expect('s1', 'a@x/1', 'b@x/1');
      relay.expect('s2', 'a@x/1', 'b@x/1');
      relay.expect('s3', 'a@x/1', 'b@x/1');
      assert.equal(relay.activate('s1', 'a@x/1', 'b@x/1'), 'item-not-found', 'the oldest offer was dropped');
      assert.equal(relay.activate('s2', 'b@x/1', 'a@x/1'), 'forbidden');
      assert.equal(relay.activate('s2', 'a@x/1', 'c@x/1'), 'forbidden');
      assert.equal(relay.activate('s2', 'a@x/1', 'b@x/1'), 'not-allowed');
      const t = await socks(port, streamHash('s2', 'a@x/1', 'b@x/1'));
      const i = await socks(port, streamHash('s2', 'a@x/1', 'b@x/1'));
      assert.deepEqual([t.code, i.code], [0, 0]);
      const third = await socks(port, streamHash('s2', 'a@x/1', 'b@x/1'));
      assert.equal(third.code, 2, 'a third party for the same stream is refused');
      assert.equal(relay.activate('s2', 'a@x/1', 'b@x/1'), 'activated');
      assert.equal(relay.activate('s2', 'a@x/1', 'b@x/1'), 'item-not-found', 'an offer is used once');
      const got = new Promise<Buffer>((r) => t.s.once('data', r));
      i.s.write('hello');
      assert.equal((await got).toString(), 'hello');
      for (const c of [t, i, third]) c.s.destroy();
    } finally {
      await relay.close();
    }
  });
});

describe('options', () => {
  const resolve = (options: object) => resolveModules({ proxy65: options }, { proxy65 }, 'palisade.yaml')[0]!.options;

  test('defaults: port 7777 on every interface, the domain as public host, limits on', () => {
    assert.deepEqual(resolve({}), {
      subdomain: null,
      name: 'File transfer proxy',
      address: '0.0.0.0',
      port: 7777,
      public_host: null,
      max_stream_bytes: 100 * 1024 * 1024,
      stream_rate: 10 * 1024 * 1024,
      total_rate: 50 * 1024 * 1024,
      idle_timeout_seconds: 60,
      pending_timeout_seconds: 60,
      max_pending: 200,
      max_active: 100,
    });
  });

  test('an invalid value stops start-up with its path', () => {
    const pathsOf = (options: object) => {
      try {
        resolve(options);
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.issues.map((i) => i.path);
      }
      assert.fail('accepted');
    };
    assert.deepEqual(pathsOf({ port: 70000 }), ['modules.proxy65.port']);
    assert.deepEqual(pathsOf({ address: 'example.org' }), ['modules.proxy65.address']);
    assert.deepEqual(pathsOf({ public_host: 'a/b' }), ['modules.proxy65.public_host']);
    assert.deepEqual(pathsOf({ max_pending: 1 }), ['modules.proxy65.max_pending']);
    assert.deepEqual(pathsOf({ idle_timeout_seconds: 0 }), ['modules.proxy65.idle_timeout_seconds']);
    assert.deepEqual(pathsOf({ max_active_streams: 3 }), ['modules.proxy65.max_active_streams']);
  });
});
