// The upload service: slot requests (XEP-0363 §4) and the HTTP side of a
// slot, the PUT that stores the file and the GET that serves it. A PUT is
// streamed once, chunk by chunk, through type detection (magic bytes), the
// clamd scan, the encrypted-archive check and encryption to disk; nothing is
// buffered whole and nothing is downloadable before clamd called it clean.
// A GET serves the whole file or one byte range, decrypted as it is sent.
import type { DecipherGCM } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { fileTypeFromBuffer } from 'file-type';
import type { Logger } from 'pino';
import type { AuditStore } from '../../storage/types.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import type { JID } from '../../xmpp/jid.ts';
import { fileDecipher, newFileCipher } from './at-rest.ts';
import type { Clamd, StreamScan } from './clamd.ts';
import type { DownloadAuth } from './download-auth.ts';
import { contentDisposition, essence, MAX_FILENAME_BYTES, parseContentType, sanitiseFilename, urlName } from './names.ts';
import { parseRange, type ByteRange } from './ranges.ts';
import { newBlobName, newToken, type Upload, type UploadStore } from './store.ts';
import { looksLikeZip, MAX_ZIP_ENTRIES, ZipEncryptionCheck, type ZipVerdict } from './zip-check.ts';

export const NS_UPLOAD = 'urn:xmpp:http:upload:0';

export interface UploadLimits {
  maxFileSize: number;
  dailyQuota: number;
  expireMs: number;
  slotTtlMs: number;
  idleMs: number;
  /** Media types refused whether detected from the content or announced. */
  refusedTypes: ReadonlySet<string>;
  /** When set, only these detected (or, for undetectable content, announced) media types are accepted. */
  allowedTypes: ReadonlySet<string> | null;
  onScannerUnavailable: 'refuse' | 'allow-unscanned';
  /** Zip archives with password-protected entries (which clamd cannot scan). */
  encryptedArchives: 'refuse' | 'allow';
}

export interface UploadDeps {
  store: UploadStore;
  clamd: Clamd;
  serverKey: Buffer;
  uploadsDir: string;
  limits: UploadLimits;
  /** Set for `downloads: recipients-only`: a download must prove an account the file was shared with. */
  downloadAuth: DownloadAuth | undefined;
  /** The absolute URL of a path on the HTTPS listener; undefined while it is off. */
  publicUrl(path: string): string | undefined;
  audit: AuditStore;
  log: Logger;
}

/** Bytes of the start of a file used to detect its type (file-type reads no further for most formats). */
const HEAD_BYTES = 4100;
const DAY_MS = 24 * 60 * 60 * 1000;
/** 144 random bits, base64url. */
const TOKEN = /^[A-Za-z0-9_-]{24}$/;
/** Shown inline by browsers; every other type is offered as a download. */
const INLINE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** The HTTP Basic realm of `downloads: recipients-only` (a browser shows it when it asks for the password). */
const REALM = 'file downloads';

const ARCHIVE_REFUSALS: Record<Exclude<ZipVerdict, 'clear'>, string> = {
  encrypted: 'Password-protected archives are not accepted: the virus scanner cannot look inside them. Send the files unprotected.',
  unreadable: 'The zip archive is damaged or incomplete, so it could not be checked for password-protected entries; it is not accepted.',
  'too-many-entries': `The zip archive has more than ${MAX_ZIP_ENTRIES} entries to check; it is not accepted.`,
};

const SCANNER_DOWN = 'The virus scanner is unavailable, so uploads are refused for now. Try again later.';

class Refusal {
  constructor(
    readonly status: number,
    readonly message: string,
  ) {}
}

function text(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type('text/plain; charset=utf-8').send(`${message}\n`);
}

export class UploadService {
  private readonly d: UploadDeps;

  constructor(deps: UploadDeps) {
    this.d = deps;
  }

