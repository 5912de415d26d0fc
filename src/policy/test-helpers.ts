// Shared by the policy tests: compile a policy from YAML text and build requests.
import { CompiledPolicy } from './compile.ts';
import { parsePolicy } from './load.ts';
import type { PeerScope, PolicyRequest } from './types.ts';

export const DOMAIN = 'example.org';

export function compileText(yaml: string, opts: { dbMembers?: Map<string, string[]>; dbGroups?: Set<string> } = {}): CompiledPolicy {
  const parsed = parsePolicy(yaml, 'policy.yaml', { dbGroups: opts.dbGroups });
  return new CompiledPolicy({ ...parsed, source: 'policy.yaml', builtin: false }, { domain: DOMAIN, dbMembers: opts.dbMembers });
}

export interface RequestSpec {
  action?: string;
  from?: string;
  to?: string;
  feature?: string;
  relation?: 'contact' | 'none' | 'unknown';
  ip?: string;
  at?: string | Date;
  facts?: Record<string, boolean | string>;
}

/** A request as the router builds it, with groups filled from the policy (as the classifier does). */
export function request(policy: CompiledPolicy, spec: RequestSpec = {}): PolicyRequest {
  const from = spec.from ?? `alice@${DOMAIN}`;
  const to = spec.to;
  const fromDomain = from.slice(from.indexOf('@') + 1);
  let scope: PeerScope | undefined;
  if (to !== undefined) {
    const bareTo = to.split('/')[0]!;
    const toDomain = bareTo.slice(bareTo.indexOf('@') + 1);
    // Like the router with the group chat service on its default subdomain.
    if (toDomain === `conference.${DOMAIN}`) scope = 'service';
    else if (toDomain !== DOMAIN) scope = 'remote';
    else if (!bareTo.includes('@')) scope = 'host';
    else scope = bareTo === from ? 'self' : 'local';
  }
  return {
    action: spec.action ?? 'stanza.message',
    subject: { jid: from, domain: fromDomain, groups: policy.groupsOf(from), ip: spec.ip ?? '192.0.2.10' },
    resource: to === undefined ? undefined : { jid: to, scope, relation: spec.relation ?? 'unknown', groups: policy.groupsOf(to.split('/')[0]) },
    feature: spec.feature ?? (spec.action === undefined || spec.action === 'stanza.message' ? 'chat' : undefined),
    facts: spec.facts ?? {},
    time: spec.at === undefined ? new Date('2025-06-04T10:00:00Z') : new Date(spec.at),
  };
}
