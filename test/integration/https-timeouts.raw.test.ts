// The HTTPS listener's time limits when a module streams request bodies
// (uploads): Node's whole-request timeout is then off, so every other request
// gets its own limit (limits.header_timeout). A form body trickled to the
// invitation page is cut off at that limit; an XMPP WebSocket stream, which is
// meant to last, is not.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { trustTestServer, wsLogin } from '../helpers/ws-client.ts';
import { createInvitation } from '../../src/invitations/index.ts';

const HEADER_TIMEOUT_S = 1;

describe('HTTPS time limits with upload routes loaded', () => {
  let ts: TestServer;
  before(async () => {
    // The default module set includes http-upload, whose PUT route streams its body.
    ts = await startTestServer({ listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } }, limits: { header_timeout: HEADER_TIMEOUT_S } });
    assert.ok(ts.server.httpRoutes.some((r) => r.method === 'PUT'), 'a module serves a PUT route');
  });
  after(async () => ts?.stop());

  test('a form body trickled to another route is cut off at the header timeout', async () => {
    const { token } = await createInvitation(ts.server.storage, ts.domain, { createdBy: 'test', validForMs: 3_600_000, group: null, localpart: null });
    const socket: TLSSocket = connect({ host: '127.0.0.1', port: ts.httpsPort, ...trustTestServer(ts.dataDir) });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    const started = Date.now();
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
    socket.on('error', () => undefined);
    socket.write(`POST /invite/${token} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nu`);
    // One byte every 200 ms: never idle, never done.
    const drip = setInterval(() => socket.writable && socket.write('x'), 200);
    try {
      const after = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
      assert.notEqual(after, -1, 'the connection was still open after 10 s');
      assert.ok(after >= HEADER_TIMEOUT_S * 1000 - 100 && after < HEADER_TIMEOUT_S * 1000 + 3000, `closed after ${after} ms`);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
  });

  test('an XMPP WebSocket stream outlives the header timeout', async () => {
    const user = await ts.addUser('ws-long');
    const c = await wsLogin({ port: ts.httpsPort, dataDir: ts.dataDir, username: user.local, password: user.password, resource: 'long' });
    try {
      await new Promise((r) => setTimeout(r, HEADER_TIMEOUT_S * 1000 + 1000));
      c.send(`<iq xmlns='jabber:client' type='get' id='still-there' to='${ts.domain}'><ping xmlns='urn:xmpp:ping'/></iq>`);
      const pong = await c.next((e) => e.attrs.id === 'still-there');
      assert.equal(pong.attrs.type, 'result');
    } finally {
      c.terminate();
    }
  });
});
