import { setIn } from './merge.ts';

// Secrets may come from the environment instead of the file, so the file can
// be world-readable and kept in version control. One table, documented in
// docs/config.md; an environment variable wins over the file.

export interface EnvOverride {
  variable: string;
  path: readonly [string, ...string[]];
}

export const ENV_OVERRIDES: readonly EnvOverride[] = [{ variable: 'PALISADE_POSTGRES_URL', path: ['storage', 'postgres_url'] }];

/**
 * Writes each set variable into `raw` (the file's content, before validation)
 * and returns the overrides applied. A set-but-empty variable counts as set,
 * so it fails validation instead of being ignored.
 */
export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): EnvOverride[] {
  return ENV_OVERRIDES.filter((o) => env[o.variable] !== undefined && setIn(raw, o.path, env[o.variable]));
}
