// Sessions (issues #6 and #7): an inventory of the bound sessions (who, from
// where, how authenticated, with which client), the questions asked about each
// new one, and the operator's hand on them.
//
// When a session becomes available the server asks its full JID for its
// software version (XEP-0092), with a timeout. With the answer (or none):
//  - the login is compared with what the account used lately (known_clients):
//    a client or network not seen before is told to the account's other
//    sessions in a headline message, except on an account's very first login;
//  - the decision point is asked 'client.check' (the policy's clients:
//    section): deny closes the session with policy-violation and the text;
//    warn sends the user a headline; alert writes an audit entry only.
// The control channel (data_dir/control) answers `palisade sessions list|kill`
// and closes every session of an account whose password `palisade user passwd`
// changed.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { defineModule } from '../../core/module.ts';
import type { ClientSession } from '../../core/session.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { tryParseJID } from '../../xmpp/jid.ts';
import { CLIENT_CHECK, OBLIGATION_CLIENT_ALERT, OBLIGATION_CLIENT_WARN } from '../../policy/clients.ts';
import { clearHeartbeat, takeControlRequests, touchHeartbeat, writeControlResult, type ControlRequest, type ControlResult } from '../../policy/reload-request.ts';
import { parseCaps } from '../pep/caps.ts';
import { NS_VERSION } from '../version/index.ts';
import { clip, SessionRecord, type ClientSoftware } from './inventory.ts';
import { ipPrefix, KnownClients } from './known-clients.ts';

/** Control requests this module answers (src/cli/sessions.ts writes them). */
export const SESSIONS_LIST = 'sessions.list';
export const SESSIONS_KILL = 'sessions.kill';
export const SESSIONS_CLOSE_ACCOUNT = 'sessions.close-account';
/** Name of the heartbeat the CLI checks before waiting for an answer. */
export const SESSIONS_HEARTBEAT = 'sessions';

export const KILL_TEXT = 'Your session was closed by an administrator.';
export const PASSWORD_CHANGED_TEXT = 'The password of this account was changed; log in again with the new password.';

const options = z.strictObject({
  version_timeout: z.number().min(0.1).max(60).default(10).describe('seconds a new session has to answer the software version query, 0.1..60'),
  new_device_notices: z.boolean().default(true).describe("tell an account's other sessions about a login from a client or network it did not use lately"),
  remember: z.int().min(1).max(100).default(10).describe('clients and network prefixes remembered per account for new-device notices, 1..100'),
  control_poll_ms: z.int().min(50).max(10_000).default(500).describe('how often the control folder is read for `palisade sessions` requests, in milliseconds'),
});

type Options = z.output<typeof options>;