  /** XEP-0363 §4: the slot for a <request/>, or a StanzaError. The policy decided already (feature file-transfer). */
  async requestSlot(request: Element, from: JID): Promise<Element> {
    const { limits } = this.d;
    const filename = sanitiseFilename(request.attrs.filename ?? '');
    if (request.attrs.filename === undefined || filename === undefined) {
      throw new StanzaError('bad-request', `Give a file name of at most ${MAX_FILENAME_BYTES} bytes.`);
    }
    const sizeAttr = request.attrs.size ?? '';
    if (!/^[1-9][0-9]{0,15}$/.test(sizeAttr)) throw new StanzaError('bad-request', 'Give the file size in bytes, a whole number above zero.');
    const size = Number(sizeAttr);
    if (size > limits.maxFileSize) {
      throw new StanzaError('not-acceptable', `The file is too large: at most ${limits.maxFileSize} bytes.`, {
        appCondition: x('file-too-large', { xmlns: NS_UPLOAD }, x('max-file-size', {}, String(limits.maxFileSize))),
      });
    }
    let contentType: string | null = null;
    if (request.attrs['content-type'] !== undefined) {
      contentType = parseContentType(request.attrs['content-type']) ?? null;
      if (contentType === null) throw new StanzaError('bad-request', 'The content type is not a valid media type.');
      if (limits.refusedTypes.has(essence(contentType))) throw new StanzaError('not-acceptable', `Files of type ${essence(contentType)} are not accepted.`);
    }
    if (this.d.publicUrl('/') === undefined) throw new StanzaError('service-unavailable', 'File upload needs the HTTPS listener, which is off on this server.');
    const owner = from.bareString();
    const now = Date.now();
    const used = await this.d.store.bytesSince(owner, now - DAY_MS);
    if (used + size > limits.dailyQuota) {
      throw new StanzaError('resource-constraint', `Your upload quota is ${limits.dailyQuota} bytes a day; ${Math.max(0, limits.dailyQuota - used)} bytes are left.`, {
        type: 'wait',
      });
    }
    if (limits.onScannerUnavailable === 'refuse' && !(await this.d.clamd.ping())) throw new StanzaError('service-unavailable', SCANNER_DOWN, { type: 'wait' });

    const getToken = newToken();
    const putToken = newToken();
    await this.d.store.create({ getToken, putToken, owner, filename, size, contentType, blob: newBlobName(), createdAt: now, expiresAt: now + limits.expireMs });
    const name = urlName(filename);
    return x(
      'slot',
      { xmlns: NS_UPLOAD },
      x('put', { url: this.d.publicUrl(`/upload/${putToken}/${name}`)! }),
      x('get', { url: this.d.publicUrl(`/upload/${getToken}/${name}`)! }),
    );
  }

  /** PUT /upload/:token/:name — the slot's one upload. */
  async put(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { token } = req.params as { token: string };
    const upload = TOKEN.test(token) ? await this.d.store.claim(token, Date.now(), this.d.limits.slotTtlMs) : undefined;
    if (!upload) return text(reply, 403, 'This upload slot does not exist, has expired or was used already.');
    let outcome: Refusal | undefined;
    try {
      outcome = await this.receive(upload, req);
    } catch (err) {
      this.d.log.warn({ err, owner: upload.owner }, 'upload failed');
      await this.d.store.finish(upload.getToken, 'failed');
      outcome = new Refusal(400, 'The upload broke off; the file was not stored.');
    }
    if (!outcome) return text(reply, 201, 'Stored.');
    // An answer before the whole body was read: close the connection rather than read the rest.
    if (!req.raw.complete) reply.header('connection', 'close');
    return text(reply, outcome.status, outcome.message);
  }

