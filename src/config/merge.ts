// Helpers for the raw (not yet validated) configuration tree.

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Mappings merge key by key; anything else in `over` replaces what is in `base`. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = deepMerge(base[key], value);
  return out;
}

/**
 * Sets `path` in `root`, creating missing mappings. Returns false, leaving the
 * tree alone, when a section on the way is not a mapping: the schema reports that.
 */
export function setIn(root: Record<string, unknown>, path: readonly [string, ...string[]], value: unknown): boolean {
  let node = root;
  for (const key of path.slice(0, -1)) {
    node[key] ??= {};
    const next = node[key];
    if (!isPlainObject(next)) return false;
    node = next;
  }
  node[path[path.length - 1]!] = value;
  return true;
}
