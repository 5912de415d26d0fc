// Room nicknames (XEP-0045 §7.2.1 and RFC 8266): the resourcepart of an
// occupant JID, enforced with the PRECIS Nickname profile. Two nicknames are
// the same when their comparison keys are (case and width folded), so "Alice"
// and "alice" cannot sit in one room together.
import { StanzaError } from '../../xmpp/errors.ts';
import { nickname, nicknameKey, PrecisError } from '../../xmpp/precis.ts';

export interface Nick {
  /** The enforced form, shown to everyone (room/nick). */
  display: string;
  /** The comparison form: one occupant per key. */
  key: string;
}

/** Enforces a requested nickname; jid-malformed when PRECIS refuses it, not-acceptable when it is too long. */
export function prepareNick(raw: string, maxChars: number): Nick {
  if (raw === '') throw new StanzaError('jid-malformed', 'Join the room as room@service/nickname; the nickname is missing.');
  let display: string;
  let key: string;
  try {
    display = nickname(raw);
    key = nicknameKey(raw);
  } catch (err) {
    if (!(err instanceof PrecisError)) throw err;
    throw new StanzaError('jid-malformed', `This nickname cannot be used: ${err.reason}.`);
  }
  const length = [...display].length;
  if (length > maxChars) throw new StanzaError('not-acceptable', `Nicknames here are at most ${maxChars} characters; this one has ${length}.`);
  return { display, key };
}
