// The policy as the server runs it: the compiled policy file (or the built-in
// policy) with the group memberships of the database, behind the one
// DecisionPoint; the signed audit log; reloads (SIGHUP, `palisade policy
// reload`, `palisade group …`) that swap the compiled policy atomically or
// refuse an invalid one and keep the old; and the classifier that tells the
// rules who is asking.
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { Router } from '../core/router.ts';
import type { Storage } from '../storage/types.ts';
import { SignedAuditLog, loadOrCreateAuditKey } from './audit-log.ts';
import { policyClassifier } from './classify.ts';
import { CompiledPolicy } from './compile.ts';
import { DecisionPoint } from './decision-point.ts';
import { GroupStore } from './groups.ts';
import { loadPolicy, policyPath } from './load.ts';
import { takeReloadRequests, writeReloadResult, type ReloadKind, type ReloadResult } from './reload-request.ts';
import type { SessionSecurity } from './types.ts';

export interface PolicyEngineOptions {
  loaded: LoadedConfig;
  storage: Storage;
  log: Logger;
  /** The policy clock (time windows); tests inject one. */
  clock?: () => Date;
}

export interface ReloadOutcome {
  ok: boolean;
  message: string;
  errors?: string[];
}

export class PolicyEngine {
  readonly decisionPoint: DecisionPoint;
  readonly audit: SignedAuditLog;
  readonly groups: GroupStore;
  /** The policy clock; replaceable (tests move it across a DST change). */
  clock: () => Date;
  private compiled: CompiledPolicy;
  private readonly opts: PolicyEngineOptions;
  private readonly log: Logger;
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(opts: PolicyEngineOptions, compiled: CompiledPolicy, audit: SignedAuditLog, groups: GroupStore) {
    this.opts = opts;
    this.log = opts.log;
    this.clock = opts.clock ?? (() => new Date());
    this.compiled = compiled;
    this.audit = audit;
    this.groups = groups;
    this.decisionPoint = new DecisionPoint(compiled, audit, opts.log);
  }

  /** Loads the policy (a ConfigError stops start-up, as a bad palisade.yaml does) and starts watching for reload requests. */
  static async open(opts: PolicyEngineOptions): Promise<PolicyEngine> {
    const { loaded, storage } = opts;
    const groups = new GroupStore(storage.db);
    const compiled = await compilePolicy(loaded, groups);
    const audit = new SignedAuditLog(storage, loadOrCreateAuditKey(loaded.dataDir), {
      dataDir: loaded.dataDir,
      checkpointEvery: loaded.config.policy.audit_checkpoint_every,
      log: opts.log,
      syslog: loaded.config.policy.audit_syslog,
      baseDir: loaded.baseDir,
    });
    const engine = new PolicyEngine(opts, compiled, audit, groups);
    // Requests written while no server ran are answered at once (they reload what was just loaded).
    engine.timer = setInterval(() => void engine.poll(), loaded.config.policy.reload_poll_ms);
    engine.timer.unref();
    opts.log.info({ policy: compiled.source.source, rules: compiled.ruleCount }, 'policy loaded');
    return engine;
  }

  get policy(): CompiledPolicy {
    return this.compiled;
  }

  now(): Date {
    return this.clock();
  }

  groupsOf(bareJid: string | undefined): readonly string[] {
    return this.compiled.groupsOf(bareJid);
  }

  /** Registers the classifier that fills in groups, time and payload facts; returns its remover. */
  attach(router: Router): () => void {
    return router.addClassifier(policyClassifier(() => this));
  }

  /**
   * Re-reads the policy file and the groups; the new policy replaces the old
   * one atomically. An invalid file is refused: the old policy stays, and the
   * refusal is logged and audited.
   */
  reload(by: string): Promise<ReloadOutcome> {
    return this.serialise(() => this.doReload('policy', by));
  }

  /** Re-reads only the group memberships of the database (after `palisade group …`). */
  reloadGroups(by: string): Promise<ReloadOutcome> {
    return this.serialise(() => this.doReload('groups', by));
  }

