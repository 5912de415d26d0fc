// The storage interfaces every backend implements, and the table types that the
// dialect-neutral stores and migrations share.
import type { ColumnType, Compilable, Kysely } from 'kysely';

export type Backend = 'sqlite' | 'postgres';

export type ScramHash = 'SHA-1' | 'SHA-256' | 'SHA-512';
export const SCRAM_HASHES: readonly ScramHash[] = ['SHA-1', 'SHA-256', 'SHA-512'];

/** One SCRAM verifier (RFC 5802 §3): what the server keeps instead of a password. */
export interface StoredCredential {
  hash: ScramHash;
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

export interface Account {
  /** Domain and localpart arrive already prepared (PRECIS/IDNA) from the caller. */
  domain: string;
  localpart: string;
  createdAt: Date;
  disabled: boolean;
  isAdmin: boolean;
  /** Ordered by hash name; at most one per hash. */
  credentials: StoredCredential[];
}

export type NewAccount = Omit<Account, 'createdAt'> & { createdAt?: Date };

export interface AccountStore {
  get(domain: string, localpart: string): Promise<Account | undefined>;
  /** Throws StorageConflictError if the account exists. */
  create(a: NewAccount): Promise<void>;
  /**
   * Bulk import in one transaction. Accounts that already exist (or repeat an
   * earlier entry of the list) are skipped and reported as `localpart@domain`.
   */
  createMany(list: readonly NewAccount[]): Promise<{ created: number; existing: string[] }>;
  /** Replaces all of the account's credentials atomically; false if no such account. */
  setCredentials(domain: string, localpart: string, creds: readonly StoredCredential[]): Promise<boolean>;
  setDisabled(domain: string, localpart: string, disabled: boolean): Promise<boolean>;
  setAdmin(domain: string, localpart: string, isAdmin: boolean): Promise<boolean>;
  remove(domain: string, localpart: string): Promise<boolean>;
  /** Ordered by localpart (code point order on every backend); keyset paging with `after`. */
  list(domain: string, opts?: { after?: string; limit?: number }): Promise<Account[]>;
  count(domain: string): Promise<number>;
}

export type AuditDecision = 'allow' | 'deny' | 'info';
export const AUDIT_DECISIONS: readonly AuditDecision[] = ['allow', 'deny', 'info'];

export interface AuditEntry {
  seq: number;
  ts: Date;
  actor: string;
  action: string;
  decision: AuditDecision;
  reason: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface NewAuditEntry {
  ts?: Date;
  actor: string;
  action: string;
  decision: AuditDecision;
  reason: string;
  /** Must survive JSON; stored and hashed in canonical form (sorted keys). */
  details?: Record<string, unknown>;
}

export type AuditVerifyResult = { ok: true; count: number } | { ok: false; brokenAtSeq: number; reason: string };

export interface AuditStore {
  /** Appends to the hash chain; appends are serialised across processes. */
  append(e: NewAuditEntry): Promise<AuditEntry>;
  /** Appends several entries, in order, in one transaction (all or none). */
  appendMany(entries: readonly NewAuditEntry[]): Promise<AuditEntry[]>;
  list(opts?: { afterSeq?: number; limit?: number; action?: string }): Promise<AuditEntry[]>;
  /** Recomputes the chain; reports the first edited, missing or out-of-place entry. */
  verify(): Promise<AuditVerifyResult>;
}

export interface Storage {
  readonly backend: Backend;
  readonly accounts: AccountStore;
  readonly audit: AuditStore;
  /** For stores added later; their tables come from the shared migration list. */
  readonly db: Kysely<Database>;
  /** Number of migrations applied to the database. */
  schemaVersion(): Promise<number>;
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /**
   * Runs one write statement where it holds the event loop least: on an SQLite
   * file in a writer thread (sqlite-writer.ts), elsewhere as any query. For
   * the message path's batched inserts; the statement commits on its own.
   */
  runWrite(query: Compilable): Promise<void>;
  /** Releases the file or the pool; safe to call twice. */
  close(): Promise<void>;
}

export type StorageConfig =
  | { backend: 'sqlite'; path: string /* ':memory:' allowed */ }
  | { backend: 'postgres'; url: string; poolSize?: number };

export interface OpenOptions {
  /** Apply pending migrations (default true). A newer database is refused either way. */
  migrate?: boolean;
  /**
   * For logging, nothing to handle: on PostgreSQL an idle pooled connection
   * failed (server restart, network; the pool reconnects on the next query);
   * on SQLite the writer thread died (runWrite then runs on the main connection).
   */
  onError?: (err: Error) => void;
}

export class StorageConflictError extends Error {
  override name = 'StorageConflictError';
}

export class SchemaTooNewError extends Error {
  override name = 'SchemaTooNewError';
  constructor(
    readonly databaseVersion: number,
    readonly codeVersion: number,
    readonly unknownMigrations: readonly string[],
  ) {
    super(
      `database schema is newer than this Palisade: the database has ${databaseVersion} migrations applied, ` +
        `this build knows ${codeVersion}, and it does not know ${unknownMigrations.join(', ')}. ` +
        'Refusing to start: upgrade Palisade (or restore a backup taken with this version).',
    );
  }
}

// Column types. SQLite has no date or boolean type: the SQLite dialect setup
// writes Date as epoch milliseconds and boolean as 0/1, and reads give those
// back raw, so read types are unions and the stores convert.
type Timestamp = ColumnType<Date | number, Date, Date>;
type Bool = ColumnType<boolean | number, boolean, boolean>;
/** PostgreSQL bigint arrives as a string (pg's default, no precision loss). */
type Int64 = ColumnType<number | string, number, number>;

export interface MetaTable {
  key: string;
  value: string;
}

export interface AccountsTable {
  domain: string;
  localpart: string;
  created_at: Timestamp;
  disabled: Bool;
  is_admin: Bool;
  // One group of four per SCRAM hash: all null (no such verifier) or all set.
  scram_sha1_salt: Buffer | null;
  scram_sha1_iterations: number | null;
  scram_sha1_stored_key: Buffer | null;
  scram_sha1_server_key: Buffer | null;
  scram_sha256_salt: Buffer | null;
  scram_sha256_iterations: number | null;
  scram_sha256_stored_key: Buffer | null;
  scram_sha256_server_key: Buffer | null;
  scram_sha512_salt: Buffer | null;
  scram_sha512_iterations: number | null;
  scram_sha512_stored_key: Buffer | null;
  scram_sha512_server_key: Buffer | null;
}

export interface AuditLogTable {
  seq: Int64;
  ts: Timestamp;
  actor: string;
  action: string;
  decision: AuditDecision;
  reason: string;
  /** Canonical JSON text, exactly what was hashed. */
  details: string;
  prev_hash: string;
  hash: string;
}

/** One row (id 1): the chain's tip, locked by every append. */
export interface AuditHeadTable {
  id: number;
  seq: Int64;
  hash: string;
}

export interface Database {
  meta: MetaTable;
  accounts: AccountsTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
}
