// Subscription requests to non-contacts, rate-limited per sender (docs/policy.md
// "Subscription requests"): after the rules allowed a presence subscription
// request from a local account to someone who is not a mutual contact, the
// decision point counts it; past `per_hour` in the last hour the request is
// refused with resource-constraint. Counts live in memory, per server process.
import { z } from 'zod';
import type { PolicyRequest, Verdict } from './types.ts';

export const subscriptionLimitSchema = z
  .strictObject({
    per_hour: z
      .int()
      .min(1)
      .max(100_000)
      .nullable()
      .default(30)
      .describe('subscription requests one account may send to non-contacts in any hour, 1..100000; null = no limit'),
    text: z.string().min(1).max(1000).optional().describe('the reply to a refused request'),
  })
  .prefault({});

export type SubscriptionLimitSpec = z.output<typeof subscriptionLimitSchema>;

const HOUR_MS = 3_600_000;
/** Senders tracked at once; beyond, the least recently active are forgotten (a flood of accounts cannot grow memory). */
const MAX_SENDERS = 100_000;
export const SUBSCRIPTION_LIMIT_RULE = 'subscription-limit';

export class SubscriptionLimit {
  readonly perHour: number | null;
  private readonly text: string;
  /** Sender → times of its counted requests in the last hour, oldest first (at most perHour). */
  private readonly sent = new Map<string, number[]>();
  private readonly serverDomain: string;

  constructor(spec: SubscriptionLimitSpec, serverDomain: string) {
    this.perHour = spec.per_hour;
    this.serverDomain = serverDomain;
    this.text =
      spec.text ??
      `Too many subscription requests to people who are not your contacts: at most ${spec.per_hour} an hour. Try again later.`;
  }

  /** Counts an allowed request to a non-contact, or refuses it when the sender has used up the hour. */
  apply(verdict: Verdict, req: PolicyRequest): Verdict {
    if (this.perHour === null || verdict.decision !== 'allow' || !this.applies(req)) return verdict;
    const sender = req.subject.jid!;
    const now = req.time.getTime();
    let times = this.sent.get(sender);
    if (times) {
      this.sent.delete(sender); // re-inserted below: the map stays ordered by last activity
      while (times.length > 0 && times[0]! <= now - HOUR_MS) times.shift();
    } else times = [];
    if (times.length >= this.perHour) {
      this.sent.set(sender, times);
      const retry = new Date(times[0]! + HOUR_MS).toISOString();
      return {
        decision: 'deny',
        rule: SUBSCRIPTION_LIMIT_RULE,
        condition: 'resource-constraint',
        text: this.text,
        details: { per_hour: this.perHour, allowed_by: verdict.rule, retry_after: retry },
      };
    }
    times.push(now);
    if (this.sent.size >= MAX_SENDERS) this.sent.delete(this.sent.keys().next().value!);
    this.sent.set(sender, times);
    return verdict;
  }

  /** Whether the limit counts this request (also asked by `policy explain`, which has no counts). */
  applies(req: PolicyRequest): boolean {
    if (req.action !== 'stanza.presence' || req.feature !== 'presence:subscribe') return false;
    const jid = req.subject.jid;
    if (jid === undefined || req.subject.domain !== this.serverDomain) return false;
    const scope = req.resource?.scope;
    return (scope === 'local' || scope === 'remote') && req.resource!.relation !== 'contact';
  }
}
