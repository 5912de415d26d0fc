// MUC fan-out over the network, on any server (issue 9): N occupants log in and
// join one room, bench@conference.<domain> (XEP-0045 §7.2, no history). The
// first creates it and, when the server says the room is new (status 201),
// accepts the default configuration at once (an instant room, §10.1.2);
// then the others join, and each is in once it has its own presence (status 110),
// and the creator sends one untimed message. Timed: one occupant (a different one each round) sends a groupchat message
// with a new body; from that write until the last of the N occupants has
// received it. The sender's own copy counts as one of the N: the room reflects
// every message to its sender too (§7.2.1), and a client shows its message as
// sent only when that copy arrives.
import type { XmppConnection } from '../loadgen/connection.ts';
import { Arrivals, attr, bare, closeAll, CpuMeter, loginAll, percentile, sleep, type Scenario } from './scenario.ts';

/** The room's localpart, on the service conference.<domain> every target serves. */
const ROOM = 'bench';
/** Bound for the creator's join, and for the answer to its instant-room configuration. */
const CREATE_LIMIT_MS = 10_000;
/** Bound for all other joins: each join sends a presence to every occupant, N² presences in all. */
const JOIN_LIMIT_MS = 120_000;
/** Bound for one groupchat message to reach every occupant. */
export const ROUND_LIMIT_MS = 10_000;
/** After this many rounds not received by every occupant in time, the rest are not tried. */
const MAX_INCOMPLETE_ROUNDS = 3;
/** Quiet time between rounds, so one round's stragglers do not overlap the next. */
const PAUSE_MS = 50;

const NS_MUC = 'http://jabber.org/protocol/muc';
const NS_MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
const CONFIGURE_ID = 'muc-instant';
/** A whole presence stanza, empty or not (presences do not nest). */
const PRESENCE = /<presence\b(?:[^>]*\/>|[^>]*>[\s\S]*?<\/presence>)/g;
const CONFIGURE_REPLY = new RegExp(`<iq\\b[^>]*\\bid=['"]${CONFIGURE_ID}['"][^>]*?(?:/>|>[\\s\\S]*?</iq>)`);

/** The start tag alone, so that a child's attributes are not taken for the stanza's. */
function startTag(stanza: string): string {
  return stanza.slice(0, stanza.indexOf('>') + 1);
}

function hasStatus(presence: string, code: number): boolean {
  return new RegExp(`<status\\b[^>]*\\bcode=['"]${code}['"]`).test(presence);
}

/** The room's answer to a join in the received text: the joiner's own presence (status 110), or an error presence. */
function joinAnswer(text: string, room: string): string | undefined {
  for (const [presence] of text.matchAll(PRESENCE)) {
    const tag = startTag(presence);
    if (bare(attr(tag, 'from') ?? '') !== room) continue;
    if (attr(tag, 'type') === 'error' || hasStatus(presence, 110)) return presence;
  }
  return undefined;
}

/** The answer to the instant-room form in the received text. */
function configureReply(text: string): string | undefined {
  return CONFIGURE_REPLY.exec(text)?.[0];
}

function isRefusal(answer: string): boolean {
  return attr(startTag(answer), 'type') === 'error';
}

/** §10.1.2: the owner accepts the default configuration with an empty submitted form. */
function instantRoomIq(xmlns: string, room: string): string {
  return `<iq${xmlns} to='${room}' type='set' id='${CONFIGURE_ID}'><query xmlns='${NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'/></query></iq>`;
}

