// Module resolution: setup order from required and optional dependencies,
// and the configuration errors for what cannot be loaded.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../config/errors.ts';
import { defineModule, type ModuleDefinition } from './module.ts';
import { resolveModules } from './module-loader.ts';

const mod = (id: string, deps: { dependsOn?: string[]; loadsAfter?: string[] } = {}): ModuleDefinition<any> =>
  defineModule({ id, description: id, ...deps, setup() {} });

const REGISTRY = {
  archive: mod('archive'),
  roster: mod('roster'),
  rooms: mod('rooms', { dependsOn: ['roster'], loadsAfter: ['archive'] }),
  loop1: mod('loop1', { dependsOn: ['loop2'] }),
  loop2: mod('loop2', { loadsAfter: ['loop1'] }),
};

const order = (configured: Record<string, object | null>) => resolveModules(configured, REGISTRY, 'palisade.yaml').map((m) => m.def.id);

describe('module resolution', () => {
  test('a module is set up after what it depends on and, when loaded, what it loads after', () => {
    assert.deepEqual(order({ rooms: {}, roster: {}, archive: {} }), ['roster', 'archive', 'rooms']);
  });

  test('a module named in loadsAfter that is not configured is not required', () => {
    assert.deepEqual(order({ rooms: {}, roster: {} }), ['roster', 'rooms']);
  });

  test('a missing required dependency is a configuration error naming both modules', () => {
    assert.throws(
      () => order({ rooms: {} }),
      (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.path === 'modules.rooms' && /needs the module 'roster'/.test(i.message)),
    );
  });

  test('a cycle through an optional dependency is reported with its path', () => {
    assert.throws(
      () => order({ loop1: {}, loop2: {} }),
      (err: unknown) => err instanceof ConfigError && err.issues.some((i) => /dependency cycle: loop1 -> loop2 -> loop1/.test(i.message)),
    );
  });
});
