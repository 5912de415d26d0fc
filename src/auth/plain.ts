// SASL PLAIN message parsing (RFC 4616 §2): [authzid] NUL authcid NUL passwd.
// Whether PLAIN may be used at all (TLS and `auth.allow_plain`) is the caller's decision.

/** Per-part limit; RFC 4616 asks for at least 255 octets, and a JID localpart may be 1023. */
export const PLAIN_MAX_PART_BYTES = 1023;

export interface PlainCredentials {
  /** Absent when the client sent an empty authzid (act as yourself). */
  authzid: string | undefined;
  authcid: string;
  password: string;
}

export interface PlainError {
  error: 'malformed-request';
  text: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodePart(bytes: Buffer): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

export function parsePlain(msg: Buffer): PlainCredentials | PlainError {
  const first = msg.indexOf(0);
  const second = first < 0 ? -1 : msg.indexOf(0, first + 1);
  if (second < 0 || msg.indexOf(0, second + 1) >= 0) {
    return { error: 'malformed-request', text: 'PLAIN message must contain exactly two NUL separators' };
  }
  const raw = [msg.subarray(0, first), msg.subarray(first + 1, second), msg.subarray(second + 1)] as const;
  if (raw.some((part) => part.length > PLAIN_MAX_PART_BYTES)) {
    return { error: 'malformed-request', text: `PLAIN message part longer than ${PLAIN_MAX_PART_BYTES} bytes` };
  }
  const [authzid, authcid, password] = raw.map(decodePart);
  if (authzid === undefined || authcid === undefined || password === undefined) {
    return { error: 'malformed-request', text: 'PLAIN message is not valid UTF-8' };
  }
  if (authcid === '' || password === '') return { error: 'malformed-request', text: 'PLAIN authcid and password must not be empty' };
  return { authzid: authzid === '' ? undefined : authzid, authcid, password };
}