  /** Stores the body; undefined when the file is now available, else why not (the slot is spent either way). */
  private async receive(upload: Upload, req: FastifyRequest): Promise<Refusal | undefined> {
    const fail = async (r: Refusal) => {
      await this.d.store.finish(upload.getToken, 'failed');
      return r;
    };
    // Node's parser delivers exactly Content-Length bytes (and refuses it next to chunked coding): checking the header bounds the body.
    const lengthHeader = req.headers['content-length'];
    if (lengthHeader === undefined) return fail(new Refusal(411, `Send the file with a Content-Length of ${upload.size} bytes.`));
    const length = /^[0-9]{1,16}$/.test(lengthHeader) ? Number(lengthHeader) : NaN;
    if (length > upload.size) return fail(new Refusal(413, `The file is larger than announced: the slot is for ${upload.size} bytes.`));
    if (length !== upload.size) return fail(new Refusal(400, `The file is not the announced size: the slot is for ${upload.size} bytes.`));
    const sent = req.headers['content-type'];
    const sentType = sent === undefined ? undefined : parseContentType(sent);
    if (sent !== undefined && sentType === undefined) return fail(new Refusal(400, 'The Content-Type is not a valid media type.'));
    if (upload.contentType !== null && sentType !== upload.contentType) {
      return fail(new Refusal(400, `The Content-Type must be the announced one: ${upload.contentType}.`));
    }
    const contentType = upload.contentType ?? sentType ?? null;

    let scan: StreamScan | undefined;
    try {
      scan = await this.d.clamd.scan();
    } catch (err) {
      if (this.d.limits.onScannerUnavailable === 'refuse') {
        this.d.log.error({ err }, 'clamd unreachable; upload refused');
        return fail(new Refusal(503, SCANNER_DOWN));
      }
      this.d.log.warn({ err, owner: upload.owner }, 'clamd unreachable; storing the upload unscanned (antivirus.on_unavailable: allow-unscanned)');
    }

    const path = join(this.d.uploadsDir, upload.blob);
    const file = await open(path, 'wx', 0o600);
    const { cipher, secrets } = newFileCipher(this.d.serverKey);
    let keep = false;
    try {
      const idle = () => req.raw.destroy(new Error(`no data for ${this.d.limits.idleMs} ms`));
      req.raw.setTimeout(this.d.limits.idleMs, idle);
      const head: Buffer[] = [];
      let headBytes = 0;
      let detected: string | null | undefined;
      let received = 0;
      // Only zip archives are looked into; whether it is one shows in its first four bytes.
      let zip = this.d.limits.encryptedArchives === 'refuse' ? new ZipEncryptionCheck() : undefined;
      let zipKnown = false;
      for await (const chunk of req.raw as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (detected === undefined) {
          head.push(chunk);
          headBytes += chunk.length;
          if (headBytes >= HEAD_BYTES) {
            detected = await detect(head);
            const refused = this.typeRefusal(detected, contentType);
            if (refused) return await fail(refused);
          }
        }
        if (zip) {
          zip.update(chunk);
          if (!zipKnown && received >= 4) {
            zipKnown = true;
            if (!looksLikeZip(Buffer.concat(head))) zip = undefined;
          }
        }
        await file.write(cipher.update(chunk));
        await scan?.write(chunk);
      }
      if (received !== upload.size) return await fail(new Refusal(400, `The upload ended after ${received} of ${upload.size} bytes.`));
      if (detected === undefined) {
        detected = await detect(head);
        const refused = this.typeRefusal(detected, contentType);
        if (refused) return await fail(refused);
      }
      const verdict = scan ? await scan.result() : undefined;
      if (verdict?.verdict === 'error') {
        this.d.log.error({ reason: verdict.reason, owner: upload.owner }, 'virus scan failed; upload refused');
        return await fail(new Refusal(503, 'The virus scan could not be completed, so the file was not stored. Try again later.'));
      }
      await file.write(cipher.final());
      const tag = cipher.getAuthTag().toString('base64');
      keep = true;
      if (verdict?.verdict === 'infected') {
        await this.d.store.finish(upload.getToken, 'quarantined', { detectedType: detected, secrets, tag, threat: verdict.signature });
        this.quarantined(upload, verdict.signature);
        return new Refusal(403, `The file was refused: the virus scanner found ${verdict.signature}. It has been quarantined.`);
      }
      const archive = zip && received >= 4 ? zip.result() : 'clear';
      if (archive !== 'clear') {
        keep = false;
        this.archiveRefused(upload, archive);
        return await fail(new Refusal(415, ARCHIVE_REFUSALS[archive]));
      }
      await this.d.store.finish(upload.getToken, 'available', { detectedType: detected, secrets, tag });
      return undefined;
    } finally {
      scan?.abort();
      await file.close();
      if (!keep) await unlink(path).catch(() => undefined);
    }
  }

  private typeRefusal(detected: string | null, announced: string | null): Refusal | undefined {
    const { refusedTypes, allowedTypes } = this.d.limits;
    if (detected !== null && refusedTypes.has(detected)) return new Refusal(415, `Files of type ${detected} are not accepted, whatever their name.`);
    const effective = detected ?? (announced === null ? null : essence(announced));
    if (allowedTypes && (effective === null || !allowedTypes.has(effective))) {
      return new Refusal(415, `Files of type ${effective ?? 'unknown'} are not accepted here.`);
    }
    return undefined;
  }

  private quarantined(upload: Upload, signature: string): void {
    this.d.log.warn({ owner: upload.owner, signature }, 'infected upload quarantined');
    this.d.audit
      .append({
        actor: upload.owner,
        action: 'http-upload.scan',
        decision: 'deny',
        reason: `virus scanner found ${signature}; file quarantined`,
        details: { filename: upload.filename, size: upload.size, signature, blob: upload.blob },
      })
      .catch((err: unknown) => this.d.log.error({ err }, 'audit append failed'));
  }

  private archiveRefused(upload: Upload, verdict: Exclude<ZipVerdict, 'clear'>): void {
    this.d.log.warn({ owner: upload.owner, verdict }, 'zip archive refused (encrypted_archives: refuse)');
    this.d.audit
      .append({
        actor: upload.owner,
        action: 'http-upload.archive',
        decision: 'deny',
        reason: verdict === 'encrypted' ? 'password-protected archive refused' : `archive could not be checked (${verdict}); refused`,
        details: { filename: upload.filename, size: upload.size, verdict, blob: upload.blob },
      })
      .catch((err: unknown) => this.d.log.error({ err }, 'audit append failed'));
  }

