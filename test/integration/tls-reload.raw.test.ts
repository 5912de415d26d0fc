// Certificate reload (SIGHUP runs server.tls.reload()): after new files are
// written, new connections on every TLS listener (STARTTLS, direct TLS, HTTPS)
// get the new certificate, while a connection opened before keeps the old one
// and its tls-server-end-point channel binding still matches it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, type TLSSocket } from 'node:tls';
import { createSelfSigned } from '../../src/net/x509.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { RawClient } from '../helpers/raw-client.ts';

/** The fingerprint of the certificate a new TLS connection to this port is served (ALPN as the listener expects). */
async function servedFingerprint(port: number, alpn: string): Promise<string> {
  const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: [alpn] });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    return socket.getPeerX509Certificate()!.fingerprint256;
  } finally {
    socket.destroy();
  }
}

/** The same through STARTTLS on the c2s port. */
async function starttlsFingerprint(ts: TestServer): Promise<string> {
  const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir, domain: ts.domain });
  try {
    await c.openStream();
    await c.startTls();
    return c.tls!.getPeerX509Certificate()!.fingerprint256;
  } finally {
    c.destroy();
  }
}

describe('TLS certificate reload', () => {
  let ts: TestServer;

  before(async () => {
    ts = await startTestServer({ listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } } });
  });
  after(async () => {
    await ts?.stop();
  });

  test('after a reload, STARTTLS, direct TLS and HTTPS all present the new certificate', async () => {
    const user = await ts.addUser('early');
    const { certFile, keyFile } = ts.server.tls.files;
    const old = new X509Certificate(readFileSync(certFile)).fingerprint256;
    const fingerprints = async () => [
      await starttlsFingerprint(ts),
      await servedFingerprint(ts.directTlsPort, 'xmpp-client'),
      await servedFingerprint(ts.httpsPort, 'http/1.1'),
    ];
    assert.deepEqual(await fingerprints(), [old, old, old]);

    // A client that negotiated TLS before the reload and authenticates after it.
    const early = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir, domain: ts.domain });
    try {
      await early.openStream();
      await early.startTls();

      const next = createSelfSigned(ts.domain);
      writeFileSync(keyFile, next.keyPem);
      writeFileSync(certFile, next.certPem);
      const fresh = new X509Certificate(next.certPem).fingerprint256;
      assert.notEqual(fresh, old);
      ts.server.tls.reload(); // what `palisade start` does on SIGHUP

      assert.deepEqual(await fingerprints(), [fresh, fresh, fresh]);
      // The early client verified the server against the old file (RawClient's CA), so it was served the old certificate;
      // its binding is computed from that (Node's client socket gives the peer certificate once, so it is not read here).
      const r = await early.authenticate({ mechanism: 'SCRAM-SHA-256-PLUS', channelBinding: 'tls-server-end-point', username: user.local, password: user.password });
      assert.ok(r.ok, `-PLUS with tls-server-end-point of the certificate this connection was served: ${r.ok ? '' : `${r.condition} ${r.text ?? ''}`}`);
    } finally {
      early.destroy();
    }
  });
});
