// The module API: a feature is one folder whose index.ts exports a definition;
// setup() only registers, through the context, so everything it registered is
// tracked and removed again on unload without the module's own code.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { x, type Element } from '../xmpp/element.ts';
import type { JID } from '../xmpp/jid.ts';
import type { ModuleRule, PolicyRequest, Verdict } from '../policy/types.ts';
import type { Classifier } from './router.ts';
import type { ClientSession } from './session.ts';
import type { SessionRegistry } from './sessions.ts';
import type { Storage } from '../storage/types.ts';

/** Where a stanza is addressed, as the router resolved it; 'component': on a subdomain a module serves (ModuleContext.component). */
export type RouteTarget = 'host' | 'bare' | 'full' | 'remote' | 'component';

export interface RouteContext {
  from: JID;
  to: JID;
  target: RouteTarget;
  /** The sending session, when a client sent it. */
  origin: ClientSession | undefined;
  verdict: Verdict;
}

export type StanzaKind = 'message' | 'presence' | 'iq';
export type StanzaEvent = `${StanzaKind}/${RouteTarget}`;

/** Returns true when it handled the stanza; later handlers and the default then don't run. */
export type StanzaHook = (stanza: Element, route: RouteContext) => boolean | Promise<boolean>;

/**
 * Everything addressed to a component host or its JIDs that no
 * "<kind>/component" hook took: decided already, like any routed stanza. It
 * throws StanzaError to answer with an error and sends its own replies.
 */
export type ComponentHandler = (stanza: Element, route: RouteContext) => void | Promise<void>;

/**
 * An iq get/set handler. It returns the payload of the result (or nothing for
 * an empty result) and throws StanzaError to answer with an error.
 */
export type IqHandler = (iq: Element, route: RouteContext) => Element | void | Promise<Element | void>;

export interface IqSpec {
  type: 'get' | 'set';
  ns: string;
  /** Payload element name; any name in the namespace when omitted. */
  name?: string;
  /** 'host': addressed to the server's domain; 'account': to an account's bare JID (or no 'to', meaning the sender's own). */
  targets: readonly ('host' | 'account')[];
}

/**
 * A route a module adds to the HTTPS listener. 'GET' answers HEAD too. A PUT
 * body is neither read nor parsed: the handler streams request.raw itself and
 * enforces its own size and idle limits.
 */
export interface HttpRoute {
  method: 'GET' | 'PUT' | 'OPTIONS';
  /** Fastify path syntax, e.g. /upload/:token/:name; parameters are at most 256 characters. */
  url: string;
  handler(request: FastifyRequest, reply: FastifyReply): Promise<unknown>;
}

export interface ServerEvents {
  'session-bound': [session: ClientSession];
  /** The session sent initial presence (became available, RFC 6121 §4.2). */
  'session-available': [session: ClientSession];
  /** The account's last available session became unavailable (RFC 6121 §4.5): it is offline now. */
  'account-unavailable': [account: JID, status: string | undefined];
  'session-closed': [session: ClientSession];
  stopping: [];
}

export interface ServerInfo {
  readonly name: string;
  readonly version: string;
  readonly startedAt: Date;
}

