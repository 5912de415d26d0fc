// The policy file (policy.yaml): its vocabulary and its zod schema. Validated
// like palisade.yaml (unknown key, wrong type or value → the path and a hint);
// the cross-references (group and window names, duplicate rule names) are
// checked afterwards in load.ts, where the groups of the database are known.
import { isIP } from 'node:net';
import { z } from 'zod';
import { domain } from '../config/schema/domain.ts';
import { closest } from '../config/suggest.ts';
import { STANZA_ERROR_TYPES } from '../xmpp/errors.ts';
import { tryParseJID } from '../xmpp/jid.ts';
import { BUILTIN_DETECTORS, CUSTOM_FLAGS, regexProblem } from './detectors.ts';
import { parseCidr } from './ip.ts';
import { linkSafetyEntry } from './link-safety.ts';
import { subscriptionLimitSchema } from './subscription-limit.ts';
import { clientsSchema } from './clients.ts';
import { DAYS, isTimeZone, type Day } from './time.ts';

/** Actions the core asks about; modules add theirs (ModuleDefinition.actions). */
export const CORE_ACTIONS = ['login', 'bind', 'stanza.message', 'stanza.presence', 'stanza.iq'] as const;

/** What the router derives from a stanza (router.ts featureOf); a name covers its ':' sub-features. */
export const STANZA_FEATURES = ['chat', 'normal', 'groupchat', 'headline', 'error', 'presence', 'iq'] as const;

