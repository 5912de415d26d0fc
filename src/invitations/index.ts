// Invitations: the only way to self-service accounts (XEP-0401 style). An
// administrator creates one (`palisade invite create`), the person invited
// opens its link, picks a user name (unless the invitation fixes it) and a
// password, and the account exists. Redemption is one-time: the invitation is
// claimed atomically before the account is created, and released if that fails.
import type { Storage } from '../storage/types.ts';
import { StorageConflictError } from '../storage/types.ts';
import { AccountError, type Accounts, preparePassword } from '../core/accounts.ts';
import { isMixedScript } from '../xmpp/precis.ts';
import { GroupStore } from '../policy/groups.ts';
import { InvitationStore, invitationState, type Invitation } from './store.ts';
import { hashToken, newToken, TOKEN_PATTERN } from './token.ts';
import { passwordProblem } from './password-rules.ts';

export interface CreatedInvitation {
  id: number;
  token: string;
  expiresAt: Date;
}

export async function createInvitation(
  storage: Storage,
  domain: string,
  o: { createdBy: string; validForMs: number; group: string | null; localpart: string | null; now?: Date },
): Promise<CreatedInvitation> {
  const now = o.now ?? new Date();
  const token = newToken();
  const expiresAt = new Date(now.getTime() + o.validForMs);
  const id = await new InvitationStore(storage.db, domain).create({ tokenHash: hashToken(token), createdBy: o.createdBy, expiresAt, group: o.group, localpart: o.localpart, now });
  return { id, token, expiresAt };
}

/** The redeem page under the HTTPS listener's public origin, and the XEP-0379/0401 URI. */
export function invitationLinks(origin: URL, domain: string, token: string, localpart: string | null): { url: string; uri: string } {
  return {
    url: new URL(`/invite/${token}`, origin).href,
    uri: `xmpp:${localpart ? `${encodeURIComponent(localpart)}@` : ''}${domain}?register;preauth=${token}`,
  };
}

export type Lookup = { status: 'open'; invitation: Invitation } | { status: 'unknown' | 'gone' };

/** What a token refers to. Expired, used and revoked invitations look the same from outside ('gone'). */
export async function lookupInvitation(storage: Storage, domain: string, token: string, now = Date.now()): Promise<Lookup> {
  if (!TOKEN_PATTERN.test(token)) return { status: 'unknown' };
  const invitation = await new InvitationStore(storage.db, domain).byTokenHash(hashToken(token));
  if (!invitation) return { status: 'unknown' };
  return invitationState(invitation, now) === 'open' ? { status: 'open', invitation } : { status: 'gone' };
}

export interface RedeemForm {
  username: string;
  password: string;
  confirm: string;
}

export type RedeemResult =
  | { ok: true; jid: string; invitation: Invitation }
  | { ok: false; status: 'unknown' | 'gone' }
  /** The form needs changing; nothing was created and the invitation stays open. */
  | { ok: false; status: 'refused'; message: string };

export interface RedeemOptions {
  storage: Storage;
  accounts: Accounts;
  domain: string;
  passwordMinLength: number;
}

export async function redeemInvitation(o: RedeemOptions, token: string, form: RedeemForm): Promise<RedeemResult> {
  const found = await lookupInvitation(o.storage, o.domain, token);
  if (found.status !== 'open') return { ok: false, status: found.status };
  const invitation = found.invitation;
  const refuse = (message: string): RedeemResult => ({ ok: false, status: 'refused', message });

  const wanted = invitation.localpart ?? form.username.trim();
  if (!wanted) return refuse('Choose a user name.');
  if (wanted.includes('@') || wanted.includes('/')) return refuse(`Enter the user name only, without @${o.domain}.`);
  let local: string;
  try {
    local = o.accounts.jid(wanted).local;
  } catch (err) {
    if (err instanceof AccountError) return refuse(`This user name can't be used: ${err.message}`);
    throw err;
  }
  if (isMixedScript(local)) return refuse('This user name mixes scripts (it could pass for someone else); use letters of one script.');
  if (form.password !== form.confirm) return refuse('The two passwords are not the same.');
  // Checked on the raw text too, so that the page's own minimum is what a short password is told.
  const tooShort = passwordProblem(form.password, { minLength: o.passwordMinLength });
  if (tooShort && [...form.password].length < o.passwordMinLength) return refuse(tooShort);
  let prepared: string;
  try {
    prepared = preparePassword(form.password);
  } catch (err) {
    if (err instanceof AccountError) return refuse(err.message);
    throw err;
  }
  const weak = passwordProblem(prepared, { minLength: o.passwordMinLength, username: local });
  if (weak) return refuse(weak);
  if (await o.accounts.get(local)) return refuse('This user name is taken; choose another.');

  const store = new InvitationStore(o.storage.db, o.domain);
  const jid = `${local}@${o.domain}`;
  if (!(await store.claim(invitation.id, jid))) return { ok: false, status: 'gone' };
  try {
    await o.accounts.add(local, form.password);
  } catch (err) {
    await store.release(invitation.id, jid);
    if (err instanceof StorageConflictError) return refuse('This user name is taken; choose another.');
    if (err instanceof AccountError) return refuse(err.message);
    throw err;
  }
  if (invitation.group) {
    const groups = new GroupStore(o.storage.db);
    // The group may have been removed since the invitation was made; the account stays.
    if (await groups.get(invitation.group)) await groups.addMember(invitation.group, jid);
  }
  return { ok: true, jid, invitation };
}