export default defineModule<Options>({
  id: 'sessions',
  description: 'session inventory, new-device notices, client compliance, `palisade sessions` (issues #6, #7)',
  options,
  actions: [CLIENT_CHECK],
  setup(ctx) {
    const records = new Map<ClientSession, SessionRecord>();
    const pending = new Map<string, { session: ClientSession; resolve(answer: Element | undefined): void }>();
    const known = new KnownClients(ctx.storage.db, ctx.options.remember);
    const timeoutMs = Math.round(ctx.options.version_timeout * 1000);
    /** Set when the server stops: no more questions, no more control answers. */
    let stopping = false;

    const live = (r: SessionRecord) => records.get(r.session) === r && ctx.sessions.get(r.session.jid) === r.session;

    ctx.on('session-bound', (session) => {
      const r = new SessionRecord(session);
      records.set(session, r);
      // A session that never sends presence (a bot, or someone reading the archive) is examined all the same.
      r.examineTimer = setTimeout(() => examine(r), timeoutMs).unref();
    });
    ctx.on('session-available', (session) => {
      const r = records.get(session);
      if (r) examine(r);
    });
    ctx.on('session-closed', (session) => {
      const r = records.get(session);
      if (r) stopExamineTimer(r);
      records.delete(session);
      for (const [id, q] of pending) {
        if (q.session !== session) continue;
        pending.delete(id);
        q.resolve(undefined);
      }
    });

    // Caps come with broadcast presence; seen here, handled by the presence module.
    ctx.hook(
      'presence/bare',
      (presence, route) => {
        const r = route.origin && records.get(route.origin);
        if (r && presence.attrs.to === undefined && presence.attrs.type === undefined) {
          const caps = parseCaps(presence);
          r.caps = caps ? { node: clip(caps.node) ?? '', ver: clip(caps.ver) ?? '' } : null;
        }
        return false;
      },
      5,
    );
    ctx.hook('iq/host', (iq, route) => {
      const type = iq.attrs.type;
      if (type !== 'result' && type !== 'error') return false;
      const q = pending.get(iq.attrs.id ?? '');
      if (!q || q.session.jid.toString() !== route.from.toString()) return false;
      pending.delete(iq.attrs.id!);
      q.resolve(type === 'result' ? iq.getChild('query', NS_VERSION) : undefined);
      return true;
    });

    /**
     * XEP-0092 §3 asked of the session's full JID; `then` gets the answer's query,
     * or undefined when none came in time. A callback, not a promise: while the
     * query waits (version_timeout) each new session holds one entry and one
     * timer, not the suspended frames of the functions that would await it.
     */
    const askVersion = (session: ClientSession, then: (query: Element | undefined) => void): void => {
      const id = `version-${randomUUID()}`;
      const timer = setTimeout(() => {
        pending.delete(id);
        then(undefined);
      }, timeoutMs);
      pending.set(id, {
        session,
        resolve: (query) => {
          clearTimeout(timer);
          then(query);
        },
      });
      ctx.send(x('iq', { type: 'get', id, from: ctx.host, to: session.jid.toString() }, x('query', { xmlns: NS_VERSION }))).catch((err: unknown) => {
        // Not asked, so not examined: as if the examination had failed.
        clearTimeout(timer);
        pending.delete(id);
        examinationFailed(session, err);
      });
    };

    /** Each session holds its timer only until it is examined or gone. */
    const stopExamineTimer = (r: SessionRecord): void => {
      clearTimeout(r.examineTimer);
      r.examineTimer = undefined;
    };

    const examinationFailed = (session: ClientSession, err: unknown): void => {
      ctx.log.error({ err, session: session.id }, 'examining a new session failed');
    };

    const examine = (r: SessionRecord): void => {
      if (r.examined || stopping || !live(r)) return;
      r.examined = true;
      stopExamineTimer(r);
      askVersion(r.session, (query) => void judge(r, softwareIn(query)));
    };

    /** With the version answer (or none): the new-device notice and the client check. */
    const judge = async (r: SessionRecord, client: ClientSoftware | undefined): Promise<void> => {
      if (!live(r)) return;
      try {
        r.client = client ?? null;
        r.clientStatus = client ? 'answered' : 'unknown';
        if (ctx.options.new_device_notices) await noticeNewDevice(r);
        if (live(r)) await checkClient(r);
      } catch (err) {
        examinationFailed(r.session, err);
      }
    };

    const noticeNewDevice = async (r: SessionRecord): Promise<void> => {
      const s = r.session;
      const now = new Date();
      const seen = await known.see({ domain: s.jid.domain, localpart: s.jid.local }, r.clientKey(), ipPrefix(s.ip), now);
      if (seen.first || (!seen.newClient && !seen.newNetwork)) return;
      const others = ctx.sessions.ofAccount(s.jid.bare).filter((o) => o !== s);
      ctx.log.info({ account: s.jid.bareString(), newClient: seen.newClient, newNetwork: seen.newNetwork, told: others.length }, 'login from a new client or network');
      const when = now.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
      const body =
        `New login to your account: ${r.describeClient()} from ${s.ip} at ${when}` +
        ` (${[seen.newClient && 'a client', seen.newNetwork && 'a network'].filter(Boolean).join(' and ')} not used lately).` +
        ' If this was not you, change your password and tell your administrator.';
      for (const o of others) o.send(headline(o, 'New login to your account', body));
    };

    const checkClient = async (r: SessionRecord): Promise<void> => {
      const s = r.session;
      const verdict = await ctx.decide({
        action: CLIENT_CHECK,
        subject: { jid: s.jid.bareString(), domain: s.jid.domain, groups: [], ip: s.ip, security: s.security, client: { software: r.client?.software, version: r.client?.version } },
        resource: { jid: s.jid.toString(), scope: 'self' },
      });
      if (!live(r)) return;
      if (verdict.decision === 'deny') {
        // The decision point has audited the refusal.
        s.close('policy-violation', verdict.text ?? 'This client is not allowed here.');
        return;
      }
      for (const o of verdict.obligations ?? []) {
        if (o.kind === OBLIGATION_CLIENT_WARN) s.send(headline(s, 'Please update your client', String(o.text)));
        if (o.kind === OBLIGATION_CLIENT_WARN || o.kind === OBLIGATION_CLIENT_ALERT) {
          await ctx.storage.audit
            .append({
              actor: s.jid.bareString(),
              action: CLIENT_CHECK,
              decision: 'allow',
              reason: o.kind === OBLIGATION_CLIENT_WARN ? 'client not compliant; the user was warned' : 'client not compliant (alert only)',
              details: { rule: o.rule, client: o.client, resource: s.jid.resource, ip: s.ip },
            })
            .catch((err: unknown) => ctx.log.error({ err }, 'audit append failed'));
        }
      }
    };

    const headline = (to: ClientSession, subject: string, body: string): Element =>
      x('message', { type: 'headline', from: ctx.host, to: to.jid.toString(), id: randomUUID() }, x('subject').t(subject), x('body').t(body));

    // ---------------------------------------------------------------- control channel

    const answer = (req: ControlRequest): Omit<ControlResult, 'id' | 'at'> => {
      if (req.kind === SESSIONS_LIST) {
        const account = typeof req.args.account === 'string' ? tryParseJID(req.args.account) : undefined;
        if (req.args.account !== undefined && (!account || account.resource)) return { ok: false, message: `${String(req.args.account)} is not an account address` };
        const list = [...(account ? ctx.sessions.ofAccount(account.bare) : ctx.sessions.all())].map((s) => (records.get(s) ?? new SessionRecord(s)).snapshot());
        list.sort((a, b) => a.account.localeCompare(b.account) || a.started_at.localeCompare(b.started_at));
        return { ok: true, message: `${list.length} session${list.length === 1 ? '' : 's'}`, data: list };
      }
      const target = typeof req.args.jid === 'string' ? tryParseJID(req.args.jid) : undefined;
      if (!target || !target.local || target.domain !== ctx.host) return { ok: false, message: `${String(req.args.jid)} is not an address of an account on ${ctx.host}` };
      if (req.kind === SESSIONS_KILL) {
        const victims = target.resource ? [ctx.sessions.get(target)].filter((s) => s !== undefined) : ctx.sessions.ofAccount(target.bare);
        const reason = typeof req.args.reason === 'string' ? clip(req.args.reason) : undefined;
        const text = reason ? `${KILL_TEXT} ${reason}` : KILL_TEXT;
        for (const s of victims) s.close('policy-violation', text);
        ctx.log.info({ target: target.toString(), closed: victims.length, by: req.by }, 'sessions closed by an administrator');
        return { ok: true, message: `closed ${victims.length} session${victims.length === 1 ? '' : 's'} of ${target.toString()}`, data: { closed: victims.map((s) => s.jid.toString()) } };
      }
      // SESSIONS_CLOSE_ACCOUNT: the credentials changed. RFC 6120 §4.9.3.16 <reset/>: authentication must be negotiated again.
      const victims = ctx.sessions.ofAccount(target.bare);
      for (const s of victims) s.close('reset', PASSWORD_CHANGED_TEXT);
      ctx.log.info({ account: target.bareString(), closed: victims.length, by: req.by }, 'sessions closed after a password change');
      return { ok: true, message: `closed ${victims.length} session${victims.length === 1 ? '' : 's'} of ${target.bareString()}`, data: { closed: victims.map((s) => s.jid.toString()) } };
    };

    const poll = () => {
      if (stopping) return;
      try {
        touchHeartbeat(ctx.dataDir, SESSIONS_HEARTBEAT);
        for (const req of takeControlRequests(ctx.dataDir, [SESSIONS_LIST, SESSIONS_KILL, SESSIONS_CLOSE_ACCOUNT])) {
          writeControlResult(ctx.dataDir, { id: req.id, at: new Date().toISOString(), ...answer(req) });
        }
      } catch (err) {
        ctx.log.warn({ err }, 'could not answer control requests');
      }
    };
    poll();
    ctx.every(ctx.options.control_poll_ms, poll);
    ctx.on('stopping', () => {
      stopping = true;
      clearHeartbeat(ctx.dataDir, SESSIONS_HEARTBEAT);
    });
  },
});

/** The client software a version answer names, if it names one. */
function softwareIn(query: Element | undefined): ClientSoftware | undefined {
  const software = clip(query?.getChildText('name', NS_VERSION));
  if (!software) return undefined;
  return { software, version: clip(query!.getChildText('version', NS_VERSION)), os: clip(query!.getChildText('os', NS_VERSION)) };
}