  /**
   * GET (and HEAD) /upload/:token/:name — a clean file, or one byte range of
   * it, decrypted as it is sent; with `downloads: recipients-only` only for
   * its uploader and the accounts it was shared with (HTTP Basic).
   */
  async get(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { token } = req.params as { token: string };
    const upload = TOKEN.test(token) ? await this.d.store.available(token, Date.now()) : undefined;
    if (!upload?.secrets || upload.tag === null) return text(reply, 404, 'Not found.');
    const auth = this.d.downloadAuth;
    if (auth) {
      const login = await auth.login(req.headers.authorization, req.ip);
      if ('refused' in login) {
        if (login.refused === 'policy') return text(reply, 403, login.text);
        reply.header('www-authenticate', `Basic realm="${REALM}", charset="UTF-8"`);
        return text(reply, 401, 'Log in with your account (user name and password) to download this file.');
      }
      const { account } = login;
      if (account !== upload.owner && !(await this.d.store.isAllowed(token, account))) {
        return text(reply, 403, 'This file was not shared with your account.');
      }
    }
    const type = upload.contentType ?? upload.detectedType ?? 'application/octet-stream';
    // Inline only when the content really is a raster image of the type it is served as.
    const inline = upload.detectedType !== null && INLINE_TYPES.has(upload.detectedType) && essence(type) === upload.detectedType;
    // A file never changes: its blob name is a strong validator (If-Range).
    const etag = `"${upload.blob}"`;
    reply
      .header('content-type', type)
      .header('content-disposition', contentDisposition(inline ? 'inline' : 'attachment', upload.filename))
      .header('x-content-type-options', 'nosniff')
      .header('accept-ranges', 'bytes')
      .header('etag', etag)
      .header('cache-control', 'private, no-transform');
    const ifRange = req.headers['if-range'];
    const range = req.method === 'GET' && (ifRange === undefined || ifRange === etag) ? parseRange(req.headers.range, upload.size) : undefined;
    if (range === 'unsatisfiable') {
      reply.header('content-range', `bytes */${upload.size}`);
      return text(reply, 416, `The range is outside the file, which has ${upload.size} bytes.`);
    }
    const { start, end } = range ?? { start: 0, end: upload.size - 1 };
    reply.header('content-length', String(end - start + 1));
    if (range) reply.code(206).header('content-range', `bytes ${start}-${end}/${upload.size}`);
    if (req.method === 'HEAD') return reply.send();
    const decipher = fileDecipher(this.d.serverKey, upload.secrets, upload.tag);
    // A reader that stops reading holds the connection: cut it off like a stalled upload.
    const socket = req.raw.socket;
    socket.setTimeout(this.d.limits.idleMs, () => socket.destroy());
    reply.raw.once('close', () => socket.setTimeout(0));
    const body = Readable.from(decryptRange(join(this.d.uploadsDir, upload.blob), decipher, { start, end }));
    body.once('error', (err) => this.d.log.error({ err, blob: upload.blob }, 'stored upload could not be decrypted'));
    return reply.send(body);
  }

  /** Removes expired files and unused slots; returns how many. */
  async purge(): Promise<number> {
    const blobs = await this.d.store.purge(Date.now(), this.d.limits.slotTtlMs, 1000);
    for (const blob of blobs) await unlink(join(this.d.uploadsDir, blob)).catch(() => undefined);
    return blobs.length;
  }
}

/**
 * The plaintext bytes start..end of an encrypted file. GCM authenticates the
 * whole file only: every byte is decrypted from the start (what comes before
 * the range is dropped, what comes after it is read to check the tag), and
 * the last piece of the range is held back until the tag checked out. A file
 * altered on disk thus never yields a complete response, ranges included.
 */
async function* decryptRange(path: string, decipher: DecipherGCM, range: ByteRange): AsyncGenerator<Buffer> {
  let position = 0;
  let held: Buffer | undefined;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    const plain = decipher.update(chunk);
    const from = Math.max(range.start - position, 0);
    const to = Math.min(range.end + 1 - position, plain.length);
    position += plain.length;
    if (to <= from) continue;
    if (held) yield held;
    held = plain.subarray(from, to);
  }
  decipher.final();
  if (held) yield held;
}

async function detect(head: Buffer[]): Promise<string | null> {
  return (await fileTypeFromBuffer(Buffer.concat(head)))?.mime ?? null;
}
