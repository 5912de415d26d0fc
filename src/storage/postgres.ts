// PostgreSQL dialect setup: a pg.Pool under Kysely.
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './types.ts';

export function createPostgresDb(url: string, poolSize = 10, onError?: (err: Error) => void): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    application_name: 'palisade',
    // pg's default is to wait forever; an unreachable server should fail the caller.
    connectionTimeoutMillis: 10_000,
  });
  // Without a listener, an idle client's error (server restart, network cut)
  // would crash the process; the pool has already discarded that client.
  pool.on('error', (err) => onError?.(err));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
