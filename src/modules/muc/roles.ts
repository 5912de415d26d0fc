// Affiliations (long-lived, per bare JID) and roles (per visit) of XEP-0045 §5,
// and the one table of who may change whose role or affiliation (§8, §9, §10).
// Every permission question the room asks is answered here, so the rules live
// in one place and the unit tests can read them as a table.
import { StanzaError } from '../../xmpp/errors.ts';

export const AFFILIATIONS = ['owner', 'admin', 'member', 'none', 'outcast'] as const;
export type Affiliation = (typeof AFFILIATIONS)[number];
export const ROLES = ['moderator', 'participant', 'visitor', 'none'] as const;
export type Role = (typeof ROLES)[number];

/** Who may send private messages (muc#roomconfig_allowpm). */
export type AllowPm = 'anyone' | 'participants' | 'moderators' | 'none';

const RANK: Record<Affiliation, number> = {
  outcast: -1,
  none: 0,
  member: 1,
  admin: 2,
  owner: 3,
};

export function isAffiliation(s: string | undefined): s is Affiliation {
  return (AFFILIATIONS as readonly string[]).includes(s ?? '');
}
export function isRole(s: string | undefined): s is Role {
  return (ROLES as readonly string[]).includes(s ?? '');
}

/** §5.1.2: the role an affiliation gets on entering; none for an outcast (who may not enter). */
export function defaultRole(affiliation: Affiliation, moderated: boolean): Role {
  switch (affiliation) {
    case 'owner':
    case 'admin':
      return 'moderator';
    case 'member':
      return 'participant';
    case 'none':
      return moderated ? 'visitor' : 'participant';
    case 'outcast':
      return 'none';
  }
}

export interface Actor {
  affiliation: Affiliation;
  role: Role;
}

/** What a refusal is: lacking the privilege (forbidden, §8) or aiming above one's rank (not-allowed, §8.2). */
export type Refusal = { condition: 'forbidden' | 'not-allowed'; text: string } | undefined;

/**
 * §8.2-8.6, §9.6-9.8: may `actor` change the role of an occupant with
 * `target`'s affiliation and role to `role`? Kicking (none) and voice
 * (participant/visitor) need a moderator; moderator status needs an admin or
 * owner; no one acts on an admin or owner this way except an owner granting or
 * keeping them moderator.
 */
export function roleChangeRefusal(actor: Actor, target: Actor, role: Role): Refusal {
  const grantsModerator = role === 'moderator' || target.role === 'moderator';
  if (grantsModerator && RANK[actor.affiliation] < RANK.admin) {
    return {
      condition: 'forbidden',
      text: 'Only admins and owners grant or revoke moderator status.',
    };
  }
  if (actor.role !== 'moderator') return { condition: 'forbidden', text: 'Only moderators change roles.' };
  if (role !== 'moderator' && RANK[target.affiliation] >= RANK.admin) {
    return {
      condition: 'not-allowed',
      text: `An occupant who is ${target.affiliation} of the room cannot be kicked, silenced or demoted.`,
    };
  }
  if (role === 'visitor' && RANK[target.affiliation] >= RANK[actor.affiliation] && target.affiliation !== 'none') {
    return {
      condition: 'not-allowed',
      text: 'You cannot revoke voice from someone of your own affiliation or above.',
    };
  }
  return undefined;
}

/**
 * §9, §10: may `actor` (by affiliation) change an affiliation from `from` to
 * `to`? Owners change anything; admins move people among none, member and
 * outcast only; nobody else changes affiliations.
 */
export function affiliationChangeRefusal(actor: Affiliation, from: Affiliation, to: Affiliation): Refusal {
  if (actor === 'owner') return undefined;
  if (actor !== 'admin')
    return {
      condition: 'forbidden',
      text: 'Only admins and owners change affiliations.',
    };
  if (to === 'admin' || to === 'owner')
    return {
      condition: 'forbidden',
      text: 'Only owners grant admin or owner status.',
    };
  if (RANK[from] >= RANK.admin)
    return {
      condition: 'not-allowed',
      text: `Only owners change the affiliation of a room's ${from}.`,
    };
  return undefined;
}

/** §9.5, §8.5: who may read the list of an affiliation or role. */
export function listRefusal(actor: Actor, list: { affiliation: Affiliation } | { role: Role }): Refusal {
  if ('role' in list) {
    return actor.role === 'moderator'
      ? undefined
      : {
          condition: 'forbidden',
          text: 'Only moderators read the lists of roles.',
        };
  }
  const needed = list.affiliation === 'owner' || list.affiliation === 'admin' ? 'owner' : 'admin';
  if (RANK[actor.affiliation] >= RANK[needed]) return undefined;
  return {
    condition: 'forbidden',
    text: needed === 'owner' ? `Only owners read the ${list.affiliation} list.` : `Only admins and owners read the ${list.affiliation} list.`,
  };
}

export function mayConfigure(affiliation: Affiliation): boolean {
  return affiliation === 'owner';
}

/** §7.4: visitors in a moderated room are not heard. */
export function maySpeak(role: Role, moderated: boolean): boolean {
  return role === 'moderator' || role === 'participant' || (role === 'visitor' && !moderated);
}

/** §8.1: moderators always; participants when the room lets them (muc#roomconfig_changesubject). */
export function mayChangeSubject(role: Role, occupantsMay: boolean): boolean {
  return role === 'moderator' || (role === 'participant' && occupantsMay);
}

export function maySendPrivate(role: Role, allowPm: AllowPm): boolean {
  switch (allowPm) {
    case 'anyone':
      return role !== 'none';
    case 'participants':
      return role === 'participant' || role === 'moderator';
    case 'moderators':
      return role === 'moderator';
    case 'none':
      return false;
  }
}

/** Throws the refusal as a stanza error; nothing has changed when it throws. */
export function enforce(refusal: Refusal): void {
  if (refusal) throw new StanzaError(refusal.condition, refusal.text);
}
