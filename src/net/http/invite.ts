// The invitation page (docs/invitations.md): GET /invite/<token> shows the
// form, POST /invite/<token> creates the account. The listener's only route
// that reads a body: a small urlencoded form, parsed in this plugin's own
// context so that no other route accepts one.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Server } from '../../core/server.ts';
import { Accounts } from '../../core/accounts.ts';
import { lookupInvitation, redeemInvitation, type RedeemForm } from '../../invitations/index.ts';
import { TokenBucket } from '../limits.ts';
import { formPage, messagePage, successPage } from './invite-page.ts';

export const INVITE_PATH = '/invite/:token';
/** Three fields of at most 1023 bytes each, percent-encoded ASCII: 4 KiB is ample. */
export const INVITE_BODY_LIMIT = 4096;
/** Addresses whose request counts are kept; past this the oldest is forgotten. */
const MAX_TRACKED_ADDRESSES = 10_000;

type Params = { token: string };

function html(reply: FastifyReply, code: number, body: string): FastifyReply {
  // The token is in the URL: nothing of it may be cached or sent on as a referrer (no-referrer is set for all).
  return reply.code(code).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(body);
}

/** A token bucket per client address; refuses when the address has used up its allowance. */
function perAddressLimiter(perMinute: number): (address: string) => boolean {
  const buckets = new Map<string, TokenBucket>();
  return (address) => {
    let bucket = buckets.get(address);
    if (!bucket) {
      if (buckets.size >= MAX_TRACKED_ADDRESSES) buckets.delete(buckets.keys().next().value!);
      bucket = new TokenBucket(perMinute / 60, perMinute);
      buckets.set(address, bucket);
    }
    if (bucket.take(1) === 0) return true;
    bucket.take(-1); // refused requests do not deepen the debt
    return false;
  };
}

function field(form: URLSearchParams, name: string): string {
  return form.get(name) ?? '';
}

export async function registerInvitations(app: FastifyInstance, server: Server): Promise<void> {
  const cfg = server.loaded.config;
  const domain = cfg.domain;
  const minLength = cfg.registration.password_min_length;
  const accounts = Accounts.fromConfig(server.storage, cfg);
  const allowed = perAddressLimiter(cfg.registration.redeem_attempts_per_minute);
  // 404 for a token that never existed, 410 for one that did; nothing more is told.
  const notOpen = (reply: FastifyReply, status: 'unknown' | 'gone') =>
    status === 'unknown'
      ? html(reply, 404, messagePage('Invitation not found', 'There is no invitation at this address. Check that the link was copied whole.'))
      : html(reply, 410, messagePage('Invitation not valid', 'This invitation has expired, was revoked or has already been used. Ask for a new one.'));

  const limit = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!allowed(req.socket.remoteAddress ?? 'unknown')) {
      return html(reply.header('retry-after', '60'), 429, messagePage('Too many attempts', 'Too many requests from your address. Wait a minute and try again.'));
    }
  };

  await app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: INVITE_BODY_LIMIT }, (_req, body, done) => {
      done(null, new URLSearchParams(body as string));
    });

    scope.get<{ Params: Params }>(INVITE_PATH, { onRequest: limit }, async (req, reply) => {
      const found = await lookupInvitation(server.storage, domain, req.params.token);
      if (found.status !== 'open') return notOpen(reply, found.status);
      return html(reply, 200, formPage({ domain, fixedLocalpart: found.invitation.localpart, username: '', minLength }));
    });

    scope.post<{ Params: Params; Body: URLSearchParams }>(INVITE_PATH, { onRequest: limit, bodyLimit: INVITE_BODY_LIMIT }, async (req, reply) => {
      if (!(req.body instanceof URLSearchParams)) return html(reply, 400, messagePage('Bad request', 'Send the form from the invitation page.'));
      const form: RedeemForm = { username: field(req.body, 'username'), password: field(req.body, 'password'), confirm: field(req.body, 'confirm') };
      const result = await redeemInvitation({ storage: server.storage, accounts, domain, passwordMinLength: minLength }, req.params.token, form);
      if (!result.ok) {
        if (result.status !== 'refused') return notOpen(reply, result.status);
        const again = await lookupInvitation(server.storage, domain, req.params.token);
        const fixed = again.status === 'open' ? again.invitation.localpart : null;
        return html(reply, 400, formPage({ domain, fixedLocalpart: fixed, username: form.username, minLength, error: result.message }));
      }
      const inv = result.invitation;
      await server.policyEngine.audit.append({
        actor: result.jid,
        action: 'invite.redeem',
        decision: 'info',
        reason: `account created with invitation ${inv.id}`,
        details: { invitation: inv.id, ip: req.socket.remoteAddress ?? null, group: inv.group, created_by: inv.createdBy },
      });
      if (inv.group) await server.policyEngine.reloadGroups(`invite:${inv.id}`);
      req.log.info({ invitation: inv.id, account: result.jid }, 'invitation redeemed');
      return html(reply, 200, successPage(result.jid));
    });

    scope.route({
      method: ['PUT', 'DELETE', 'PATCH', 'OPTIONS'],
      url: INVITE_PATH,
      handler: (_req, reply) => reply.code(405).header('allow', 'GET, HEAD, POST').type('text/plain; charset=utf-8').send('Method not allowed.\n'),
    });
  });
}
