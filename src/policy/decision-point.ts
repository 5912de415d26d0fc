// The single policy decision point. Every routed stanza, login and bind passes
// through decide(); a throw or a timeout means deny (fail closed), and every
// deny is written to the audit log, as is every content rule's redaction or
// alert on an allowed message (never the content itself).
import type { Logger } from 'pino';
import { OBLIGATION_ALERT, OBLIGATION_REDACT } from './compile.ts';
import type { ModuleRule, PolicyRequest, PolicyRules, Verdict } from './types.ts';

export interface AuditSink {
  append(e: { actor: string; action: string; decision: 'allow' | 'deny' | 'info'; reason: string; details?: Record<string, unknown> }): Promise<unknown>;
}

/** The default rule set of this release: everything allowed, explicitly. */
export const allowAll: PolicyRules = {
  name: 'allow-all',
  evaluate: () => ({ decision: 'allow', rule: 'default-allow' }),
};

const DECISION_TIMEOUT_MS = 2000;

export class DecisionPoint {
  private rules: PolicyRules;
  private readonly audit: AuditSink;
  private readonly log: Logger;

  constructor(rules: PolicyRules, audit: AuditSink, log: Logger) {
    this.rules = rules;
    this.audit = audit;
    this.log = log;
  }

  private readonly moduleRules: ModuleRule[] = [];

  /** Adds a module's rule (asked before the organisation's rules); returns its remover. */
  addModuleRule(rule: ModuleRule): () => void {
    this.moduleRules.push(rule);
    return () => {
      const i = this.moduleRules.indexOf(rule);
      if (i >= 0) this.moduleRules.splice(i, 1);
    };
  }

  /** Swaps the rule set atomically (policy reload). */
  setRules(rules: PolicyRules): void {
    this.rules = rules;
  }

  async decide(req: PolicyRequest): Promise<Verdict> {
    let verdict: Verdict;
    try {
      verdict = (await this.evaluateModuleRules(req)) ?? (await settle(this.rules.evaluate(req)));
    } catch (err) {
      this.log.error({ err, action: req.action }, 'policy evaluation failed; denying');
      verdict = {
        decision: 'deny',
        rule: 'fail-closed',
        condition: 'internal-server-error',
        text: 'The policy could not be evaluated; the request was refused.',
      };
    }
    if (verdict.decision === 'deny' && verdict.audit !== false) this.recordDeny(req, verdict);
    if (verdict.decision === 'allow' && verdict.obligations) this.recordContent(req, verdict);
    return verdict;
  }

  private async evaluateModuleRules(req: PolicyRequest): Promise<Verdict | undefined> {
    for (const rule of this.moduleRules) {
      const v = await settle(rule.evaluate(req));
      if (v) return v;
    }
    return undefined;
  }

  private recordDeny(req: PolicyRequest, verdict: Verdict): void {
    // The audit write is not awaited on the stanza path: the refusal stands
    // whether or not it is recorded, and a failing audit store is logged loudly.
    this.audit
      .append({
        actor: req.subject.jid ?? `ip:${req.subject.ip ?? 'unknown'}`,
        action: req.action,
        decision: 'deny',
        reason: verdict.text ?? verdict.rule,
        details: {
          rule: verdict.rule,
          condition: verdict.condition,
          target: req.resource?.jid,
          feature: req.feature,
          ...verdict.details,
        },
      })
      .catch((err: unknown) => this.log.error({ err }, 'audit append failed'));
  }

  /** Redactions and alerts of content rules: which rule and detectors, where to; not what was found. */
  private recordContent(req: PolicyRequest, verdict: Verdict): void {
    const actor = req.subject.jid ?? `ip:${req.subject.ip ?? 'unknown'}`;
    const base = { target: req.resource?.jid, feature: req.feature, decided_by: verdict.rule };
    for (const o of verdict.obligations!) {
      let entry: Parameters<AuditSink['append']>[0];
      if (o.kind === OBLIGATION_REDACT) {
        const rules = o.rules as { rule: string; detectors: string[] }[];
        const detectors = [...new Set(rules.flatMap((r) => r.detectors))];
        entry = {
          actor,
          action: req.action,
          decision: 'allow',
          reason: `content redacted (${detectors.join(', ')}) before delivery`,
          details: { ...base, content_action: 'redact', severity: 'notice', rules: rules.map((r) => r.rule), detectors },
        };
      } else if (o.kind === OBLIGATION_ALERT) {
        const detectors = o.detectors as string[];
        this.log.warn({ actor, rule: o.rule, detectors, target: req.resource?.jid }, 'content rule alert: message delivered');
        entry = {
          actor,
          action: req.action,
          decision: 'allow',
          reason: `content alert (${detectors.join(', ')}); delivered unchanged`,
          details: { ...base, content_action: 'alert', severity: 'alert', rule: o.rule, detectors, ...(o.unchecked ? { unchecked: o.unchecked } : {}) },
        };
      } else continue;
      this.audit.append(entry).catch((err: unknown) => this.log.error({ err }, 'audit append failed'));
    }
  }
}

function settle<T>(result: T | Promise<T>): T | Promise<T> {
  return result instanceof Promise ? withTimeout(result, DECISION_TIMEOUT_MS) : result;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`policy decision timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
