// The server: opens storage and TLS, loads the modules, listens, and wires each
// client connection to the router. One instance serves one domain.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createTcpServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import type { LoadedConfig } from '../config/load.ts';
import { openStorage, resolveStorageConfig } from '../storage/index.ts';
import type { Storage } from '../storage/types.ts';
import { TlsProvider } from '../net/tls.ts';
import { C2SConnection, type C2SHost, type CarbonsHost, type CsiHost, type SmacksHost } from '../net/c2s.ts';
import { FastTokenStore, loadTokenKey } from '../auth/fast-store.ts';
import { TcpTransport } from '../net/tcp-transport.ts';
import type { StreamTransport } from '../net/transport.ts';
import type { XmlLimits } from '../net/xml-stream.ts';
import { startHttps, type HttpsListener } from '../net/http/index.ts';
import { Authenticator } from './authenticator.ts';
import { Accounts } from './accounts.ts';
import { AuthGuard } from './auth-guard.ts';
import { Logins, PASSWORD_LOGIN_SERVICE, lockedText } from './password-login.ts';
import { AccountLimits, ConnectionGate } from '../net/limits.ts';
import { MemoryReclaim } from './memory-reclaim.ts';
import { Router } from './router.ts';
import { SessionRegistry } from './sessions.ts';
import type { DecisionPoint } from '../policy/decision-point.ts';
import { PolicyEngine } from '../policy/engine.ts';
import { resolveModules, setupModules, type LoadedModule, type ResolvedModule, type TrackedContext } from './module-loader.ts';
import { BUILTIN_MODULES } from '../modules/index.ts';
import type { DiscoIdentity, HttpRoute, ModuleContext, ServerEvents, ServerInfo } from './module.ts';
import { StanzaError, streamErrorElement } from '../xmpp/errors.ts';
import { NS } from '../xmpp/ns.ts';
import type { Element } from '../xmpp/element.ts';
import type { ScramHash } from '../auth/credentials.ts';
import type { ChannelBindingType } from '../auth/scram.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
export const SERVER_NAME = 'Palisade';
export const SERVER_VERSION = pkg.version;

