import { z } from 'zod';
import { auth } from './schema/auth.ts';
import { filePath } from './schema/common.ts';
import { domain } from './schema/domain.ts';
import { limits } from './schema/limits.ts';
import { listeners } from './schema/listeners.ts';
import { logging } from './schema/logging.ts';
import { modules } from './schema/modules.ts';
import { policy } from './schema/policy.ts';
import { registration } from './schema/registration.ts';
import { storage } from './schema/storage.ts';
import { tls } from './schema/tls.ts';

/** The whole palisade.yaml. Every key is optional, so `{}` parses to the defaults. */
export const ConfigSchema = z.strictObject({
  domain: domain().default('localhost').describe('the XMPP domain served (lowercased like a JID domainpart)'),
  data_dir: filePath().default('./data').describe("folder for the database, keys and generated certificates; relative to this file's folder"),
  listeners,
  tls,
  auth,
  storage,
  limits,
  logging,
  modules,
  policy,
  registration,
});

/** The parsed configuration with every default filled in; keys as written in the file (snake_case). */
export type Config = z.output<typeof ConfigSchema>;

/** Everything optional, at any depth; lists and scalars are replaced whole. */
export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
