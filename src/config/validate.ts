import { z } from 'zod';
import { ConfigError, issuesFromZod } from './errors.ts';

/**
 * Validates one part of the configuration (e.g. a module's options, with
 * pathPrefix ['modules', 'muc']) and throws a ConfigError whose issue paths
 * are prefixed, so every configuration problem reads the same way.
 */
export function validateSection<S extends z.core.$ZodType>(
  schema: S,
  value: unknown,
  pathPrefix: readonly string[],
  source?: string,
): z.output<S> {
  const result = z.safeParse(schema, value, { reportInput: true });
  if (result.success) return result.data;
  throw new ConfigError(source, issuesFromZod(result.error.issues, schema, pathPrefix));
}
