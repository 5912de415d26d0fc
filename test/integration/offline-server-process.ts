// A Palisade server in its own process, for offline-sigkill.test.ts: started on
// the data folder given as the first argument (ports chosen by the OS), it
// creates the accounts named in PALISADE_TEST_USERS ("name:password,…") if they
// don't exist, then prints one JSON line {"port": <STARTTLS port>} and serves
// until it is killed.
import { loadConfig } from '../../src/config/load.ts';
import { Server } from '../../src/core/server.ts';
import { Accounts } from '../../src/core/accounts.ts';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: offline-server-process.ts <data dir>');

const loaded = loadConfig({
  env: {},
  overrides: {
    data_dir: dataDir,
    listeners: { c2s: { address: '127.0.0.1', port: 0 }, c2s_direct_tls: { enabled: false }, https: { enabled: false } },
    auth: { scram_iterations: 4096 },
    logging: { level: 'silent' },
  },
});
const server = new Server(loaded);
await server.start();
const cfg = loaded.config;
const accounts = Accounts.fromConfig(server.storage, cfg);
for (const entry of (process.env.PALISADE_TEST_USERS ?? '').split(',').filter(Boolean)) {
  const [name, password] = entry.split(':') as [string, string];
  if (!(await server.storage.accounts.get(cfg.domain, name))) await accounts.add(name, password);
}
process.stdout.write(`${JSON.stringify({ port: server.addresses.c2s?.port })}\n`);
