// Which nodes each session wants notifications for (XEP-0163 §4.2): the
// features ending in '+notify' that its entity capabilities (XEP-0115) list.
// A 'ver' seen before is answered from a cache of verified answers shared by
// all sessions; an unknown one is asked of the client itself (disco#info from
// the server to its full JID), and cached only when the answer hashes to it.
import { randomUUID } from 'node:crypto';
import type { ClientSession } from '../../core/session.ts';
import { ownString, x, type Element } from '../../xmpp/element.ts';
import { NS } from '../../xmpp/ns.ts';
import { capsVer, featuresOf, isSupportedHash, parseCaps, type Caps } from './caps.ts';

const NOTIFY = '+notify';

interface SessionState {
  /** The caps last seen in the session's presence (hash, node and ver); '' for none, undefined before any presence. */
  key: string | undefined;
  /** undefined while the answer to a disco#info query is awaited. */
  features: ReadonlySet<string> | undefined;
  /** Nodes whose last item this session was sent since it became available. */
  announced: Set<string>;
}

interface PendingQuery {
  session: ClientSession;
  resolve(query: Element | undefined): void;
}

export interface InterestDeps {
  host: string;
  /** Sends a stanza from the server (a disco#info query). */
  send(stanza: Element): Promise<void>;
  cacheSize: number;
  queryTimeoutMs: number;
  /** The session is available and now wants these nodes, which it wasn't told about yet. */
  onInterest(session: ClientSession, nodes: string[]): void;
}

export class NotifyInterest {
  private readonly deps: InterestDeps;
  private readonly states = new Map<ClientSession, SessionState>();
  /** Verified 'hash ver' → features, least recently used first. */
  private readonly cache = new Map<string, ReadonlySet<string>>();
  private readonly pending = new Map<string, PendingQuery>();

  constructor(deps: InterestDeps) {
    this.deps = deps;
  }

  /** Whether the session asked for notifications of the node. */
  wants(session: ClientSession, node: string): boolean {
    return this.states.get(session)?.features?.has(node + NOTIFY) ?? false;
  }

  /** The session's broadcast presence (initial or updated): its caps may have changed. */
  presence(session: ClientSession, presence: Element): void {
    const caps = parseCaps(presence);
    const key = caps ? `${caps.hash ?? ''} ${caps.node} ${caps.ver}` : '';
    const state = this.stateOf(session);
    if (state.key === key) return; // unchanged, or its query is under way
    state.key = key;
    state.features = caps ? this.cached(caps) : new Set();
    if (state.features) return this.settle(session);
    void this.ask(session, caps!).then((features) => {
      // A newer presence may have replaced these caps while we waited.
      if (this.states.get(session) !== state || state.key !== key) return;
      state.features = features;
      this.settle(session);
    });
  }

  /** The session became available (after its initial presence went out). */
  available(session: ClientSession): void {
    this.settle(session);
  }

  /** The session sent unavailable presence: what it was told about counts no more. */
  unavailable(session: ClientSession): void {
    this.states.get(session)?.announced.clear();
  }

  closed(session: ClientSession): void {
    this.states.delete(session);
    for (const [id, q] of this.pending) {
      if (q.session !== session) continue;
      this.pending.delete(id);
      q.resolve(undefined);
    }
  }

  /** An iq result or error to the server: true when it answers one of our queries (from the session asked). */
  answer(iq: Element, from: string): boolean {
    const id = iq.attrs.id ?? '';
    const q = this.pending.get(id);
    if (!q || q.session.jid.toString() !== from) return false;
    this.pending.delete(id);
    q.resolve(iq.attrs.type === 'result' ? iq.getChild('query', NS.discoInfo) : undefined);
    return true;
  }

  get cachedCount(): number {
    return this.cache.size;
  }

  private stateOf(session: ClientSession): SessionState {
    let s = this.states.get(session);
    if (!s) this.states.set(session, (s = { key: undefined, features: undefined, announced: new Set() }));
    return s;
  }

  private settle(session: ClientSession): void {
    const state = this.states.get(session);
    if (!state?.features || !session.available) return;
    const fresh: string[] = [];
    for (const f of state.features) {
      if (!f.endsWith(NOTIFY)) continue;
      const node = f.slice(0, -NOTIFY.length);
      if (node === '' || state.announced.has(node)) continue;
      state.announced.add(node);
      fresh.push(node);
    }
    if (fresh.length > 0) this.deps.onInterest(session, fresh);
  }

  private cached(caps: Caps): ReadonlySet<string> | undefined {
    if (!caps.hash) return undefined;
    const key = `${caps.hash} ${caps.ver}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key); // most recently used goes last
      this.cache.set(key, hit);
    }
    return hit;
  }

  /** Asks the client for the features behind its caps; an unanswered or unusable query means no interest. */
  private async ask(session: ClientSession, caps: Caps): Promise<ReadonlySet<string>> {
    const id = `caps-${randomUUID()}`;
    const answer = new Promise<Element | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, this.deps.queryTimeoutMs);
      this.pending.set(id, {
        session,
        resolve: (query) => {
          clearTimeout(timer);
          resolve(query);
        },
      });
    });
    const query = x('query', { xmlns: NS.discoInfo, node: `${caps.node}#${caps.ver}` });
    await this.deps.send(x('iq', { type: 'get', id, from: this.deps.host, to: session.jid.toString() }, query));
    const result = await answer;
    if (!result) return new Set();
    // Kept for as long as sessions with these caps live: strings of their own, not pieces of the answer's chunk.
    const features = new Set(featuresOf(result).map(ownString));
    // Only a verified answer speaks for other clients with the same 'ver' (§5.4); an unverifiable one only for this session.
    if (caps.hash && isSupportedHash(caps.hash) && capsVer(result, caps.hash) === caps.ver) this.remember(`${caps.hash} ${caps.ver}`, features);
    return features;
  }

  private remember(key: string, features: ReadonlySet<string>): void {
    this.cache.set(key, features);
    while (this.cache.size > this.deps.cacheSize) this.cache.delete(this.cache.keys().next().value!);
  }
}
