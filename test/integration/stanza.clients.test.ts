// Must show: stanza (StanzaJS 12.22.1), a client library others wrote, logs in
// to Palisade over XMPP over WebSocket (RFC 7395) and exchanges messages with a
// client on another transport (TCP with direct TLS).
//
// stanza 12 has no TCP transport, only WebSocket and BOSH; it is given the wss://
// URL directly (no discovery) and BOSH is turned off.
//
// TLS: stanza opens its WebSocket with `new WebSocket(url, 'xmpp')` from its
// platform module, with no way to pass TLS options. Rather than turning
// verification off (NODE_TLS_REJECT_UNAUTHORIZED=0), the test replaces that
// WebSocket class with one that trusts exactly the test server's self-signed
// certificate: the chain and the host name are still checked.
//
// SASL: stanza prefers SCRAM-SHA-256-PLUS when offered, but its -PLUS knows only
// tls-unique, which a WebSocket client has no data for (and TLS 1.3 does not
// define); it then sends SCRAM-SHA-256-PLUS with the gs2 flag "n", which
// Palisade refuses (malformed-request: -PLUS requires 'p='). So, like any stanza
// app against a server that offers -PLUS over WebSocket, the client disables
// the -PLUS mechanisms and logs in with SCRAM-SHA-256.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { createClient, type Agent, type Stanzas } from 'stanza';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, type RawClient } from '../helpers/raw-client.ts';
import { trustTestServer } from '../helpers/ws-client.ts';

/** Makes stanza's WebSocket trust the test server's certificate (and nothing else new). */
function trustForStanza(tlsOptions: { ca: Buffer; servername: string }): void {
  const platform = createRequire(import.meta.url)('stanza/platform/node') as { WebSocket: new (url: string, protocols?: string | string[]) => WebSocket };
  platform.WebSocket = class TrustingWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, tlsOptions);
    }
  };
}

describe('stanza (StanzaJS 12.22.1) over WebSocket', () => {
  let ts: TestServer;
  let alice: { jid: string; local: string; password: string };
  let bob: { jid: string; local: string; password: string };
  const clients: Agent[] = [];
  let tcp: RawClient | undefined;

  before(async () => {
    ts = await startTestServer({ listeners: { https: { enabled: true, address: '127.0.0.1', port: 0 } } });
    trustForStanza(trustTestServer(ts.dataDir));
    alice = await ts.addUser('alice');
    bob = await ts.addUser('bob');
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    tcp?.destroy();
    await ts?.stop();
  });

  /** Logs in and waits for the session; resolves with the client, the mechanism it used and its received messages. */
  async function stanzaLogin(user: { jid: string; password: string }, resource: string) {
    const client = createClient({
      jid: user.jid,
      password: user.password,
      resource,
      transports: { websocket: `wss://127.0.0.1:${ts.httpsPort}/xmpp-websocket`, bosh: false },
    });
    clients.push(client);
    client.sasl.disable('SCRAM-SHA-256-PLUS');
    client.sasl.disable('SCRAM-SHA-1-PLUS');
    let mechanism: string | undefined;
    client.on('raw', (direction, data) => {
      const m = direction === 'outgoing' ? /<auth [^>]*mechanism="([^"]+)"/.exec(data) : null;
      if (m) mechanism = m[1];
    });
    const messages: Stanzas.ReceivedMessage[] = [];
    client.on('message', (m) => messages.push(m));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no session within 10 s')), 10_000);
      client.once('session:started', () => {
        clearTimeout(timer);
        resolve();
      });
      client.once('auth:failed', () => reject(new Error('authentication failed')));
      client.connect();
    });
    return { client, mechanism: () => mechanism, messages };
  }

  async function received(messages: Stanzas.ReceivedMessage[], match: (m: Stanzas.ReceivedMessage) => boolean): Promise<Stanzas.ReceivedMessage> {
    for (let i = 0; i < 100; i++) {
      const m = messages.find(match);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no matching message; got ${messages.map((m) => m.id).join(', ') || 'none'}`);
  }

  test('logs in over wss:// with SCRAM-SHA-256 and binds the requested resource', async () => {
    const { client, mechanism } = await stanzaLogin(alice, 'stanza');
    assert.equal(client.jid, `${alice.jid}/stanza`);
    assert.equal(mechanism(), 'SCRAM-SHA-256');
    const session = [...ts.server.sessions.all()].find((s) => s.jid.toString() === client.jid);
    assert.ok(session, 'the server has the bound session');
    assert.equal(session.security.tls, true);
    assert.equal(session.security.mechanism, 'SCRAM-SHA-256');
    client.disconnect();
  });

  test('exchanges chat messages both ways with a TCP client (to the bare JID, then the full JID)', async () => {
    const { client, messages } = await stanzaLogin(alice, 'chat');
    tcp = await login({ port: ts.directTlsPort, directTls: true, dataDir: ts.dataDir, username: bob.local, password: bob.password, resource: 'desk' });
    // Both available, so that messages to the bare JIDs are delivered rather than stored offline.
    tcp.send('<presence/>');
    await tcp.next((el) => el.name === 'presence' && el.attrs.from === tcp!.jid);
    await client.sendPresence();

    client.sendMessage({ to: bob.jid, type: 'chat', id: 's1', body: 'Hello Bob, from stanza over WebSocket' });
    const atBob = await tcp.next((el) => el.name === 'message' && el.attrs.id === 's1');
    assert.equal(atBob.getChildText('body'), 'Hello Bob, from stanza over WebSocket');
    assert.equal(atBob.attrs.from, client.jid);

    tcp.send(`<message to='${alice.jid}' type='chat' id='t1'><body>Hi Alice — ünïcödé ✓</body></message>`);
    const atAlice = await received(messages, (m) => m.id === 't1');
    assert.equal(atAlice.body, 'Hi Alice — ünïcödé ✓');
    assert.equal(atAlice.from, tcp.jid);
    assert.equal(atAlice.type, 'chat');

    tcp.send(`<message to='${client.jid}' type='chat' id='t2'><body>to your full JID</body></message>`);
    assert.equal((await received(messages, (m) => m.id === 't2')).body, 'to your full JID');
    client.disconnect();
  });
});
