// `palisade sessions …`: the bound sessions of the running server, and closing
// them. Both go through the control channel (data_dir/control, see
// src/policy/reload-request.ts) to the sessions module, and both are audited.
//
//   palisade sessions list [--account JID] [--json] [--config FILE] [--timeout SECONDS]
//   palisade sessions kill <full-or-bare-jid> [--reason TEXT] [--config FILE] [--timeout SECONDS]
//
// `palisade user passwd` uses closeAccountSessions() to end every session of
// the account after its password changed.
import type { Command } from 'commander';
import type { LoadedConfig } from '../config/load.ts';
import { heartbeatAge, waitForControlResult, writeControlRequest, type ControlResult } from '../policy/reload-request.ts';
import { SESSIONS_CLOSE_ACCOUNT, SESSIONS_HEARTBEAT, SESSIONS_KILL, SESSIONS_LIST } from '../modules/sessions/index.ts';
import type { SessionInfo } from '../modules/sessions/inventory.ts';
import { JidError, parseJID } from '../xmpp/jid.ts';
import { CONFIG_OPTION, auditCli, cliActor, cliFail, loadCliConfig, withStorage } from './policy.ts';

/** A heartbeat older than this means no server answers (the module touches it every control_poll_ms, at most 10 s). */
const HEARTBEAT_FRESH_MS = 15_000;

export class NoServerError extends Error {}

/** Sends a request to the running server's sessions module and waits for its answer. */
export async function askSessions(loaded: LoadedConfig, kind: string, args: Record<string, unknown>, timeoutMs: number): Promise<ControlResult> {
  const age = heartbeatAge(loaded.dataDir, SESSIONS_HEARTBEAT);
  const hint = `is a server running with data_dir ${loaded.dataDir} and the sessions module loaded (modules: { sessions: {} })?`;
  if (age === undefined || age > HEARTBEAT_FRESH_MS) throw new NoServerError(`no running server answers session requests (${hint})`);
  const id = writeControlRequest(loaded.dataDir, kind, cliActor(), args);
  const result = await waitForControlResult(loaded.dataDir, id, timeoutMs);
  if (!result) throw new NoServerError(`no running server answered within ${timeoutMs / 1000} s (${hint})`);
  return result;
}

/** After a password change: closes every session of the account on the running server; what to tell the operator. */
export async function closeAccountSessions(loaded: LoadedConfig, account: string): Promise<{ closed: number | undefined; message: string }> {
  try {
    const r = await askSessions(loaded, SESSIONS_CLOSE_ACCOUNT, { jid: account }, 10_000);
    if (!r.ok) return { closed: undefined, message: r.message };
    return { closed: (r.data as { closed: string[] }).closed.length, message: r.message };
  } catch (err) {
    if (err instanceof NoServerError) return { closed: undefined, message: `sessions not closed: ${err.message}` };
    throw err;
  }
}

function timeoutOf(text: string): number {
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0) cliFail(1, 'palisade: --timeout takes a number of seconds');
  return seconds * 1000;
}

function jidArg(text: string, option: string): string {
  try {
    return parseJID(text).toString();
  } catch (err) {
    if (err instanceof JidError) cliFail(1, `palisade: ${option} ${text}: ${err.reason}`);
    throw err;
  }
}

async function ask(loaded: LoadedConfig, kind: string, args: Record<string, unknown>, timeoutMs: number): Promise<ControlResult> {
  try {
    const r = await askSessions(loaded, kind, args, timeoutMs);
    if (!r.ok) cliFail(1, `palisade: ${r.message}`);
    return r;
  } catch (err) {
    if (err instanceof NoServerError) cliFail(1, `palisade: ${err.message}`);
    throw err;
  }
}

/** The listing as a table, one session a line. */
export function sessionTable(list: readonly SessionInfo[]): string {
  const rows = [['SESSION', 'IP', 'TLS', 'SASL', 'CLIENT', 'STARTED']];
  for (const s of list) {
    const client = s.client?.software
      ? [s.client.software, s.client.version].filter(Boolean).join(' ')
      : (s.user_agent?.software ?? (s.client_status === 'pending' ? '(asking)' : '(unknown)'));
    rows.push([`${s.account}/${s.resource}`, s.ip, s.tls_version ?? '-', [s.sasl_mechanism, s.channel_binding].filter(Boolean).join(' ') || '-', client, s.started_at]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function registerSessionsCommands(program: Command): void {
  const sessions = program.command('sessions').description('list and close the sessions of the running server (needs the sessions module)');

  sessions
    .command('list')
    .description('list the bound sessions: account, resource, IP, TLS, SASL mechanism, client, start time')
    .option('--account <jid>', 'only the sessions of this account')
    .option('--json', 'print JSON')
    .option('--timeout <seconds>', 'how long to wait for the server to answer', '10')
    .option(...CONFIG_OPTION)
    .action(async (opts: { account?: string; json?: boolean; timeout: string; config?: string }) => {
      const loaded = loadCliConfig(opts.config);
      const args = opts.account === undefined ? {} : { account: jidArg(opts.account, '--account') };
      const r = await ask(loaded, SESSIONS_LIST, args, timeoutOf(opts.timeout));
      const list = r.data as SessionInfo[];
      await withStorage(opts.config, (storage) => auditCli(storage, loaded, 'sessions.list', r.message, { account: opts.account ?? null, sessions: list.length }));
      process.stdout.write(opts.json ? JSON.stringify(list, null, 2) + '\n' : list.length ? sessionTable(list) : 'no sessions\n');
    });

  sessions
    .command('kill <jid>')
    .description('close the session of a full JID, or every session of a bare JID (stream error policy-violation)')
    .option('--reason <text>', 'told to the user after "Your session was closed by an administrator."')
    .option('--timeout <seconds>', 'how long to wait for the server to answer', '10')
    .option(...CONFIG_OPTION)
    .action(async (jid: string, opts: { reason?: string; timeout: string; config?: string }) => {
      const loaded = loadCliConfig(opts.config);
      const target = jidArg(jid, 'jid');
      const args: Record<string, unknown> = { jid: target };
      if (opts.reason !== undefined) args.reason = opts.reason;
      const r = await ask(loaded, SESSIONS_KILL, args, timeoutOf(opts.timeout));
      const closed = (r.data as { closed: string[] }).closed;
      await withStorage(opts.config, (storage) => auditCli(storage, loaded, 'sessions.kill', r.message, { target, reason: opts.reason ?? null, closed }));
      process.stdout.write(`${r.message}\n`);
    });
}
