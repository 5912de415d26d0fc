// Flood (issue #7, "Must show"): one authenticated attacker sending stanzas as
// fast as it can, plus 200 more connections from its address, while 50 normal
// users (25 pairs, each on its own loopback address) keep chatting. The server
// runs in its own process (flood-server-process.ts) so that the measuring
// clients and the attack don't share its event loop, and its memory is its own.
//
// Pass criteria, as the issue states them: the normal users' message latency
// p99 < 200 ms and none of their messages lost; the attacker's rate bounded by
// the limits and then the attacker disconnected with policy-violation; most of
// the 200 connections refused before TLS by the per-IP limits; the server's RSS
// bounded. Latency is measured only during the attack, after a warm-up.
// A *.load.test.ts file runs after the rest of the suite, on its own (package.json):
// next to another test file starting Chromium, a 2-core machine stalled the
// measuring clients for half a second.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { login, type RawClient } from '../helpers/raw-client.ts';
import { XmlStreamParser } from '../../src/net/xml-stream.ts';
import type { Element } from '../../src/xmpp/element.ts';

const SCRIPT = fileURLToPath(new URL('./flood-server-process.ts', import.meta.url));
const LOADER = fileURLToPath(new URL('../../bin/ts-loader.js', import.meta.url));
const PAIRS = 25;
const ATTACK_CONNECTIONS = 200;
const CHAT_INTERVAL_MS = 250;
const WARMUP_MS = 2000;
const MEASURE_MS = 10_000;
const LIMITS = {
  connections_per_ip: 20,
  connection_rate_per_ip: 5,
  connection_burst_per_ip: 20,
  stanzas_per_second: 100,
  stanzas_burst: 500,
  bytes_per_second: 262_144,
  bytes_burst: 1_048_576,
  throttle_tolerance: 6,
};
const MODULES = Object.fromEntries(['disco', 'ping', 'roster', 'presence', 'message'].map((m) => [m, {}]));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startServer(users: string[]): Promise<{ child: ChildProcess; port: number; dataDir: string }> {
  const child = spawn(process.execPath, ['--import', LOADER, SCRIPT], {
    env: {
      ...process.env,
      PALISADE_TEST_CONFIG: JSON.stringify({ auth: { scram_iterations: 4096 }, limits: LIMITS, modules: MODULES }),
      PALISADE_TEST_USERS: users.map((u) => `${u}:pw-${u}-secret`).join(','),
    },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolve({ child, ...(JSON.parse(line!) as { port: number; dataDir: string }) });
    });
    child.once('exit', (code) => reject(new Error(`server process exited (${code})`)));
  });
}

function serverRss(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve((m as { rss: number }).rss));
    child.send('rss');
  });
}