/** Presence types after 'presence:'. */
export const PRESENCE_TYPES = ['unavailable', 'subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'probe', 'error'] as const;

/**
 * Named features of the issue. Some are recognised by the policy classifier
 * today (classify.ts); the others are accepted in rules now and produced by
 * the modules that bring them (a module sets the fact `feature:<name>`).
 */
export const NAMED_FEATURES = [
  'file-transfer',
  'p2p-file-transfer',
  'voice',
  'video',
  'screen-sharing',
  'remote-control',
  'whiteboard',
  'invitations',
  'external-contacts',
  'presence-visibility',
] as const;

export const PEER_KINDS = ['anyone', 'self', 'server', 'services', 'same-domain', 'external', 'contacts', 'contacts-only', 'non-contacts'] as const;
export type PeerKind = (typeof PEER_KINDS)[number];

export { DAYS, type Day };

export const E2EE_MODES = ['required', 'forbidden', 'allowed'] as const;
export const DECISIONS = ['allow', 'deny'] as const;
export const CONTENT_ACTIONS = ['block', 'redact', 'alert'] as const;
export const CONDITIONS = Object.keys(STANZA_ERROR_TYPES) as [keyof typeof STANZA_ERROR_TYPES, ...(keyof typeof STANZA_ERROR_TYPES)[]];

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const RULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const ACTION = /^(\*|[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*(\.\*)?)$/;
const HOURS = /^(\d\d):(\d\d)-(\d\d):(\d\d)$/;

export const groupName = () =>
  z.string().regex(NAME, { error: 'group names are 1 to 64 lowercase letters, digits, - or _, starting with a letter or digit' });

export const windowName = () =>
  z.string().regex(NAME, { error: 'time window names are 1 to 64 lowercase letters, digits, - or _, starting with a letter or digit' });

/** A bare JID (user@domain), prepared; the compiler compares prepared forms. */
export const bareJid = () =>
  z.string().superRefine((s, ctx) => {
    const j = tryParseJID(s);
    if (!j || !j.local || j.resource) {
      ctx.addIssue({ code: 'custom', message: 'must be a bare address user@domain', params: { hint: 'e.g. alice@example.org' } });
    }
  });

/** A glob over bare JIDs: * for any run of characters, ? for one. */
const jidPattern = () =>
  z
    .string()
    .min(1)
    .max(1023)
    .superRefine((s, ctx) => {
      if (!s.includes('*') && !s.includes('?')) {
        ctx.addIssue({ code: 'custom', message: 'a pattern needs * or ?', params: { hint: 'list exact addresses under members' } });
      }
    });

const cidr = () =>
  z.string().superRefine((s, ctx) => {
    if (parseCidr(s) === undefined) {
      const bare = isIP(s) !== 0;
      ctx.addIssue({
        code: 'custom',
        message: 'must be an IPv4 or IPv6 address range in CIDR notation',
        params: { hint: bare ? `for the one address, write ${s}/${isIP(s) === 4 ? 32 : 128}` : 'e.g. 10.0.0.0/8 or 2001:db8::/32' },
      });
    }
  });

export const timeZone = () =>
  z.string().superRefine((s, ctx) => {
    if (!isTimeZone(s)) ctx.addIssue({ code: 'custom', message: 'is not an IANA time zone', params: { hint: suggestZone(s) } });
  });

function suggestZone(s: string): string {
  const near = closest(s, [...Intl.supportedValuesOf('timeZone'), 'UTC']);
  return near ? `did you mean '${near}'?` : 'e.g. Europe/Berlin, America/New_York, UTC';
}

const hoursRange = () =>
  z.string().superRefine((s, ctx) => {
    const m = HOURS.exec(s);
    const ok = m && Number(m[1]) <= 24 && Number(m[2]) <= 59 && Number(m[3]) <= 24 && Number(m[4]) <= 59;
    const start = m ? Number(m[1]) * 60 + Number(m[2]) : 0;
    const end = m ? Number(m[3]) * 60 + Number(m[4]) : 0;
    if (!ok || start > 1440 || end > 1440 || start === 1440) {
      ctx.addIssue({ code: 'custom', message: "must be a range of wall-clock times 'HH:MM-HH:MM'", params: { hint: "e.g. '08:00-18:00', or '22:00-06:00' across midnight" } });
    } else if (start === end) {
      ctx.addIssue({ code: 'custom', message: 'start and end are the same time', params: { hint: "for the whole day write '00:00-24:00'" } });
    }
  });

const oneOrMany = <T extends z.ZodType>(item: T) => z.union([item, z.array(item).min(1)]);

const actionPattern = () =>
  z.string().regex(ACTION, { error: "an action is a dotted name (login, stanza.message), a prefix ending in '.*' (stanza.*), or '*'" });

const feature = () =>
  z.string().superRefine((s, ctx) => {
    if (featureProblem(s)) ctx.addIssue({ code: 'custom', message: featureProblem(s)!, params: { hint: featureHint(s) } });
  });

export function featureProblem(s: string): string | undefined {
  if ((STANZA_FEATURES as readonly string[]).includes(s) || (NAMED_FEATURES as readonly string[]).includes(s)) return undefined;
  if (s.startsWith('presence:')) {
    return (PRESENCE_TYPES as readonly string[]).includes(s.slice(9)) ? undefined : `'${s.slice(9)}' is not a presence type`;
  }
  if (s.startsWith('iq:')) return s.length > 3 && !/\s/.test(s) ? undefined : "'iq:' must be followed by the payload's namespace";
  return 'is not a known feature';
}

function featureHint(s: string): string {
  if (s.startsWith('presence:')) return `presence types: ${PRESENCE_TYPES.join(', ')}`;
  if (s.startsWith('iq:')) return 'e.g. iq:urn:xmpp:ping';
  return `features: ${[...STANZA_FEATURES, ...NAMED_FEATURES].join(', ')}, presence:<type>, iq:<namespace>`;
}

const window = z.strictObject({
  zone: timeZone().optional().describe('IANA time zone of the wall-clock times; default: time_zone at the top of the file'),
  days: z
    .array(z.enum(DAYS))
    .min(1)
    .superRefine((list, ctx) => {
      list.forEach((d, i) => {
        if (list.indexOf(d) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `'${d}' is listed twice` });
      });
    })
    .default([...DAYS])
    .describe('days of the week the window is open on (mon..sun)'),
  hours: oneOrMany(hoursRange()).default('00:00-24:00').describe("wall-clock ranges 'HH:MM-HH:MM', start included, end excluded"),
});

const windowRef = () => z.union([windowName(), window]);

const subject = z.strictObject({
  users: z.array(bareJid()).min(1).optional(),
  groups: z.array(groupName()).min(1).optional(),
  domains: z.array(domain()).min(1).optional(),
  ip: z.array(cidr()).min(1).optional(),
  authenticated: z.boolean().optional(),
  local: z.boolean().optional(),
});

const peerObject = z
  .strictObject({
    users: z.array(bareJid()).min(1).optional(),
    groups: z.array(groupName()).min(1).optional(),
    domains: z.array(domain()).min(1).optional(),
  })
  .superRefine((p, ctx) => {
    if (!p.users && !p.groups && !p.domains) ctx.addIssue({ code: 'custom', message: 'names no one', params: { hint: 'give users, groups or domains' } });
  });

const peer = () => z.union([z.enum(PEER_KINDS), peerObject]);

export const detectorName = () =>
  z.string().regex(NAME, { error: 'detector names are 1 to 64 lowercase letters, digits, - or _, starting with a letter or digit' });

// A custom detector: the pattern is refused here when it could backtrack catastrophically (detectors.ts).
const detector = z
  .strictObject({
    description: z.string().max(1000).optional(),
    regex: z.string().min(1),
    flags: z.string().regex(CUSTOM_FLAGS, { error: "flags are any of i (ignore case), m (multi-line), s (dot matches newlines)" }).optional(),
    replacement: z.string().min(1).max(200).optional().describe('what replaces a match when a rule redacts; default [redacted NAME]'),
  })
  .superRefine((d, ctx) => {
    const problem = regexProblem(d.regex, d.flags);
    if (problem) {
      ctx.addIssue({
        code: 'custom',
        path: ['regex'],
        message: problem,
        params: { hint: 'write the repetition out or use a character class, e.g. [0-9 -]{13,19} instead of (\\d+[ -]?)+' },
      });
    }
  });

const content = z.strictObject({
  detectors: z.array(detectorName()).min(1).describe(`built-in (${BUILTIN_DETECTORS.map((d) => d.name).join(', ')}) or defined under detectors:`),
  action: z.enum(CONTENT_ACTIONS),
});

const rule = z.strictObject({
  name: z.string().regex(RULE_NAME, { error: 'rule names are 1 to 100 letters, digits, -, _ or ., starting with a letter or digit' }),
  description: z.string().max(1000).optional(),
  subject: subject.optional(),
  action: oneOrMany(actionPattern()).optional(),
  peer: z.union([peer(), z.array(peer()).min(1)]).optional(),
  feature: oneOrMany(feature()).optional(),
  during: windowRef().optional(),
  outside: windowRef().optional(),
  e2ee: z.enum(E2EE_MODES).optional(),
  content: content.optional(),
  /** Required, except on a content rule, whose action decides (load.ts checks). */
  decision: z.enum(DECISIONS).optional(),
  condition: z.enum(CONDITIONS).optional(),
  text: z.string().min(1).max(1000).optional(),
});

const group = z.strictObject({
  description: z.string().max(1000).optional(),
  members: z.array(bareJid()).default([]),
  domains: z.array(domain()).default([]),
  patterns: z.array(jidPattern()).default([]),
});

export const ARCHIVING_MODES = ['compliance', 'user', 'none'] as const;
export const MAX_ARCHIVING_RETENTION_DAYS = 36_500;

// One entry of the archiving section (docs/policy.md "Archiving"): who (users,
// groups, domains; all given must hold; none given: everyone) and how their
// messages are archived. src/policy/archiving.ts compiles the list.
const archivingEntry = z
  .strictObject({
    description: z.string().max(1000).optional(),
    users: z.array(bareJid()).min(1).optional(),
    groups: z.array(groupName()).min(1).optional(),
    domains: z.array(domain()).min(1).optional(),
    mode: z.enum(ARCHIVING_MODES),
    retention_days: z.int().min(1).max(MAX_ARCHIVING_RETENTION_DAYS).optional().describe('days the compliance copy is kept (mode compliance only), 1..36500'),
  })
  .superRefine((a, ctx) => {
    if (a.mode === 'compliance' && a.retention_days === undefined) {
      ctx.addIssue({ code: 'custom', path: ['retention_days'], message: 'is required with mode compliance', params: { hint: 'how many days the organisation keeps each message, e.g. 3650' } });
    }
    if (a.mode !== 'compliance' && a.retention_days !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['retention_days'], message: `applies to mode compliance only`, params: { hint: "mode user keeps the archive's own retention (mam retention_days in palisade.yaml)" } });
    }
  });

