// Accounts and their SCRAM verifiers, in dialect-neutral Kysely.
import type { Kysely, Selectable } from 'kysely';
import {
  SCRAM_HASHES,
  StorageConflictError,
  type Account,
  type AccountStore,
  type AccountsTable,
  type Database,
  type NewAccount,
  type ScramHash,
  type StoredCredential,
} from './types.ts';
import { pageLimit, readBool, readDate } from './values.ts';

/** Rows per INSERT: 17 parameters each stays under SQLite's 32766 and PostgreSQL's 65535. */
const BATCH = 1000;

type CredentialColumns = Pick<AccountsTable, Extract<keyof AccountsTable, `scram_${string}`>>;

// Which columns hold which hash's verifier.
const COLUMNS = {
  'SHA-1': {
    salt: 'scram_sha1_salt',
    iterations: 'scram_sha1_iterations',
    storedKey: 'scram_sha1_stored_key',
    serverKey: 'scram_sha1_server_key',
  },
  'SHA-256': {
    salt: 'scram_sha256_salt',
    iterations: 'scram_sha256_iterations',
    storedKey: 'scram_sha256_stored_key',
    serverKey: 'scram_sha256_server_key',
  },
  'SHA-512': {
    salt: 'scram_sha512_salt',
    iterations: 'scram_sha512_iterations',
    storedKey: 'scram_sha512_stored_key',
    serverKey: 'scram_sha512_server_key',
  },
} as const satisfies Record<ScramHash, Record<keyof Omit<StoredCredential, 'hash'>, keyof CredentialColumns>>;

export class KyselyAccountStore implements AccountStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async get(domain: string, localpart: string): Promise<Account | undefined> {
    const row = await this.#db
      .selectFrom('accounts')
      .selectAll()
      .where('domain', '=', domain)
      .where('localpart', '=', localpart)
      .executeTakeFirst();
    return row && rowToAccount(row);
  }

  async create(a: NewAccount): Promise<void> {
    checkCredentials(a.credentials);
    // ON CONFLICT DO NOTHING + RETURNING tells "exists" apart without decoding
    // each driver's unique-violation error.
    const inserted = await this.#db
      .insertInto('accounts')
      .values(accountRow(a, a.createdAt ?? new Date()))
      .onConflict((oc) => oc.columns(['domain', 'localpart']).doNothing())
      .returning('localpart')
      .executeTakeFirst();
    if (!inserted) throw new StorageConflictError(`account ${a.localpart}@${a.domain} already exists`);
  }

  async createMany(list: readonly NewAccount[]): Promise<{ created: number; existing: string[] }> {
    for (const a of list) checkCredentials(a.credentials);
    const now = new Date();
    const existing: string[] = [];
    let created = 0;
    // Repeats inside the list never reach the database, so a batch's RETURNING
    // rows map back to its entries one to one.
    const seen = new Set<string>();
    const unique: NewAccount[] = [];
    for (const a of list) {
      const key = accountKey(a.domain, a.localpart);
      if (seen.has(key)) existing.push(`${a.localpart}@${a.domain}`);
      else {
        seen.add(key);
        unique.push(a);
      }
    }
    await this.#db.transaction().execute(async (trx) => {
      for (let i = 0; i < unique.length; i += BATCH) {
        const batch = unique.slice(i, i + BATCH);
        const inserted = await trx
          .insertInto('accounts')
          .values(batch.map((a) => accountRow(a, a.createdAt ?? now)))
          .onConflict((oc) => oc.columns(['domain', 'localpart']).doNothing())
          .returning(['domain', 'localpart'])
          .execute();
        created += inserted.length;
        if (inserted.length === batch.length) continue;
        const insertedKeys = new Set(inserted.map((r) => accountKey(r.domain, r.localpart)));
        for (const a of batch) if (!insertedKeys.has(accountKey(a.domain, a.localpart))) existing.push(`${a.localpart}@${a.domain}`);
      }
    });
    return { created, existing };
  }

  async setCredentials(domain: string, localpart: string, creds: readonly StoredCredential[]): Promise<boolean> {
    checkCredentials(creds);
    // All verifiers sit in the account's row, so one UPDATE replaces them atomically.
    return this.#update(domain, localpart, credentialColumns(creds));
  }

  async setDisabled(domain: string, localpart: string, disabled: boolean): Promise<boolean> {
    return this.#update(domain, localpart, { disabled });
  }

  async setAdmin(domain: string, localpart: string, isAdmin: boolean): Promise<boolean> {
    return this.#update(domain, localpart, { is_admin: isAdmin });
  }

  async remove(domain: string, localpart: string): Promise<boolean> {
    const r = await this.#db
      .deleteFrom('accounts')
      .where('domain', '=', domain)
      .where('localpart', '=', localpart)
      .executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  async list(domain: string, opts: { after?: string; limit?: number } = {}): Promise<Account[]> {
    const rows = await this.#db
      .selectFrom('accounts')
      .selectAll()
      .where('domain', '=', domain)
      .$if(opts.after !== undefined, (q) => q.where('localpart', '>', opts.after!))
      .orderBy('localpart')
      .limit(pageLimit(opts.limit))
      .execute();
    return rows.map(rowToAccount);
  }

  async count(domain: string): Promise<number> {
    const r = await this.#db
      .selectFrom('accounts')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('domain', '=', domain)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async #update(
    domain: string,
    localpart: string,
    set: Partial<CredentialColumns> & { disabled?: boolean; is_admin?: boolean },
  ): Promise<boolean> {
    const r = await this.#db
      .updateTable('accounts')
      .set(set)
      .where('domain', '=', domain)
      .where('localpart', '=', localpart)
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }
}

