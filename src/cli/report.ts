// `palisade report usage`: who used what in a period, per account or per group.
//
//   palisade report usage --since TIME [--until TIME] --by user|group [--json] [--config FILE]
//
// Figures: messages sent and received and calls started (the usage module's
// hourly counters), uploads and their bytes (the http-upload files table),
// refusals (denials in the audit log), logins (the audit log's login entries)
// and the client software in use (the sessions module's record of the clients
// each account used lately). A readable table, or JSON with --json.
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import { ConfigError } from '../config/errors.ts';
import { auditEntriesSince } from '../policy/audit-log.ts';
import { compilePolicy } from '../policy/engine.ts';
import { GroupStore } from '../policy/groups.ts';
import type { Storage } from '../storage/types.ts';
import { readInt } from '../storage/values.ts';
import { usageTotals, type UsageMetric } from '../modules/usage/store.ts';
import { CONFIG_OPTION, cliFail, withStorage } from './policy.ts';

export interface UsageFigures {
  messages: { sent: number; received: number };
  files: { uploads: number; bytes: number };
  calls: { sessions: number; proposals: number };
  refusals: number;
  logins: number;
  /**
   * Client software in use during the period, by name in lower case ('unknown' for a
   * session that did not say), sorted: from the sessions module's known clients. They
   * keep only each client's first and last use, so one used before and after the period
   * but not within it is counted too.
   */
  clients: string[];
}

export interface UsageRow extends UsageFigures {
  /** The account (by user) or the group (by group). */
  name: string;
  /** By group: the accounts with any figure in the period. */
  users?: number;
}

export interface UsageReport {
  since: string;
  until: string;
  by: 'user' | 'group';
  rows: UsageRow[];
  total: UsageFigures & { users: number };
}

export const NO_GROUP = '(no group)';

const empty = (): UsageFigures => ({ messages: { sent: 0, received: 0 }, files: { uploads: 0, bytes: 0 }, calls: { sessions: 0, proposals: 0 }, refusals: 0, logins: 0, clients: [] });

type UploadTables = { http_upload_files: { owner: string; size: number | string; status: string; created_at: number | string } };
type KnownClientTables = { known_clients: { domain: string; localpart: string; kind: string; value: string; first_seen: number | string; last_seen: number | string } };

/** The figures of every local account with any, in [since, until). */
export async function usageByUser(storage: Storage, domain: string, since: Date, until: Date): Promise<Map<string, UsageFigures>> {
  const users = new Map<string, UsageFigures & { clientSet: Set<string> }>();
  const of = (account: string) => {
    let f = users.get(account);
    if (!f) users.set(account, (f = { ...empty(), clientSet: new Set() }));
    return f;
  };
  const isLocal = (jid: string) => jid.endsWith(`@${domain}`) && !jid.includes('/');

  const counter: Record<UsageMetric, (f: UsageFigures, n: number) => void> = {
    messages_sent: (f, n) => (f.messages.sent += n),
    messages_received: (f, n) => (f.messages.received += n),
    call_sessions: (f, n) => (f.calls.sessions += n),
    call_proposals: (f, n) => (f.calls.proposals += n),
  };
  for (const t of await usageTotals(storage.db, since, until)) counter[t.metric]?.(of(t.account), t.value);

  // Uploads that completed (stored and scanned clean), by their uploader.
  const uploads = await (storage.db as unknown as Kysely<UploadTables>)
    .selectFrom('http_upload_files')
    .select(['owner', (eb) => eb.fn.countAll<number | string>().as('n'), (eb) => eb.fn.sum<number | string>('size').as('bytes')])
    .where('status', '=', 'available')
    .where('created_at', '>=', since.getTime())
    .where('created_at', '<', until.getTime())
    .groupBy('owner')
    .execute();
  for (const u of uploads) {
    const f = of(u.owner);
    f.files.uploads += readInt(u.n);
    f.files.bytes += readInt(u.bytes ?? 0);
  }

  for await (const e of auditEntriesSince(storage, since)) {
    if (e.ts >= until) break;
    if (!isLocal(e.actor)) continue;
    // A refusal is a policy decision (it names its rule); a mistyped password is not one.
    if (e.decision === 'deny' && e.details.rule !== undefined) of(e.actor).refusals++;
    else if (e.action === 'login' && e.decision === 'allow') {
      of(e.actor).logins++;
    }
  }

  const clients = await (storage.db as unknown as Kysely<KnownClientTables>)
    .selectFrom('known_clients')
    .select(['localpart', 'value'])
    .where('domain', '=', domain)
    .where('kind', '=', 'client')
    .where('last_seen', '>=', since.getTime())
    .where('first_seen', '<', until.getTime())
    .execute();
  for (const c of clients) of(`${c.localpart}@${domain}`).clientSet.add(c.value);
  const out = new Map<string, UsageFigures>();
  for (const [account, { clientSet, ...f }] of [...users].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    out.set(account, { ...f, clients: [...clientSet].sort() });
  }
  return out;
}

