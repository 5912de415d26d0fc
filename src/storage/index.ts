// Opening storage: pick the dialect, refuse a database newer than this code,
// apply pending migrations, and hand out the stores.
import { resolve } from 'node:path';
import { Migrator, type Compilable, type Kysely } from 'kysely';
import { KyselyAccountStore } from './accounts.ts';
import { KyselyAuditStore } from './audit.ts';
import { MIGRATION_NAMES, migrationProvider } from './migrations/index.ts';
import { createPostgresDb } from './postgres.ts';
import { SQLITE_BUSY_TIMEOUT_MS, createSqliteDb, toSqlite } from './sqlite.ts';
import { SqliteWriterError, SqliteWriterThread } from './sqlite-writer.ts';
import {
  SchemaTooNewError,
  type Backend,
  type Database,
  type OpenOptions,
  type Storage,
  type StorageConfig,
} from './types.ts';

export * from './types.ts';

/** The schema version this build migrates to. */
export const CODE_SCHEMA_VERSION = MIGRATION_NAMES.length;

// Kysely's default; named here because we read it before the Migrator runs.
const MIGRATION_TABLE = 'kysely_migration';

export async function openStorage(cfg: StorageConfig, opts: OpenOptions = {}): Promise<Storage> {
  const db = cfg.backend === 'sqlite' ? createSqliteDb(cfg.path) : createPostgresDb(cfg.url, cfg.poolSize, opts.onError);
  try {
    await refuseNewerSchema(db);
    if (opts.migrate ?? true) await migrate(db, cfg.backend);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new KyselyStorage(cfg.backend, db, cfg.backend === 'sqlite' && cfg.path !== ':memory:' ? cfg.path : undefined, opts.onError);
}

/**
 * The `storage` section of the config file after validation (src/config/schema/storage.ts),
 * where PALISADE_POSTGRES_URL has already replaced postgres_url.
 */
export interface StorageSection {
  backend: Backend;
  sqlite_path: string;
  postgres_url: string | null;
}

/** The openStorage() config for a validated section; sqlite_path is relative to data_dir. */
export function resolveStorageConfig(section: StorageSection, dataDir: string): StorageConfig {
  if (section.backend === 'sqlite') {
    const p = section.sqlite_path;
    return { backend: 'sqlite', path: p === ':memory:' ? p : resolve(dataDir, p) };
  }
  // The config schema already refuses this; checked again for callers that skip it.
  if (!section.postgres_url) throw new Error("storage.postgres_url is required when storage.backend is 'postgres'");
  return { backend: 'postgres', url: section.postgres_url };
}

class KyselyStorage implements Storage {
  readonly accounts: KyselyAccountStore;
  readonly audit: KyselyAuditStore;
  #closing: Promise<void> | undefined;
  /** The SQLite file, when writes can go to a writer thread (not for ':memory:', which a thread cannot share). */
  readonly #sqlitePath: string | undefined;
  private writer: SqliteWriterThread | undefined;
  readonly #onError: ((err: Error) => void) | undefined;
  #toldWriterFailed = false;

  constructor(
    readonly backend: Backend,
    readonly db: Kysely<Database>,
    sqlitePath?: string,
    onError?: (err: Error) => void,
  ) {
    this.#sqlitePath = sqlitePath;
    this.#onError = onError;
    this.accounts = new KyselyAccountStore(db);
    this.audit = new KyselyAuditStore(db);
  }

  async schemaVersion(): Promise<number> {
    return (await appliedMigrations(this.db)).length;
  }

  async getMeta(key: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.db
      .insertInto('meta')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }

  async runWrite(query: Compilable): Promise<void> {
    const compiled = query.compile();
    if (this.#sqlitePath === undefined || this.#closing || this.#writerDown()) {
      await this.db.executeQuery(compiled);
      return;
    }
    // Started on first use: most command-line runs never write the message path.
    this.writer ??= new SqliteWriterThread(this.#sqlitePath, SQLITE_BUSY_TIMEOUT_MS);
    try {
      await this.writer.run(compiled.sql, compiled.parameters.map(toSqlite));
    } catch (err) {
      // The statement's own error (a constraint) is the caller's. If the thread
      // died, its statements run here from now on, this one too: had the thread
      // run it before dying, a unique key (the archives' stanza ids) refuses the copy.
      if (err instanceof SqliteWriterError || !this.#writerDown()) throw err;
      await this.db.executeQuery(compiled);
    }
  }

  /** Whether the writer thread died (told once, through onError). */
  #writerDown(): boolean {
    if (!this.writer?.failed) return false;
    if (!this.#toldWriterFailed) {
      this.#toldWriterFailed = true;
      this.#onError?.(new Error('the SQLite writer thread ended unexpectedly; archive writes now run on the main connection'));
    }
    return true;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.writer?.close();
      await this.db.destroy();
    })();
    return this.#closing;
  }
}

async function appliedMigrations(db: Kysely<Database>): Promise<string[]> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === MIGRATION_TABLE)) return [];
  const rows = await db
    .withTables<{ [MIGRATION_TABLE]: { name: string } }>()
    .selectFrom(MIGRATION_TABLE)
    .select('name')
    .execute();
  return rows.map((r) => r.name);
}

async function refuseNewerSchema(db: Kysely<Database>): Promise<void> {
  const applied = await appliedMigrations(db);
  const unknown = applied.filter((name) => !MIGRATION_NAMES.includes(name)).sort();
  if (unknown.length > 0) throw new SchemaTooNewError(applied.length, CODE_SCHEMA_VERSION, unknown);
}

async function migrate(db: Kysely<Database>, backend: Backend): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider(backend) });
  const { error, results } = await migrator.migrateToLatest();
  if (error === undefined) return;
  // A newer Palisade may have migrated the database while we were starting.
  await refuseNewerSchema(db);
  const failed = results?.find((r) => r.status === 'Error')?.migrationName;
  const why = error instanceof Error ? error.message : String(error);
  throw new Error(`storage migration ${failed ? `${failed} ` : ''}failed: ${why}`, { cause: error });
}
