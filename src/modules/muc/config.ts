// Room configuration (XEP-0045 §10.2): the muc#roomconfig form an owner gets
// and submits. Unknown fields are ignored (clients send what they know); a
// known field with a bad value refuses the whole form, so nothing changes.
import type { Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { NS } from '../../xmpp/ns.ts';
import { formElement, readForm, type FormField } from '../pep/form.ts';
import type { AllowPm } from './roles.ts';

export const NS_ROOMCONFIG = 'http://jabber.org/protocol/muc#roomconfig';

export type Whois = 'moderators' | 'anyone';

export interface RoomConfig {
  name: string;
  description: string;
  persistent: boolean;
  membersOnly: boolean;
  /** The room secret; '' when the room is not password protected. */
  password: string;
  moderated: boolean;
  /** Listed in the service's disco#items; a hidden room is not. */
  public: boolean;
  whois: Whois;
  /** Whether participants (not only moderators) may change the subject. */
  changeSubject: boolean;
  allowPm: AllowPm;
  maxUsers: number;
  historyLength: number;
  /** Keep the room's messages in its archive (XEP-0313); only persistent rooms have one. */
  archive: boolean;
}

/** What the service allows a room; the form's bounds. */
export interface ConfigLimits {
  maxUsers: number;
  maxHistory: number;
  maxNameChars: number;
  maxSubjectChars: number;
}

export function defaultConfig(limits: ConfigLimits): RoomConfig {
  return {
    name: '',
    description: '',
    persistent: false,
    membersOnly: false,
    password: '',
    moderated: false,
    public: true,
    whois: 'moderators',
    changeSubject: false,
    allowPm: 'anyone',
    maxUsers: limits.maxUsers,
    historyLength: Math.min(20, limits.maxHistory),
    archive: true,
  };
}

const F = {
  name: 'muc#roomconfig_roomname',
  description: 'muc#roomconfig_roomdesc',
  persistent: 'muc#roomconfig_persistentroom',
  membersOnly: 'muc#roomconfig_membersonly',
  passwordProtected: 'muc#roomconfig_passwordprotectedroom',
  secret: 'muc#roomconfig_roomsecret',
  moderated: 'muc#roomconfig_moderatedroom',
  public: 'muc#roomconfig_publicroom',
  whois: 'muc#roomconfig_whois',
  changeSubject: 'muc#roomconfig_changesubject',
  allowPm: 'muc#roomconfig_allowpm',
  maxUsers: 'muc#roomconfig_maxusers',
  historyLength: 'muc#roomconfig_historylength',
  // Prosody's name, which clients (Converse, Gajim) know.
  archive: 'muc#roomconfig_enablearchiving',
} as const;
/** XEP-0045's registered name for the history length; read as well as Prosody's, which clients use more. */
const HISTORY_ALIAS = 'muc#maxhistoryfetch';

/** Longest room password accepted. */
const MAX_SECRET_CHARS = 256;

const bool = (b: boolean) => (b ? '1' : '0');

/** The configuration as the form an owner fills in (§10.2); the archiving field only when rooms can have archives. */
export function configForm(c: RoomConfig, archiving = false): Element {
  const fields: FormField[] = [
    { var: F.name, type: 'text-single', label: 'Room name', values: [c.name] },
    {
      var: F.description,
      type: 'text-single',
      label: 'Description',
      values: [c.description],
    },
    {
      var: F.persistent,
      type: 'boolean',
      label: 'Keep the room when the last occupant leaves',
      values: [bool(c.persistent)],
    },
    {
      var: F.public,
      type: 'boolean',
      label: 'List the room in the directory',
      values: [bool(c.public)],
    },
    {
      var: F.membersOnly,
      type: 'boolean',
      label: 'Members only',
      values: [bool(c.membersOnly)],
    },
    {
      var: F.passwordProtected,
      type: 'boolean',
      label: 'Password required to enter',
      values: [bool(c.password !== '')],
    },
    {
      var: F.secret,
      type: 'text-private',
      label: 'Password',
      values: c.password ? [c.password] : [],
    },
    {
      var: F.moderated,
      type: 'boolean',
      label: 'Moderated (only participants with voice speak)',
      values: [bool(c.moderated)],
    },
    {
      var: F.whois,
      type: 'list-single',
      label: 'Who sees real addresses',
      values: [c.whois],
      options: ['moderators', 'anyone'],
    },
    {
      var: F.changeSubject,
      type: 'boolean',
      label: 'Participants may change the subject',
      values: [bool(c.changeSubject)],
    },
    {
      var: F.allowPm,
      type: 'list-single',
      label: 'Who may send private messages',
      values: [c.allowPm],
      options: ['anyone', 'participants', 'moderators', 'none'],
    },
    {
      var: F.maxUsers,
      type: 'text-single',
      label: 'Most occupants',
      values: [String(c.maxUsers)],
    },
    {
      var: F.historyLength,
      type: 'text-single',
      label: 'Messages of history kept',
      values: [String(c.historyLength)],
    },
  ];
  if (archiving) {
    fields.push({
      var: F.archive,
      type: 'boolean',
      label: 'Archive messages (persistent rooms), for members to read back',
      values: [bool(c.archive)],
    });
  }
  return formElement('form', NS_ROOMCONFIG, fields);
}

/**
 * A submitted form applied to `current`: the new configuration. An empty
 * submitted form (the instant room of §10.1.2) keeps `current` as it is.
 */
export function parseConfigForm(form: Element, current: RoomConfig, limits: ConfigLimits): RoomConfig {
  if (form.ns !== NS.dataForms || form.attrs.type !== 'submit')
    throw new StanzaError('bad-request', "Submit the room configuration as a data form of type 'submit'.");
  const { formType, fields } = readForm(form);
  if (formType !== undefined && formType !== NS_ROOMCONFIG) throw new StanzaError('bad-request', `The form's FORM_TYPE must be ${NS_ROOMCONFIG}.`);
  const next = { ...current };
  const one = (name: string): string | undefined => {
    const values = fields.get(name);
    if (values === undefined) return undefined;
    if (values.length > 1) throw new StanzaError('bad-request', `The field '${name}' takes one value.`);
    return values[0] ?? '';
  };
  const text = (name: string, max: number): string | undefined => {
    const v = one(name);
    if (v !== undefined && [...v].length > max) throw new StanzaError('not-acceptable', `'${name}' is at most ${max} characters.`);
    return v;
  };
  const flag = (name: string): boolean | undefined => {
    const v = one(name);
    if (v === undefined) return undefined;
    if (v === '1' || v === 'true') return true;
    if (v === '0' || v === 'false') return false;
    throw new StanzaError('not-acceptable', `'${name}' is a boolean (1 or 0), not '${v}'.`);
  };
  const choice = <T extends string>(name: string, allowed: readonly T[]): T | undefined => {
    const v = one(name);
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v)) throw new StanzaError('not-acceptable', `'${name}' is one of ${allowed.join(', ')}; not '${v}'.`);
    return v as T;
  };
  const count = (name: string, min: number, max: number): number | undefined => {
    const v = one(name);
    if (v === undefined) return undefined;
    if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max)
      throw new StanzaError('not-acceptable', `'${name}' is a whole number from ${min} to ${max}; not '${v}'.`);
    return Number(v);
  };

  next.name = text(F.name, limits.maxNameChars) ?? next.name;
  next.description = text(F.description, limits.maxSubjectChars) ?? next.description;
  next.persistent = flag(F.persistent) ?? next.persistent;
  next.membersOnly = flag(F.membersOnly) ?? next.membersOnly;
  next.moderated = flag(F.moderated) ?? next.moderated;
  next.public = flag(F.public) ?? next.public;
  next.changeSubject = flag(F.changeSubject) ?? next.changeSubject;
  next.archive = flag(F.archive) ?? next.archive;
  next.whois = choice(F.whois, ['moderators', 'anyone'] as const) ?? next.whois;
  next.allowPm = choice(F.allowPm, ['anyone', 'participants', 'moderators', 'none'] as const) ?? next.allowPm;
  next.maxUsers = count(F.maxUsers, 1, limits.maxUsers) ?? next.maxUsers;
  next.historyLength = count(F.historyLength, 0, limits.maxHistory) ?? count(HISTORY_ALIAS, 0, limits.maxHistory) ?? next.historyLength;

  const secret = text(F.secret, MAX_SECRET_CHARS);
  const protectedRoom = flag(F.passwordProtected) ?? (secret !== undefined ? secret !== '' : current.password !== '');
  if (!protectedRoom) next.password = '';
  else {
    next.password = secret ?? current.password;
    if (next.password === '') throw new StanzaError('not-acceptable', 'A password protected room needs a password (muc#roomconfig_roomsecret).');
  }
  return next;
}

/** The disco#info features that describe a room's configuration (XEP-0045 §6.4, §15.6.2). */
export function configFeatures(c: RoomConfig): string[] {
  const muc = 'muc_';
  return [
    muc + (c.persistent ? 'persistent' : 'temporary'),
    muc + (c.membersOnly ? 'membersonly' : 'open'),
    muc + (c.password ? 'passwordprotected' : 'unsecured'),
    muc + (c.moderated ? 'moderated' : 'unmoderated'),
    muc + (c.public ? 'public' : 'hidden'),
    muc + (c.whois === 'anyone' ? 'nonanonymous' : 'semianonymous'),
  ];
}
