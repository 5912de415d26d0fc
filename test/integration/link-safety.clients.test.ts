// Must show (link and file safety, through a real client library): with
// @xmpp/client over STARTTLS, a link from someone outside bob's contacts
// reaches bob's client with the warning in front of the body, and a file from
// them is refused with the configured condition and text, which the sender's
// client reads from the error.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { connect, trustCertificates, xml, type ConnectedClient } from './clients/xmpp-js.ts';

const WARNING = 'Links from people outside your contacts are marked: check before you open them.';
const REFUSED = 'Files are delivered between contacts only.';
const POLICY = `
version: 1
link_safety:
  - from: non-contacts
    links: flag
    files: refuse
    text: "${WARNING}"
    refuse_text: ${REFUSED}
rules:
  - name: local
    subject: { local: true }
    decision: allow
`;

describe('link and file safety through a real client (@xmpp/client)', () => {
  let ts: TestServer;
  let policyDir: string;
  const open: ConnectedClient[] = [];
  let eve: ConnectedClient;
  let bob: ConnectedClient;

  before(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'palisade-link-clients-'));
    const policyFile = join(policyDir, 'policy.yaml');
    writeFileSync(policyFile, POLICY);
    ts = await startTestServer({ policy: { file: policyFile } });
    trustCertificates([readFileSync(`${ts.dataDir}/tls/localhost.crt`, 'utf8')]);
    const login = async (name: string) => {
      const u = await ts.addUser(name);
      const c = await connect({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: u.local, password: u.password, resource: 'lib' });
      open.push(c);
      return c;
    };
    eve = await login('eve');
    bob = await login('bob');
  });

  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.stop()));
    await ts?.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  test("bob's client gets the link flagged; eve's file comes back refused with the text", async () => {
    await eve.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'lib-link' }, xml('body', {}, 'your parcel: http://parcel-track.example/x1')));
    const got = await bob.nextMessage((m) => m.attrs.id === 'lib-link');
    assert.equal(got.getChildText('body'), `${WARNING}\n\nyour parcel: http://parcel-track.example/x1`);

    await eve.xmpp.send(
      xml('message', { to: 'bob@localhost', type: 'chat', id: 'lib-file' }, xml('body', {}, 'https://up.example/a.exe'), xml('x', { xmlns: 'jabber:x:oob' }, xml('url', {}, 'https://up.example/a.exe'))),
    );
    const m = await eve.nextMessage((s) => s.attrs.id === 'lib-file' && s.attrs.type === 'error');
    const err = m.getChild('error')!;
    assert.equal(err.attrs.type, 'modify');
    assert.equal(err.getChildElements().find((e) => e.name !== 'text')?.name, 'policy-violation');
    assert.equal(err.getChildText('text', 'urn:ietf:params:xml:ns:xmpp-stanzas'), REFUSED);

    // A later message arrives; the refused file never did.
    await eve.xmpp.send(xml('message', { to: 'bob@localhost', type: 'chat', id: 'lib-after' }, xml('body', {}, 'hello')));
    assert.equal((await bob.nextMessage((s) => s.attrs.id === 'lib-after')).getChildText('body'), 'hello');
    assert.equal(bob.messages.some((s) => s.attrs.id === 'lib-file'), false);
  });
});
