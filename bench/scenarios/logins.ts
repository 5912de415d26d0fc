// Login storm: N accounts log in through K parallel connectors, each with the
// full negotiation (TCP, TLS, SCRAM, bind, initial presence); sessions stay open
// until all are done, as when clients reconnect after a server restart.
import { closeAll, CpuMeter, loginAll, percentile, type Scenario } from './scenario.ts';

export function loginsScenario(users: number): Scenario {
  return {
    name: 'logins',
    accountsNeeded: () => users,
    async run(context) {
      const cpu = new CpuMeter(context.server);
      const started = performance.now();
      const batch = await loginAll(context);
      const seconds = (performance.now() - started) / 1000;
      const { serverCpuSeconds, loadgenCpuSeconds, otherCpuSeconds } = cpu.read();
      closeAll(batch.connections);
      const logins = batch.latenciesMs.length;
      return {
        figures: {
          logins,
          seconds,
          loginsPerSecond: logins / seconds,
          latencyP50Ms: percentile(batch.latenciesMs, 50),
          latencyP99Ms: percentile(batch.latenciesMs, 99),
          serverCpuSeconds,
          loginsPerServerCpuSecond: logins / serverCpuSeconds,
          loadgenCpuSeconds,
          otherCpuSeconds,
        },
        negotiated: batch.connections.find((c) => c)?.negotiated,
        failures: batch.failures,
        firstError: batch.firstError,
      };
    },
  };
}
