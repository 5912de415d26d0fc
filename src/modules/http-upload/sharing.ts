// Who a file was shared with. A message carrying the download URL of one of
// our uploads — in its body, an out-of-band URL (XEP-0066), a stateless file
// share source (XEP-0447), a reference (XEP-0372/0385), anywhere in its text
// or attributes — is a file transfer for the policy (classify step), and once
// the decision point let it through to a recipient, that recipient may
// download the file (dispatch step). The module decides nothing: it records
// what the policy allowed. A sharer must be allowed on the file itself (its
// uploader or an earlier recipient), so knowing a URL is not enough to grant it.
import type { RouteContext } from '../../core/module.ts';
import type { Element } from '../../xmpp/element.ts';
import type { UploadStore } from './store.ts';

/** Distinct upload URLs looked at in one message; more are ignored (the message still goes). */
export const MAX_LINKS_PER_MESSAGE = 20;
/** Nesting depth searched for URLs; a real message's are within three levels. */
const MAX_DEPTH = 8;

export class Sharing {
  private readonly store: UploadStore;
  private readonly host: string;
  private readonly prefix: () => string | undefined;
  private pattern: RegExp | undefined;

  /** `prefix`: the absolute URL downloads start with (https://example.org:5443/upload/), undefined while the HTTPS listener is off. */
  constructor(store: UploadStore, host: string, prefix: () => string | undefined) {
    this.store = store;
    this.host = host;
    this.prefix = prefix;
  }

  /** The download tokens of our uploads the message mentions, at most MAX_LINKS_PER_MESSAGE. */
  tokens(message: Element): string[] {
    const found = new Set<string>();
    if (!this.pattern) {
      const prefix = this.prefix();
      if (prefix === undefined) return [];
      this.pattern = new RegExp(`${prefix.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}([A-Za-z0-9_-]{24})/`, 'g');
    }
    const pattern = this.pattern;
    const look = (s: string) => {
      if (found.size >= MAX_LINKS_PER_MESSAGE || !s.includes('/upload/')) return;
      for (const m of s.matchAll(pattern)) {
        found.add(m[1]!);
        if (found.size >= MAX_LINKS_PER_MESSAGE) return;
      }
    };
    const walk = (el: Element, depth: number) => {
      for (const [k, v] of Object.entries(el.attrs)) if (k !== 'xmlns') look(v);
      for (const c of el.children) {
        if (typeof c === 'string') look(c);
        else if (depth < MAX_DEPTH) walk(c, depth + 1);
      }
    };
    for (const c of message.elements) walk(c, 1);
    return [...found];
  }

  /**
   * A message the router dispatches: when the policy decided it (or it is a
   * room's broadcast of a groupchat message the policy let into the room),
   * its recipient may download the linked files its sender may download.
   * Principals are bare JIDs: accounts, and rooms, whose occupants then get
   * the room's files as the room broadcasts them.
   */
  async record(message: Element, route: RouteContext): Promise<void> {
    // Errors share nothing; neither do messages to a server or service address, which no one downloads as.
    if (message.attrs.type === 'error' || route.to.local === '') return;
    if (route.verdict.rule === 'server-origin' && !this.isRoomBroadcast(message, route)) return;
    const tokens = this.tokens(message);
    if (tokens.length === 0) return;
    const sender = route.from.bareString();
    const recipient = route.to.bareString();
    if (sender === recipient) return;
    for (const token of tokens) {
      const file = await this.store.byToken(token);
      if (!file || file.owner === recipient) continue;
      if (file.owner === sender || (await this.store.isAllowed(token, sender))) await this.store.allow(token, recipient);
    }
  }

  /** A groupchat message a room (a JID with a local part on a component host) sends to an occupant. */
  private isRoomBroadcast(message: Element, route: RouteContext): boolean {
    return message.attrs.type === 'groupchat' && route.from.local !== '' && route.from.domain !== this.host && route.to.domain === this.host;
  }
}
