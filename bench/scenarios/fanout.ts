// Presence fan-out over the network, on any server (issue 9): one publisher and
// N contacts log in; each contact subscribes to the publisher's presence with
// RFC 6121 stanzas only (contact: roster get, subscribe; publisher: roster get,
// then subscribed to each request), so the server builds the rosters itself.
// Timed: the publisher sends a presence with a new <status/>; from that write
// until the last contact has received it. Once as an initial presence (after
// going unavailable), then R updates. bench/presence-fanout.ts is the older
// in-process measurement of Palisade alone.
import type { XmppConnection } from '../loadgen/connection.ts';
import { Arrivals, attr, bare, closeAll, CpuMeter, loginAll, percentile, sleep, TAIL_CHARS, type Scenario } from './scenario.ts';

/** Bound for all contacts' subscriptions to be approved. */
const SUBSCRIBE_LIMIT_MS = 60_000;
/** Bound for one presence (or the publisher's roster answer) to reach everyone. */
export const ARRIVAL_LIMIT_MS = 10_000;
/** After this many updates not received by every contact in time, the rest are not tried. */
const MAX_INCOMPLETE_RUNS = 3;
/** Quiet time between updates, so one update's stragglers (the publisher's own echo) do not overlap the next. */
const PAUSE_MS = 50;
/** After the subscriptions, time for what the server still sends (roster pushes, the publisher's presence). */
const SETTLE_MS = 500;

const PRESENCE_TAG = /<presence\b[^>]*>/g;
const ROSTER_GET = (xmlns: string, id: string): string => `<iq${xmlns} type='get' id='${id}'><query xmlns='jabber:iq:roster'/></iq>`;