function accountKey(domain: string, localpart: string): string {
  return JSON.stringify([domain, localpart]);
}

function accountRow(a: NewAccount, createdAt: Date) {
  return {
    domain: a.domain,
    localpart: a.localpart,
    created_at: createdAt,
    disabled: a.disabled,
    is_admin: a.isAdmin,
    ...credentialColumns(a.credentials),
  };
}

/** Every credential column: a hash missing from the list is cleared. */
function credentialColumns(creds: readonly StoredCredential[]): CredentialColumns {
  const out: Record<string, Buffer | number | null> = {};
  for (const hash of SCRAM_HASHES) {
    const c = creds.find((x) => x.hash === hash);
    const cols = COLUMNS[hash];
    out[cols.salt] = c?.salt ?? null;
    out[cols.iterations] = c?.iterations ?? null;
    out[cols.storedKey] = c?.storedKey ?? null;
    out[cols.serverKey] = c?.serverKey ?? null;
  }
  return out as unknown as CredentialColumns;
}

function rowToAccount(row: Selectable<AccountsTable>): Account {
  const credentials: StoredCredential[] = [];
  for (const hash of SCRAM_HASHES) {
    const cols = COLUMNS[hash];
    const salt = row[cols.salt];
    const iterations = row[cols.iterations];
    const storedKey = row[cols.storedKey];
    const serverKey = row[cols.serverKey];
    // The table's CHECK constraint keeps the four together.
    if (salt !== null && iterations !== null && storedKey !== null && serverKey !== null) {
      credentials.push({ hash, salt, iterations, storedKey, serverKey });
    }
  }
  return {
    domain: row.domain,
    localpart: row.localpart,
    createdAt: readDate(row.created_at),
    disabled: readBool(row.disabled),
    isAdmin: readBool(row.is_admin),
    credentials,
  };
}

// Checked before any write so a bad entry fails the call the same way on every
// backend, instead of as a driver-specific constraint error halfway through.
function checkCredentials(creds: readonly StoredCredential[]): void {
  const hashes = new Set<string>();
  for (const c of creds) {
    if (!SCRAM_HASHES.includes(c.hash)) throw new TypeError(`unknown SCRAM hash ${String(c.hash)}`);
    if (hashes.has(c.hash)) throw new TypeError(`two credentials for ${c.hash}`);
    hashes.add(c.hash);
    if (!Number.isInteger(c.iterations) || c.iterations < 1 || c.iterations > 0x7fffffff) {
      throw new TypeError(`bad iteration count ${c.iterations} for ${c.hash}`);
    }
    if (!Buffer.isBuffer(c.salt) || !Buffer.isBuffer(c.storedKey) || !Buffer.isBuffer(c.serverKey)) {
      throw new TypeError(`salt, storedKey and serverKey of ${c.hash} must be Buffers`);
    }
  }
}
