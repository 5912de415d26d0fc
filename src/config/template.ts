import YAML from 'yaml';
import type { z } from 'zod';
import { ENV_OVERRIDES } from './env.ts';
import { parseConfigText } from './load.ts';
import { ConfigSchema } from './schema.ts';
import { prepareDomain } from './schema/domain.ts';
import { DEFAULT_MODULES } from './schema/modules.ts';
import { validateSection } from './validate.ts';
import { schemaAt, unwrap } from './walk.ts';

const HEADER = [
  ' Palisade configuration.',
  ' Every key is optional; the values below are the defaults (domain and data_dir',
  ' excepted). Full reference: docs/config.md. An unknown key, a wrong type or an',
  ' out-of-range value stops start-up with a message naming the key.',
  ` Environment variables override secrets: ${ENV_OVERRIDES.map((o) => `${o.variable} (${o.path.join('.')})`).join(', ')}.`,
].join('\n');

/**
 * The palisade.yaml that `palisade init` writes: every key with its default and
 * a one-line comment, both taken from the schema so the template cannot drift.
 * Throws ConfigError if `domain` or `dataDir` would not pass validation.
 */
export function renderConfigTemplate(opts: { domain: string; dataDir: string }): string {
  const defaults = validateSection(ConfigSchema, {}, []);
  const doc = new YAML.Document({ ...defaults, domain: prepareDomain(opts.domain), data_dir: opts.dataDir });
  doc.commentBefore = HEADER;
  annotate(doc.contents, ConfigSchema, []);
  const text = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  // Written files must start: refuse a domain or folder that would not validate.
  parseConfigText(text, 'palisade.yaml', {});
  return text;
}

function annotate(node: unknown, schema: z.core.$ZodType, path: string[]): void {
  if (!YAML.isMap(node)) return;
  node.items.forEach((pair, index) => {
    if (!YAML.isScalar(pair.key)) return;
    const name = String(pair.key.value);
    const child = schemaAt(schema, [name]);
    const description = (child && unwrap(child).meta?.description) ?? (path.join('.') === 'modules' ? DEFAULT_MODULES[name] : undefined);
    if (description) pair.key.commentBefore = ` ${description}`;
    // A blank line between top-level sections.
    if (path.length === 0 && index > 0) pair.key.spaceBefore = true;
    if (YAML.isSeq(pair.value)) pair.value.flow = true;
    if (child) annotate(pair.value, child, [...path, name]);
  });
}
