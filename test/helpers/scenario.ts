// Scenario transcripts: readable protocol documentation that is also a test.
// A transcript is played over real sockets against a fresh server. The format
// (see test/scenarios/README.md for the full description):
//
//   # Comment lines explain what happens and why (RFC sections).
//   config: {"limits": {"max_stanza_bytes": 4096}}     optional server overrides (JSON)
//   todo: known server bug, see …                       optional: run, but don't fail the suite
//
//   alice logs in as alice/laptop     actor 'alice' = user alice, resource laptop (STARTTLS + SCRAM + bind)
//   bob logs in as bob                server-assigned resource
//   alice -> <message to='{bob}'><body>Hi</body></message>        send (verbatim, after substitution)
//   bob <- <message from='{alice.full}'><body>Hi</body></message> the next element bob received must match
//   bob receives nothing              nothing arrives within a short while
//   bob disconnects                   sends </stream:stream> and waits for the close
//   bob is disconnected               the server closed bob's connection
//
// A send or receive continues on following lines that start with whitespace.
// Variables: {domain}; per actor {alice} (bare JID), {alice.full}, {alice.resource},
// {alice.local}. In a receive, an unknown plain name such as {id} captures the
// value found there, for use by later steps; '*' matches any run of characters.
// A received element matches when it has the pattern's name and namespace,
// every attribute of the pattern (others are ignored), a distinct matching
// child for each child of the pattern (in any order; extra children are
// ignored), and, if the pattern has non-blank text, matching (trimmed) text.
// After each send the runner waits until the server has processed it (a hidden
// ping round trip), so steps of different actors happen in transcript order.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { XmlStreamParser } from '../../src/net/xml-stream.ts';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { escapeAttr } from '../../src/xmpp/element.ts';
import type { Config, DeepPartial } from '../../src/config/schema.ts';
import { startTestServer, type TestServer } from './server.ts';
import { login, type RawClient } from './raw-client.ts';

export type Step =
  | { line: number; kind: 'login'; actor: string; user: string; resource?: string; directTls: boolean }
  | { line: number; kind: 'send'; actor: string; xml: string }
  | { line: number; kind: 'receive'; actor: string; source: string; pattern: Element }
  | { line: number; kind: 'nothing'; actor: string }
  | { line: number; kind: 'disconnect'; actor: string }
  | { line: number; kind: 'disconnected'; actor: string };

export interface Scenario {
  name: string;
  file: string;
  /** The first comment paragraph. */
  title: string;
  config: DeepPartial<Config>;
  todo: string | undefined;
  steps: Step[];
}

const RECEIVE_TIMEOUT_MS = 2000;
const QUIET_MS = 200;

export function parseScenario(file: string): Scenario {
  return parseScenarioText(readFileSync(file, 'utf8'), file);
}