export interface ModuleContext<Options> {
  readonly id: string;
  readonly options: Options;
  readonly host: string;
  readonly log: Logger;
  readonly server: ServerInfo;
  readonly sessions: SessionRegistry;
  readonly storage: Storage;
  /** The server's data folder (absolute), for a module's own files. */
  readonly dataDir: string;
  iq(spec: IqSpec, handler: IqHandler): void;
  hook(event: StanzaEvent, handler: StanzaHook, priority?: number): void;
  on<E extends keyof ServerEvents>(event: E, listener: (...args: ServerEvents[E]) => void): void;
  emit<E extends keyof ServerEvents>(event: E, ...args: ServerEvents[E]): void;
  provide<T>(name: string, service: T): void;
  use<T>(name: string): T;
  /** The service if a loaded module provides it; for a module named in `loadsAfter`, which need not be loaded. */
  useIfLoaded<T>(name: string): T | undefined;
  /** Routes a stanza the server itself sends (from the host); trusted, not decided. */
  send(stanza: Element): Promise<void>;
  /** Routes a stanza on an account's behalf (e.g. presence to its contacts): classified and decided like the account's own. */
  sendAs(stanza: Element, from: JID): Promise<void>;
  /**
   * Routes a stanza as if the session had sent it: every pipeline step, the
   * decision included (e.g. to re-broadcast its presence after the server
   * changed what goes into it). Rejects with StreamFault where the session's
   * own stanza would have ended its stream.
   */
  routeFrom(session: ClientSession, stanza: Element): Promise<void>;
  /**
   * Serves a subdomain of the host (e.g. conference.<host>) as a component:
   * stanzas to it reach handler after accept, classify and decide, and the
   * host's disco#items lists it under `name`.
   */
  component(domain: string, name: string, handler: ComponentHandler): void;
  /**
   * Routes a stanza a component passes on for a user (e.g. a group chat
   * private message from room/nick): decided as sent by `sender`, the user's
   * real JID, to the stanza's 'to'; delivered with the stanza's own 'from'.
   * Resolves to the verdict so the component can tell the sender of a denial.
   */
  relay(stanza: Element, sender: JID): Promise<Verdict>;
  /** Adds facts to every routed stanza's policy request (classify step). */
  classify(fn: Classifier): void;
  /** Contributes a rule to the decision point (e.g. a user's block list), asked before the organisation's rules. */
  policyRule(rule: ModuleRule): void;
  /**
   * Asks the decision point about what is not a routed stanza (e.g.
   * 'client.check'); the server fills in the subject's groups and the policy time.
   */
  decide(req: Omit<PolicyRequest, 'time'>): Promise<Verdict>;
  /** Adds a route to the HTTPS listener (during setup; the listener starts after every module). */
  http(route: HttpRoute): void;
  /** The absolute https:// URL of `path` on the listener's public origin; undefined while the HTTPS listener is off. */
  publicUrl(path: string): string | undefined;
  /** Repeats fn every ms until the module unloads. */
  every(ms: number, fn: () => void): void;
  /** Host and account disco features/identities (what disco answers). */
  readonly disco: DiscoRegistry;
}

export interface DiscoIdentity {
  category: string;
  type: string;
  name?: string;
}

export interface DiscoRegistry {
  hostFeatures(): string[];
  accountFeatures(): string[];
  hostIdentities(): DiscoIdentity[];
  /** Identities of every account's bare JID besides account/registered (e.g. pubsub/pep, XEP-0163 §6.1). */
  accountIdentities(): DiscoIdentity[];
  /** The component hosts modules serve, for the host's disco#items. */
  hostItems(): DiscoItem[];
}

export interface DiscoItem {
  jid: string;
  name?: string;
}

export interface ModuleDefinition<Options = Record<string, never>> {
  id: string;
  description: string;
  dependsOn?: readonly string[];
  /** Modules set up before this one when they are loaded too (optional dependencies: services it uses if present). */
  loadsAfter?: readonly string[];
  /** zod schema for the module's options section (modules.<id>), with defaults. */
  options?: z.ZodType<Options>;
  hostFeatures?: readonly string[];
  accountFeatures?: readonly string[];
  hostIdentities?: readonly DiscoIdentity[];
  accountIdentities?: readonly DiscoIdentity[];
  /** Empty elements advertised in the stream features offered with resource binding, e.g. XEP-0237's <ver/>. */
  streamFeatures?: readonly { name: string; ns: string }[];
  /** Policy actions this module asks the decision point about. */
  actions?: readonly string[];
  setup(ctx: ModuleContext<Options>): void | Promise<void>;
}

/** The result a component sends to an iq addressed to it (RFC 6120 §8.2.3): the same id, the addresses swapped. */
export function componentResult(iq: Element, route: RouteContext, payload?: Element): Element {
  const result = x('iq', { type: 'result', id: iq.attrs.id ?? '', from: route.to.toString(), to: route.from.toString() });
  if (payload) result.append(payload);
  return result;
}

export function defineModule<Options>(def: ModuleDefinition<Options>): ModuleDefinition<Options> {
  return def;
}
