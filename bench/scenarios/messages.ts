// One-to-one chat throughput: P pairs of logged-in sessions; each sender keeps
// W messages in flight to its partner (a new one for each one delivered) for D
// seconds. Only what is delivered inside the window counts. The same over
// WebSocket (RFC 7395) as the 'websocket' scenario.
import type { XmppConnection } from '../loadgen/connection.ts';
import { closeAll, CpuMeter, loginAll, percentile, type Scenario } from './scenario.ts';

// A typical short chat line (~100 bytes of body).
const BODY = 'The bench sends this line to its partner, as a person would type a short chat message.  Thanks!';
const END_TAG = '</message>';

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

/**
 * send(n) writes n chat messages — in one write on TCP, one WebSocket message
 * each on a WebSocket — and remembers when each left, in order.
 */
function chatSender(sender: XmppConnection, to: string): ((n: number) => void) & { inFlight: number[] } {
  const head = `<message${sender.stanzaXmlns} to='${to}' type='chat' id='m`;
  const tail = `'><body>${BODY}</body></message>`;
  let seq = 0;
  const inFlight: number[] = [];
  const send = sender.framed
    ? (n: number): void => {
        const now = performance.now();
        for (let k = 0; k < n; k++) {
          sender.send(head + seq++ + tail);
          inFlight.push(now);
        }
      }
    : (n: number): void => {
        const now = performance.now();
        let out = '';
        for (let k = 0; k < n; k++) {
          out += head + seq++ + tail;
          inFlight.push(now);
        }
        sender.send(out);
      };
  return Object.assign(send, { inFlight });
}

/** Counts closing message tags in a stream of text chunks, even when a tag is split across chunks. */
function counter(onMessages: (n: number) => void): (text: string) => void {
  let carry = '';
  return (chunk) => {
    const text = carry + chunk;
    let n = 0;
    let end = 0;
    for (let i = text.indexOf(END_TAG); i !== -1; i = text.indexOf(END_TAG, end)) {
      n++;
      end = i + END_TAG.length;
    }
    carry = text.slice(Math.max(end, text.length - END_TAG.length + 1));
    if (n > 0) onMessages(n);
  };
}
