// Memory per idle session: the server's resident memory (all its processes)
// before and after N sessions logged in (TLS, SCRAM, bind, initial presence) and
// then left idle. The sessions are read twice: after a short settle, as before
// 2026-11-27 15:00, and after a longer one, when a runtime that gives memory back
// once quiet (a V8 young generation, Erlang processes hibernating) has done so.
import { closeAll, loginAll, sleep, type Scenario } from './scenario.ts';

/** Seconds of quiet before the first reading with the sessions: login garbage may be collected meanwhile. */
const SETTLE_SECONDS = 5;
/** Seconds of quiet before the settled reading with the sessions. */
const LONG_SETTLE_SECONDS = 15;
/**
 * Seconds from start to the empty server's reading: longer than the sessions'
 * settle, so that what the start-up grew is given back first (Palisade gave
 * back its start-up young generation after 8 to 10 s in most runs, once not
 * within 15 s).
 */
const START_SETTLE_SECONDS = 30;

export function idleScenario(connections: number): Scenario {
  return {
    name: 'idle',
    accountsNeeded: () => connections,
    async run(context) {
      await sleep(START_SETTLE_SECONDS * 1000);
      const before = context.server.rss();
      const started = performance.now();
      const batch = await loginAll(context);
      const loginSeconds = (performance.now() - started) / 1000;
      let lost = 0;
      let firstError = batch.firstError;
      for (const c of batch.connections) {
        c?.takeOver(
          () => {},
          (error) => {
            lost++;
            firstError ??= error.message;
          },
        );
      }
      await sleep(SETTLE_SECONDS * 1000);
      const after = context.server.rss();
      await sleep((LONG_SETTLE_SECONDS - SETTLE_SECONDS) * 1000);
      const settled = context.server.rss();
      // Sessions that ended while settling no longer hold memory: count only those still open.
      const open = batch.latenciesMs.length - lost;
      closeAll(batch.connections);
      return {
        figures: {
          connections: open,
          rssBeforeMiB: before.bytes / 2 ** 20,
          rssAfterMiB: after.bytes / 2 ** 20,
          rssSettledMiB: settled.bytes / 2 ** 20,
          kibPerConnection: (after.bytes - before.bytes) / 1024 / open,
          kibPerConnectionSettled: (settled.bytes - before.bytes) / 1024 / open,
          processes: after.processes,
          loginSeconds,
        },
        negotiated: batch.connections.find((c) => c)?.negotiated,
        failures: batch.failures + lost,
        firstError,
      };
    },
  };
}
