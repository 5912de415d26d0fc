// Must show: the command-line senders from Debian — sendxmpp 1.24 (Perl: Net::XMPP
// 1.05, XML::Stream 1.24, Authen::SASL 2.16) and go-sendxmpp 0.5.7-dev (Debian's
// 0.5.6+git20221206, built on mattn/go-xmpp) — deliver a message that an
// @xmpp/client user receives, over STARTTLS and over direct TLS (XEP-0368).
//
// Neither can do SCRAM: Authen::SASL's pure-Perl mechanisms are PLAIN, LOGIN,
// CRAM-MD5, DIGEST-MD5, ANONYMOUS, EXTERNAL and GSSAPI; this go-xmpp knows PLAIN,
// DIGEST-MD5, X-OAUTH2 and ANONYMOUS. So they need `auth.allow_plain: true` (PLAIN
// is only ever offered over TLS); the first block shows that with the server's
// defaults they cannot log in at all.
//
// TLS: both trust the test server's certificate file and verify it — sendxmpp
// with --tls-ca-path FILE, go-sendxmpp (no CA option) through Go's SSL_CERT_FILE.
// Credentials go in each tool's config file (mode 600), not on the command line.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, trustCertificates, type ConnectedClient } from './clients/xmpp-js.ts';
import { recordBinds, type BindRecorder } from './clients/binds.ts';
import { baseEnv, describeRun, requireProgram, run, type ProcessResult } from './clients/process.ts';

type Transport = 'STARTTLS' | 'direct TLS';
const TRANSPORTS: Transport[] = ['STARTTLS', 'direct TLS'];

function port(ts: TestServer, t: Transport): number {
  return t === 'direct TLS' ? ts.directTlsPort : ts.starttlsPort;
}

function caFile(ts: TestServer): string {
  return join(ts.dataDir, 'tls', 'localhost.crt');
}

/** sendxmpp: rc file (1.24 key: value format) with jserver = the domain, which the certificate names. */
function sendxmpp(ts: TestServer, o: { user: string; password: string; transport: Transport; resource: string; to: string; text: string }): Promise<ProcessResult> {
  const rc = join(ts.dataDir, `sendxmpprc-${o.user}-${o.resource}`);
  writeFileSync(rc, `username: ${o.user}\njserver: ${ts.domain}\nport: ${port(ts, o.transport)}\npassword: ${o.password}\n`, { mode: 0o600 });
  const tls = o.transport === 'direct TLS' ? '--ssl' : '--tls';
  return run('sendxmpp', ['--file', rc, tls, '--tls-ca-path', caFile(ts), '--resource', o.resource, '--message-type', 'chat', o.to], {
    input: o.text,
    env: baseEnv(),
    timeoutMs: 20_000,
  });
}

/** go-sendxmpp: its sendxmpprc format (username is the JID); -t = direct TLS, else STARTTLS. */
function goSendxmpp(ts: TestServer, o: { jid: string; password: string; transport: Transport; to: string; text: string }): Promise<ProcessResult> {
  const rc = join(ts.dataDir, `go-sendxmpprc-${o.transport === 'direct TLS' ? 'direct' : 'starttls'}`);
  writeFileSync(rc, `username: ${o.jid}\njserver: ${ts.domain}\nport: ${port(ts, o.transport)}\npassword: ${o.password}\n`, { mode: 0o600 });
  const args = ['--file', rc, ...(o.transport === 'direct TLS' ? ['--tls'] : []), '--timeout', '10', o.to];
  return run('go-sendxmpp', args, { input: o.text, env: baseEnv({ SSL_CERT_FILE: caFile(ts) }), timeoutMs: 20_000 });
}

