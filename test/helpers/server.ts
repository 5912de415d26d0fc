// Starts a real Palisade on loopback ports chosen by the OS, with its own temp
// data folder, for integration tests; stop() removes everything it created.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import type { Config, DeepPartial } from '../../src/config/schema.ts';
import { Server } from '../../src/core/server.ts';
import { Accounts } from '../../src/core/accounts.ts';

export interface TestServer {
  server: Server;
  domain: string;
  dataDir: string;
  starttlsPort: number;
  directTlsPort: number;
  /** 0 unless the test enabled listeners.https. */
  httpsPort: number;
  accounts: Accounts;
  addUser(local: string, password?: string): Promise<{ jid: string; local: string; password: string }>;
  stop(): Promise<void>;
}

export async function startTestServer(overrides: DeepPartial<Config> = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'palisade-test-'));
  const base: DeepPartial<Config> = {
    data_dir: dataDir,
    listeners: {
      c2s: { address: '127.0.0.1', port: 0 },
      c2s_direct_tls: { address: '127.0.0.1', port: 0 },
      https: { enabled: false },
    },
    auth: { scram_iterations: 4096, failure_delay_max: 0 },
    // Many test clients connect from 127.0.0.1 in quick succession; the limit
    // tests (test/integration/limits.raw.test.ts) set their own values.
    limits: { connections_per_ip: 10_000, connection_rate_per_ip: 10_000, connection_burst_per_ip: 10_000 },
    logging: { level: (process.env.PALISADE_TEST_LOG as Config['logging']['level'] | undefined) ?? 'silent' },
  };
  const loaded = loadConfig({ env: {}, overrides: merge(base, overrides) });
  const server = new Server(loaded);
  await server.start();
  const cfg = loaded.config;
  const accounts = Accounts.fromConfig(server.storage, cfg);
  return {
    server,
    domain: cfg.domain,
    dataDir,
    starttlsPort: server.addresses.c2s?.port ?? 0,
    directTlsPort: server.addresses.c2sDirectTls?.port ?? 0,
    httpsPort: server.addresses.https?.port ?? 0,
    accounts,
    async addUser(local, password = `pw-${local}-secret`) {
      const j = await accounts.add(local, password);
      return { jid: j.bareString(), local: j.local, password };
    },
    async stop() {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function merge<T>(a: T, b: T): T {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null || Array.isArray(a)) return (b ?? a) as T;
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = k in out ? merge(out[k], v) : v;
  return out as T;
}
