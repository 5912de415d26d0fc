// The stanza pipeline (docs/stanza-lifecycle.md):
//   accept → classify → decide → obligations → dispatch → unhandled.
// Policy is decided here, once per routed stanza; feature modules only handle
// what was allowed.
import type { Logger } from 'pino';
import { Element, x } from '../xmpp/element.ts';
import { NS } from '../xmpp/ns.ts';
import { StanzaError, errorReply, mayBounce, type StreamErrorCondition } from '../xmpp/errors.ts';
import { JID, JidError, parseJID } from '../xmpp/jid.ts';
import type { DecisionPoint } from '../policy/decision-point.ts';
import { applyObligations } from '../policy/obligations.ts';
import type { PeerScope, PolicyRequest, Verdict } from '../policy/types.ts';
import type { ClientSession } from './session.ts';
import type { SessionRegistry } from './sessions.ts';
import type { ComponentHandler, DiscoItem, IqHandler, IqSpec, RouteContext, RouteTarget, StanzaEvent, StanzaHook, StanzaKind } from './module.ts';

/** A fault that ends the client's stream (RFC 6120 §4.9), raised in the accept step. */
export class StreamFault extends Error {
  readonly condition: StreamErrorCondition;
  constructor(condition: StreamErrorCondition, text: string) {
    super(text);
    this.name = 'StreamFault';
    this.condition = condition;
  }
}

