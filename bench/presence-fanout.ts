// Presence fan-out: one account with N online subscribers changes its presence;
// how long until every subscriber has it? Each broadcast stanza goes through
// the router on the account's behalf (classify + policy decision + delivery).
//
//   node --import tsx bench/presence-fanout.ts [contacts=500] [runs=30]
//
// Self-contained: starts a Palisade in this process (test/helpers/server.ts,
// SQLite in a temp folder), creates the accounts and roster rows directly
// through the stores (set-up speed), logs N+1 raw-socket clients in over
// STARTTLS, and measures from the moment the user's presence is written to
// its socket until the last subscriber has parsed it. Clients and server share
// one event loop, so client-side parsing is part of every figure.
import { performance } from 'node:perf_hooks';
import { deriveCredentials } from '../src/auth/credentials.ts';
import { RosterStore } from '../src/modules/roster/store.ts';
import type { Element } from '../src/xmpp/element.ts';
import { startTestServer } from '../test/helpers/server.ts';
import { login, type RawClient } from '../test/helpers/raw-client.ts';

const CONTACTS = Number(process.argv[2] ?? 500);
const RUNS = Number(process.argv[3] ?? 30);
const LOGIN_PARALLEL = 50;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const ts = await startTestServer();
  const clients: RawClient[] = [];
  try {
    const domain = ts.domain;
    const password = 'bench-password-1';
    const credentials = await deriveCredentials(password, ['SHA-256'], 4096);
    const names = Array.from({ length: CONTACTS }, (_, i) => `contact${String(i).padStart(4, '0')}`);
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
    const connect = (username: string) =>
      login({ port: ts.starttlsPort, dataDir: ts.dataDir, domain, username, password, resource: 'bench' }).then(async (c) => {
        c.send('<presence/>');
        await c.next((e) => e.name === 'presence' && e.attrs.from === c.jid, 10_000);
        return c;
      });
    const contacts: RawClient[] = [];
    for (let i = 0; i < names.length; i += LOGIN_PARALLEL) {
      contacts.push(...(await Promise.all(names.slice(i, i + LOGIN_PARALLEL).map(connect))));
    }
    clients.push(...contacts);
    const star = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, domain, username: 'star', password, resource: 'bench' });
    clients.push(star);
    console.log(`set-up: ${CONTACTS} subscribers online in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const starJid = star.jid!;
    const fromStar = (status: string) => (e: Element) => e.name === 'presence' && e.attrs.from === starJid && e.getChildText('status') === status;
    const measure = async (stanza: string, status: string): Promise<number> => {
      const arrivals = contacts.map((c) => c.next(fromStar(status), 30_000));
      const start = performance.now();
      star.send(stanza);
      await Promise.all(arrivals);
      return performance.now() - start;
    };

    const initial = await measure('<presence><status>initial</status></presence>', 'initial');
    await star.next((e) => e.name === 'presence' && e.attrs.from === starJid); // its own echo
    console.log(`initial presence to ${CONTACTS} subscribers: ${initial.toFixed(1)} ms`);

    const times: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const status = `update ${run}`;
      times.push(await measure(`<presence><show>away</show><status>${status}</status></presence>`, status));
      await star.next((e) => e.name === 'presence' && e.attrs.from === starJid);
    }
    times.sort((a, b) => a - b);
    console.log(
      `presence update to ${CONTACTS} subscribers, ${RUNS} runs: p50 ${percentile(times, 50).toFixed(1)} ms, ` +
        `p95 ${percentile(times, 95).toFixed(1)} ms, min ${times[0]!.toFixed(1)} ms, max ${times.at(-1)!.toFixed(1)} ms ` +
        `(${((CONTACTS / percentile(times, 50)) * 1000).toFixed(0)} deliveries/s at p50)`,
    );
  } finally {
    for (const c of clients) c.destroy();
    await ts.stop();
  }
}

await main();
