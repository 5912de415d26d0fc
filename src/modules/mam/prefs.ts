// Archiving preferences (XEP-0441, the <prefs/> of XEP-0313 before 1.1): a
// default (always, never, roster) and two lists of JIDs that override it.
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { JidError, parseJID, type JID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';

export type DefaultMode = 'always' | 'never' | 'roster';
export const DEFAULT_MODES: readonly DefaultMode[] = ['always', 'never', 'roster'];

export interface Preferences {
  default: DefaultMode;
  /** Prepared JIDs, bare or full. */
  always: string[];
  never: string[];
}

/** JIDs per list: a bound on the row and on the work per archived message. */
export const MAX_PREF_JIDS = 1000;

/**
 * What the preferences say for a message with `peer` (XEP-0441 §2.3: a listed
 * bare JID matches any resource, a listed full JID only itself). A JID in both
 * lists is never archived: the safer reading of a contradiction.
 */
export function ruleFor(prefs: Preferences, peer: JID): DefaultMode {
  const matches = (list: readonly string[]) => list.includes(peer.bareString()) || (peer.resource !== '' && list.includes(peer.toString()));
  if (matches(prefs.never)) return 'never';
  if (matches(prefs.always)) return 'always';
  return prefs.default;
}

/** Reads a <prefs/> set request; throws StanzaError for what it cannot accept. */
export function parsePrefs(el: Element): Preferences {
  const mode = el.attrs.default;
  if (mode === undefined || !(DEFAULT_MODES as readonly string[]).includes(mode)) {
    throw new StanzaError('bad-request', "The 'default' attribute must be always, never or roster.");
  }
  const list = (name: 'always' | 'never') => {
    const out = new Set<string>();
    for (const holder of el.getChildren(name, NS.mam)) {
      for (const j of holder.getChildren('jid', NS.mam)) {
        try {
          out.add(parseJID(j.text.trim()).toString());
        } catch (err) {
          if (!(err instanceof JidError)) throw err;
          throw new StanzaError('jid-malformed', `'${j.text.trim()}' in <${name}/> is not a valid JID: ${err.reason}`);
        }
      }
    }
    if (out.size > MAX_PREF_JIDS) throw new StanzaError('not-acceptable', `At most ${MAX_PREF_JIDS} JIDs fit in <${name}/>.`);
    return [...out];
  };
  return { default: mode as DefaultMode, always: list('always'), never: list('never') };
}

/** The <prefs/> element answering a get or a set (XEP-0441: both lists present, even when empty). */
export function prefsElement(prefs: Preferences): Element {
  const el = x('prefs', { xmlns: NS.mam, default: prefs.default });
  for (const name of ['always', 'never'] as const) {
    const holder = el.c(name);
    for (const j of prefs[name]) holder.c('jid').t(j);
  }
  return el;
}
