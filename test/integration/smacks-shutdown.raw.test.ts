// Stream management (XEP-0198) meets a server stop, over raw sockets: a session
// resumed on a new connection is told <system-shutdown/> like any other, and a
// message a hibernating session never acknowledged is in offline storage when
// the server comes back on the same data.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Server } from '../../src/core/server.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, loginUnbound, type ConnectOptions, type RawClient } from '../helpers/raw-client.ts';

const isBody = (e: Element) => e.name === 'message' && e.getChild('body') !== undefined;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Enables stream management with resumption; returns the token. */
async function enableResume(c: RawClient): Promise<string> {
  c.send(`<enable xmlns='${NS.sm}' resume='true'/>`);
  const enabled = await c.next((e) => e.ns === NS.sm && (e.name === 'enabled' || e.name === 'failed'));
  assert.equal(enabled.name, 'enabled', enabled.toString());
  return enabled.attrs.id!;
}

describe('stream management and server shutdown, raw sockets', () => {
  let ts: TestServer | undefined;
  let restarted: Server | undefined;
  const open: RawClient[] = [];

  const where = (port = ts!.starttlsPort): ConnectOptions => ({ port, dataDir: ts!.dataDir, domain: ts!.domain });
  const connect = async (u: { local: string; password: string }, resource: string, port?: number) => {
    const c = await login({ ...where(port), username: u.local, password: u.password, resource });
    open.push(c);
    return c;
  };

  afterEach(async () => {
    for (const c of open.splice(0)) c.destroy();
    await restarted?.stop();
    restarted = undefined;
    await ts?.server.stop();
    if (ts) rmSync(ts.dataDir, { recursive: true, force: true });
    ts = undefined;
  });

  test('a session resumed on a new connection gets <system-shutdown/> and the end of the stream when the server stops', async () => {
    ts = await startTestServer();
    const ub = await ts.addUser('bob');
    const b = await connect(ub, 'phone');
    const token = await enableResume(b);
    b.destroy();
    await sleep(100);

    const { client: b2 } = await loginUnbound({ ...where(), username: ub.local, password: ub.password });
    open.push(b2);
    b2.send(`<resume xmlns='${NS.sm}' previd='${token}' h='0'/>`);
    const resumed = await b2.next((e) => e.ns === NS.sm && (e.name === 'resumed' || e.name === 'failed'));
    assert.equal(resumed.name, 'resumed', resumed.toString());
    assert.equal((await b2.ping()).attrs.type, 'result');

    await ts.server.stop();
    const error = await b2.expectStreamError('system-shutdown');
    assert.equal(error.text, 'The server is shutting down.');
    await b2.waitClosed();
    assert.equal(b2.streamEnded, true, 'the stream was closed with </stream:stream>');
  });

  test('a message a hibernating session never acknowledged is in offline storage after a restart', async () => {
    ts = await startTestServer();
    const [ua, ub] = [await ts.addUser('alice'), await ts.addUser('bob')];
    const a = await connect(ua, 'desk');
    const b = await connect(ub, 'phone');
    await enableResume(b);
    a.send(`<message to='${b.jid!}' type='chat' id='unacked'><body>are you there?</body></message>`);
    await b.next((e) => isBody(e) && e.attrs.id === 'unacked');
    // No <a/>: the connection dies with the message unacknowledged, and the session hibernates.
    b.destroy();
    await sleep(100);
    assert.equal(ts.server.sessions.ofAccount(b.jid!.split('/')[0]!).length, 1, 'the session hibernates');

    await ts.server.stop();
    restarted = new Server(ts.server.loaded);
    await restarted.start();

    const again = await connect(ub, 'laptop', restarted.addresses.c2s!.port);
    again.send('<presence/>');
    const offline = await again.next((e) => isBody(e) && e.attrs.id === 'unacked');
    assert.equal(offline.getChildText('body'), 'are you there?');
    assert.equal(offline.attrs.from, a.jid);
    assert.ok(offline.getChild('delay', NS.delay), offline.toString());
  });
});
