// The module's options: defaults, and bad values stop start-up naming the key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../config/errors.ts';
import { resolveModules } from '../../core/module-loader.ts';
import { BUILTIN_MODULES } from '../index.ts';

const resolve = (blocking: object | null) => resolveModules({ roster: {}, blocking }, BUILTIN_MODULES, 'palisade.yaml');
const optionsOf = (blocking: object | null) => resolve(blocking).find((m) => m.def.id === 'blocking')!.options;

test('defaults: max_items 1000, cache_size 10000', () => {
  assert.deepEqual(optionsOf(null), { max_items: 1000, cache_size: 10_000 });
  assert.deepEqual(optionsOf({ max_items: 5, cache_size: 0 }), { max_items: 5, cache_size: 0 });
});

test('out-of-range, wrongly typed and unknown keys stop start-up with the key path', () => {
  const issues = (blocking: object) => {
    try {
      resolve(blocking);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.issues.map((i) => i.path);
    }
    assert.fail('expected a ConfigError');
  };
  assert.deepEqual(issues({ max_items: 0 }), ['modules.blocking.max_items']);
  assert.deepEqual(issues({ max_items: 1.5 }), ['modules.blocking.max_items']);
  assert.deepEqual(issues({ cache_size: '10' }), ['modules.blocking.cache_size']);
  assert.deepEqual(issues({ max_itmes: 10 }), ['modules.blocking.max_itmes']);
});

test('blocking needs the roster (who may see presence), and says so', () => {
  assert.throws(() => resolveModules({ blocking: {} }, BUILTIN_MODULES, 'palisade.yaml'), /modules\.blocking: needs the module 'roster'/);
});