export function mucScenario(occupantCount: number, rounds: number): Scenario {
  return {
    name: 'mucnet',
    accountsNeeded: () => occupantCount,
    async run(context) {
      const setupStart = performance.now();
      const batch = await loginAll(context);
      try {
        let firstError = batch.firstError;
        let failures = batch.failures;
        let lost = 0;
        const onLost = (error: Error): void => {
          lost++;
          firstError ??= error.message;
        };
        const occupants = batch.connections.filter((c): c is XmppConnection => c !== undefined);
        const creator = occupants[0];
        if (!creator) throw new Error(`no occupant logged in (${firstError})`);
        const room = `${ROOM}@conference.${bare(creator.jid).split('@')[1]}`;
        const arrivals = new Arrivals(occupants, onLost);

        /** Runs `act` and waits (bounded) for each session's first stanza that `find` picks out; by session. */
        const collect = async (active: number[], find: (text: string) => string | undefined, limitMs: number, act: () => void): Promise<Map<number, string>> => {
          const found = new Map<number, string>();
          const match = (text: string, session: number): boolean => {
            const stanza = find(text);
            if (stanza !== undefined) found.set(session, stanza);
            return stanza !== undefined;
          };
          await arrivals.everyone(active, match, limitMs, act);
          return found;
        };
        const join = (i: number): void => {
          const occupant = occupants[i]!;
          const nick = bare(occupant.jid).split('@')[0];
          occupant.send(`<presence${occupant.stanzaXmlns} to='${room}/${nick}'><x xmlns='${NS_MUC}'><history maxstanzas='0'/></x></presence>`);
        };
        const answerToJoin = (text: string): string | undefined => joinAnswer(text, room);

        const created = (await collect([0], answerToJoin, CREATE_LIMIT_MS, () => join(0))).get(0);
        if (created === undefined || isRefusal(created)) {
          throw new Error(`the first occupant could not create ${room}: ${created ?? `no answer within ${CREATE_LIMIT_MS} ms`}`);
        }
        // A new room may stay locked (§10.1.1) until its owner configures it.
        if (hasStatus(created, 201)) {
          const configure = (): void => creator.send(instantRoomIq(creator.stanzaXmlns, room));
          const reply = (await collect([0], configureReply, CREATE_LIMIT_MS, configure)).get(0);
          if (reply === undefined || attr(startTag(reply), 'type') !== 'result') {
            throw new Error(`the instant room ${room} was not accepted: ${reply ?? `no answer within ${CREATE_LIMIT_MS} ms`}`);
          }
        }

        const others = occupants.map((_, i) => i).slice(1);
        const answers = await collect(others, answerToJoin, JOIN_LIMIT_MS, () => others.forEach(join));
        const refused = [...answers.values()].filter(isRefusal);
        const unanswered = others.length - answers.size;
        if (refused.length + unanswered > 0) {
          failures += refused.length + unanswered;
          firstError ??= `${refused.length} joins refused${refused[0] ? ` (${refused[0].slice(0, 500)})` : ''}, ${unanswered} not answered within ${JOIN_LIMIT_MS} ms`;
        }
        const joined = [0, ...others.filter((i) => answers.has(i) && !isRefusal(answers.get(i)!))];

        let undelivered = 0;
        const nonce = Math.random().toString(36).slice(2, 8);
        /** One message: ms until every occupant has it, or undefined if some did not within the bound. */
        const timed = async (label: string, sender: XmppConnection): Promise<number | undefined> => {
          const marker = `<body>muc ${label} ${nonce}</body>`;
          let start = 0;
          const missing = await arrivals.everyone(joined, (text) => text.includes(marker), ROUND_LIMIT_MS, () => {
            start = performance.now();
            sender.send(`<message${sender.stanzaXmlns} to='${room}' type='groupchat' id='muc-${label}'>${marker}</message>`);
          });
          if (missing.length === 0) return arrivals.lastArrival - start;
          undelivered += missing.length;
          firstError ??= `${missing.length} of ${joined.length} occupants did not receive message '${label}' within ${ROUND_LIMIT_MS} ms`;
          return undefined;
        };

        // One untimed message first. Each stream is in order, so an occupant that has
        // it has also read all of the set-up's traffic (about N² presences, which the
        // load generator may still be reading when the last join is answered); and
        // every server has run the groupchat path once.
        await timed('warm-up', creator);
        await sleep(PAUSE_MS);
        const setupSeconds = (performance.now() - setupStart) / 1000;

        const cpu = new CpuMeter(context.server);
        const windowStart = performance.now();
        const times: number[] = [];
        let incomplete = 0;
        for (let round = 0; round < rounds && incomplete < MAX_INCOMPLETE_ROUNDS; round++) {
          const ms = await timed(String(round), occupants[joined[round % joined.length]!]!);
          if (ms === undefined) incomplete++;
          else times.push(ms);
          await sleep(PAUSE_MS);
        }
        const seconds = (performance.now() - windowStart) / 1000;
        const { serverCpuSeconds, loadgenCpuSeconds, otherCpuSeconds } = cpu.read();

        return {
          figures: {
            occupants: joined.length,
            rounds: times.length,
            incompleteRounds: incomplete,
            p50Ms: percentile(times, 50),
            p95Ms: percentile(times, 95),
            p99Ms: percentile(times, 99),
            maxMs: percentile(times, 100),
            // Left out when not measured: shown as '—', never as a zero.
            ...(times.length === 0 ? {} : { deliveriesPerServerCpuSecond: (times.length * joined.length) / serverCpuSeconds }),
            undelivered,
            setupSeconds,
            serverCpuSeconds,
            loadgenCpuSeconds,
            otherCpuSeconds,
            seconds,
          },
          negotiated: creator.negotiated,
          failures: failures + undelivered + lost,
          firstError,
        };
      } finally {
        closeAll(batch.connections);
      }
    },
  };
}