/** One connection of the 200: refused (the stream error's text) or admitted (then held open, silent). */
function attackConnection(port: number): Promise<{ refused?: string; socket?: ReturnType<typeof tcpConnect> }> {
  return new Promise((resolve) => {
    const elements: Element[] = [];
    let features = false;
    const parser = new XmlStreamParser({
      streamStart: () => undefined,
      stanza: (el) => {
        elements.push(el);
        if (el.name === 'features') features = true;
        if (el.name === 'error') resolve({ refused: el.getChildText('text') ?? '' });
        if (features) resolve({ socket: s });
      },
      streamEnd: () => undefined,
      error: () => undefined,
    });
    const s = tcpConnect({ port, host: '127.0.0.1' });
    s.on('connect', () => s.write(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`));
    s.on('data', (d: Buffer) => parser.write(d));
    s.on('error', () => resolve({ refused: 'socket error' }));
    s.on('close', () => resolve({ refused: 'closed without a stream error' }));
  });
}

function p(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

test('flood: 50 users keep chatting (p99 < 200 ms, nothing lost) while one attacker floods and 200 connections hammer from its address', async (t) => {
  const names = Array.from({ length: PAIRS * 2 }, (_, i) => `user${i}`);
  const { child, port, dataDir } = await startServer([...names, 'attacker']);
  const normal: RawClient[] = [];
  const held: ReturnType<typeof tcpConnect>[] = [];
  let attacker: RawClient | undefined;
  try {
    const opts = { port, dataDir };
    // Each normal user on its own loopback address, as separate hosts would be.
    for (let i = 0; i < names.length; i++) {
      normal.push(await login({ ...opts, username: names[i]!, password: `pw-${names[i]}-secret`, resource: 'r', localAddress: `127.0.1.${i + 1}` }));
    }
    attacker = await login({ ...opts, username: 'attacker', password: 'pw-attacker-secret', resource: 'r' });

    // Chatting: each user sends to its partner every 250 ms; the partner records the latency.
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    const received = new Set<string>();
    let measuring = false;
    let listening = true;
    const receivers = normal.map(async (c) => {
      while (listening && !c.closed) {
        const el = await c.next((e) => e.name === 'message', 1000).catch(() => undefined);
        if (!el) continue;
        const id = el.attrs.id!;
        const sent = sentAt.get(id);
        if (sent === undefined) continue;
        received.add(id);
        if (id.startsWith('m-')) latencies.push(performance.now() - sent);
      }
    });
    let n = 0;
    const timers = normal.map((c, i) => {
      const partner = `user${i ^ 1}@localhost/r`;
      return setInterval(() => {
        const id = `${measuring ? 'm' : 'w'}-${i}-${n++}`;
        sentAt.set(id, performance.now());
        c.sendRaw(`<message type='chat' id='${id}' to='${partner}'><body>hello ${n}</body></message>`);
      }, CHAT_INTERVAL_MS);
    });
    await sleep(WARMUP_MS);
    const rssBefore = await serverRss(child);

    // The attack starts with the measured phase.
    measuring = true;
    const attackStarted = performance.now();
    let pongs = 0;
    let attackerClosedAt = 0;
    const flood = attacker;
    const batch = Array.from({ length: 200 }, (_, i) => `<iq type='get' id='f${i}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`).join('');
    const pump = () => {
      // As fast as the socket takes it: refill whenever it drains.
      while (!flood.socket.destroyed && flood.socket.write(batch));
      if (!flood.socket.destroyed) flood.socket.once('drain', pump);
    };
    const countPongs = setInterval(() => {
      pongs += flood.inbox.filter((e) => e.name === 'iq' && e.attrs.type === 'result').length;
      flood.inbox.splice(0, flood.inbox.length, ...flood.inbox.filter((e) => e.name !== 'iq'));
    }, 50);
    const attackerError = flood.expectStreamError('policy-violation', MEASURE_MS + 5000).finally(() => (attackerClosedAt = performance.now()));
    pump();
    const wave = await Promise.all(Array.from({ length: ATTACK_CONNECTIONS }, () => attackConnection(port)));
    const rssSamples: number[] = [];
    const rssTimer = setInterval(() => void serverRss(child).then((r) => rssSamples.push(r)), 500);
    for (const w of wave) if (w.socket) held.push(w.socket);
    await sleep(MEASURE_MS - (performance.now() - attackStarted));
    measuring = false;
    for (const timer of timers) clearInterval(timer);
    clearInterval(rssTimer);
    const error = await attackerError;
    clearInterval(countPongs);
    pongs += flood.inbox.filter((e) => e.name === 'iq' && e.attrs.type === 'result').length;
    // Let the last chat messages arrive.
    const deadline = Date.now() + 3000;
    while (received.size < sentAt.size && Date.now() < deadline) await sleep(50);
    listening = false;
    await Promise.all(receivers);

    // 1. The 200 connections: the per-IP limits refuse most of them before any TLS.
    const refused = wave.filter((w) => w.refused !== undefined);
    const admitted = wave.length - refused.length;
    const reasons = new Set(refused.map((w) => w.refused!.replace(/\d+(\.\d+)*/g, 'N')));
    t.diagnostic(`attack connections: ${refused.length} refused before TLS, ${admitted} admitted; reasons: ${[...reasons].join(' | ')}`);
    assert.ok(admitted <= LIMITS.connections_per_ip - 1, `at most ${LIMITS.connections_per_ip - 1} admitted besides the attacker's session (${admitted})`);
    assert.equal(refused.length + admitted, ATTACK_CONNECTIONS);
    for (const w of refused) assert.match(w.refused!, /^too many (new )?connections from 127\.0\.0\.1/);

    // 2. The attacker: throttled to about the configured rate, then disconnected.
    const attackSeconds = (attackerClosedAt - attackStarted) / 1000;
    const bound = LIMITS.stanzas_burst + LIMITS.stanzas_per_second * attackSeconds;
    t.diagnostic(`attacker: ${pongs} stanzas answered in ${attackSeconds.toFixed(1)} s before it was disconnected (limit: burst ${LIMITS.stanzas_burst} + ${LIMITS.stanzas_per_second}/s = ${Math.round(bound)})`);
    assert.equal(error.text, 'You are sending too fast for too long.');
    assert.ok(attackSeconds >= LIMITS.throttle_tolerance, `disconnected only after throttle_tolerance (${attackSeconds.toFixed(1)} s)`);
    // Reading stops only after a chunk is parsed, so up to one socket read (at most 64 KiB, ~800 pings) may pass the rate.
    assert.ok(pongs <= bound + 1000, `attacker rate bounded: ${pongs} stanzas in ${attackSeconds.toFixed(1)} s`);
    assert.ok(pongs > 0, 'the attacker was served at first');

    // 3. The normal users: nothing lost, p99 latency under 200 ms while under attack.
    const lost = [...sentAt.keys()].filter((id) => !received.has(id));
    assert.deepEqual(lost, [], 'every chat message sent was received');
    latencies.sort((a, b) => a - b);
    const p99 = p(latencies, 0.99);
    t.diagnostic(`normal users: ${latencies.length} messages measured under attack; latency p50 ${p(latencies, 0.5).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`);
    // Timers in this process may fire late on a busy machine; half the nominal count is still a fair sample.
    assert.ok(latencies.length >= PAIRS * 2 * (MEASURE_MS / CHAT_INTERVAL_MS) * 0.5, `enough messages measured (${latencies.length})`);
    assert.ok(p99 < 200, `p99 latency ${p99.toFixed(1)} ms < 200 ms`);

    // 4. The server's memory stays bounded.
    const rssMax = Math.max(rssBefore, ...rssSamples);
    t.diagnostic(`server RSS: ${(rssBefore / 1048576).toFixed(0)} MiB before the attack, at most ${(rssMax / 1048576).toFixed(0)} MiB during it`);
    assert.ok(rssMax - rssBefore < 128 * 1048576, 'the attack costs the server less than 128 MiB');
  } finally {
    for (const s of held) s.destroy();
    for (const c of normal) c.destroy();
    attacker?.destroy();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});
