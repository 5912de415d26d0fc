// Graceful shutdown: every connected client is told <system-shutdown/> and the
// storage is closed with what was written still there on the next start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { client, xml } from '@xmpp/client';
import { startTestServer } from '../helpers/server.ts';
import { openStorage } from '../../src/storage/index.ts';

// This file tests shutdown, not certificate checks (covered by the client tests):
// the self-signed test certificate is accepted without verification here.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

test('stopping sends system-shutdown to every stream and closes storage cleanly', async () => {
  const ts = await startTestServer();
  const users = [await ts.addUser('alice'), await ts.addUser('bob')];
  const errors: string[][] = users.map(() => []);
  const clients = users.map((u, i) => {
    const c = client({ service: `xmpp://127.0.0.1:${ts.starttlsPort}`, domain: ts.domain, username: u.local, password: u.password, resource: 'r' });
    c.on('error', (err: Error & { condition?: string }) => errors[i]!.push(err.condition ?? err.message));
    return c;
  });
  try {
    for (const c of clients) await c.start();
    for (const c of clients) await c.send(xml('presence'));
    assert.equal(ts.server.sessions.size, 2);
    const disconnected = clients.map((c) => new Promise<void>((r) => c.once('disconnect', () => r())));
    await ts.server.stop();
    await Promise.race([Promise.all(disconnected), new Promise((_, reject) => setTimeout(() => reject(new Error('clients not disconnected')), 5000))]);
    for (const e of errors) assert.ok(e.includes('system-shutdown'), `each client saw system-shutdown (got ${e.join(', ')})`);
    // The database was closed cleanly and reopens with the accounts intact.
    const storage = await openStorage({ backend: 'sqlite', path: join(ts.dataDir, 'palisade.db') });
    assert.equal(await storage.accounts.count('localhost'), 2);
    await storage.close();
  } finally {
    // Stop the clients' automatic reconnection.
    await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
    await ts.stop();
  }
});
