import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import YAML from 'yaml';
import { applyEnvOverrides } from './env.ts';
import { ConfigError } from './errors.ts';
import { deepMerge, isPlainObject } from './merge.ts';
import { ConfigSchema, type Config, type DeepPartial } from './schema.ts';
import { validateSection } from './validate.ts';

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file read, if any. */
  file?: string;
  /** Folder that relative paths in the file (data_dir, tls.*_file) are resolved against. */
  baseDir: string;
  /** data_dir, absolute. */
  dataDir: string;
}

export interface LoadOptions {
  /** The YAML file; without one, the defaults (plus env and overrides) are used. */
  file?: string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Merged over the file's content before validation (tests set ports to 0 this way). */
  overrides?: DeepPartial<Config>;
}

/** Names the source in messages when there is no file. */
const NO_FILE = 'configuration';

/** Reads, validates and resolves the configuration; throws ConfigError listing every problem. */
export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const file = opts.file === undefined ? undefined : resolve(opts.file);
  const source = opts.file ?? NO_FILE;
  let raw: unknown = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConfigError(source, [
        code === 'ENOENT'
          ? { path: '', message: 'file not found', hint: "'palisade init' writes one with every key commented" }
          : { path: '', message: `cannot read the file: ${(err as Error).message}` },
      ]);
    }
    raw = parseYaml(text, source);
  }
  const config = validateConfig(raw, source, opts.env ?? process.env, opts.overrides);
  const baseDir = file === undefined ? process.cwd() : dirname(file);
  return { config, file, baseDir, dataDir: resolve(baseDir, config.data_dir) };
}

/** Validates YAML text as a whole configuration (no file access, no path resolution). */
export function parseConfigText(text: string, sourceName: string, env: NodeJS.ProcessEnv = process.env): Config {
  return validateConfig(parseYaml(text, sourceName), sourceName, env, undefined);
}

/** Strict YAML 1.2 for every file an operator writes (config, policy): errors name line, column and key path. */
export function parseYaml(text: string, source: string): unknown {
  const lineCounter = new YAML.LineCounter();
  // YAML 1.2 core schema: `yes`/`on` stay strings and nothing is coerced behind the admin's back.
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: '1.2' });
  // Warnings (e.g. an unknown !tag) count too: the value would not be what was written.
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    throw new ConfigError(
      source,
      problems.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        const duplicate = e.code === 'DUPLICATE_KEY' ? keyPathAt(doc, e.pos[0]) : undefined;
        if (duplicate) return { path: duplicate.join('.'), message: 'duplicate key', line, column: col };
        // yaml's own text for this one recommends an API call to the reader.
        const message = e.code === 'MULTIPLE_DOCS' ? 'the file must hold a single YAML document (remove the "---" separator)' : e.message;
        return { path: '', message, line, column: col };
      }),
    );
  }
  try {
    // An empty file, or one with only comments, is an empty configuration.
    return doc.toJS() ?? {};
  } catch (err) {
    // e.g. too many alias expansions (the "billion laughs" guard).
    throw new ConfigError(source, [{ path: '', message: (err as Error).message }]);
  }
}

/** The key path of the mapping key that starts at `offset`, e.g. ['listeners', 'c2s', 'port']. */
function keyPathAt(doc: YAML.Document, offset: number): string[] | undefined {
  let found: string[] | undefined;
  YAML.visit(doc, {
    Pair(_, pair, ancestors) {
      if (!YAML.isScalar(pair.key) || pair.key.range?.[0] !== offset) return undefined;
      const parents = ancestors.filter(YAML.isPair).map((p) => (YAML.isScalar(p.key) ? String(p.key.value) : '?'));
      found = [...parents, String(pair.key.value)];
      return YAML.visit.BREAK;
    },
  });
  return found;
}

function validateConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv, overrides: DeepPartial<Config> | undefined): Config {
  const applied = isPlainObject(raw) ? applyEnvOverrides(raw, env) : [];
  try {
    return validateSection(ConfigSchema, deepMerge(raw, overrides), [], source);
  } catch (err) {
    if (!(err instanceof ConfigError) || applied.length === 0) throw err;
    // A bad value from the environment is not in the file: say where it came from.
    const from = new Map(applied.map((o) => [o.path.join('.'), o.variable]));
    throw new ConfigError(
      source,
      err.issues.map((issue) => {
        const variable = from.get(issue.path);
        return variable ? { ...issue, message: `${issue.message} (value from ${variable})` } : issue;
      }),
    );
  }
}
