// The modules this build ships, by id (= folder name).
import type { ModuleDefinition } from '../core/module.ts';
import blocking from './blocking/index.ts';
import disco from './disco/index.ts';
import lastActivity from './last-activity/index.ts';
import message from './message/index.ts';
import offline from './offline/index.ts';
import ping from './ping/index.ts';
import presence from './presence/index.ts';
import privateStorage from './private/index.ts';
import roster from './roster/index.ts';
import vcard from './vcard/index.ts';
import version from './version/index.ts';

export const BUILTIN_MODULES: Readonly<Record<string, ModuleDefinition<any>>> = {
  blocking,
  disco,
  'last-activity': lastActivity,
  message,
  offline,
  ping,
  presence,
  private: privateStorage,
  roster,
  vcard,
  version,
};