function addTo(sum: UsageFigures, f: UsageFigures): void {
  sum.messages.sent += f.messages.sent;
  sum.messages.received += f.messages.received;
  sum.files.uploads += f.files.uploads;
  sum.files.bytes += f.files.bytes;
  sum.calls.sessions += f.calls.sessions;
  sum.calls.proposals += f.calls.proposals;
  sum.refusals += f.refusals;
  sum.logins += f.logins;
  sum.clients = [...new Set([...sum.clients, ...f.clients])].sort();
}

export function buildReport(byUser: Map<string, UsageFigures>, by: 'user' | 'group', groupsOf: (jid: string) => readonly string[], since: Date, until: Date): UsageReport {
  const total = { ...empty(), users: byUser.size };
  for (const f of byUser.values()) addTo(total, f);
  let rows: UsageRow[];
  if (by === 'user') {
    rows = [...byUser].map(([name, f]) => ({ name, ...f }));
  } else {
    const groups = new Map<string, UsageRow & { users: number }>();
    for (const [jid, f] of byUser) {
      const names = groupsOf(jid);
      for (const g of names.length === 0 ? [NO_GROUP] : names) {
        let row = groups.get(g);
        if (!row) groups.set(g, (row = { name: g, ...empty(), users: 0 }));
        addTo(row, f);
        row.users++;
      }
    }
    rows = [...groups.values()].sort((a, b) => (a.name === NO_GROUP ? 1 : b.name === NO_GROUP ? -1 : a.name < b.name ? -1 : 1));
  }
  return { since: since.toISOString(), until: until.toISOString(), by, rows, total };
}

const COLUMNS: [string, (r: UsageFigures & { users?: number }) => string | number][] = [
  ['sent', (r) => r.messages.sent],
  ['received', (r) => r.messages.received],
  ['uploads', (r) => r.files.uploads],
  ['upload bytes', (r) => r.files.bytes],
  ['calls', (r) => r.calls.sessions],
  ['call proposals', (r) => r.calls.proposals],
  ['refusals', (r) => r.refusals],
  ['logins', (r) => r.logins],
  ['clients', (r) => r.clients.length],
];

export function renderTable(report: UsageReport): string {
  const first = report.by === 'user' ? 'account' : 'group';
  const cols = report.by === 'group' ? [['users', (r: UsageFigures & { users?: number }) => r.users ?? 0] as const, ...COLUMNS] : COLUMNS;
  const head = [first, ...cols.map(([h]) => h)];
  const body = [...report.rows, { name: 'total', ...report.total }].map((r) => [r.name, ...cols.map(([, get]) => String(get(r)))]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const out = [
    `usage from ${report.since} to ${report.until}, by ${report.by}`,
    '(messages and calls are counted per hour: the hour of --since is included whole)',
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.slice(0, -1).map(line),
    line(widths.map((w) => '-'.repeat(w))),
    line(body.at(-1)!),
  ];
  if (report.rows.length === 0) out.splice(5, 0, '(no activity)');
  return out.join('\n') + '\n';
}

function parseTime(text: string, option: string): Date {
  const t = new Date(text);
  if (Number.isNaN(t.getTime())) cliFail(1, `palisade: ${option} ${text} is not an ISO 8601 time (e.g. 2025-06-01T00:00:00Z)`);
  return t;
}

export function registerReportCommands(program: Command): void {
  const report = program.command('report').description('reports from the counters and the audit log');
  report
    .command('usage')
    .description('messages, files, calls, refusals and clients per account or group in a period')
    .requiredOption('--since <time>', 'ISO 8601 time, e.g. 2025-06-01T00:00:00Z')
    .option('--until <time>', 'ISO 8601 time (exclusive); default now')
    .requiredOption('--by <what>', 'user or group')
    .option('--json', 'machine-readable JSON instead of a table')
    .option(...CONFIG_OPTION)
    .action(async (opts: { since: string; until?: string; by: string; json?: boolean; config?: string }) => {
      if (opts.by !== 'user' && opts.by !== 'group') cliFail(1, `palisade: --by must be user or group (got ${opts.by})`);
      const since = parseTime(opts.since, '--since');
      const until = opts.until === undefined ? new Date() : parseTime(opts.until, '--until');
      if (until <= since) cliFail(1, 'palisade: --until must be later than --since');
      await withStorage(opts.config, async (storage, loaded) => {
        let groupsOf: (jid: string) => readonly string[] = () => [];
        if (opts.by === 'group') {
          try {
            const policy = await compilePolicy(loaded, new GroupStore(storage.db));
            groupsOf = (jid) => policy.groupsOf(jid);
          } catch (err) {
            if (err instanceof ConfigError) cliFail(2, `palisade: the groups come from the policy, which is invalid:\n${err.message}`);
            throw err;
          }
        }
        const byUser = await usageByUser(storage, loaded.config.domain, since, until);
        const r = buildReport(byUser, opts.by as 'user' | 'group', groupsOf, since, until);
        process.stdout.write(opts.json ? JSON.stringify(r, null, 2) + '\n' : renderTable(r));
      });
    });
}