export function fanoutNetScenario(contactCount: number, runs: number): Scenario {
  return {
    name: 'fanoutnet',
    accountsNeeded: () => 1 + contactCount,
    async run(context) {
      const setupStart = performance.now();
      const batch = await loginAll(context);
      const connections = batch.connections;
      let firstError = batch.firstError;
      let failures = batch.failures;
      let lost = 0;
      const onLost = (error: Error): void => {
        lost++;
        firstError ??= error.message;
      };
      const publisher = connections[0];
      if (!publisher) throw new Error(`the publisher did not log in (${firstError})`);
      const publisherBare = bare(publisher.jid);
      const contacts = connections.slice(1).filter((c): c is XmppConnection => c !== undefined);
      if (contacts.length === 0) throw new Error(`no contact logged in (${firstError})`);

      // What each contact receives, watched for what the current step waits for.
      const arrivals = new Arrivals(contacts, onLost);

      // The publisher: roster get (a server delivers subscription requests only to
      // sessions that asked for the roster, RFC 6121 §3.1.3), then approves each request once.
      let publisherTail = '';
      let rosterAnswered: () => void = () => undefined;
      const approved = new Set<string>();
      publisher.takeOver((chunk) => {
        const text = publisherTail + chunk;
        publisherTail = text.slice(-TAIL_CHARS);
        if (/<iq\b[^>]*\bid=['"]fan-roster['"]/.test(text)) rosterAnswered();
        for (const [tag] of text.matchAll(PRESENCE_TAG)) {
          const from = attr(tag, 'from');
          if (attr(tag, 'type') !== 'subscribe' || !from || approved.has(bare(from))) continue;
          approved.add(bare(from));
          publisher.send(`<presence${publisher.stanzaXmlns} to='${bare(from)}' type='subscribed'/>`);
        }
      }, onLost);
      let rosterTimer: NodeJS.Timeout | undefined;
      const rosterOk = await Promise.race([
        new Promise<boolean>((resolve) => {
          rosterAnswered = () => resolve(true);
          publisher.send(ROSTER_GET(publisher.stanzaXmlns, 'fan-roster'));
        }),
        new Promise<boolean>((resolve) => (rosterTimer = setTimeout(() => resolve(false), ARRIVAL_LIMIT_MS))),
      ]);
      clearTimeout(rosterTimer);
      if (!rosterOk) throw new Error(`the publisher's roster get had no answer within ${ARRIVAL_LIMIT_MS} ms`);

      // Each contact: roster get, subscribe; set up once the approval ('subscribed' from the publisher) arrives.
      const fromPublisher = (tag: string): boolean => bare(attr(tag, 'from') ?? '') === publisherBare;
      const presences = (text: string): string[] => [...text.matchAll(PRESENCE_TAG)].map((m) => m[0]);
      const all = contacts.map((_, i) => i);
      const notSubscribed = await arrivals.everyone(
        all,
        (text) => presences(text).some((tag) => fromPublisher(tag) && attr(tag, 'type') === 'subscribed'),
        SUBSCRIBE_LIMIT_MS,
        () => {
          for (const c of contacts) {
            c.send(ROSTER_GET(c.stanzaXmlns, 'fan-roster'));
            c.send(`<presence${c.stanzaXmlns} to='${publisherBare}' type='subscribe'/>`);
          }
        },
      );
      if (notSubscribed.length > 0) {
        failures += notSubscribed.length;
        firstError ??= `${notSubscribed.length} of ${contacts.length} subscriptions not approved within ${SUBSCRIBE_LIMIT_MS} ms`;
      }
      const active = all.filter((i) => !notSubscribed.includes(i));
      if (active.length === 0) throw new Error(`no contact's subscription was approved (${firstError})`);
      await sleep(SETTLE_MS);
      const setupSeconds = (performance.now() - setupStart) / 1000;

      let undelivered = 0;
      const nonce = Math.random().toString(36).slice(2, 8);
      /** One timed presence with a fresh status: ms until all active contacts have it, or undefined if some did not within the bound. */
      const timed = async (label: string, extra = ''): Promise<number | undefined> => {
        const marker = `<status>fanout ${label} ${nonce}</status>`;
        let start = 0;
        const missing = await arrivals.everyone(active, (text) => text.includes(marker), ARRIVAL_LIMIT_MS, () => {
          start = performance.now();
          publisher.send(`<presence${publisher.stanzaXmlns}>${extra}${marker}</presence>`);
        });
        if (missing.length === 0) return arrivals.lastArrival - start;
        undelivered += missing.length;
        firstError ??= `${missing.length} of ${active.length} contacts did not receive presence '${label}' within ${ARRIVAL_LIMIT_MS} ms`;
        return undefined;
      };

      // Initial presence: unavailable first (every contact sees it), then available with a status.
      const unavailableMissing = await arrivals.everyone(
        active,
        (text) => presences(text).some((tag) => fromPublisher(tag) && attr(tag, 'type') === 'unavailable'),
        ARRIVAL_LIMIT_MS,
        () => publisher.send(`<presence${publisher.stanzaXmlns} type='unavailable'/>`),
      );
      undelivered += unavailableMissing.length;
      const initialMs = await timed('initial');
      await sleep(PAUSE_MS);

      const cpu = new CpuMeter(context.server);
      const windowStart = performance.now();
      const times: number[] = [];
      let incomplete = 0;
      for (let run = 0; run < runs && incomplete < MAX_INCOMPLETE_RUNS; run++) {
        const ms = await timed(`update ${run}`, '<show>away</show>');
        if (ms === undefined) incomplete++;
        else times.push(ms);
        await sleep(PAUSE_MS);
      }
      const seconds = (performance.now() - windowStart) / 1000;
      const { serverCpuSeconds, loadgenCpuSeconds, otherCpuSeconds } = cpu.read();
      closeAll(connections);

      return {
        figures: {
          contacts: active.length,
          runs: times.length,
          incompleteRuns: incomplete,
          p50Ms: percentile(times, 50),
          p95Ms: percentile(times, 95),
          p99Ms: percentile(times, 99),
          maxMs: percentile(times, 100),
          // Left out when not measured: shown as '—', never as a zero.
          ...(initialMs === undefined ? {} : { initialMs }),
          ...(times.length === 0 ? {} : { deliveriesPerServerCpuSecond: (times.length * active.length) / serverCpuSeconds }),
          undelivered,
          setupSeconds,
          serverCpuSeconds,
          loadgenCpuSeconds,
          otherCpuSeconds,
          seconds,
        },
        negotiated: publisher.negotiated,
        failures: failures + undelivered + lost,
        firstError,
      };
    },
  };
}
