// Encryption at rest: every file has its own random AES-256-GCM key, stored
// only wrapped (AES-256-GCM) by the server key in <data_dir>/http-upload.key,
// so the upload folder and a database dump alone reveal no content.
import { createCipheriv, createDecipheriv, randomBytes, type CipherGCM, type DecipherGCM } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Reads the server key, creating it (mode 0600) on first use. */
export function loadServerKey(file: string): Buffer {
  try {
    writeFileSync(file, randomBytes(KEY_BYTES), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = readFileSync(file);
  if (key.length !== KEY_BYTES) throw new Error(`${file} must hold exactly ${KEY_BYTES} bytes`);
  return key;
}

/** What the database keeps to decrypt one file: its key wrapped by the server key, and the file's IV and tag. */
export interface FileSecrets {
  /** base64 of iv | tag | encrypted file key. */
  wrappedKey: string;
  /** base64 of the file's IV. */
  iv: string;
}

export function newFileCipher(serverKey: Buffer): { cipher: CipherGCM; secrets: FileSecrets } {
  const fileKey = randomBytes(KEY_BYTES);
  const iv = randomBytes(IV_BYTES);
  const wrapIv = randomBytes(IV_BYTES);
  const wrap = createCipheriv('aes-256-gcm', serverKey, wrapIv);
  const wrapped = Buffer.concat([wrap.update(fileKey), wrap.final()]);
  const secrets = { wrappedKey: Buffer.concat([wrapIv, wrap.getAuthTag(), wrapped]).toString('base64'), iv: iv.toString('base64') };
  return { cipher: createCipheriv('aes-256-gcm', fileKey, iv), secrets };
}

export function fileDecipher(serverKey: Buffer, secrets: FileSecrets, tag: string): DecipherGCM {
  const w = Buffer.from(secrets.wrappedKey, 'base64');
  const unwrap = createDecipheriv('aes-256-gcm', serverKey, w.subarray(0, IV_BYTES));
  unwrap.setAuthTag(w.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  const fileKey = Buffer.concat([unwrap.update(w.subarray(IV_BYTES + TAG_BYTES)), unwrap.final()]);
  const decipher = createDecipheriv('aes-256-gcm', fileKey, Buffer.from(secrets.iv, 'base64'));
  decipher.setAuthTag(Buffer.from(tag, 'base64'));
  return decipher;
}