  private serialise<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async doReload(kind: ReloadKind, by: string): Promise<ReloadOutcome> {
    const path = policyPath(this.opts.loaded);
    const file = kind === 'policy' ? path ?? 'built-in' : this.compiled.source.source;
    let next: CompiledPolicy;
    try {
      if (kind === 'policy' && path === undefined && !this.compiled.source.builtin) {
        // policy.yaml next to palisade.yaml has gone: falling back to the (permissive) built-in policy is for a restart to decide.
        throw new ConfigError(this.compiled.source.source, [
          { path: '', message: 'file not found', hint: 'restore it; to run with the built-in policy instead, restart the server' },
        ]);
      }
      next = kind === 'policy' ? await compilePolicy(this.opts.loaded, this.groups) : await recompile(this.compiled, this.opts.loaded, this.groups);
    } catch (err) {
      if (!(err instanceof ConfigError)) {
        this.log.error({ err, by }, 'policy reload failed; the previous policy stays in force');
        return { ok: false, message: `reload failed: ${(err as Error).message}; the previous policy stays in force` };
      }
      const errors = err.message.split('\n');
      this.log.error({ by, file, errors }, 'invalid policy refused; the previous policy stays in force');
      await this.audit
        .append({ actor: by, action: `policy.reload`, decision: 'deny', reason: 'invalid policy refused; the previous policy stays in force', details: { file, errors: errors.slice(0, 50) } })
        .catch((e: unknown) => this.log.error({ err: e }, 'audit append failed'));
      return { ok: false, message: `${file}: invalid policy refused; the previous policy stays in force`, errors };
    }
    const previous = this.compiled;
    this.compiled = next;
    this.decisionPoint.setRules(next);
    const changed = previous.source.sha256 !== next.source.sha256;
    const message =
      kind === 'policy'
        ? `${next.source.source}: ${next.ruleCount} rules in force${changed ? '' : ' (unchanged)'}`
        : `group memberships reloaded (${next.source.source}, ${next.ruleCount} rules)`;
    this.log.info({ by, file: next.source.source, rules: next.ruleCount, kind }, kind === 'policy' ? 'policy reloaded' : 'groups reloaded');
    await this.audit
      .append({
        actor: by,
        action: kind === 'policy' ? 'policy.reload' : 'groups.reload',
        decision: 'info',
        reason: message,
        details: { file: next.source.source, sha256: next.source.sha256, rules: next.ruleCount, previous_sha256: previous.source.sha256 },
      })
      .catch((e: unknown) => this.log.error({ err: e }, 'audit append failed'));
    return { ok: true, message };
  }

  /** Answers the reload requests of the CLI (data_dir/control). */
  async poll(): Promise<void> {
    if (this.closed) return;
    let requests;
    try {
      requests = takeReloadRequests(this.opts.loaded.dataDir);
    } catch (err) {
      this.log.warn({ err }, 'could not read reload requests');
      return;
    }
    for (const r of requests) {
      if (this.closed) return;
      const outcome: ReloadResult = { id: r.id, at: '', ...(await (r.kind === 'policy' ? this.reload(r.by) : this.reloadGroups(r.by))) };
      outcome.at = new Date().toISOString();
      try {
        writeReloadResult(this.opts.loaded.dataDir, outcome);
      } catch (err) {
        this.log.warn({ err }, 'could not answer a reload request');
      }
    }
  }

  /** A login that passed the password check and the policy. */
  /** `via` names a way in other than an XMPP stream (e.g. 'http-download'). */
  loginSucceeded(jid: string, ip: string, security: SessionSecurity | undefined, via?: string): void {
    this.append({ actor: jid, action: 'login', decision: 'allow', reason: 'login succeeded', details: { ip, tls: security?.tlsVersion ?? null, ...(via && { via }) } });
  }

  /** A failed password check (the account is named only if it exists; guessed names are not kept). */
  loginFailed(jid: string | undefined, ip: string, reason: string, via?: string): void {
    this.append({ actor: jid ?? `ip:${ip}`, action: 'login', decision: 'deny', reason, details: { ip, ...(via && { via }) } });
  }

  private append(e: Parameters<SignedAuditLog['append']>[0]): void {
    this.audit.append(e).catch((err: unknown) => this.log.error({ err }, 'audit append failed'));
  }

  /** Stops answering reload requests and writes the audit log's pending seal (again at each call: entries may follow). */
  close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return this.audit.close();
  }
}

/** Reads the policy file and the groups of the database, and compiles them. Throws ConfigError. */
export async function compilePolicy(loaded: LoadedConfig, groups: GroupStore): Promise<CompiledPolicy> {
  const dbGroups = await groups.names();
  const policy = loadPolicy(policyPath(loaded), { dbGroups });
  return new CompiledPolicy(policy, { domain: loaded.config.domain, dbMembers: await groups.memberships() });
}

/** The same policy with fresh group memberships (`palisade group remove` refuses to remove a group the policy names). */
async function recompile(current: CompiledPolicy, loaded: LoadedConfig, groups: GroupStore): Promise<CompiledPolicy> {
  return new CompiledPolicy(current.source, { domain: loaded.config.domain, dbMembers: await groups.memberships() });
}
