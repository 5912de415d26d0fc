// Must show: slixmpp (Debian's python3-slixmpp 1.8.3), a client library others
// wrote, against Palisade over STARTTLS and direct TLS (XEP-0368), exchanging
// messages with an @xmpp/client user.
//
// What slixmpp 1.8.3 does with SASL: it scores SCRAM-SHA-512-PLUS highest and, for
// every -PLUS variant, sends the gs2 header "p=tls-unique" with Python's
// get_channel_binding() — also on TLS 1.3, where tls-unique is undefined (RFC 8446
// §C.5, RFC 9266) — and it ignores XEP-0440's list of the server's bindings
// (tls-exporter, tls-server-end-point). Without -PLUS it sends "y" (RFC 5802 §6:
// "client supports channel binding, thinks the server doesn't"). So with the
// server's defaults it cannot log in (first describe block pins that down), and it
// logs in with SCRAM-SHA-512 once the operator accepts 'y'
// (auth.channel_binding_downgrade: allow; second block), while clients that can
// bind still get -PLUS.
//
// TLS: the script trusts the test server's certificate file (slixmpp's ca_certs);
// verification and host-name checking stay on.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';
import { assertSlixmppInstalled, runSlix } from './clients/slixmpp.ts';
import { recordBinds, type BindRecorder } from './clients/binds.ts';
import { describeRun } from './clients/process.ts';

describe('slixmpp (Debian python3-slixmpp)', () => {
  before(async () => {
    const version = await assertSlixmppInstalled();
    assert.match(version, /^1\.8\./, `these expectations are for slixmpp 1.8.x (found ${version})`);
  });

  describe('server defaults: SCRAM-*-PLUS offered with tls-exporter and tls-server-end-point', () => {
    let ts: TestServer;
    let binds: BindRecorder;

    before(async () => {
      ts = await startTestServer();
      binds = recordBinds(ts);
      await ts.addUser('slix');
    });

    after(async () => {
      binds?.stop();
      await ts?.stop();
    });

    test('slixmpp 1.8.3 cannot log in: each SCRAM-*-PLUS it tries uses tls-unique, which is refused on TLS 1.3', async () => {
      const { result, run } = await runSlix({
        host: '127.0.0.1',
        port: ts.starttlsPort,
        jid: `slix@${ts.domain}/defaults`,
        password: 'pw-slix-secret',
        caFile: `${ts.dataDir}/tls/localhost.crt`,
        directTls: false,
      });
      const why = `${JSON.stringify(result)}\n${describeRun(run)}`;
      assert.equal(result.ok, false, why);
      assert.equal(result.mechanism, null, why);
      assert.deepEqual(
        result.sasl_failures.map((f) => [f.mechanism, f.channel_binding, f.condition, f.text]),
        [
          ['SCRAM-SHA-512-PLUS', 'p=tls-unique', 'not-authorized', 'unsupported channel binding type tls-unique'],
          ['SCRAM-SHA-256-PLUS', 'p=tls-unique', 'not-authorized', 'unsupported channel binding type tls-unique'],
          ['SCRAM-SHA-1-PLUS', 'p=tls-unique', 'not-authorized', 'unsupported channel binding type tls-unique'],
          // RFC 5802 §6: 'y' while -PLUS is offered looks like a stripped mechanism list.
          ['SCRAM-SHA-512', 'y', 'not-authorized', 'channel binding downgrade detected'],
          ['SCRAM-SHA-256', 'y', 'not-authorized', 'channel binding downgrade detected'],
          ['SCRAM-SHA-1', 'y', 'not-authorized', 'channel binding downgrade detected'],
        ],
        why,
      );
      assert.equal(result.error, 'all SASL mechanisms failed', why);
      assert.deepEqual(binds.of(`slix@${ts.domain}`), []);
    });
  });

  describe("auth.channel_binding_downgrade: allow (-PLUS still offered; 'y' accepted)", () => {
    let ts: TestServer;
    let binds: BindRecorder;
    let node: ConnectedClient;
    let slix: { jid: string; password: string };

    before(async () => {
      ts = await startTestServer({ auth: { channel_binding_downgrade: 'allow' } });
      binds = recordBinds(ts);
      trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
      slix = await ts.addUser('slix');
      const peer = await ts.addUser('nodeuser');
      node = await connect({
        service: `xmpp://127.0.0.1:${ts.starttlsPort}`,
        domain: ts.domain,
        username: peer.local,
        password: peer.password,
        resource: 'node',
      });
    });

    after(async () => {
      await node?.stop();
      binds?.stop();
      await ts?.stop();
    });

    for (const transport of ['STARTTLS', 'direct TLS'] as const) {
      test(`logs in with SCRAM-SHA-512 over ${transport} and exchanges chat messages with an @xmpp/client user`, async () => {
        const direct = transport === 'direct TLS';
        const resource = direct ? 'direct' : 'starttls';
        const slixFull = `${slix.jid}/${resource}`;
        const body = `Hello from slixmpp over ${transport} — ✓`;
        const reply = `Reply to slixmpp over ${transport}`;

        const running = runSlix({
          host: '127.0.0.1',
          port: direct ? ts.directTlsPort : ts.starttlsPort,
          jid: slixFull,
          password: slix.password,
          caFile: `${ts.dataDir}/tls/localhost.crt`,
          directTls: direct,
          peer: `nodeuser@${ts.domain}`,
          body,
        });
        let got;
        try {
          got = await node.nextMessage((m) => m.attrs.from === slixFull && m.getChildText('body') === body, 20_000);
        } catch (err) {
          const { result, run } = await running;
          throw new Error(`${(err as Error).message}\nslixmpp: ${JSON.stringify(result)}\n${describeRun(run)}`);
        }
        assert.equal(got.attrs.type, 'chat');
        assert.equal(got.attrs.to, `nodeuser@${ts.domain}`);
        await node.xmpp.send(xml('message', { to: slixFull, type: 'chat' }, xml('body', {}, reply)));

        const { result, run } = await running;
        const why = `${JSON.stringify(result)}\n${describeRun(run)}`;
        assert.equal(result.ok, true, why);
        assert.equal(result.error, null, why);
        assert.equal(result.jid, slixFull);
        assert.equal(result.mechanism, 'SCRAM-SHA-512', why);
        assert.equal(result.channel_binding, 'y', 'slixmpp says it could bind but believes the server cannot');
        assert.equal(result.tls_version, 'TLSv1.3');
        // Its -PLUS attempts (tls-unique) are still refused; they don't count as password failures.
        assert.deepEqual(
          result.sasl_failures.map((f) => f.mechanism),
          ['SCRAM-SHA-512-PLUS', 'SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS'],
        );
        assert.deepEqual(result.received, { from: node.jid, to: slixFull, type: 'chat', body: reply });

        const server = binds.of(slix.jid).filter((b) => b.jid === slixFull);
        assert.equal(server.length, 1);
        assert.deepEqual(server[0]!.security, { tls: true, tlsVersion: 'TLSv1.3', mechanism: 'SCRAM-SHA-512', channelBinding: undefined });
      });
    }
  });
});
