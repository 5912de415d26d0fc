// The Hashed Token SASL mechanisms used by FAST (draft-schmaus-kitten-sasl-ht):
// one message each way. The client sends authcid NUL HMAC(token, "Initiator" ||
// cb-data); the server answers HMAC(token, "Responder" || cb-data), proving it
// knows the token too. HT-SHA-256-NONE binds to nothing, -ENDP to
// tls-server-end-point, -EXPR to tls-exporter.
import { createHmac } from 'node:crypto';
import type { ChannelBindingType } from './scram.ts';

export type HtMechanism = 'HT-SHA-256-EXPR' | 'HT-SHA-256-ENDP' | 'HT-SHA-256-NONE';

/** Strongest first. */
export const HT_MECHANISMS: readonly HtMechanism[] = ['HT-SHA-256-EXPR', 'HT-SHA-256-ENDP', 'HT-SHA-256-NONE'];

export const HT_BINDING: Record<HtMechanism, ChannelBindingType | undefined> = {
  'HT-SHA-256-EXPR': 'tls-exporter',
  'HT-SHA-256-ENDP': 'tls-server-end-point',
  'HT-SHA-256-NONE': undefined,
};

/** A localpart is at most 1023 bytes (RFC 7622); the MAC is 32. */
const MAX_AUTHCID_BYTES = 1023;
const MAC_BYTES = 32;

export function isHtMechanism(name: string): name is HtMechanism {
  return (HT_MECHANISMS as readonly string[]).includes(name);
}

export function htMac(token: string, role: 'Initiator' | 'Responder', cbData: Buffer): Buffer {
  return createHmac('sha256', Buffer.from(token, 'utf8')).update(role).update(cbData).digest();
}

/** The client's message: authcid NUL mac. */
export function htInitial(username: string, token: string, cbData: Buffer): Buffer {
  return Buffer.concat([Buffer.from(username, 'utf8'), Buffer.from([0]), htMac(token, 'Initiator', cbData)]);
}

export function parseHtInitial(msg: Buffer): { authcid: string; mac: Buffer } | { error: string } {
  const nul = msg.indexOf(0);
  if (nul <= 0) return { error: 'The HT message must be a username, a NUL byte and the token MAC.' };
  if (nul > MAX_AUTHCID_BYTES) return { error: `The HT username is longer than ${MAX_AUTHCID_BYTES} bytes.` };
  const mac = msg.subarray(nul + 1);
  if (mac.length !== MAC_BYTES) return { error: `The HT token MAC must be ${MAC_BYTES} bytes.` };
  let authcid: string;
  try {
    authcid = new TextDecoder('utf-8', { fatal: true }).decode(msg.subarray(0, nul));
  } catch {
    return { error: 'The HT username is not valid UTF-8.' };
  }
  return { authcid, mac };
}