/** `file` only names the transcript in messages. */
export function parseScenarioText(source: string, file: string): Scenario {
  const lines = source.split('\n');
  const steps: Step[] = [];
  const titleLines: string[] = [];
  let config: DeepPartial<Config> = {};
  let todo: string | undefined;
  let pending: { line: number; actor: string; arrow: '->' | '<-'; text: string[] } | undefined;
  const fail = (n: number, msg: string): never => {
    throw new Error(`${basename(file)}:${n}: ${msg}`);
  };

  const flush = () => {
    if (!pending) return;
    const { line, actor, arrow } = pending;
    const text = pending.text.join('\n');
    pending = undefined;
    if (arrow === '->') {
      steps.push({ line, kind: 'send', actor, xml: text });
    } else {
      let pattern: Element;
      try {
        pattern = parsePattern(text);
      } catch (err) {
        return fail(line, `the expected element is not well-formed XML: ${(err as Error).message}`);
      }
      steps.push({ line, kind: 'receive', actor, source: text, pattern });
    }
  };

  lines.forEach((raw, i) => {
    const n = i + 1;
    const line = raw.trimEnd();
    if (pending && /^\s+\S/.test(line) && !line.trimStart().startsWith('#')) {
      pending.text.push(line.trim());
      return;
    }
    flush();
    const t = line.trim();
    if (t === '') {
      if (steps.length === 0 && titleLines.length) titleLines.push('');
      return;
    }
    if (t.startsWith('#')) {
      if (steps.length === 0 && !titleLines.includes('')) titleLines.push(t.replace(/^#\s?/, ''));
      return;
    }
    let m: RegExpExecArray | null;
    if ((m = /^config:\s*(.+)$/.exec(t))) {
      try {
        config = JSON.parse(m[1]!) as DeepPartial<Config>;
      } catch (err) {
        fail(n, `config is not JSON: ${(err as Error).message}`);
      }
    } else if ((m = /^todo:\s*(.+)$/.exec(t))) {
      todo = m[1]!;
    } else if ((m = /^([a-z][\w-]*) logs in as ([^\s/]+)(?:\/(\S+))?( via direct TLS)?$/i.exec(t))) {
      steps.push({ line: n, kind: 'login', actor: m[1]!, user: m[2]!, resource: m[3], directTls: m[4] !== undefined });
    } else if ((m = /^([a-z][\w-]*) (->|<-)\s+(.*)$/i.exec(t))) {
      pending = { line: n, actor: m[1]!, arrow: m[2] as '->' | '<-', text: [m[3]!] };
    } else if ((m = /^([a-z][\w-]*) receives nothing$/i.exec(t))) {
      steps.push({ line: n, kind: 'nothing', actor: m[1]! });
    } else if ((m = /^([a-z][\w-]*) disconnects$/i.exec(t))) {
      steps.push({ line: n, kind: 'disconnect', actor: m[1]! });
    } else if ((m = /^([a-z][\w-]*) is disconnected$/i.exec(t))) {
      steps.push({ line: n, kind: 'disconnected', actor: m[1]! });
    } else {
      fail(n, `not a step: ${t}`);
    }
  });
  flush();
  while (titleLines.at(-1) === '') titleLines.pop();
  return { name: basename(file).replace(/\.scenario$/, ''), file, title: titleLines.join(' ').trim(), config, todo, steps };
}

/** Parses an expected element as if it were a stanza in a jabber:client stream (so 'stream:' is bound). */
function parsePattern(text: string): Element {
  let result: Element | undefined;
  let error: string | undefined;
  const parser = new XmlStreamParser(
    {
      streamStart: () => undefined,
      stanza: (el) => {
        if (result) error = 'more than one element';
        result = el;
      },
      streamEnd: () => undefined,
      error: (condition, msg) => (error = `${condition}: ${msg}`),
    },
    { maxStanzaBytes: 1 << 20 },
  );
  parser.write(Buffer.from(`<stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}'>${text}`, 'utf8'));
  if (error) throw new Error(error);
  if (!result) throw new Error('incomplete element');
  return result;
}

// ---------------------------------------------------------------------------
// Running

interface Actor {
  name: string;
  client: RawClient;
}

export async function runScenario(s: Scenario): Promise<void> {
  const ts = await startTestServer(s.config);
  const actors = new Map<string, Actor>();
  const vars = new Map<string, string>([['domain', ts.domain]]);
  const passwords = new Map<string, string>();
  try {
    for (const step of s.steps) {
      try {
        await runStep(step, ts, actors, vars, passwords);
      } catch (err) {
        throw new Error(`${basename(s.file)}:${step.line}: ${(err as Error).message}`, { cause: err });
      }
    }
  } finally {
    for (const a of actors.values()) a.client.destroy();
    await ts.stop();
  }
}

async function runStep(
  step: Step,
  ts: TestServer,
  actors: Map<string, Actor>,
  vars: Map<string, string>,
  passwords: Map<string, string>,
): Promise<void> {
  if (step.kind === 'login') {
    if (actors.has(step.actor)) throw new Error(`actor ${step.actor} already logged in`);
    let password = passwords.get(step.user);
    if (password === undefined) {
      password = (await ts.addUser(step.user)).password;
      passwords.set(step.user, password);
    }
    const client = await login({
      port: step.directTls ? ts.directTlsPort : ts.starttlsPort,
      directTls: step.directTls,
      dataDir: ts.dataDir,
      domain: ts.domain,
      username: step.user,
      password,
      resource: step.resource,
    });
    actors.set(step.actor, { name: step.actor, client });
    const full = client.jid!;
    const slash = full.indexOf('/');
    vars.set(step.actor, full.slice(0, slash));
    vars.set(`${step.actor}.full`, full);
    vars.set(`${step.actor}.resource`, full.slice(slash + 1));
    vars.set(`${step.actor}.local`, full.slice(0, full.indexOf('@')));
    return;
  }
  const actor = actors.get(step.actor);
  if (!actor) throw new Error(`unknown actor ${step.actor} (log it in first)`);
  const c = actor.client;
  switch (step.kind) {
    case 'send':
      c.sendRaw(substitute(step.xml, vars, actors));
      await sync(c);
      return;
    case 'receive': {
      let got: Element;
      try {
        got = await c.next(() => true, RECEIVE_TIMEOUT_MS);
      } catch (err) {
        throw new Error(`${step.actor} expected ${step.source}\n  but: ${(err as Error).message}`);
      }
      const captures = new Map<string, string>();
      const problem = matchElement(step.pattern, got, vars, actors, captures, '');
      if (problem !== undefined) {
        throw new Error(`${step.actor} expected ${step.source}\n  received ${got.toString()}\n  mismatch: ${problem}`);
      }
      for (const [k, v] of captures) vars.set(k, v);
      return;
    }
    case 'nothing':
      await new Promise((r) => setTimeout(r, QUIET_MS));
      if (c.inbox.length) throw new Error(`${step.actor} expected nothing but received ${c.describeInbox()}`);
      return;
    case 'disconnect':
      await c.close();
      return;
    case 'disconnected':
      await c.waitClosed(RECEIVE_TIMEOUT_MS);
      return;
  }
}

/**
 * Waits until the server has processed everything the actor sent: it handles a
 * stream's stanzas in order, so once a ping sent afterwards is answered, every
 * delivery the earlier stanzas cause has been made. This keeps transcripts
 * deterministic across actors. The answer is taken out of the inbox unseen.
 */
async function sync(c: RawClient): Promise<void> {
  if (c.closed) return;
  const id = `scenario-sync-${++syncCounter}`;
  c.sendRaw(`<iq type='get' id='${id}' to='${c.domain}'><ping xmlns='urn:xmpp:ping'/></iq>`);
  try {
    await c.next((el) => el.name === 'iq' && el.attrs.id === id, RECEIVE_TIMEOUT_MS);
  } catch (err) {
    // A send that ends the stream is fine: the transcript's next step shows the stream error.
    if (!c.closed) throw err;
  }
}
let syncCounter = 0;

function lookup(name: string, vars: Map<string, string>, actors: Map<string, Actor>): string | undefined {
  const v = vars.get(name);
  if (v !== undefined) return v;
  if (name.includes('.') || actors.has(name) || name === 'domain') throw new Error(`unknown variable {${name}}`);
  return undefined;
}

function substitute(text: string, vars: Map<string, string>, actors: Map<string, Actor>): string {
  return text.replace(/\{([\w.-]+)\}/g, (_, name: string) => {
    const v = lookup(name, vars, actors);
    if (v === undefined) throw new Error(`unknown variable {${name}} in a send`);
    return escapeAttr(v);
  });
}

/** Matches a value pattern ({var}, {capture}, '*') against an actual string; returns new captures or undefined. */
function matchValue(
  pattern: string,
  actual: string,
  vars: Map<string, string>,
  actors: Map<string, Actor>,
  captures: Map<string, string>,
): Map<string, string> | undefined {
  const names: string[] = [];
  let re = '';
  for (const token of pattern.split(/(\{[\w.-]+\}|\*)/)) {
    if (token === '*') re += '[^]*';
    else if (/^\{[\w.-]+\}$/.test(token)) {
      const name = token.slice(1, -1);
      const known = captures.get(name) ?? lookup(name, vars, actors);
      if (known !== undefined) re += escapeRegExp(known);
      else {
        names.push(name);
        re += '([^]*?)';
      }
    } else re += escapeRegExp(token);
  }
  const m = new RegExp(`^${re}$`).exec(actual);
  if (!m) return undefined;
  const out = new Map<string, string>();
  names.forEach((name, i) => out.set(name, m[i + 1]!));
  return out;
}

/** Undefined when `actual` matches `pattern`, else why not. Captures are added only on success. */
function matchElement(
  pattern: Element,
  actual: Element,
  vars: Map<string, string>,
  actors: Map<string, Actor>,
  captures: Map<string, string>,
  path: string,
): string | undefined {
  const here = `${path}/${pattern.name}`;
  if (pattern.name !== actual.name) return `${path || '/'}: element <${actual.name}> is not <${pattern.name}>`;
  if (pattern.ns !== actual.ns) return `${here}: namespace ${actual.ns} is not ${pattern.ns}`;
  const local = new Map(captures);
  for (const [name, value] of Object.entries(pattern.attrs)) {
    if (name === 'xmlns') continue;
    const got = actual.attrs[name];
    if (got === undefined) return `${here}: attribute ${name} is missing`;
    const m = matchValue(value, got, vars, actors, local);
    if (!m) return `${here}: ${name}='${got}' does not match '${value}'`;
    for (const [k, v] of m) local.set(k, v);
  }
  const text = pattern.text.trim();
  if (text !== '') {
    const m = matchValue(text, actual.text.trim(), vars, actors, local);
    if (!m) return `${here}: text '${actual.text.trim()}' does not match '${text}'`;
    for (const [k, v] of m) local.set(k, v);
  }
  const problem = matchChildren(pattern.elements, actual.elements, new Set(), vars, actors, local, here);
  if (problem !== undefined) return problem;
  for (const [k, v] of local) captures.set(k, v);
  return undefined;
}

/** Each pattern child must match a distinct actual child (any order), with backtracking. */
function matchChildren(
  patterns: Element[],
  actuals: Element[],
  used: Set<number>,
  vars: Map<string, string>,
  actors: Map<string, Actor>,
  captures: Map<string, string>,
  path: string,
): string | undefined {
  const [first, ...rest] = patterns;
  if (!first) return undefined;
  let firstProblem: string | undefined;
  for (let i = 0; i < actuals.length; i++) {
    if (used.has(i)) continue;
    const trial = new Map(captures);
    const problem = matchElement(first, actuals[i]!, vars, actors, trial, path);
    if (problem !== undefined) {
      firstProblem ??= problem;
      continue;
    }
    used.add(i);
    const restProblem = matchChildren(rest, actuals, used, vars, actors, trial, path);
    used.delete(i);
    if (restProblem === undefined) {
      for (const [k, v] of trial) captures.set(k, v);
      return undefined;
    }
    firstProblem ??= restProblem;
  }
  const closest = firstProblem && actuals.some((a) => a.name === first.name) ? ` (closest: ${firstProblem})` : '';
  return `${path}: no child matches <${first.name}${first.attrs.xmlns ? ` xmlns='${first.attrs.xmlns}'` : ''}>${closest}`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
