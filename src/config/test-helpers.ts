import assert from 'node:assert/strict';
import { ConfigError, type ConfigIssue } from './errors.ts';

/** Runs `fn`, asserts it throws a ConfigError, and returns that error. */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError, but nothing was thrown');
}

/** The one issue at `path`, asserting there is exactly one. */
export function issueAt(err: ConfigError, path: string): ConfigIssue {
  const found = err.issues.filter((i) => i.path === path);
  assert.equal(found.length, 1, `expected one issue at '${path}', got:\n${err.message}`);
  return found[0]!;
}
