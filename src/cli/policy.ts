// `palisade policy …`: check a policy file, ask the running server to reload
// it, explain which rule decides a request, print the built-in policy. Also
// the helpers the audit and group commands share.
//
//   palisade policy check [FILE] [--config FILE]
//   palisade policy reload [--config FILE] [--timeout SECONDS]
//   palisade policy explain --from JID [--to JID] [--feature F] [--action A] [--at ISO-TIME] [--body TEXT]
//                           [--ip ADDR] [--relation contact|none] [--e2ee none|omemo|openpgp]
//                           [--client NAME] [--client-version V] [--config FILE]
//   palisade policy default
import { existsSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/errors.ts';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import { openStorage, resolveStorageConfig } from '../storage/index.ts';
import type { Storage } from '../storage/types.ts';
import { SignedAuditLog, loadOrCreateAuditKey } from '../policy/audit-log.ts';
import { FACT_BODY, FACT_E2EE, OBLIGATION_ALERT, OBLIGATION_PROXY_ONLY, OBLIGATION_REDACT, featureFact } from '../policy/compile.ts';
import { MAX_SCAN_CHARS } from '../policy/detectors.ts';
import { compilePolicy } from '../policy/engine.ts';
import { GroupStore } from '../policy/groups.ts';
import { BUILTIN_POLICY, loadPolicy, policyPath } from '../policy/load.ts';
import { NAMED_FEATURES } from '../policy/schema.ts';
import { writeReloadRequest, waitForReloadResult } from '../policy/reload-request.ts';
import type { Obligation, PeerScope, PolicyRequest } from '../policy/types.ts';
import { OBLIGATION_ARCHIVE, type ArchiveSide } from '../policy/archiving.ts';
import { CLIENT_CHECK, OBLIGATION_CLIENT_ALERT, OBLIGATION_CLIENT_WARN } from '../policy/clients.ts';
import { FACT_HAS_FILE, FACT_HAS_LINK, OBLIGATION_LINK_FLAG, linkFacts } from '../policy/link-safety.ts';
import { SubscriptionLimit, type SubscriptionLimitSpec } from '../policy/subscription-limit.ts';
import { x } from '../xmpp/element.ts';
import { JidError, parseJID, type JID } from '../xmpp/jid.ts';
import { mucDomain } from '../modules/muc/index.ts';
import type { Config } from '../config/schema.ts';

// ---------------------------------------------------------------- shared helpers

export const CONFIG_OPTION = ['--config <file>', 'palisade.yaml (default: $PALISADE_CONFIG or ./palisade.yaml)'] as const;

/** Prints the message and ends the command with the exit code (main() returns a CommanderError's code as is). */
export function cliFail(code: number, message: string): never {
  process.stderr.write(message.endsWith('\n') ? message : `${message}\n`);
  throw new CommanderError(code, 'palisade.failed', message);
}

export function loadCliConfig(configOpt: string | undefined): LoadedConfig {
  const file = configOpt || process.env.PALISADE_CONFIG || (existsSync('palisade.yaml') ? 'palisade.yaml' : undefined);
  return loadConfig({ file });
}

export async function withStorage<T>(configOpt: string | undefined, fn: (storage: Storage, loaded: LoadedConfig) => Promise<T>): Promise<T> {
  const loaded = loadCliConfig(configOpt);
  mkdirSync(loaded.dataDir, { recursive: true, mode: 0o700 });
  const storage = await openStorage(resolveStorageConfig(loaded.config.storage, loaded.dataDir));
  try {
    return await fn(storage, loaded);
  } finally {
    await storage.close();
  }
}

/** Who runs the command, for the audit log: 'cli:<operating-system user>'. */
export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/** Appends an administrative action to the signed audit log. */
export async function auditCli(storage: Storage, loaded: LoadedConfig, action: string, reason: string, details: Record<string, unknown> = {}): Promise<void> {
  const log = new SignedAuditLog(storage, loadOrCreateAuditKey(loaded.dataDir), {
    dataDir: loaded.dataDir,
    checkpointEvery: loaded.config.policy.audit_checkpoint_every,
  });
  await log.append({ actor: cliActor(), action, decision: 'info', reason, details });
  await log.flush();
}

function policyErrorText(err: ConfigError): string {
  return `policy error:\n${err.message}\n`;
}

// ---------------------------------------------------------------- commands

export function registerPolicyCommands(program: Command): void {
  const policy = program.command('policy').description('check, reload and explain the organisation policy (docs/policy.md)');

  policy
    .command('check [file]')
    .description('validate a policy file (default: the one palisade.yaml names) without applying it')
    .option(...CONFIG_OPTION)
    .action(async (file: string | undefined, opts: { config?: string }) => {
      await withStorage(opts.config, async (storage, loaded) => {
        const path = file ?? policyPath(loaded);
        const dbGroups = await new GroupStore(storage.db).names();
        try {
          const p = loadPolicy(path, { dbGroups });
          const groups = Object.keys(p.doc.groups).length;
          process.stdout.write(
            `${p.source}: OK (${p.doc.rules.length} rules, ${groups} groups in the file, ${dbGroups.size} in the database, default ${p.doc.default.decision})\n`,
          );
        } catch (err) {
          if (err instanceof ConfigError) cliFail(2, policyErrorText(err));
          throw err;
        }
      });
    });

  policy
    .command('reload')
    .description('ask the running server to reload the policy file; an invalid file is refused and the old policy stays')
    .option(...CONFIG_OPTION)
    .option('--timeout <seconds>', 'how long to wait for the server to answer', '10')
    .action(async (opts: { config?: string; timeout: string }) => {
      const loaded = loadCliConfig(opts.config);
      const seconds = Number(opts.timeout);
      if (!Number.isFinite(seconds) || seconds <= 0) cliFail(1, 'palisade: --timeout takes a number of seconds');
      const id = writeReloadRequest(loaded.dataDir, 'policy', cliActor());
      const result = await waitForReloadResult(loaded.dataDir, id, seconds * 1000);
      if (!result) {
        cliFail(1, `palisade: no running server answered within ${seconds} s (is one running with data_dir ${loaded.dataDir}?); nothing was changed`);
      }
      if (!result.ok) cliFail(1, `palisade: ${result.message}\n${(result.errors ?? []).join('\n')}`);
      process.stdout.write(`${result.message}\n`);
    });

  policy
    .command('explain')
    .description('print which rule decides a request and why, without sending anything')
    .requiredOption('--from <jid>', 'who asks (an account; a bare localpart means one of this domain)')
    .option('--to <jid>', 'the peer (absent for login)')
    .option('--feature <feature>', 'chat, groupchat, presence, iq:<namespace>, voice, ... (default: chat for messages)')
    .option('--action <action>', 'login, bind, stanza.message, stanza.presence, stanza.iq, ... (default: stanza.message with --to, else login)')
    .option('--at <time>', 'ISO 8601 time to decide at (default: now)')
    .option('--ip <address>', 'the client address')
    .option('--relation <relation>', 'roster relation of the peer: contact or none (what the roster module would say)', 'unknown')
    .option('--e2ee <payload>', 'for a message with a body: none, omemo or openpgp', 'none')
    .option('--body <text>', "the message's body, for content rules (which detector matches) and link safety (links in it)")
    .option('--client <software>', `for --action ${CLIENT_CHECK}: the client's name, as its software version answer gives it`)
    .option('--client-version <version>', `for --action ${CLIENT_CHECK}: the client's version`)
    .option('--json', 'print the explanation as JSON')
    .option(...CONFIG_OPTION)
    .action(async (opts: ExplainOptions) => {
      await withStorage(opts.config, async (storage, loaded) => {
        let compiled;
        try {
          compiled = await compilePolicy(loaded, new GroupStore(storage.db));
        } catch (err) {
          if (err instanceof ConfigError) cliFail(2, policyErrorText(err));
          throw err;
        }
        const req = explainRequest(opts, loaded.config.domain, (jid) => compiled.groupsOf(jid), serviceDomains(loaded.config));
        const e = compiled.explain(req);
        const limit = subscriptionLimitNote(compiled.source.doc.subscription_limit, loaded.config.domain, req, e.verdict.decision);
        if (opts.json) {
          const json = { request: { ...req, time: req.time.toISOString() }, policy: compiled.source.source, ...e, ...(limit ? { subscription_limit: limit } : {}) };
          process.stdout.write(JSON.stringify(json, null, 2) + '\n');
          return;
        }
        const out: string[] = [];
        const r = req.resource;
        out.push(`request: ${req.action} from ${req.subject.jid} (groups: ${list(req.subject.groups)})${req.subject.ip ? ` ip ${req.subject.ip}` : ''}${clientText(req)}`);
        if (r) out.push(`         to ${r.jid} (scope ${r.scope}, relation ${r.relation}, groups: ${list(r.groups ?? [])})`);
        out.push(`         feature ${req.feature ?? '(none)'}${facts(req)} at ${req.time.toISOString()}`);
        out.push(`policy:  ${compiled.source.source} (${compiled.ruleCount} rules)`);
        for (const step of e.steps) {
          out.push(`  #${step.index + 1} ${step.rule}: ${step.matched ? 'MATCH' : 'no match'}`);
          for (const c of step.checks) out.push(`      ${c.ok ? 'yes' : 'NO '}  ${c.label}: ${c.observed}`);
          if (step.e2ee) out.push(`      ${step.e2ee}`);
          if (step.content) out.push(`      ${step.content}`);
        }
        const v = e.verdict;
        const by =
          v.rule === 'default'
            ? 'the default (no rule matched)'
            : v.details?.link_safety
              ? `link safety entry '${v.rule}' (after rule '${String(v.details.allowed_by)}' allowed the message)`
              : req.action === CLIENT_CHECK
                ? v.rule === 'clients:none'
                  ? 'the clients section (no entry names the account)'
                  : `client compliance entry '${v.rule}'`
                : `rule '${v.rule}'`;
        out.push(`decision: ${v.decision.toUpperCase()} by ${by}${v.decision === 'deny' ? ` — ${v.condition}: ${v.text}` : ''}`);
        for (const o of v.obligations ?? []) out.push(`  then: ${obligationText(o)}`);
        if (limit) out.push(`  then: ${limit}`);
        if (e.notReached > 0) out.push(`(${e.notReached} later rule${e.notReached === 1 ? '' : 's'} not evaluated: the first match wins)`);
        out.push("(rules of modules, such as a user's block list, are asked before these and are not shown)");
        process.stdout.write(out.join('\n') + '\n');
      });
    });

  policy
    .command('default')
    .description('print the built-in policy (in force when there is no policy file)')
    .action(() => {
      process.stdout.write(BUILTIN_POLICY);
    });
}

interface ExplainOptions {
  from: string;
  to?: string;
  feature?: string;
  action?: string;
  at?: string;
  ip?: string;
  relation: string;
  e2ee: string;
  body?: string;
  client?: string;
  clientVersion?: string;
  json?: boolean;
  config?: string;
}

/** Subdomains the configured modules serve (the group chat service), which the router treats as services. */
function serviceDomains(config: Config): Set<string> {
  const muc = config.modules.muc as { subdomain?: string | null } | null | undefined;
  return 'muc' in config.modules ? new Set([mucDomain(muc?.subdomain, config.domain)]) : new Set();
}

/** Builds the request the router would: scope, groups, facts. Exported for tests. */
export function explainRequest(
  opts: ExplainOptions,
  domain: string,
  groupsOf: (bare: string) => readonly string[],
  services: ReadonlySet<string> = new Set(),
): PolicyRequest {
  const from = cliJid(opts.from, domain, '--from');
  const to = opts.to === undefined ? undefined : cliJid(opts.to, domain, '--to');
  const action = opts.action ?? (to ? 'stanza.message' : 'login');
  let time = new Date();
  if (opts.at !== undefined) {
    time = new Date(opts.at);
    if (Number.isNaN(time.getTime())) cliFail(1, `palisade: --at ${opts.at} is not an ISO 8601 time (e.g. 2025-03-31T08:30:00+02:00)`);
  }
  if (!['contact', 'none', 'unknown'].includes(opts.relation)) cliFail(1, 'palisade: --relation takes contact or none');
  if (!['none', 'omemo', 'openpgp'].includes(opts.e2ee)) cliFail(1, 'palisade: --e2ee takes none, omemo or openpgp');
  let scope: PeerScope | undefined;
  if (to) {
    if (services.has(to.domain)) scope = 'service';
    else if (to.domain !== domain) scope = 'remote';
    else if (to.local === '') scope = 'host';
    else scope = to.bareString() === from.bareString() ? 'self' : 'local';
  }
  const feature =
    opts.feature ?? (action === 'stanza.message' ? 'chat' : action === 'stanza.presence' ? 'presence' : undefined);
  const req: PolicyRequest = {
    action,
    subject: {
      jid: from.bareString(),
      domain: from.domain,
      groups: groupsOf(from.bareString()),
      ip: opts.ip,
      ...(opts.client !== undefined || opts.clientVersion !== undefined ? { client: { software: opts.client, version: opts.clientVersion } } : {}),
    },
    resource: to ? { jid: to.toString(), scope, relation: opts.relation as 'contact' | 'none' | 'unknown', groups: groupsOf(to.bareString()) } : undefined,
    feature,
    facts: {},
    time,
  };
  if (feature && (NAMED_FEATURES as readonly string[]).includes(feature)) req.facts![featureFact(feature)] = true;
  if (action === 'stanza.message') {
    req.facts![FACT_BODY] = true;
    req.facts![FACT_E2EE] = opts.e2ee;
    if (opts.body !== undefined) {
      req.content = { parts: [{ part: 'body', text: opts.body }], truncated: opts.body.length > MAX_SCAN_CHARS };
      // The links in the body, as the classifier finds them in the message at run time.
      linkFacts(x('message', {}, x('body', {}, opts.body)), req.facts!);
    }
  }
  return req;
}

function cliJid(text: string, domain: string, option: string): JID {
  try {
    return parseJID(text.includes('@') || text.includes('.') ? text : `${text}@${domain}`);
  } catch (err) {
    if (err instanceof JidError) cliFail(1, `palisade: ${option} ${text}: ${err.reason}`);
    throw err;
  }
}

function obligationText(o: Obligation): string {
  if (o.kind === OBLIGATION_REDACT) {
    const parts = o.parts as { part: string; text: string }[];
    return `redact (${(o.rules as { rule: string; detectors: string[] }[]).map((r) => `${r.rule}: ${r.detectors.join(', ')}`).join('; ')}) → ${parts.map((p) => `${p.part}: ${JSON.stringify(p.text)}`).join(', ')}`;
  }
  if (o.kind === OBLIGATION_ALERT) return `alert (${String(o.rule)}: ${(o.detectors as string[]).join(', ')}), delivered unchanged`;
  if (o.kind === OBLIGATION_ARCHIVE) {
    const sides = (['sender', 'recipient'] as const).filter((k) => o[k] !== undefined).map((k) => `${k}: ${archiveSideText(o[k] as ArchiveSide)}`);
    return `archive (${sides.join('; ')})`;
  }
  if (o.kind === OBLIGATION_LINK_FLAG) {
    return `flag (link safety '${String(o.rule)}': ${(o.found as string[]).join(', ')}) → ${JSON.stringify(o.text)} in front of every body; the XHTML-IM copy is dropped`;
  }
  if (o.kind === OBLIGATION_CLIENT_WARN || o.kind === OBLIGATION_CLIENT_ALERT) {
    const c = o.client as { software: string | null; version: string | null; unknown?: boolean };
    const client = c.unknown ? 'client unknown' : `${c.software ?? '?'} ${c.version ?? '(no version)'}`;
    return o.kind === OBLIGATION_CLIENT_WARN
      ? `warn (${String(o.rule)}: ${client}): the session stays; the user gets the headline ${JSON.stringify(o.text)}`
      : `alert (${String(o.rule)}: ${client}): the session stays, the user is told nothing; an audit entry is written`;
  }
  if (o.kind === OBLIGATION_PROXY_ONLY) {
    return `through the proxy only: every streamhost or candidate but the SOCKS5 proxy of ${String(o.domain)} is removed, so no client address is revealed`;
  }
  return o.kind;
}

function archiveSideText(s: ArchiveSide): string {
  const how =
    s.mode === 'compliance'
      ? `compliance copy kept ${s.retention_days} days, whatever the user's preferences`
      : s.mode === 'none'
        ? 'nothing kept'
        : "as the user's archiving preferences say";
  return `${how} (${s.entry === 'implicit' ? 'no archiving entry names the account' : s.entry})`;
}

/**
 * The subscription limit counts requests per sender over the last hour in the
 * running server; explain has no such count, so it says which rate would apply.
 */
function subscriptionLimitNote(spec: SubscriptionLimitSpec, domain: string, req: PolicyRequest, decision: 'allow' | 'deny'): string | undefined {
  const limit = new SubscriptionLimit(spec, domain);
  if (decision !== 'allow' || limit.perHour === null || !limit.applies(req)) return undefined;
  return `subscription limit: a rate of at most ${limit.perHour} requests an hour to non-contacts per account; the running server counts them, so this one is refused only if ${req.subject.jid} already sent ${limit.perHour} in the last hour`;
}

function clientText(req: PolicyRequest): string {
  const c = req.subject.client;
  return c ? ` client ${c.software ?? '(no name)'} ${c.version ?? '(no version)'}` : '';
}

function list(items: readonly string[]): string {
  return items.length ? items.join(', ') : 'none';
}

function facts(req: PolicyRequest): string {
  const f = req.facts ?? {};
  const parts: string[] = [];
  if (f[FACT_BODY] === true) parts.push(`body, e2ee ${String(f[FACT_E2EE] ?? 'none')}`);
  const links = [FACT_HAS_LINK, FACT_HAS_FILE].filter((k) => f[k] === true);
  if (links.length) parts.push(links.join(', '));
  return parts.length ? ` (${parts.join('; ')})` : '';
}
