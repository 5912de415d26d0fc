// SQLite dialect setup: better-sqlite3 under Kysely, with the pragmas and the
// value conversions the dialect-neutral stores rely on.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  CompiledQuery,
  Kysely,
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type SqliteDatabase as KyselySqliteDatabase,
  type SqliteDialectConfig,
  type SqliteStatement,
} from 'kysely';
import type { Database } from './types.ts';

/** How long a writer waits for another process's write lock before failing. */
export const SQLITE_BUSY_TIMEOUT_MS = 5000;
/** Distinct SQL texts kept prepared; the stores issue a few dozen, lists of varying length a few more. */
const STATEMENT_CACHE_SIZE = 256;

export function createSqliteDb(path: string): Kysely<Database> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SqliteDatabase(path, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    if (path !== ':memory:') {
      const mode = sqlite.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`SQLite refused WAL mode for ${path} (got ${String(mode)})`);
    }
    // In WAL mode NORMAL loses nothing on a process crash (only on power loss or
    // an OS crash may the last commits roll back), at a fraction of FULL's fsyncs.
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
  } catch (err) {
    sqlite.close();
    throw err;
  }
  return new Kysely<Database>({ dialect: new PalisadeSqliteDialect({ database: new StatementCache(sqlite, STATEMENT_CACHE_SIZE) }) });
}

/**
 * Kysely prepares every query anew, and preparing costs as much as running a
 * small one; the hot paths (archive writes, roster reads) repeat the same few
 * texts. Kysely never streams here (no .stream()), so one statement per text
 * is never in use twice at once. Least recently used texts are dropped.
 */
export class StatementCache implements KyselySqliteDatabase {
  readonly #db: KyselySqliteDatabase;
  readonly #max: number;
  readonly #statements = new Map<string, SqliteStatement>();

  constructor(db: KyselySqliteDatabase, max: number) {
    this.#db = db;
    this.#max = max;
  }

  prepare(sql: string): SqliteStatement {
    let stmt = this.#statements.get(sql);
    if (stmt) {
      this.#statements.delete(sql);
    } else {
      stmt = converting(this.#db.prepare(sql));
      if (this.#statements.size >= this.#max) this.#statements.delete(this.#statements.keys().next().value!);
    }
    this.#statements.set(sql, stmt);
    return stmt;
  }

  get size(): number {
    return this.#statements.size;
  }

  close(): void {
    this.#statements.clear();
    this.#db.close();
  }
}

class PalisadeSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }
  override createDriver() {
    return new ImmediateTransactionDriver(this.#config);
  }
  override createAdapter() {
    return new TransactionalDdlAdapter();
  }
}

// BEGIN IMMEDIATE takes the write lock up front, waiting up to busy_timeout.
// A deferred BEGIN that reads and then writes fails at once with SQLITE_BUSY
// when another process wrote in between; our transactions all write.
class ImmediateTransactionDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

// SQLite does support transactional DDL; Kysely assumes not, which would let a
// crash mid-migration leave half a schema behind.
class TransactionalDdlAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

// better-sqlite3 binds neither Date nor boolean: store epoch milliseconds and 0/1.
// Converted on the way into each statement (and by Storage.runWrite for the
// writer thread): a Kysely plugin walking every query's node tree for the same
// cost about 3% of a login's CPU.
export function toSqlite(v: unknown): unknown {
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v;
}


/** A prepared statement whose parameters are made bindable first (the methods Kysely's SQLite connection calls). */
function converting(stmt: SqliteStatement): SqliteStatement {
  return {
    reader: stmt.reader,
    all: (parameters) => stmt.all(parameters.map(toSqlite)),
    run: (parameters) => stmt.run(parameters.map(toSqlite)),
    iterate: (parameters) => stmt.iterate(parameters.map(toSqlite)),
  };
}