describe('sendxmpp and go-sendxmpp (Debian)', () => {
  before(async () => {
    const perl = await requireProgram('sendxmpp', ['--help'], 'sendxmpp');
    assert.match(perl.stdout + perl.stderr, /sendxmpp version 1\.24/, 'these expectations are for sendxmpp 1.24');
    const go = await requireProgram('go-sendxmpp', ['--version'], 'go-sendxmpp');
    assert.match(go.stdout, /go-sendxmpp 0\.5\./, 'these expectations are for go-sendxmpp 0.5.x');
  });

  describe('server defaults: no PLAIN offered', () => {
    let ts: TestServer;
    let binds: BindRecorder;

    before(async () => {
      ts = await startTestServer();
      binds = recordBinds(ts);
      await ts.addUser('perl');
      await ts.addUser('gouser');
      await ts.addUser('rcv');
    });

    after(async () => {
      binds?.stop();
      await ts?.stop();
    });

    test('sendxmpp finds no SASL mechanism in common (it has no SCRAM) and sends nothing', async () => {
      const r = await sendxmpp(ts, { user: 'perl', password: 'pw-perl-secret', transport: 'STARTTLS', resource: 'defaults', to: `rcv@${ts.domain}`, text: 'x' });
      assert.notEqual(r.code, 0, describeRun(r));
      assert.match(r.stderr, /No SASL mechanism found/, describeRun(r));
      assert.deepEqual(binds.of(`perl@${ts.domain}`), []);
    });

    test('go-sendxmpp refuses to log in because PLAIN is not offered', async () => {
      const r = await goSendxmpp(ts, { jid: `gouser@${ts.domain}`, password: 'pw-gouser-secret', transport: 'STARTTLS', to: `rcv@${ts.domain}`, text: 'x' });
      assert.notEqual(r.code, 0, describeRun(r));
      assert.match(r.stderr, /PLAIN authentication is not an option: \[SCRAM-SHA-512-PLUS SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-512 SCRAM-SHA-256 SCRAM-SHA-1\]/, describeRun(r));
      assert.deepEqual(binds.of(`gouser@${ts.domain}`), []);
    });
  });

  describe('auth.allow_plain: true', () => {
    let ts: TestServer;
    let binds: BindRecorder;
    let rcv: ConnectedClient;
    let perl: { jid: string; password: string };
    let gouser: { jid: string; password: string };

    before(async () => {
      ts = await startTestServer({ auth: { allow_plain: true } });
      binds = recordBinds(ts);
      trustCertificates([readFileSync(caFile(ts), 'utf8')]);
      perl = await ts.addUser('perl');
      gouser = await ts.addUser('gouser');
      const r = await ts.addUser('rcv');
      rcv = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: r.local, password: r.password, resource: 'inbox' });
    });

    after(async () => {
      await rcv?.stop();
      binds?.stop();
      await ts?.stop();
    });

    for (const transport of TRANSPORTS) {
      test(`sendxmpp logs in with PLAIN over ${transport}; the @xmpp/client user receives its message`, async () => {
        const resource = transport === 'direct TLS' ? 'direct' : 'starttls';
        const text = `Hello from sendxmpp over ${transport}\n`;
        const r = await sendxmpp(ts, { user: 'perl', password: perl.password, transport, resource, to: `rcv@${ts.domain}`, text });
        assert.equal(r.code, 0, describeRun(r));

        const got = await rcv.nextMessage((m) => m.attrs.from === `${perl.jid}/${resource}`, 5000);
        assert.equal(got.getChildText('body'), text, 'sendxmpp sends stdin as it is, final newline included');
        assert.equal(got.attrs.type, 'chat');
        assert.equal(got.attrs.to, `rcv@${ts.domain}`);

        const bound = binds.of(perl.jid).filter((b) => b.jid === `${perl.jid}/${resource}`);
        assert.equal(bound.length, 1);
        assert.deepEqual(bound[0]!.security, { tls: true, tlsVersion: 'TLSv1.3', mechanism: 'PLAIN', channelBinding: undefined });
      });
    }

    for (const transport of TRANSPORTS) {
      test(`go-sendxmpp logs in with PLAIN over ${transport}; the @xmpp/client user receives its message`, async () => {
        const before = binds.of(gouser.jid).length;
        const text = `Hello from go-sendxmpp over ${transport}`;
        const r = await goSendxmpp(ts, { jid: gouser.jid, password: gouser.password, transport, to: `rcv@${ts.domain}`, text: `${text}\n` });
        assert.equal(r.code, 0, describeRun(r));

        const bound = binds.of(gouser.jid).slice(before);
        assert.equal(bound.length, 1, 'one session was bound');
        assert.match(bound[0]!.jid, new RegExp(`^${gouser.jid}/go-sendxmpp\\.[0-9a-f]+$`));
        assert.deepEqual(bound[0]!.security, { tls: true, tlsVersion: 'TLSv1.3', mechanism: 'PLAIN', channelBinding: undefined });

        const got = await rcv.nextMessage((m) => m.attrs.from === bound[0]!.jid, 5000);
        assert.equal(got.getChildText('body'), text, 'go-sendxmpp drops the final newline');
        assert.equal(got.attrs.type, 'chat');
        assert.equal(got.attrs.to, `rcv@${ts.domain}`);
      });
    }
  });
});
