// Presence fan-out: one account with N online subscribers changes its presence;
// how long until every subscriber has it? Each broadcast stanza goes through
// the router on the account's behalf (classify + policy decision + delivery).
//
//   node --import ./bin/ts-loader.js bench/presence-fanout.ts [contacts=500] [runs=30]
//   npm run bench -- --only fanout [--fanout N]      (the same, as part of the bench)
//
// Self-contained: starts a Palisade in this process (test/helpers/server.ts,
// SQLite in a temp folder, loopback ports), creates the accounts and roster rows
// directly through the stores (set-up speed), logs N+1 raw-socket clients in
// over STARTTLS, and measures from the moment the user's presence is written to
// its socket until the last subscriber has parsed it. Clients and server share
// one event loop, so client-side parsing is part of every figure.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { deriveCredentials } from '../src/auth/credentials.ts';
import { RosterStore } from '../src/modules/roster/store.ts';
import type { Element } from '../src/xmpp/element.ts';
import { startTestServer } from '../test/helpers/server.ts';
import { login, type RawClient } from '../test/helpers/raw-client.ts';

const LOGIN_PARALLEL = 50;
/** Each wait for a presence is bounded by this; so is the whole measurement by FANOUT_LIMIT_MS. */
const WAIT_MS = 30_000;
export const FANOUT_LIMIT_MS = 180_000;

export interface FanoutOptions {
  contacts: number;
  runs: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface FanoutFigures {
  contacts: number;
  runs: number;
  setupSeconds: number;
  initialMs: number;
  p50Ms: number;
  p95Ms: number;
  minMs: number;
  maxMs: number;
  deliveriesPerSecondAtP50: number;
  processCpuSeconds: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function presenceFanout({ contacts: count, runs, log = () => undefined }: FanoutOptions): Promise<FanoutFigures> {
  const deadline = Date.now() + FANOUT_LIMIT_MS;
  const inTime = (what: string): void => {
    if (Date.now() > deadline) throw new Error(`presence fan-out: ${what} not done within ${FANOUT_LIMIT_MS / 1000} s`);
  };
  const ts = await startTestServer();
  const clients: RawClient[] = [];
  try {
    const domain = ts.domain;
    const password = 'bench-password-1';
    const credentials = await deriveCredentials(password, ['SHA-256'], 4096);
    const names = Array.from({ length: count }, (_, i) => `contact${String(i).padStart(4, '0')}`);
    await ts.server.storage.accounts.createMany(
      ['star', ...names].map((localpart) => ({ domain, localpart, disabled: false, isAdmin: false, credentials })),
    );
    // star's subscribers (from), each of them subscribed to star (to).
    const store = new RosterStore(ts.server.storage.db);
    await store.putMany(
      { domain, localpart: 'star' },
      names.map((n) => ({ jid: `${n}@${domain}`, name: undefined, groups: [], subscription: 'from' as const, ask: false, approved: false })),
    );
    for (const n of names) {
      await store.putMany({ domain, localpart: n }, [{ jid: `star@${domain}`, name: undefined, groups: [], subscription: 'to', ask: false, approved: false }]);
    }

    const t0 = performance.now();
    const connect = (username: string): Promise<RawClient> =>
      login({ port: ts.starttlsPort, dataDir: ts.dataDir, domain, username, password, resource: 'bench' }).then(async (c) => {
        clients.push(c);
        c.send('<presence/>');
        await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid, 10_000);
        return c;
      });
    const contacts: RawClient[] = [];
    for (let i = 0; i < names.length; i += LOGIN_PARALLEL) {
      inTime('logging in the subscribers');
      contacts.push(...(await Promise.all(names.slice(i, i + LOGIN_PARALLEL).map(connect))));
    }
    const star = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, domain, username: 'star', password, resource: 'bench' });
    clients.push(star);
    const setupSeconds = (performance.now() - t0) / 1000;
    log(`set-up: ${count} subscribers online in ${setupSeconds.toFixed(1)} s`);

    const starJid = star.jid!;
    const fromStar = (status: string) => (e: Element) => e.name === 'presence' && e.attrs.from === starJid && e.getChildText('status') === status;
    const measure = async (stanza: string, status: string): Promise<number> => {
      const arrivals = contacts.map((c) => c.next(fromStar(status), WAIT_MS));
      const start = performance.now();
      star.send(stanza);
      await Promise.all(arrivals);
      return performance.now() - start;
    };

    const initialMs = await measure('<presence><status>initial</status></presence>', 'initial');
    await star.next((e) => e.name === 'presence' && e.attrs.from === starJid, WAIT_MS); // its own echo
    log(`initial presence to ${count} subscribers: ${initialMs.toFixed(1)} ms`);

    const cpuBefore = process.cpuUsage();
    const times: number[] = [];
    for (let run = 0; run < runs; run++) {
      inTime('the presence updates');
      const status = `update ${run}`;
      times.push(await measure(`<presence><show>away</show><status>${status}</status></presence>`, status));
      await star.next((e) => e.name === 'presence' && e.attrs.from === starJid, WAIT_MS);
    }
    const cpu = process.cpuUsage(cpuBefore);
    times.sort((a, b) => a - b);
    const p50Ms = percentile(times, 50);
    const figures: FanoutFigures = {
      contacts: count,
      runs,
      setupSeconds,
      initialMs,
      p50Ms,
      p95Ms: percentile(times, 95),
      minMs: times[0]!,
      maxMs: times.at(-1)!,
      deliveriesPerSecondAtP50: (count / p50Ms) * 1000,
      processCpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
    log(
      `presence update to ${count} subscribers, ${runs} runs: p50 ${figures.p50Ms.toFixed(1)} ms, ` +
        `p95 ${figures.p95Ms.toFixed(1)} ms, min ${figures.minMs.toFixed(1)} ms, max ${figures.maxMs.toFixed(1)} ms ` +
        `(${figures.deliveriesPerSecondAtP50.toFixed(0)} deliveries/s at p50)`,
    );
    return figures;
  } finally {
    for (const c of clients) c.destroy();
    await ts.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const contacts = Number(process.argv[2] ?? 500);
  const runs = Number(process.argv[3] ?? 30);
  if (!Number.isInteger(contacts) || contacts < 1 || !Number.isInteger(runs) || runs < 1) {
    throw new Error('usage: node --import ./bin/ts-loader.js bench/presence-fanout.ts [contacts=500] [runs=30]');
  }
  await presenceFanout({ contacts, runs, log: (line) => console.log(line) });
}
