// What each account logged in with lately (table known_clients, migration
// 0018): client software names and IP address prefixes, the last `remember`
// of each, so that a login from something new stands out (new-device notice).
import { isIPv4, isIPv6 } from 'node:net';
import type { Kysely } from 'kysely';

interface KnownClientsTables {
  known_clients: {
    domain: string;
    localpart: string;
    kind: 'client' | 'ip';
    value: string;
    first_seen: number | bigint | string;
    last_seen: number | bigint | string;
  };
}

export interface AccountRef {
  domain: string;
  localpart: string;
}

export interface Sighting {
  /** The account had no record at all: its first login (nothing to compare with). */
  first: boolean;
  newClient: boolean;
  newNetwork: boolean;
}

/** The part of an address that names a network rather than a device: /24 for IPv4, /48 for IPv6. */
export function ipPrefix(ip: string): string {
  const v4 = ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  if (isIPv4(v4)) return `${v4.split('.').slice(0, 3).join('.')}.0/24`;
  if (!isIPv6(ip)) return 'unknown';
  const [head = '', tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 3)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/48`;
}

export class KnownClients {
  readonly #db: Kysely<KnownClientsTables>;
  readonly #remember: number;

  constructor(db: Kysely<any>, remember: number) {
    this.#db = db as Kysely<KnownClientsTables>;
    this.#remember = remember;
  }

  /** Records a login's client and network; says which of them the account had not used lately. */
  async see(account: AccountRef, client: string, network: string, now: Date): Promise<Sighting> {
    const rows = await this.#db
      .selectFrom('known_clients')
      .select(['kind', 'value'])
      .where('domain', '=', account.domain)
      .where('localpart', '=', account.localpart)
      .execute();
    const has = (kind: string, value: string) => rows.some((r) => r.kind === kind && r.value === value);
    const sighting = { first: rows.length === 0, newClient: !has('client', client), newNetwork: !has('ip', network) };
    const at = now.getTime();
    // One statement for both sightings: a login costs a read and a write (issue #9).
    await this.#db
      .insertInto('known_clients')
      .values([
        { ...account, kind: 'client', value: client, first_seen: at, last_seen: at },
        { ...account, kind: 'ip', value: network, first_seen: at, last_seen: at },
      ])
      .onConflict((oc) => oc.columns(['domain', 'localpart', 'kind', 'value']).doUpdateSet({ last_seen: at }))
      .execute();
    const count = (kind: string, isNew: boolean) => rows.filter((r) => r.kind === kind).length + (isNew ? 1 : 0);
    for (const [kind, isNew] of [['client', sighting.newClient], ['ip', sighting.newNetwork]] as const) {
      if (count(kind, isNew) > this.#remember) await this.#forgetOldest(account, kind);
    }
    return sighting;
  }

  /** Keeps the `remember` most recently used values of one kind. */
  async #forgetOldest(account: AccountRef, kind: 'client' | 'ip'): Promise<void> {
    const stale = await this.#db
      .selectFrom('known_clients')
      .select('value')
      .where('domain', '=', account.domain)
      .where('localpart', '=', account.localpart)
      .where('kind', '=', kind)
      .orderBy('last_seen', 'desc')
      .orderBy('value')
      .offset(this.#remember)
      .limit(1000)
      .execute();
    if (stale.length === 0) return;
    await this.#db
      .deleteFrom('known_clients')
      .where('domain', '=', account.domain)
      .where('localpart', '=', account.localpart)
      .where('kind', '=', kind)
      .where(
        'value',
        'in',
        stale.map((r) => r.value),
      )
      .execute();
  }
}

/** Forgets what an account used (the account was removed). */
export async function forgetKnownClients(db: Kysely<any>, account: AccountRef): Promise<void> {
  await (db as Kysely<KnownClientsTables>).deleteFrom('known_clients').where('domain', '=', account.domain).where('localpart', '=', account.localpart).execute();
}
