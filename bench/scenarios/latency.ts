// Delivery latency at a fixed offered rate: P pairs of logged-in sessions; the
// senders together send R chat messages per second, spread evenly over time
// and over the pairs, whether or not earlier ones have arrived (open loop, unlike
// 'messages', which measures how much a server can take). After a warm-up at
// the same rate, the messages sent in D seconds are timed; then sending stops
// and those still on their way have a bounded time to arrive.
import { chatSender, counter } from './chat.ts';
import { closeAll, CpuMeter, loginAll, percentile, sleep, type Scenario } from './scenario.ts';

/** Seconds of sending at the offered rate before the timed window: first-use costs settle. */
const WARMUP_SECONDS = 3;
/** After the window, how long messages sent within it may still take to arrive. */
export const DRAIN_LIMIT_MS = 5000;
/** The send loop's period: due messages go out on each tick. */
const TICK_MS = 1;

export function latencyScenario(pairs: number, rate: number, durationSeconds: number): Scenario {
  return {
    name: 'latency',
    accountsNeeded: () => 2 * pairs,
    async run(context) {
      const batch = await loginAll(context);
      const connections = batch.connections;
      let firstError = batch.firstError;
      let lost = 0;
      let bounced = 0;
      // The timed window; until it is set, everything sent is warm-up.
      let windowStart = Number.POSITIVE_INFINITY;
      let windowEnd = Number.POSITIVE_INFINITY;
      let sentInWindow = 0;
      let deliveredInWindow = 0;
      const latenciesMs: number[] = [];
      const onLost = (error: Error): void => {
        lost++;
        firstError ??= error.message;
      };

      const senders: ReturnType<typeof chatSender>[] = [];
      for (let i = 0; i + 1 < connections.length; i += 2) {
        const sender = connections[i];
        const receiver = connections[i + 1];
        if (!sender || !receiver) continue;
        const send = chatSender(sender, receiver.jid);
        receiver.takeOver(
          counter((n) => {
            const now = performance.now();
            if (now >= windowStart && now < windowEnd) deliveredInWindow += n;
            for (let k = 0; k < n; k++) {
              const sentAt = send.inFlight.shift();
              if (sentAt !== undefined && sentAt >= windowStart && sentAt < windowEnd) latenciesMs.push(now - sentAt);
            }
          }),
          onLost,
        );
        sender.takeOver(counter((n) => (bounced += n)), onLost);
        senders.push(send);
      }
      if (senders.length === 0) throw new Error(`no pair logged in (${firstError})`);

      // Message k is due at start + k/rate; each tick sends what is due, round-robin over the pairs.
      const start = performance.now();
      let next = 0;
      let sendLagMaxMs = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        const due = Math.floor(((now - start) * rate) / 1000) + 1;
        if (next < due && now >= windowStart) sendLagMaxMs = Math.max(sendLagMaxMs, now - (start + (next * 1000) / rate));
        for (; next < due; next++) {
          senders[next % senders.length]!(1);
          if (now >= windowStart) sentInWindow++;
        }
      }, TICK_MS);

      let cpu: CpuMeter;
      try {
        await sleep(WARMUP_SECONDS * 1000);
        cpu = new CpuMeter(context.server);
        windowStart = performance.now();
        await sleep(durationSeconds * 1000);
        windowEnd = performance.now();
      } finally {
        clearInterval(ticker);
      }
      const seconds = (windowEnd - windowStart) / 1000;
      const { serverCpuSeconds, loadgenCpuSeconds, otherCpuSeconds } = cpu.read();

      // Wait (bounded) for the window's messages still on their way.
      const pending = (): boolean => senders.some((s) => s.inFlight.some((t) => t >= windowStart && t < windowEnd));
      const drainDeadline = performance.now() + DRAIN_LIMIT_MS;
      while (pending() && performance.now() < drainDeadline) await sleep(50);
      closeAll(connections);

      return {
        figures: {
          pairs: senders.length,
          seconds,
          offeredPerSecond: sentInWindow / seconds,
          deliveredPerSecond: deliveredInWindow / seconds,
          deliveredShare: (100 * deliveredInWindow) / sentInWindow,
          delivered: deliveredInWindow,
          latencyP50Ms: percentile(latenciesMs, 50),
          latencyP99Ms: percentile(latenciesMs, 99),
          latencyMaxMs: percentile(latenciesMs, 100),
          undelivered: sentInWindow - latenciesMs.length,
          sendLagMaxMs,
          serverCpuSeconds,
          messagesPerServerCpuSecond: deliveredInWindow / serverCpuSeconds,
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
