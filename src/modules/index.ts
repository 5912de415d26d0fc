// The modules this build ships, by id (= folder name).
import type { ModuleDefinition } from '../core/module.ts';
import disco from './disco/index.ts';
import message from './message/index.ts';
import ping from './ping/index.ts';
import presence from './presence/index.ts';
import version from './version/index.ts';

export const BUILTIN_MODULES: Readonly<Record<string, ModuleDefinition<any>>> = {
  disco,
  message,
  ping,
  presence,
  version,
};
