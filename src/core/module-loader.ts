// Resolves the configured modules (ids, options, dependencies) before anything
// starts, then sets each up in dependency order with a context that tracks what
// it registers, so unloading needs nothing from the module itself.
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../config/errors.ts';
import { closest } from '../config/suggest.ts';
import { validateSection } from '../config/validate.ts';
import type { ModuleContext, ModuleDefinition } from './module.ts';

export interface ResolvedModule {
  def: ModuleDefinition<any>;
  options: unknown;
}

/** Validates ids, options and dependencies; returns the modules in setup order. Throws ConfigError. */
export function resolveModules(
  configured: Record<string, object | null>,
  registry: Readonly<Record<string, ModuleDefinition<any>>>,
  source: string | undefined,
): ResolvedModule[] {
  const issues: ConfigIssue[] = [];
  const known = Object.keys(registry);
  const resolved = new Map<string, ResolvedModule>();
  for (const [id, value] of Object.entries(configured)) {
    const def = registry[id];
    if (!def) {
      const near = closest(id, known);
      issues.push({ path: `modules.${id}`, message: 'unknown module', hint: near ? `did you mean '${near}'?` : `known modules: ${known.join(', ')}` });
      continue;
    }
    try {
      resolved.set(id, { def, options: validateSection(def.options ?? z.strictObject({}), value ?? {}, ['modules', id], source) });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issues.push(...err.issues);
    }
  }
  for (const { def } of resolved.values()) {
    for (const dep of def.dependsOn ?? []) {
      if (!(dep in configured)) issues.push({ path: `modules.${def.id}`, message: `needs the module '${dep}'`, hint: `add '${dep}: {}' under modules` });
    }
  }
  if (issues.length) throw new ConfigError(source, issues);

  const order: ResolvedModule[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, chain: string[]) => {
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') {
      throw new ConfigError(source, [{ path: `modules.${id}`, message: `dependency cycle: ${[...chain, id].join(' -> ')}` }]);
    }
    state.set(id, 'visiting');
    const m = resolved.get(id)!;
    for (const dep of [...(m.def.dependsOn ?? []), ...(m.def.loadsAfter ?? []).filter((d) => resolved.has(d))]) visit(dep, [...chain, id]);
    state.set(id, 'done');
    order.push(m);
  };
  for (const id of resolved.keys()) visit(id, []);
  return order;
}

export interface LoadedModule {
  id: string;
  unload(): void;
}

/** A context plus the disposers of everything registered through it. */
export interface TrackedContext {
  ctx: ModuleContext<unknown>;
  dispose(): void;
}

export async function setupModules(
  modules: readonly ResolvedModule[],
  makeContext: (m: ResolvedModule) => TrackedContext,
): Promise<LoadedModule[]> {
  const loaded: LoadedModule[] = [];
  for (const m of modules) {
    const tracked = makeContext(m);
    try {
      await m.def.setup(tracked.ctx);
    } catch (err) {
      tracked.dispose();
      for (const l of loaded.reverse()) l.unload();
      throw new Error(`module '${m.def.id}' failed to set up: ${(err as Error).message}`, { cause: err });
    }
    loaded.push({ id: m.def.id, unload: () => tracked.dispose() });
  }
  return loaded;
}
