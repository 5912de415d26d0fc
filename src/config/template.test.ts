import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import YAML from 'yaml';
import { ENV_OVERRIDES } from './env.ts';
import { parseConfigText } from './load.ts';
import { ConfigSchema } from './schema.ts';
import { renderConfigTemplate } from './template.ts';
import { configError, issueAt } from './test-helpers.ts';
import { keyPaths } from './walk.ts';

const text = renderConfigTemplate({ domain: 'chat.example.org', dataDir: '/var/lib/palisade' });
const lineCounter = new YAML.LineCounter();
const doc = YAML.parseDocument(text, { lineCounter });
const lines = text.split('\n');
const schemaKeys = keyPaths(ConfigSchema);

describe('config template', () => {
  it('parses back to exactly the defaults, except domain and data_dir', () => {
    assert.deepEqual(parseConfigText(text, 'palisade.yaml', {}), {
      ...ConfigSchema.parse({}),
      domain: 'chat.example.org',
      data_dir: '/var/lib/palisade',
    });
  });

  it('the schema walk finds the nested keys (so the checks below mean something)', () => {
    assert.ok(schemaKeys.length > 30, `only ${schemaKeys.length} keys found`);
    assert.ok(schemaKeys.some((p) => p.join('.') === 'listeners.c2s.port'));
    assert.ok(schemaKeys.some((p) => p.join('.') === 'limits.header_timeout'));
  });

  it('lists every key of the schema, each with a one-line comment above it', () => {
    for (const path of schemaKeys) {
      const name = path.join('.');
      assert.ok(doc.hasIn(path), `${name} is missing from the template`);
      const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
      assert.ok(YAML.isMap(parent), `${name}: parent is not a mapping`);
      const pair = parent.items.find((p) => YAML.isScalar(p.key) && p.key.value === path.at(-1));
      const start = YAML.isScalar(pair?.key) ? pair.key.range?.[0] : undefined;
      assert.ok(start !== undefined, `${name}: no position`);
      const { line, col } = lineCounter.linePos(start);
      // lines[] is 0-based and line 1-based: lines[line - 2] is the line above the key.
      const above = lines[line - 2] ?? '';
      assert.ok(above.startsWith(`${' '.repeat(col - 1)}# `) && above.trim().length > 2, `${name} has no one-line comment above it`);
    }
  });

  it('comments the default modules too', () => {
    for (const id of ['disco', 'ping', 'version', 'message']) {
      assert.match(text, new RegExp(`# .+\\n  ${id}: \\{\\}\\n`), id);
    }
  });

  it('names the environment overrides in its header', () => {
    for (const { variable } of ENV_OVERRIDES) assert.match(text.split('\n\n')[0] ?? '', new RegExp(variable));
  });

  it('writes the domain prepared', () => {
    const upper = renderConfigTemplate({ domain: 'Chat.Example.ORG', dataDir: 'data' });
    assert.equal(parseConfigText(upper, 'palisade.yaml', {}).domain, 'chat.example.org');
    assert.match(upper, /^domain: chat\.example\.org$/m);
  });

  it('quotes a data_dir that YAML would otherwise misread', () => {
    for (const dataDir of ['/srv/palisade: data', '# not a comment', '123', 'null', ' padded ']) {
      assert.equal(parseConfigText(renderConfigTemplate({ domain: 'example.org', dataDir }), 'palisade.yaml', {}).data_dir, dataDir);
    }
  });

  it('refuses a domain that would not start', () => {
    const err = configError(() => renderConfigTemplate({ domain: 'not a domain', dataDir: 'data' }));
    assert.ok(issueAt(err, 'domain'));
  });
});

describe('docs/config.md', () => {
  const docs = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');

  it('documents every key of the schema', () => {
    const missing = schemaKeys.map((p) => p.join('.')).filter((name) => !docs.includes(`\`${name}\``));
    assert.deepEqual(missing, [], 'keys without an entry in docs/config.md');
  });

  it('documents every environment override', () => {
    for (const { variable, path } of ENV_OVERRIDES) {
      assert.ok(docs.includes(variable), variable);
      assert.ok(docs.includes(path.join('.')), path.join('.'));
    }
  });
});
