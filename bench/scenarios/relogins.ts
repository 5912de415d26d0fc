// Reconnection storms, with and without TLS session resumption: every account
// logs in once (untimed; the server warms up and each account keeps the TLS
// session ticket the server sends), then all log in again twice, timed like
// 'logins' (TLS, SCRAM, bind, initial presence): once with a full handshake
// and once offering their tickets, as clients do after a network drop (not
// after a server restart, which voids the tickets). Both timed rounds run on
// the same warm server, so the difference is what resumption saves.
import { closeAll, CpuMeter, loginAll, percentile, sleep, type Scenario, type ScenarioContext } from './scenario.ts';

/** Lets the server finish ending one round's sessions before the next. */
const SETTLE_MS = 1000;

export function reloginsScenario(users: number): Scenario {
  return {
    name: 'relogins',
    accountsNeeded: () => users,
    async run(context) {
      const tlsSessions = new Map<string, Buffer>();
      const withTickets: ScenarioContext = { ...context, loginOptions: (username) => ({ ...context.loginOptions(username), tlsSessions }) };
      const first = await loginAll(withTickets);
      closeAll(first.connections);
      await sleep(SETTLE_MS);

      const round = async (ctx: ScenarioContext) => {
        const cpu = new CpuMeter(context.server);
        const started = performance.now();
        const batch = await loginAll(ctx);
        const seconds = (performance.now() - started) / 1000;
        const { serverCpuSeconds } = cpu.read();
        const resumed = batch.connections.filter((c) => c?.negotiated?.tlsResumed).length;
        closeAll(batch.connections);
        await sleep(SETTLE_MS);
        const logins = batch.latenciesMs.length;
        return { batch, logins, resumed, perSecond: logins / seconds, perCpu: logins / serverCpuSeconds, p50: percentile(batch.latenciesMs, 50), cpuMs: (serverCpuSeconds * 1000) / logins };
      };
      const full = await round(context);
      const resumedRound = await round(withTickets);
      return {
        figures: {
          fullPerSecond: full.perSecond,
          fullLatencyP50Ms: full.p50,
          fullPerServerCpuSecond: full.perCpu,
          fullServerCpuMsPerLogin: full.cpuMs,
          resumedPerSecond: resumedRound.perSecond,
          resumedLatencyP50Ms: resumedRound.p50,
          resumedPerServerCpuSecond: resumedRound.perCpu,
          resumedServerCpuMsPerLogin: resumedRound.cpuMs,
          resumed: resumedRound.resumed,
          fullHandshakesResumed: full.resumed,
          logins: full.logins + resumedRound.logins,
        },
        negotiated: full.batch.connections.find((c) => c)?.negotiated,
        failures: first.failures + full.batch.failures + resumedRound.batch.failures,
        firstError: first.firstError ?? full.batch.firstError ?? resumedRound.batch.firstError,
      };
    },
  };
}
