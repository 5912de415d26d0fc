// FAST tokens (XEP-0484) at rest. A row keeps a random seed, never the token:
// the token is HMAC-SHA-256(key, seed), with a key that lives in its own file
// next to the database, not in it. The HT mechanisms prove knowledge of the
// token itself (HMAC keyed with it), so the server must be able to recompute it;
// deriving it from a key outside the database is what keeps a database copy
// (a backup, an injected query) from logging anyone in. Deleting the key file
// revokes every token at once.
//
// Two slots per account and client, as XEP-0484 §5.1 suggests: a token handed
// out goes to 'new' (replacing any unused one); the first login with it moves
// it to 'current', which ends the token it replaces.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Kysely } from 'kysely';

interface FastTokenRow {
  domain: string;
  localpart: string;
  agent_id: string;
  slot: 'new' | 'current';
  seed: string;
  mechanism: string;
  created_at: number | string;
  expires_at: number | string;
  last_count: number | string | null;
}

interface Tables {
  fast_tokens: FastTokenRow;
}

export interface FastAccount {
  domain: string;
  localpart: string;
}

export interface IssuedToken {
  token: string;
  expiresAt: Date;
}

export type FastVerdict =
  | { kind: 'ok'; token: string; mechanism: string; rotate: boolean }
  /** No live token of this client matched (wrong token, rotated out, revoked, or another mechanism's). */
  | { kind: 'unknown' }
  | { kind: 'expired' }
  /** XEP-0484 §4.4: a count not above one already seen for this token. */
  | { kind: 'replayed' };

export interface FastStoreOptions {
  lifetimeMs: number;
  /** Clients with tokens per account; past it the longest-unused client loses its tokens. */
  maxClientsPerAccount: number;
  now?: () => number;
}

const TOKEN_KEY_BYTES = 32;
const SEED_BYTES = 18;

/** Reads the token key from `file`, creating it (owner-only) on first use. */
export function loadTokenKey(file: string): Buffer {
  if (!existsSync(file)) {
    writeFileSync(file, randomBytes(TOKEN_KEY_BYTES).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  }
  chmodSync(file, 0o600);
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== TOKEN_KEY_BYTES) throw new Error(`${file} does not hold a ${TOKEN_KEY_BYTES}-byte base64 key`);
  return key;
}

