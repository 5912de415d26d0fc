// The single policy decision point. Every routed stanza, login and bind passes
// through decide(); a throw or a timeout means deny (fail closed), and every
// deny is written to the audit log.
import type { Logger } from 'pino';
import type { PolicyRequest, PolicyRules, Verdict } from './types.ts';

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

  /** Swaps the rule set atomically (policy reload). */
  setRules(rules: PolicyRules): void {
    this.rules = rules;
  }

  async decide(req: PolicyRequest): Promise<Verdict> {
    let verdict: Verdict;
    try {
      const result = this.rules.evaluate(req);
      verdict = result instanceof Promise ? await withTimeout(result, DECISION_TIMEOUT_MS) : result;
    } catch (err) {
      this.log.error({ err, action: req.action }, 'policy evaluation failed; denying');
      verdict = {
        decision: 'deny',
        rule: 'fail-closed',
        condition: 'internal-server-error',
        text: 'The policy could not be evaluated; the request was refused.',
      };
    }
    if (verdict.decision === 'deny') this.recordDeny(req, verdict);
    return verdict;
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
        },
      })
      .catch((err: unknown) => this.log.error({ err }, 'audit append failed'));
  }
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
