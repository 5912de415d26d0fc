import { z } from 'zod';

/** The modules a fresh configuration loads, with the comment the template gives each. */
export const DEFAULT_MODULES: Readonly<Record<string, string>> = {
  disco: 'service discovery (XEP-0030)',
  ping: 'XMPP ping (XEP-0199)',
  version: 'software version (XEP-0092)',
  roster: 'contact lists and subscriptions (RFC 6121)',
  presence: 'availability and presence broadcast (RFC 6121)',
  message: 'one-to-one messages (RFC 6121)',
  offline: 'messages stored for offline accounts (XEP-0160)',
  vcard: 'vCards and avatar hashes (XEP-0054, XEP-0153)',
  private: 'private XML storage (XEP-0049)',
  blocking: 'block lists (XEP-0191)',
  'last-activity': 'last activity of offline contacts (XEP-0012)',
  mam: 'message archive and history (XEP-0313, XEP-0359)',
  carbons: 'copies of messages to all of your clients (XEP-0280)',
  smacks: 'stream management: acks and resumption (XEP-0198)',
  csi: 'client state indication: quieter traffic to idle phones (XEP-0352)',
  pep: 'personal eventing: OMEMO keys, avatars, bookmarks (XEP-0163)',
  bookmarks: 'group chat bookmarks, XEP-0402 kept in step with XEP-0048',
  'avatar-sync': 'avatars: PEP (XEP-0084) and vCard photos kept in step (XEP-0398)',
  muc: 'group chat rooms on conference.<domain> (XEP-0045)',
  'http-upload': 'file upload on upload.<domain>, virus-scanned by clamd, encrypted at rest (XEP-0363)',
  sessions: 'session inventory, new-device notices, client compliance, `palisade sessions`',
  usage: 'usage counters for palisade report usage: messages and calls per account and hour, counts only',
};

// Only the shape is checked here: each module validates its own options with
// its own schema when the module loader loads it (see validateSection).
export const modules = z
  .record(
    z.string().regex(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/, {
      error: 'module ids are kebab-case: lowercase letters and digits, words joined by single hyphens',
    }),
    z.looseObject({}).nullable(),
  )
  // A function, so no two parses share (and could mutate) the same option objects.
  .default(() => Object.fromEntries(Object.keys(DEFAULT_MODULES).map((id) => [id, {}])))
  .describe('modules to load: module id -> its options (null or {} = the defaults)');
