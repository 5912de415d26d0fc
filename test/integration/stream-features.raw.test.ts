// What a client is offered after authentication: bind, the optional legacy
// session, and the features loaded modules announce (XEP-0237 roster
// versioning, RFC 6121 §3.4 pre-approval, XEP-0198 stream management, XEP-0352
// client state indication).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer } from '../helpers/server.ts';
import { RawClient } from '../helpers/raw-client.ts';

test('post-authentication features include bind, optional session, rosterver, pre-approval, sm and csi; none of them without their module', async () => {
  const offered = async (modules?: Record<string, object>) => {
    const ts = await startTestServer(modules ? { modules } : {});
    try {
      const u = await ts.addUser('feat');
      const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
      await c.openStream();
      await c.startTls();
      assert.deepEqual(await c.authenticate({ mechanism: 'SCRAM-SHA-256', username: u.local, password: u.password }), { ok: true });
      const features = await c.openStream();
      c.destroy();
      return features.elements.map((e) => `${e.ns} ${e.name}`).sort();
    } finally {
      await ts.stop();
    }
  };
  assert.deepEqual(await offered(), [
    'urn:ietf:params:xml:ns:xmpp-bind bind',
    'urn:ietf:params:xml:ns:xmpp-session session',
    'urn:xmpp:csi:0 csi',
    'urn:xmpp:features:pre-approval sub',
    'urn:xmpp:features:rosterver ver',
    'urn:xmpp:sm:3 sm',
  ]);
  assert.deepEqual(await offered({ disco: {}, ping: {} }), ['urn:ietf:params:xml:ns:xmpp-bind bind', 'urn:ietf:params:xml:ns:xmpp-session session']);
});