const PRESENCE_TYPES = new Set(['unavailable', 'subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'probe', 'error']);
const IQ_TYPES = new Set(['get', 'set', 'result', 'error']);
const SERVER_VERDICT: Verdict = { decision: 'allow', rule: 'server-origin' };

/** Establishes facts about a request for the rules (classify step); it decides nothing itself. */
export type Classifier = (req: PolicyRequest, stanza: Element, from: JID, to: JID) => void | Promise<void>;

interface HookEntry {
  handler: StanzaHook;
  priority: number;
}

export interface RouterDeps {
  host: string;
  sessions: SessionRegistry;
  policy: DecisionPoint;
  accountExists(localpart: string): Promise<boolean>;
  log: Logger;
}

export class Router {
  /** By kind, then target: no key string is built per stanza. */
  private readonly hooks = new Map<StanzaKind, Map<RouteTarget, readonly HookEntry[]>>();
  private readonly iqHandlers = new Map<string, IqHandler>();
  private readonly classifiers: Classifier[] = [];
  /** Subdomains served by modules (component hosts), by prepared domain. */
  private readonly components = new Map<string, { name: string; handler: ComponentHandler }>();
  private readonly deps: RouterDeps;
  private readonly hostJid: JID;

  constructor(deps: RouterDeps) {
    this.deps = deps;
    this.hostJid = parseJID(deps.host);
  }

  /** Registers a hook; returns its remover. Higher priority runs first; equal priorities run in registration order. */
  addHook(event: StanzaEvent, handler: StanzaHook, priority = 0): () => void {
    const [kind, target] = event.split('/') as [StanzaKind, RouteTarget];
    let byTarget = this.hooks.get(kind);
    if (!byTarget) this.hooks.set(kind, (byTarget = new Map()));
    const entry = { handler, priority };
    // Lists are replaced, never changed in place, so dispatch walks one without copying it per stanza.
    const list = [...(byTarget.get(target) ?? [])];
    const at = list.findIndex((e) => e.priority < priority);
    if (at < 0) list.push(entry);
    else list.splice(at, 0, entry);
    byTarget.set(target, list);
    return () => byTarget.set(target, (byTarget.get(target) ?? []).filter((e) => e !== entry));
  }

  addIq(spec: IqSpec, handler: IqHandler): () => void {
    const keys = spec.targets.map((t) => iqKey(spec.type, t, spec.ns, spec.name ?? '*'));
    for (const key of keys) {
      if (this.iqHandlers.has(key)) throw new Error(`an iq handler for ${key} is already registered`);
    }
    for (const key of keys) this.iqHandlers.set(key, handler);
    return () => {
      for (const key of keys) this.iqHandlers.delete(key);
    };
  }

  /** Serves a domain other than the host as a component; returns its remover. */
  addComponent(domain: string, name: string, handler: ComponentHandler): () => void {
    const prepared = parseJID(domain);
    if (!prepared.isBare || prepared.local !== '' || prepared.domain === this.deps.host) {
      throw new Error(`a component host must be a domain other than ${this.deps.host}, not '${domain}'`);
    }
    if (this.components.has(prepared.domain)) throw new Error(`the component host ${prepared.domain} is already served`);
    const entry = { name, handler };
    this.components.set(prepared.domain, entry);
    return () => {
      if (this.components.get(prepared.domain) === entry) this.components.delete(prepared.domain);
    };
  }

  /** The component hosts, for the host's disco#items. */
  componentItems(): DiscoItem[] {
    return [...this.components].map(([jid, { name }]) => ({ jid, name }));
  }

  addClassifier(fn: Classifier): () => void {
    this.classifiers.push(fn);
    return () => {
      const i = this.classifiers.indexOf(fn);
      if (i >= 0) this.classifiers.splice(i, 1);
    };
  }

  /** A stanza from a bound client session. Throws StreamFault when the stream must end. */
  async fromClient(session: ClientSession, stanza: Element): Promise<void> {
    const kind = acceptKind(stanza);
    // A client never chooses its own 'from' (RFC 6120 §8.1.2.1).
    const claimed = stanza.attrs.from;
    if (claimed !== undefined && claimed !== session.jid.toString() && claimed !== session.jid.bareString()) {
      throw new StreamFault('invalid-from', `'from' must be your own address (${session.jid.toString()})`);
    }
    stanza.attrs.from = session.jid.toString();

    let to: JID;
    try {
      to = stanza.attrs.to === undefined ? session.jid.bare : parseJID(stanza.attrs.to);
    } catch (err) {
      if (!(err instanceof JidError)) throw err;
      // The error comes from the server: echoing the malformed address as 'from' could break the client's parser.
      delete stanza.attrs.to;
      return this.bounce(stanza, new StanzaError('jid-malformed', `invalid 'to' address: ${err.reason}`), session);
    }
    if (stanza.attrs.to !== undefined) stanza.attrs.to = to.toString();

    const shapeError = checkShape(kind, stanza);
    if (shapeError) return this.bounce(stanza, shapeError, session);

    const target = this.targetOf(to);
    const request = await this.classify(kind, stanza, session.jid, to, target, session);
    const verdict = await this.deps.policy.decide(request);
    if (verdict.decision === 'deny') {
      if (verdict.silent) return;
      const error = new StanzaError(verdict.condition ?? 'policy-violation', verdict.text ?? 'Refused by policy.', { appCondition: verdict.appCondition });
      return this.bounce(stanza, error, session);
    }
    applyObligations(stanza, verdict);
    await this.dispatch(kind, stanza, { from: session.jid, to, target, origin: session, verdict });
  }

  /**
   * A stanza the server sends on an account's behalf (presence broadcast to
   * contacts, for example): classified and decided like the account's own
   * stanzas, with no session to answer; a denied one is dropped.
   */
  async fromAccount(stanza: Element, from: JID): Promise<void> {
    const kind = acceptKind(stanza);
    stanza.attrs.from = from.toString();
    const to = stanza.attrs.to ? parseJID(stanza.attrs.to) : from.bare;
    const target = this.targetOf(to);
    const request = await this.classify(kind, stanza, from, to, target, undefined);
    const verdict = await this.deps.policy.decide(request);
    if (verdict.decision === 'deny') return;
    applyObligations(stanza, verdict);
    await this.dispatch(kind, stanza, { from, to, target, origin: undefined, verdict });
  }

  /**
   * A stanza a component passes on for a user (a room's private message, for
   * example): classified and decided with the user's real JID as the sender and
   * the stanza's 'to' as the recipient, then dispatched with the stanza's own
   * 'from' (the component's address). A denial is returned, not delivered.
   */
  async fromComponent(stanza: Element, sender: JID): Promise<Verdict> {
    const kind = acceptKind(stanza);
    const from = parseJID(stanza.attrs.from!);
    const to = parseJID(stanza.attrs.to!);
    const target = this.targetOf(to);
    const request = await this.classify(kind, stanza, sender, to, target, undefined);
    const verdict = await this.deps.policy.decide(request);
    if (verdict.decision === 'allow') {
      applyObligations(stanza, verdict);
      await this.dispatch(kind, stanza, { from, to, target, origin: undefined, verdict });
    }
    return verdict;
  }

  /** A stanza the server or a module originates; it is trusted and not re-decided. */
  async fromServer(stanza: Element): Promise<void> {
    const kind = stanza.name as StanzaKind;
    const from = stanza.attrs.from ? parseJID(stanza.attrs.from) : this.hostJid;
    const to = stanza.attrs.to ? parseJID(stanza.attrs.to) : this.hostJid;
    await this.dispatch(kind, stanza, { from, to, target: this.targetOf(to), origin: undefined, verdict: SERVER_VERDICT });
  }

  private targetOf(to: JID): RouteTarget {
    if (to.domain !== this.deps.host) return this.components.has(to.domain) ? 'component' : 'remote';
    if (to.local === '') return 'host';
    return to.resource === '' ? 'bare' : 'full';
  }

  private async classify(
    kind: StanzaKind,
    stanza: Element,
    from: JID,
    to: JID,
    target: RouteTarget,
    session: ClientSession | undefined,
  ): Promise<PolicyRequest> {
    let scope: PeerScope;
    // A room is not the server: rules that allow 'server' must not let group chat through.
    if (target === 'host') scope = 'host';
    else if (target === 'component') scope = 'service';
    else if (target === 'remote') scope = 'remote';
    else scope = to.bareString() === from.bareString() ? 'self' : 'local';
    const request: PolicyRequest = {
      action: `stanza.${kind}`,
      subject: {
        jid: from.bareString(),
        domain: from.domain,
        groups: [],
        ip: session?.ip,
        security: session?.security,
      },
      resource: { jid: to.toString(), scope, relation: 'unknown' },
      feature: featureOf(kind, stanza),
      facts: {},
      time: new Date(),
    };
    for (const classify of this.classifiers) {
      // Most classifiers answer synchronously; awaiting only promises keeps the hot path free of extra microtask turns.
      const pending = classify(request, stanza, from, to);
      if (pending) await pending;
    }
    return request;
  }

  private async dispatch(kind: StanzaKind, stanza: Element, route: RouteContext): Promise<void> {
    try {
      const hooks = this.hooks.get(kind)?.get(route.target);
      if (hooks) {
        for (const { handler } of hooks) {
          if (await handler(stanza, route)) return;
        }
      }
      await this.unhandled(kind, stanza, route);
    } catch (err) {
      if (err instanceof StanzaError) return this.bounce(stanza, err, route.origin);
      this.deps.log.error({ err, kind, target: route.target }, 'stanza handler failed');
      return this.bounce(stanza, new StanzaError('internal-server-error', 'The server failed to process this stanza.'), route.origin);
    }
  }

  /** The defaults of RFC 6120 §10 / RFC 6121 §8 when no hook handled the stanza. */
  private async unhandled(kind: StanzaKind, stanza: Element, route: RouteContext): Promise<void> {
    const type = stanza.attrs.type;
    switch (route.target) {
      case 'remote':
        if (kind !== 'presence') throw new StanzaError('remote-server-not-found', `The server ${route.to.domain} is not reachable from here.`);
        return;
      case 'full': {
        const session = this.deps.sessions.get(route.to);
        if (session) return session.send(stanza);
        if (kind === 'message' && type !== 'groupchat' && type !== 'error') {
          // RFC 6121 §8.5.3.2.1: treat as addressed to the bare JID.
          const bare = route.to.bare;
          return this.dispatch(kind, stanza, { ...route, to: bare, target: 'bare' });
        }
        if (kind === 'iq' && (type === 'get' || type === 'set')) throw new StanzaError('service-unavailable');
        if (kind === 'message' && type === 'groupchat') throw new StanzaError('service-unavailable');
        return;
      }
      case 'component':
        return this.components.get(route.to.domain)?.handler(stanza, route);
      case 'host':
      case 'bare':
        if (kind === 'iq') return this.handleIq(stanza, route);
        if (kind === 'message' && type !== 'error' && type !== 'headline') throw new StanzaError('service-unavailable');
        return;
    }
  }

  private async handleIq(iq: Element, route: RouteContext): Promise<void> {
    const type = iq.attrs.type;
    if (type !== 'get' && type !== 'set') return; // results and errors to the server or an account end here
    const payload = iq.elements[0]!;
    const where = route.target === 'host' ? 'host' : 'account';
    const handler =
      this.iqHandlers.get(iqKey(type, where, payload.ns, payload.name)) ?? this.iqHandlers.get(iqKey(type, where, payload.ns, '*'));
    if (where === 'account' && route.origin && route.to.bareString() !== route.origin.jid.bareString()) {
      // Don't reveal whether an account exists: both cases answer the same.
      if (!handler || !(await this.deps.accountExists(route.to.local))) throw new StanzaError('service-unavailable');
    }
    if (!handler) throw new StanzaError('service-unavailable');
    const result = await handler(iq, route);
    const attrs: Record<string, string> = { type: 'result', id: iq.attrs.id! };
    attrs.from = route.target === 'host' ? this.deps.host : route.to.bareString();
    attrs.to = route.from.toString();
    const reply = x('iq', attrs);
    if (result) reply.append(result);
    this.deliverReply(reply, route);
  }

  private deliverReply(reply: Element, route: RouteContext): void {
    if (route.origin) route.origin.send(reply);
    else void this.fromServer(reply);
  }

  private bounce(stanza: Element, error: StanzaError, origin: ClientSession | undefined): void {
    if (!mayBounce(stanza)) return;
    const reply = errorReply(stanza, error);
    if (origin) {
      // The sender's own address goes back as 'to'; the error comes from whom it was sent to.
      reply.attrs.to = origin.jid.toString();
      if (stanza.attrs.to === undefined) delete reply.attrs.from;
      origin.send(reply);
    } else if (reply.attrs.to) {
      void this.fromServer(reply).catch((err: unknown) => this.deps.log.warn({ err }, 'could not deliver a bounce'));
    }
  }
}

function iqKey(type: string, target: string, ns: string, name: string): string {
  return `${type} ${target} ${ns} ${name}`;
}

/** Accept step: only the three stanza kinds of jabber:client reach the router. */
function acceptKind(stanza: Element): StanzaKind {
  if ((stanza.name === 'message' || stanza.name === 'presence' || stanza.name === 'iq') && stanza.ns === NS.client) {
    return stanza.name;
  }
  throw new StreamFault('unsupported-stanza-type', `<${stanza.name}/> in ${stanza.ns} is not a stanza this server accepts`);
}

function checkShape(kind: StanzaKind, stanza: Element): StanzaError | undefined {
  const type = stanza.attrs.type;
  if (kind === 'iq') {
    if (stanza.attrs.id === undefined || stanza.attrs.id === '') return new StanzaError('bad-request', "An iq stanza needs an 'id' attribute.");
    if (type === undefined || !IQ_TYPES.has(type)) return new StanzaError('bad-request', "An iq stanza's type must be get, set, result or error.");
    if ((type === 'get' || type === 'set') && stanza.elements.length !== 1) {
      return new StanzaError('bad-request', `An iq of type ${type} must contain exactly one child element.`);
    }
  } else if (kind === 'presence' && type !== undefined && !PRESENCE_TYPES.has(type)) {
    return new StanzaError('bad-request', `'${type}' is not a presence type.`);
  }
  return undefined;
}

function featureOf(kind: StanzaKind, stanza: Element): string {
  if (kind === 'iq') return `iq:${stanza.elements[0]?.ns ?? ''}`;
  if (kind === 'presence') return stanza.attrs.type ? `presence:${stanza.attrs.type}` : 'presence';
  const type = stanza.attrs.type;
  return type === 'chat' || type === 'groupchat' || type === 'headline' || type === 'error' ? type : 'normal';
}