/** Refuses a connection on the STARTTLS port with a stream error, cheaply (no TLS, no parsing). */
function refuseStream(socket: Socket, domain: string, reason: string): void {
  socket.end(
    `<?xml version='1.0'?><stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}' from='${domain}' version='1.0'>` +
      streamErrorElement('policy-violation', reason).toString() +
      '</stream:stream>',
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}

const mib = (bytes: number) => Math.round(bytes / 2 ** 18) / 4;

/** On stop: how long re-routing unacknowledged stanzas, then closing the listeners, may take. */
const RESCUE_WAIT_MS = 2000;
const LISTENER_CLOSE_WAIT_MS = 3000;

/** Waits for the promise, but no longer than ms. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

export interface ListeningAddresses {
  c2s?: AddressInfo;
  c2sDirectTls?: AddressInfo;
  https?: AddressInfo;
}

export class Server {
  readonly loaded: LoadedConfig;
  readonly log: Logger;
  readonly sessions = new SessionRegistry();
  readonly events = new EventEmitter<ServerEvents>();
  readonly info: ServerInfo = { name: SERVER_NAME, version: SERVER_VERSION, startedAt: new Date() };
  storage!: Storage;
  tls!: TlsProvider;
  policy!: DecisionPoint;
  /** The organisation's policy (policy file, groups, signed audit log, reloads): src/policy/engine.ts. */
  policyEngine!: PolicyEngine;
  router!: Router;
  private auth!: Authenticator;
  guard!: AuthGuard;
  /** What follows a login's proof, for SASL and the password-login service: src/core/password-login.ts. */
  logins!: Logins;
  private gate!: ConnectionGate;
  private modules: LoadedModule[] = [];
  private readonly listeners: (NetServer | TlsServer)[] = [];
  private readonly connections = new Set<C2SConnection>();
  private readonly services = new Map<string, unknown>();
  private readonly hostFeatures: string[][] = [];
  private readonly accountFeatures: string[][] = [];
  private readonly hostIdentities: DiscoIdentity[][] = [];
  private readonly accountIdentities: DiscoIdentity[][] = [];
  private streamFeatures: { name: string; ns: string }[] = [];
  /** Routes modules added to the HTTPS listener (ModuleContext.http). */
  readonly httpRoutes: HttpRoute[] = [];
  private c2s: C2SHost | undefined;
  private https: HttpsListener | undefined;
  private stopping: Promise<void> | undefined;
  addresses: ListeningAddresses = {};

  constructor(loaded: LoadedConfig, opts: { log?: Logger } = {}) {
    this.loaded = loaded;
    this.log = opts.log ?? pino({ level: loaded.config.logging.level, base: { domain: loaded.config.domain } });
  }

  get domain(): string {
    return this.loaded.config.domain;
  }

  /** Validates modules first (a config error must stop start-up before anything opens), then starts. */
  async start(): Promise<void> {
    const cfg = this.loaded.config;
    const resolved = resolveModules(cfg.modules, BUILTIN_MODULES, this.loaded.file);
    this.storage = await openStorage(resolveStorageConfig(cfg.storage, this.loaded.dataDir), {
      onError: (err) => this.log.error({ err }, 'database connection error'),
    });
    try {
      await this.startWithStorage(resolved);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private async startWithStorage(resolved: ResolvedModule[]): Promise<void> {
    const cfg = this.loaded.config;
    this.tls = TlsProvider.open({
      domain: cfg.domain,
      dataDir: this.loaded.dataDir,
      certFile: cfg.tls.cert_file ? resolve(this.loaded.baseDir, cfg.tls.cert_file) : null,
      keyFile: cfg.tls.key_file ? resolve(this.loaded.baseDir, cfg.tls.key_file) : null,
      minVersion: cfg.tls.min_version,
    });
    this.guard = AuthGuard.fromConfig(this.storage, cfg);
    this.auth = new Authenticator({
      guard: this.guard,
      domain: cfg.domain,
      accounts: this.storage.accounts,
      hashes: cfg.auth.scram_hashes as ScramHash[],
      channelBindings: cfg.auth.channel_bindings as ChannelBindingType[],
      allowPlain: cfg.auth.allow_plain,
      allowChannelBindingDowngrade: cfg.auth.channel_binding_downgrade === 'allow',
      iterations: cfg.auth.scram_iterations,
      fakeCredentialSecret: await this.serverSecret(),
      sasl2: cfg.auth.sasl2,
      fast: cfg.auth.sasl2 && cfg.auth.fast.enabled ? this.fastTokens() : undefined,
      onPlainLogin: (local, password) =>
        void Accounts.fromConfig(this.storage, cfg)
          .upgradeCredentials(local, password)
          .catch((err: unknown) => this.log.error({ err }, 'could not upgrade the credentials of an account')),
    });
    // Policy (issue 6): the policy file compiled behind the one decision point; a bad file stops start-up.
    this.policyEngine = await PolicyEngine.open({ loaded: this.loaded, storage: this.storage, log: this.log.child({ component: 'policy' }) });
    this.events.once('stopping', () => void this.policyEngine.close());
    this.policy = this.policyEngine.decisionPoint;
    this.logins = new Logins({ domain: cfg.domain, accounts: this.storage.accounts, auth: this.auth, guard: this.guard, policy: this.policyEngine, log: this.log });
    this.services.set(PASSWORD_LOGIN_SERVICE, this.logins);
    this.router = new Router({
      host: cfg.domain,
      sessions: this.sessions,
      policy: this.policy,
      accountExists: async (local) => (await this.storage.accounts.get(cfg.domain, local)) !== undefined,
      log: this.log.child({ component: 'router' }),
    });
    this.policyEngine.attach(this.router); // classifier: groups, policy clock, payload facts
    // RFC 6121 Appendix E: the legacy session iq is answered for old clients.
    this.router.addIq({ type: 'set', ns: NS.session, name: 'session', targets: ['host', 'account'] }, () => undefined);
    this.modules = await setupModules(resolved, (m) => this.contextFor(m));
    this.streamFeatures = resolved.flatMap((m) => m.def.streamFeatures ?? []);
    await this.listen();
    const reclaim = new MemoryReclaim({
      onReclaimed: (before, after) => this.log.debug({ beforeMiB: mib(before), afterMiB: mib(after) }, 'quiet: young generation scavenged'),
    });
    this.events.once('stopping', () => reclaim.stop());
  }

  /** FAST token store; its key lives in the data folder, outside the database (src/auth/fast-store.ts). */
  private fastTokens(): FastTokenStore {
    const fast = this.loaded.config.auth.fast;
    return new FastTokenStore(this.storage.db, loadTokenKey(join(this.loaded.dataDir, 'fast-token.key')), {
      lifetimeMs: fast.token_lifetime_days * 86_400_000,
      maxClientsPerAccount: fast.max_clients_per_account,
    });
  }

  /** A random secret kept in the database (fake SCRAM salts for unknown users). */
  private async serverSecret(): Promise<Buffer> {
    const existing = await this.storage.getMeta('server_secret');
    if (existing) return Buffer.from(existing, 'base64');
    const secret = randomBytes(32);
    await this.storage.setMeta('server_secret', secret.toString('base64'));
    return secret;
  }

  private async listen(): Promise<void> {
    const cfg = this.loaded.config;
    const host = this.c2sHost();
    const log = this.log.child({ component: 'c2s' });
    this.gate = new ConnectionGate({
      perIp: cfg.limits.connections_per_ip,
      ratePerIp: cfg.limits.connection_rate_per_ip,
      burstPerIp: cfg.limits.connection_burst_per_ip,
      total: cfg.limits.max_connections,
    });
    // Admission happens on the raw socket, before any TLS work is spent on it.
    const admit = (socket: Socket, directTls: boolean): boolean => {
      const ip = socket.remoteAddress ?? 'unknown';
      const verdict = this.gate.admit(ip);
      if ('refused' in verdict) {
        log.warn({ ip, reason: verdict.refused }, 'connection refused');
        if (directTls) socket.destroy();
        else refuseStream(socket, cfg.domain, verdict.refused);
        return false;
      }
      socket.once('close', verdict.release);
      return true;
    };
    const accept = (socket: Socket) => {
      socket.setNoDelay(true);
      const transport = new TcpTransport(socket, {
        limits: host.limits,
        tls: this.tls,
        onSocketError: (message) => log.debug({ err: message }, 'socket error'),
      });
      this.openStream(transport);
    };
    if (cfg.listeners.c2s.enabled) {
      const srv = createTcpServer({ noDelay: true }, (s) => {
        if (admit(s, false)) accept(s);
      });
      this.addresses.c2s = await this.bind(srv, cfg.listeners.c2s.address, cfg.listeners.c2s.port);
    }
    if (cfg.listeners.c2s_direct_tls.enabled) {
      const srv = createTlsServer(this.tls.serverOptions(['xmpp-client']), (s) => accept(s));
      this.tls.follow(srv);
      srv.on('connection', (raw: Socket) => void admit(raw, true));
      srv.on('tlsClientError', (err) => this.log.debug({ err: err.message }, 'TLS handshake failed'));
      this.addresses.c2sDirectTls = await this.bind(srv, cfg.listeners.c2s_direct_tls.address, cfg.listeners.c2s_direct_tls.port);
    }
    if (cfg.listeners.https.enabled) {
      this.https = await startHttps(this, { admit: (socket) => admit(socket, true) });
      this.addresses.https = this.https.address;
    }
  }

  /**
   * A client stream on any transport (TCP, direct TLS, WebSocket). The
   * connection reports when it has a transport and when not (C2SHost.attached,
   * detached), so a session resumed onto another stream is tracked the same way.
   */
  openStream(transport: StreamTransport): C2SConnection {
    return new C2SConnection(transport, this.c2sHost());
  }

  private bind(srv: NetServer, address: string, port: number): Promise<AddressInfo> {
    return new Promise((resolveBind, reject) => {
      srv.once('error', reject);
      srv.listen({ host: address, port, backlog: 1024 }, () => {
        srv.off('error', reject);
        this.listeners.push(srv);
        const addr = srv.address() as AddressInfo;
        this.log.info({ address: addr.address, port: addr.port }, 'listening');
        resolveBind(addr);
      });
    });
  }

  private c2sHost(): C2SHost {
    this.c2s ??= this.buildC2sHost();
    return this.c2s;
  }

  /** The XML limits every client stream is parsed with. */
  xmlLimits(): XmlLimits {
    const limits = this.loaded.config.limits;
    return {
      maxStanzaBytes: limits.max_stanza_bytes,
      maxDepth: limits.max_depth,
      maxAttributes: limits.max_attributes,
      maxAttributeBytes: limits.max_attribute_bytes,
      maxNameBytes: limits.max_name_bytes,
    };
  }

  private buildC2sHost(): C2SHost {
    const cfg = this.loaded.config;
    return {
      smacks: this.services.get('smacks') as SmacksHost | undefined,
      csi: this.services.get('csi') as CsiHost | undefined,
      carbons: this.services.get('carbons') as CarbonsHost | undefined,
      domain: cfg.domain,
      limits: this.xmlLimits(),
      headerTimeoutMs: cfg.limits.header_timeout * 1000,
      traffic: {
        bytesPerSecond: cfg.limits.bytes_per_second,
        bytesBurst: cfg.limits.bytes_burst,
        stanzasPerSecond: cfg.limits.stanzas_per_second,
        stanzasBurst: cfg.limits.stanzas_burst,
        unauthenticatedBytesPerSecond: cfg.limits.unauthenticated_bytes_per_second,
        toleranceMs: cfg.limits.throttle_tolerance * 1000,
      },
      accountLimits: new AccountLimits({
        stanzasPerSecond: cfg.limits.account_stanzas_per_second,
        stanzasBurst: cfg.limits.account_stanzas_burst,
        bytesPerSecond: cfg.limits.account_bytes_per_second,
        bytesBurst: cfg.limits.account_bytes_burst,
      }),
      idleTimeoutMs: cfg.limits.idle_timeout * 1000,
      pingTimeoutMs: cfg.limits.ping_timeout * 1000,
      negotiationTimeoutMs: cfg.auth.negotiation_timeout * 1000,
      auth: this.auth,
      log: this.log.child({ component: 'c2s' }),
      streamFeatures: () => this.streamFeatures,
      authorize: async (username, conn) => {
        const a = await this.logins.admit(username, conn.ip, conn.security);
        if ('admitted' in a) return true;
        switch (a.refused) {
          case 'unknown':
            return { condition: 'not-authorized', text: 'Authentication failed' };
          // The address that guessed: the same answer, delay and accounting as a wrong guess (c2s runs loginFailed).
          case 'guesser':
            return { condition: 'not-authorized', text: 'Authentication failed', likeWrongPassword: true };
          case 'locked':
            return { condition: 'account-disabled', text: lockedText(a.until) };
          case 'disabled':
            return { condition: 'account-disabled', text: 'This account is disabled.' };
          case 'policy':
            return { condition: 'not-authorized', text: a.text };
        }
      },
      loginFailed: (username, accountExists, conn) => this.logins.failed(username, accountExists, conn.ip),
      bind: async (conn) => {
        const verdict = await this.policy.decide({
          action: 'bind',
          subject: { jid: conn.jid.bareString(), domain: cfg.domain, groups: this.policyEngine.groupsOf(conn.jid.bareString()), ip: conn.ip, security: conn.security },
          resource: { jid: conn.jid.toString(), scope: 'self' },
          time: this.policyEngine.now(),
        });
        if (verdict.decision === 'deny') throw new StanzaError(verdict.condition ?? 'not-allowed', verdict.text ?? 'Refused by policy.');
        const others = this.sessions.ofAccount(conn.jid.bare).filter((s) => s.jid.resource !== conn.jid.resource);
        if (others.length >= cfg.limits.sessions_per_account) {
          throw new StanzaError('resource-constraint', `This account already has ${others.length} sessions, the most allowed.`);
        }
        const replaced = this.sessions.add(conn);
        // RFC 6120 §7.7.2.2: the newer session wins; the older one ends with <conflict/>.
        if (replaced) replaced.close('conflict', 'Replaced by a new connection with the same resource.');
        this.events.emit('session-bound', conn);
      },
      unbind: (conn) => {
        if (this.sessions.remove(conn)) this.events.emit('session-closed', conn);
      },
      attached: (conn) => {
        this.connections.add(conn);
      },
      detached: (conn) => this.connections.delete(conn),
      route: (conn, stanza) => this.router.fromClient(conn, stanza),
    };
  }

  private contextFor(m: ResolvedModule): TrackedContext {
    const disposers: (() => void)[] = [];
    const id = m.def.id;
    const hostFeatures = [...(m.def.hostFeatures ?? [])];
    const accountFeatures = [...(m.def.accountFeatures ?? [])];
    const identities = [...(m.def.hostIdentities ?? [])];
    const accountIdentities = [...(m.def.accountIdentities ?? [])];
    this.hostFeatures.push(hostFeatures);
    this.accountFeatures.push(accountFeatures);
    this.hostIdentities.push(identities);
    this.accountIdentities.push(accountIdentities);
    disposers.push(() => {
      for (const [list, item] of [
        [this.hostFeatures, hostFeatures],
        [this.accountFeatures, accountFeatures],
        [this.hostIdentities, identities],
        [this.accountIdentities, accountIdentities],
      ] as [unknown[], unknown][]) {
        const i = list.indexOf(item);
        if (i >= 0) list.splice(i, 1);
      }
    });
    const ctx: ModuleContext<unknown> = {
      id,
      options: m.options,
      host: this.domain,
      log: this.log.child({ module: id }),
      server: this.info,
      sessions: this.sessions,
      storage: this.storage,
      dataDir: this.loaded.dataDir,
      iq: (spec, handler) => disposers.push(this.router.addIq(spec, handler)),
      hook: (event, handler, priority) => disposers.push(this.router.addHook(event, handler, priority)),
      on: (event, listener) => {
        this.events.on(event, listener as never);
        disposers.push(() => this.events.off(event, listener as never));
      },
      emit: (event, ...args) => {
        (this.events.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
      },
      provide: (name, service) => {
        if (this.services.has(name)) throw new Error(`service '${name}' is already provided`);
        this.services.set(name, service);
        disposers.push(() => this.services.delete(name));
      },
      use: <T>(name: string) => {
        if (!this.services.has(name)) throw new Error(`module '${id}' uses service '${name}', which no loaded module provides`);
        return this.services.get(name) as T;
      },
      useIfLoaded: <T>(name: string) => this.services.get(name) as T | undefined,
      send: (stanza: Element) => this.router.fromServer(stanza),
      sendAs: (stanza, from) => this.router.fromAccount(stanza, from),
      routeFrom: (session, stanza) => this.router.fromClient(session, stanza),
      component: (domain, name, handler) => disposers.push(this.router.addComponent(domain, name, handler)),
      relay: (stanza, sender) => this.router.fromComponent(stanza, sender),
      classify: (fn) => disposers.push(this.router.addClassifier(fn)),
      policyRule: (rule) => disposers.push(this.policy.addModuleRule(rule)),
      decide: (req) =>
        this.policy.decide({ ...req, subject: { ...req.subject, groups: this.policyEngine.groupsOf(req.subject.jid) }, time: this.policyEngine.now() }),
      http: (route) => {
        this.httpRoutes.push(route);
        disposers.push(() => {
          const i = this.httpRoutes.indexOf(route);
          if (i >= 0) this.httpRoutes.splice(i, 1);
        });
      },
      publicUrl: (path) => (this.https ? new URL(path, this.https.origin).toString() : undefined),
      every: (ms, fn) => {
        const timer = setInterval(fn, ms);
        timer.unref();
        disposers.push(() => clearInterval(timer));
      },
      disco: {
        hostFeatures: () => this.hostFeatures.flat(),
        accountFeatures: () => this.accountFeatures.flat(),
        hostIdentities: () => this.hostIdentities.flat(),
        accountIdentities: () => this.accountIdentities.flat(),
        hostItems: () => this.router.componentItems(),
      },
    };
    return { ctx, dispose: () => disposers.splice(0).reverse().forEach((d) => d()) };
  }

  /** Graceful shutdown: stop accepting, tell every stream (system-shutdown), unload modules, close storage. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.events.emit('stopping');
    const closed = this.listeners.map((l) => new Promise<void>((r) => l.close(() => r())));
    for (const conn of [...this.connections]) conn.close('system-shutdown', 'The server is shutting down.');
    // Sessions waiting for resumption have no connection left to tell.
    for (const session of [...this.sessions.all()]) session.close();
    // What those sessions never acknowledged is being re-routed (to offline storage): modules and storage must outlast it.
    const rescues = this.c2s?.smacks?.settled();
    if (rescues) await within(rescues, RESCUE_WAIT_MS);
    await this.https?.close();
    for (const m of this.modules.reverse()) m.unload();
    this.modules = [];
    await within(Promise.all(closed), LISTENER_CLOSE_WAIT_MS);
    await this.policyEngine?.close();
    await this.storage?.close();
  }
}
