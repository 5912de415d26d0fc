// Plays every transcript in this folder (*.scenario) against its own fresh server.
import { describe, test } from 'node:test';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { parseScenario, parseScenarioText, runScenario } from '../helpers/scenario.ts';

const dir = import.meta.dirname;
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.scenario'))
  .sort();

describe('scenario transcripts', { concurrency: true }, () => {
  for (const f of files) {
    const scenario = parseScenario(join(dir, f));
    const summary = /^.*?\.(?=\s|$)/.exec(scenario.title)?.[0] ?? scenario.title;
    const name = summary ? `${scenario.name}: ${summary}` : scenario.name;
    test(name, { todo: scenario.todo, timeout: 20_000 }, () => runScenario(scenario));
  }
});

// The runner itself: a transcript that does not match what the server says must fail, saying where and why.
describe('scenario runner', { concurrency: true }, () => {
  const run = (text: string) => runScenario(parseScenarioText(text, 'inline.scenario'));
  const ping = "alice -> <iq type='get' to='{domain}' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>";

  test('a wrong attribute value fails with the line, the received element and the reason', async () => {
    await assert.rejects(run(`alice logs in as alice/a\n${ping}\nalice <- <iq type='error' id='p1'/>\n`), (err: Error) => {
      assert.match(err.message, /^inline\.scenario:3: alice expected/);
      assert.match(err.message, /received <iq type="result"/);
      assert.match(err.message, /type='result' does not match 'error'/);
      return true;
    });
  });

  test('a missing child fails; extra children and attributes are ignored', async () => {
    await run(`alice logs in as alice/a\nalice -> <iq type='get' to='{domain}' id='v'><query xmlns='jabber:iq:version'/></iq>\nalice <- <iq id='v'><query xmlns='jabber:iq:version'><name>Pali*</name></query></iq>\n`);
    await assert.rejects(
      run(`alice logs in as alice/a\nalice -> <iq type='get' to='{domain}' id='v'><query xmlns='jabber:iq:version'/></iq>\nalice <- <iq id='v'><query xmlns='jabber:iq:version'><os/></query></iq>\n`),
      /no child matches <os>/,
    );
  });

  test('a captured variable must match where it is used again', async () => {
    await assert.rejects(
      run(`alice logs in as alice/a\n${ping}\nalice <- <iq id='{x}'/>\nalice -> <iq type='get' to='{domain}' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>\nalice <- <iq id='{x}'/>\n`),
      /id='p2' does not match '\{x\}'/,
    );
  });

  test('an unexpected stanza fails "receives nothing"; unknown variables and steps are refused', async () => {
    await assert.rejects(
      run(`alice logs in as alice/a\nbob logs in as bob/b\nbob -> <presence/>\nbob <- <presence/>\nalice -> <message to='{bob}'><body>x</body></message>\nbob receives nothing\n`),
      /bob expected nothing but received <message/,
    );
    await assert.rejects(run(`alice logs in as alice/a\nalice -> <message to='{bob.full}'/>\n`), /unknown variable \{bob\.full\}/);
    assert.throws(() => parseScenarioText('alice says hello\n', 'inline.scenario'), /inline\.scenario:1: not a step/);
    assert.throws(() => parseScenarioText("alice logs in as alice\nalice <- <iq><query></iq>\n", 'inline.scenario'), /inline\.scenario:2: the expected element is not well-formed/);
  });
});
