import { z } from 'zod';

// Walks zod schemas by their definitions, so error hints, the template and the
// tests derive what they need (known keys, descriptions, nullability) from the
// schema itself instead of a second hand-kept list. Works on any zod 4 schema,
// including the option schemas that modules bring.

type Schema = z.core.$ZodType;
type Def = z.core.$ZodTypes['_zod']['def'];

const defOf = (schema: Schema): Def => (schema as z.core.$ZodTypes)._zod.def;

/** Wrappers that do not change which keys or values are accepted (besides null/undefined). */
function innerOf(schema: Schema): Schema | undefined {
  const def = defOf(schema);
  switch (def.type) {
    case 'default':
    case 'prefault':
    case 'optional':
    case 'nullable':
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      return def.innerType;
    case 'pipe':
      // A transform pipe validates with its input side.
      return def.in;
    default:
      return undefined;
  }
}

export interface Unwrapped {
  /** The innermost schema: object, record, array, string, number, enum, ... */
  core: Schema;
  /** Whether null is accepted somewhere along the wrapper chain. */
  nullable: boolean;
  /** Metadata registered on the outermost layer that has any (description, secret). */
  meta: z.core.GlobalMeta | undefined;
}

export function unwrap(schema: Schema): Unwrapped {
  let core = schema;
  let nullable = false;
  let meta = z.globalRegistry.get(schema);
  for (let next = innerOf(core); next; next = innerOf(core)) {
    if (defOf(core).type === 'nullable') nullable = true;
    core = next;
    meta ??= z.globalRegistry.get(core);
  }
  return { core, nullable, meta };
}

/** The keys an object schema knows, or undefined if the schema is not an object. */
export function objectShape(schema: Schema): Record<string, Schema> | undefined {
  const def = defOf(unwrap(schema).core);
  return def.type === 'object' ? def.shape : undefined;
}

/** Whether a number schema only takes integers (z.int(), z.int32(), ...). */
export function isInteger(schema: Schema): boolean {
  const def = defOf(schema);
  return def.type === 'number' && /int/.test(String((def as { format?: unknown }).format));
}

/** The schema that validates the value at `path` inside `root`, if the path leads anywhere. */
export function schemaAt(root: Schema, path: readonly PropertyKey[]): Schema | undefined {
  let current: Schema | undefined = root;
  for (const key of path) {
    if (!current) return undefined;
    const def = defOf(unwrap(current).core);
    if (def.type === 'object') current = def.shape[String(key)];
    else if (def.type === 'record') current = def.valueType;
    else if (def.type === 'array') current = def.element;
    else return undefined;
  }
  return current;
}

/** Every key path of the nested objects in `root` (sections and leaves, not record entries). */
export function keyPaths(root: Schema, prefix: string[] = []): string[][] {
  const shape = objectShape(root);
  if (!shape) return [];
  return Object.entries(shape).flatMap(([key, child]) => {
    const path = [...prefix, key];
    return [path, ...keyPaths(child, path)];
  });
}
