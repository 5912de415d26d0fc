// In-band registration (XEP-0077) does not exist: accounts come only from the
// administrator or an invitation (docs/invitations.md). Before authentication
// no `register` feature is offered, and a jabber:iq:register get or set is
// refused like any stanza there (stream error not-authorized, RFC 6120
// §6.4.1 / XEP-0077 §8): nothing is created.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { RawClient } from '../helpers/raw-client.ts';

let ts: TestServer;
before(async () => (ts = await startTestServer()));
after(async () => ts?.stop());

test('no register stream feature, before or after STARTTLS', async () => {
  const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
  try {
    const plain = await c.openStream();
    const secure = await c.startTls();
    for (const features of [plain, secure]) {
      assert.ok(!features.elements.some((e) => e.name === 'register'), features.toString());
    }
  } finally {
    c.destroy();
  }
});

for (const [type, payload] of [
  ['get', ''],
  ['set', '<username>mallory</username><password>a long and unusual passphrase</password>'],
] as const) {
  test(`jabber:iq:register ${type} before authentication is refused and creates nothing`, async () => {
    const c = await RawClient.connect({ port: ts.starttlsPort, dataDir: ts.dataDir });
    try {
      await c.openStream();
      await c.startTls();
      c.send(`<iq type='${type}' id='reg1'><query xmlns='jabber:iq:register'>${payload}</query></iq>`);
      const e = await c.expectStreamError('not-authorized');
      assert.equal(e.text, 'Authenticate before sending stanzas.');
      await c.waitClosed();
      assert.ok(!c.received.some((el) => el.name === 'iq' && el.attrs.type === 'result'), 'no form, no success');
      assert.equal(await ts.accounts.get('mallory'), undefined);
    } finally {
      c.destroy();
    }
  });
}
