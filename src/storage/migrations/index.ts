// The one ordered list of schema migrations, shared by every backend. Names sort
// in application order; a released migration is never edited or renamed, only
// followed by a new one. There are no down migrations: going back means
// restoring a backup.
import type { Migration, MigrationProvider } from 'kysely';
import type { Backend } from '../types.ts';
import * as m0001 from './0001-initial.ts';
import * as m0002 from './0002-roster.ts';
import * as m0003 from './0003-offline.ts';
import * as m0004 from './0004-vcard-private.ts';
import * as m0005 from './0005-blocking.ts';
import * as m0006 from './0006-last-activity.ts';
import * as m0007 from './0007-groups.ts';
import * as m0008 from './0008-auth-lockout.ts';
// 0009 and 0010 were released empty (slots reserved while the features were
// built); their tables come with 0012 and 0013.
import * as m0009 from './0009-mam.ts';
import * as m0010 from './0010-pep.ts';
import * as m0011 from './0011-muc.ts';
import * as m0012 from './0012-mam.ts';
import * as m0013 from './0013-pep.ts';
import * as m0014 from './0014-muc-mam.ts';
import * as m0015 from './0015-invitations.ts';
import * as m0016 from './0016-http-upload.ts';
import * as m0017 from './0017-upload-access.ts';
import * as m0018 from './0018-known-clients.ts';
import * as m0019 from './0019-compliance-archive.ts';
import * as m0020 from './0020-fast-tokens.ts';
import * as m0021 from './0021-usage.ts';

type Up = (db: Parameters<Migration['up']>[0], backend: Backend) => Promise<void>;

const MIGRATIONS: Record<string, Up> = {
  '0001-initial': m0001.up,
  '0002-roster': m0002.up,
  '0003-offline': m0003.up,
  '0004-vcard-private': m0004.up,
  '0005-blocking': m0005.up,
  '0006-last-activity': m0006.up,
  '0007-groups': m0007.up,
  '0008-auth-lockout': m0008.up,
  '0009-mam': m0009.up,
  '0010-pep': m0010.up,
  '0011-muc': m0011.up,
  '0012-mam': m0012.up,
  '0013-pep': m0013.up,
  '0014-muc-mam': m0014.up,
  '0015-invitations': m0015.up,
  '0016-http-upload': m0016.up,
  '0017-upload-access': m0017.up,
  '0018-known-clients': m0018.up,
  '0019-compliance-archive': m0019.up,
  '0020-fast-tokens': m0020.up,
  '0021-usage': m0021.up,
};

export const MIGRATION_NAMES: readonly string[] = Object.keys(MIGRATIONS).sort();

/** Imported statically (no filesystem scan) so a built dist carries its migrations. */
export function migrationProvider(backend: Backend): MigrationProvider {
  return {
    async getMigrations() {
      const out: Record<string, Migration> = {};
      for (const [name, up] of Object.entries(MIGRATIONS)) out[name] = { up: (db) => up(db, backend) };
      return out;
    },
  };
}