/** Removes every FAST token of an account (password change, account removal). */
export async function revokeAccountTokens(db: Kysely<any>, account: FastAccount): Promise<number> {
  const r = await (db as Kysely<Tables>)
    .deleteFrom('fast_tokens')
    .where('domain', '=', account.domain)
    .where('localpart', '=', account.localpart)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

export class FastTokenStore {
  readonly #db: Kysely<Tables>;
  readonly #key: Buffer;
  readonly #opts: FastStoreOptions;
  readonly #now: () => number;

  constructor(db: Kysely<any>, key: Buffer, opts: FastStoreOptions) {
    this.#db = db as Kysely<Tables>;
    this.#key = key;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  #token(seed: string): string {
    return createHmac('sha256', this.#key).update(`palisade-fast-token\0${seed}`).digest('base64url');
  }

  /** A fresh token for this client, in the 'new' slot (an unused earlier one is dropped, §4.3). */
  async issue(account: FastAccount, agentId: string, mechanism: string): Promise<IssuedToken> {
    const seed = randomBytes(SEED_BYTES).toString('base64url');
    const now = this.#now();
    const expiresAt = now + this.#opts.lifetimeMs;
    const values = { seed, mechanism, created_at: now, expires_at: expiresAt, last_count: null };
    await this.#db
      .insertInto('fast_tokens')
      .values({ ...account, agent_id: agentId, slot: 'new', ...values })
      .onConflict((oc) => oc.columns(['domain', 'localpart', 'agent_id', 'slot']).doUpdateSet(values))
      .execute();
    await this.#limitClients(account);
    return { token: this.#token(seed), expiresAt: new Date(expiresAt) };
  }

  /**
   * Finds the client's token that `matches` accepts ('new' slot first) and
   * marks it used. `matches` must compare in constant time; it is asked about
   * every stored token of the client, whether or not an earlier one matched.
   */
  async use(account: FastAccount, agentId: string, mechanism: string, matches: (token: string) => boolean, count?: number): Promise<FastVerdict> {
    const rows = await this.#db
      .selectFrom('fast_tokens')
      .selectAll()
      .where('domain', '=', account.domain)
      .where('localpart', '=', account.localpart)
      .where('agent_id', '=', agentId)
      .execute();
    rows.sort((a, b) => (a.slot === b.slot ? 0 : a.slot === 'new' ? -1 : 1));
    const tokens = rows.map((r) => this.#token(r.seed));
    // The same work whether or not the client has tokens.
    if (tokens.length === 0) matches(this.#token('none'));
    const hits = tokens.map((t) => matches(t));
    const i = hits.indexOf(true);
    // A token bound to another mechanism (e.g. one with channel binding) is not a token for this one (§4.4).
    if (i < 0 || rows[i]!.mechanism !== mechanism) return { kind: 'unknown' };
    const row = rows[i]!;
    const now = this.#now();
    if (Number(row.expires_at) <= now) return { kind: 'expired' };
    const lastCount = row.last_count === null ? undefined : Number(row.last_count);
    if (count !== undefined && lastCount !== undefined && count <= lastCount) return { kind: 'replayed' };
    const where = this.#db
      .updateTable('fast_tokens')
      .where('domain', '=', account.domain)
      .where('localpart', '=', account.localpart)
      .where('agent_id', '=', agentId);
    if (row.slot === 'new') {
      await this.#db
        .deleteFrom('fast_tokens')
        .where('domain', '=', account.domain)
        .where('localpart', '=', account.localpart)
        .where('agent_id', '=', agentId)
        .where('slot', '=', 'current')
        .execute();
      await where.where('slot', '=', 'new').set({ slot: 'current', last_count: count ?? null }).execute();
    } else if (count !== undefined) {
      await where.where('slot', '=', 'current').set({ last_count: count }).execute();
    }
    // Past half its life a token is replaced on use, so a client in regular use never meets the expiry.
    const rotate = now - Number(row.created_at) >= this.#opts.lifetimeMs / 2;
    return { kind: 'ok', token: tokens[i]!, mechanism: row.mechanism, rotate };
  }

  /** Ends every token of one client (a client logging out, XEP-0484 §4.5). */
  async revokeClient(account: FastAccount, agentId: string): Promise<void> {
    await this.#db
      .deleteFrom('fast_tokens')
      .where('domain', '=', account.domain)
      .where('localpart', '=', account.localpart)
      .where('agent_id', '=', agentId)
      .execute();
  }

  revokeAccount(account: FastAccount): Promise<number> {
    return revokeAccountTokens(this.#db, account);
  }

  /** Drops expired tokens; returns how many. */
  async purgeExpired(): Promise<number> {
    const r = await this.#db.deleteFrom('fast_tokens').where('expires_at', '<=', this.#now()).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async #limitClients(account: FastAccount): Promise<void> {
    const clients = await this.#db
      .selectFrom('fast_tokens')
      .select(['agent_id'])
      .select((eb) => eb.fn.max('created_at').as('latest'))
      .where('domain', '=', account.domain)
      .where('localpart', '=', account.localpart)
      .groupBy('agent_id')
      .execute();
    const excess = clients.length - this.#opts.maxClientsPerAccount;
    if (excess <= 0) return;
    const oldest = clients
      .sort((a, b) => Number(a.latest) - Number(b.latest))
      .slice(0, excess)
      .map((c) => c.agent_id);
    await this.#db
      .deleteFrom('fast_tokens')
      .where('domain', '=', account.domain)
      .where('localpart', '=', account.localpart)
      .where('agent_id', 'in', oldest)
      .execute();
  }
}

/** Constant-time equality of two MACs (false for different lengths). */
export function sameMac(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
