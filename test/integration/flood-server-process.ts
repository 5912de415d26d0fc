// A Palisade server in its own process, for flood.load.test.ts: the attack and
// the measuring clients then don't share an event loop with the server, and the
// server's memory can be read on its own. Configuration overrides come as JSON
// in PALISADE_TEST_CONFIG, accounts as "name:password,…" in PALISADE_TEST_USERS.
// It prints one JSON line with its ports once it listens, answers the IPC
// message 'rss' with its resident set size, and serves until it is killed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { Server } from '../../src/core/server.ts';
import { Accounts } from '../../src/core/accounts.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'palisade-flood-'));
const loaded = loadConfig({
  env: {},
  overrides: {
    ...(JSON.parse(process.env.PALISADE_TEST_CONFIG ?? '{}') as object),
    data_dir: dataDir,
    listeners: { c2s: { address: '127.0.0.1', port: 0 }, c2s_direct_tls: { enabled: false }, https: { enabled: false } },
    logging: { level: 'silent' },
  },
});
const server = new Server(loaded);
await server.start();
const accounts = Accounts.fromConfig(server.storage, loaded.config);
for (const entry of (process.env.PALISADE_TEST_USERS ?? '').split(',').filter(Boolean)) {
  const [name, password] = entry.split(':') as [string, string];
  await accounts.add(name, password);
}
process.on('message', (m) => {
  if (m === 'rss') process.send!({ rss: process.memoryUsage().rss });
});
process.on('SIGTERM', () => {
  void server.stop().finally(() => {
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
});
process.stdout.write(`${JSON.stringify({ port: server.addresses.c2s?.port, dataDir })}\n`);