const archiving = z
  .array(archivingEntry)
  .superRefine((list, ctx) => {
    const all = list.findIndex((a) => !a.users && !a.groups && !a.domains);
    if (all >= 0 && all < list.length - 1) {
      ctx.addIssue({ code: 'custom', path: [all + 1], message: `can never apply: archiving[${all}] before it names everyone`, params: { hint: 'move the entry without users, groups or domains to the end' } });
    }
  })
  .default([]);

export const PolicyFileSchema = z.strictObject({
  version: z.literal(1).default(1),
  time_zone: timeZone().default('UTC'),
  groups: z.record(groupName(), group).default({}),
  time_windows: z.record(windowName(), window).default({}),
  detectors: z.record(detectorName(), detector).default({}),
  rules: z.array(rule).default([]),
  link_safety: z.array(linkSafetyEntry).default([]).describe('what happens to allowed messages with links or files, by sender (link-safety.ts)'),
  subscription_limit: subscriptionLimitSchema,
  archiving,
  clients: clientsSchema,
  default: z
    .strictObject({
      decision: z.enum(DECISIONS).default('deny'),
      condition: z.enum(CONDITIONS).optional(),
      text: z.string().min(1).max(1000).optional(),
    })
    .prefault({}),
});

export type PolicyFile = z.output<typeof PolicyFileSchema>;
export type PolicyRuleSpec = PolicyFile['rules'][number];
export type WindowSpec = z.output<typeof window>;
export type WindowRef = string | WindowSpec;
export type PeerSpec = PeerKind | { users?: string[]; groups?: string[]; domains?: string[] };
export type GroupSpec = PolicyFile['groups'][string];
export type DetectorSpec = PolicyFile['detectors'][string];
export type ContentSpec = NonNullable<PolicyRuleSpec['content']>;
export type ArchivingSpec = PolicyFile['archiving'][number];
