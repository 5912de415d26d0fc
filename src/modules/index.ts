// The modules this build ships, by id (= folder name).
import type { ModuleDefinition } from '../core/module.ts';
import avatarSync from './avatar-sync/index.ts';
import blocking from './blocking/index.ts';
import bookmarks from './bookmarks/index.ts';
import carbons from './carbons/index.ts';
import csi from './csi/index.ts';
import disco from './disco/index.ts';
import httpUpload from './http-upload/index.ts';
import lastActivity from './last-activity/index.ts';
import mam from './mam/index.ts';
import message from './message/index.ts';
import muc from './muc/index.ts';
import offline from './offline/index.ts';
import pep from './pep/index.ts';
import ping from './ping/index.ts';
import presence from './presence/index.ts';
import proxy65 from './proxy65/index.ts';
import privateStorage from './private/index.ts';
import roster from './roster/index.ts';
import sessions from './sessions/index.ts';
import smacks from './smacks/index.ts';
import usage from './usage/index.ts';
import vcard from './vcard/index.ts';
import version from './version/index.ts';

export const BUILTIN_MODULES: Readonly<Record<string, ModuleDefinition<any>>> = {
  'avatar-sync': avatarSync,
  blocking,
  bookmarks,
  carbons,
  csi,
  disco,
  'http-upload': httpUpload,
  'last-activity': lastActivity,
  mam,
  message,
  muc,
  offline,
  pep,
  ping,
  presence,
  proxy65,
  private: privateStorage,
  roster,
  sessions,
  smacks,
  usage,
  vcard,
  version,
};
