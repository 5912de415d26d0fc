// The one ordered list of schema migrations, shared by every backend. Names sort
// in application order; a released migration is never edited or renamed, only
// followed by a new one. There are no down migrations: going back means
// restoring a backup.
import type { Migration, MigrationProvider } from 'kysely';
import type { Backend } from '../types.ts';
import * as m0001 from './0001-initial.ts';

type Up = (db: Parameters<Migration['up']>[0], backend: Backend) => Promise<void>;

const MIGRATIONS: Record<string, Up> = {
  '0001-initial': m0001.up,
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
