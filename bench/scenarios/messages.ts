// One-to-one chat throughput: P pairs of logged-in sessions; each sender keeps
// W messages in flight to its partner (a new one for each one delivered) for D
// seconds. Only what is delivered inside the window counts. The same over
// WebSocket (RFC 7395) as the 'websocket' scenario.
import { chatSender, counter } from './chat.ts';
import { closeAll, CpuMeter, loginAll, percentile, type Scenario } from './scenario.ts';

export function messagesScenario(pairs: number, window: number, durationSeconds: number, transport?: 'websocket'): Scenario {
  return {
    name: transport ?? 'messages',
    transport,
    accountsNeeded: () => 2 * pairs,
    async run(context) {
      const batch = await loginAll(context);
      const connections = batch.connections;
      let running = false;
      let delivered = 0;
      let bounced = 0;
      let lost = 0;
      let firstError = batch.firstError;
      const latenciesMs: number[] = [];
      const starters: (() => void)[] = [];
      const onLost = (error: Error): void => {
        lost++;
        firstError ??= error.message;
      };

      for (let i = 0; i + 1 < connections.length; i += 2) {
        const sender = connections[i];
        const receiver = connections[i + 1];
        if (!sender || !receiver) continue;
        const send = chatSender(sender, receiver.jid);
        receiver.takeOver(
          counter((n) => {
            const now = performance.now();
            for (let k = 0; k < n; k++) {
              const sentAt = send.inFlight.shift();
              if (running && sentAt !== undefined) latenciesMs.push(now - sentAt);
            }
            if (!running) return;
            delivered += n;
            send(n);
          }),
          onLost,
        );
        // A sender receives nothing but bounces (message errors) here.
        sender.takeOver(counter((n) => (bounced += n)), onLost);
        starters.push(() => send(window));
      }

      const cpu = new CpuMeter(context.server);
      const started = performance.now();
      running = true;
      for (const start of starters) start();
      await new Promise((resolve) => setTimeout(resolve, durationSeconds * 1000));
      running = false;
      const seconds = (performance.now() - started) / 1000;
      const { serverCpuSeconds, loadgenCpuSeconds, otherCpuSeconds } = cpu.read();
      closeAll(connections);

      return {
        figures: {
          pairs: starters.length,
          seconds,
          delivered,
          deliveredPerSecond: delivered / seconds,
          latencyP50Ms: percentile(latenciesMs, 50),
          latencyP99Ms: percentile(latenciesMs, 99),
          serverCpuSeconds,
          messagesPerServerCpuSecond: delivered / serverCpuSeconds,
          loadgenCpuSeconds,
          otherCpuSeconds,
          bounced,
        },
        negotiated: connections.find((c) => c)?.negotiated,
        failures: batch.failures + lost,
        firstError,
      };
    },
  };
}
