// Upload slots and files in the shared database (migrations 0016-http-upload
// and 0017-upload-access), dialect-neutral Kysely. A slot moves pending →
// receiving (its PUT token is spent) → available | quarantined | failed; only
// 'available' is served; an operator may release a quarantined file
// (palisade quarantine). http_upload_access lists whom a file was shared with.
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { readInt } from '../../storage/values.ts';
import type { FileSecrets } from './at-rest.ts';

export type UploadStatus = 'pending' | 'receiving' | 'available' | 'quarantined' | 'failed';

export interface UploadTables {
  http_upload_files: {
    get_token: string;
    put_token: string;
    owner: string;
    filename: string;
    size: number | string;
    content_type: string | null;
    detected_type: string | null;
    status: UploadStatus;
    blob: string;
    wrapped_key: string | null;
    iv: string | null;
    tag: string | null;
    threat: string | null;
    created_at: number | string;
    expires_at: number | string;
  };
  http_upload_access: {
    get_token: string;
    principal: string;
  };
}

export interface Upload {
  getToken: string;
  putToken: string;
  owner: string;
  filename: string;
  size: number;
  contentType: string | null;
  detectedType: string | null;
  status: UploadStatus;
  blob: string;
  secrets: FileSecrets | undefined;
  tag: string | null;
  /** The virus scanner's signature name, for quarantined files. */
  threat: string | null;
  createdAt: number;
  expiresAt: number;
}

type Row = UploadTables['http_upload_files'];

function toUpload(r: Row): Upload {
  return {
    getToken: r.get_token,
    putToken: r.put_token,
    owner: r.owner,
    filename: r.filename,
    size: readInt(r.size),
    contentType: r.content_type,
    detectedType: r.detected_type,
    status: r.status,
    blob: r.blob,
    secrets: r.wrapped_key !== null && r.iv !== null ? { wrappedKey: r.wrapped_key, iv: r.iv } : undefined,
    tag: r.tag,
    threat: r.threat,
    createdAt: readInt(r.created_at),
    expiresAt: readInt(r.expires_at),
  };
}

/** 144 random bits, base64url: a slot's GET and PUT tokens. */
export function newToken(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * A stored file's name, a token that is also the id an admin passes to
 * `palisade quarantine`: never starting with '-', which a command line would
 * take for an option.
 */
export function newBlobName(): string {
  for (;;) {
    const name = newToken();
    if (name[0] !== '-') return name;
  }
}

export class UploadStore {
  private readonly db: Kysely<UploadTables>;

  constructor(db: Kysely<UploadTables>) {
    this.db = db;
  }

  async create(u: Pick<Upload, 'getToken' | 'putToken' | 'owner' | 'filename' | 'size' | 'contentType' | 'blob' | 'createdAt' | 'expiresAt'>): Promise<void> {
    await this.db
      .insertInto('http_upload_files')
      .values({
        get_token: u.getToken,
        put_token: u.putToken,
        owner: u.owner,
        filename: u.filename,
        size: u.size,
        content_type: u.contentType,
        detected_type: null,
        status: 'pending',
        blob: u.blob,
        wrapped_key: null,
        iv: null,
        tag: null,
        threat: null,
        created_at: u.createdAt,
        expires_at: u.expiresAt,
      })
      .execute();
  }

  /** Bytes of the slots the owner asked for since `since` (refused and unused ones count too: the quota is on requests). */
  async bytesSince(owner: string, since: number): Promise<number> {
    const r = await this.db
      .selectFrom('http_upload_files')
      .select((eb) => eb.fn.sum<number | string | null>('size').as('total'))
      .where('owner', '=', owner)
      .where('created_at', '>=', since)
      .executeTakeFirst();
    return r?.total == null ? 0 : readInt(r.total);
  }

  /** Spends a PUT token: the pending slot it names becomes 'receiving', once; undefined if there is none (unknown, used, expired). */
  async claim(putToken: string, now: number, slotTtlMs: number): Promise<Upload | undefined> {
    const r = await this.db
      .updateTable('http_upload_files')
      .set({ status: 'receiving' })
      .where('put_token', '=', putToken)
      .where('status', '=', 'pending')
      .where('created_at', '>', now - slotTtlMs)
      .executeTakeFirst();
    if (r.numUpdatedRows !== 1n) return undefined;
    const row = await this.db.selectFrom('http_upload_files').selectAll().where('put_token', '=', putToken).executeTakeFirst();
    return row && toUpload(row);
  }

  async finish(
    getToken: string,
    status: 'available' | 'quarantined' | 'failed',
    fields: { detectedType?: string | null; secrets?: FileSecrets; tag?: string; threat?: string } = {},
  ): Promise<void> {
    await this.db
      .updateTable('http_upload_files')
      .set({
        status,
        detected_type: fields.detectedType ?? null,
        wrapped_key: fields.secrets?.wrappedKey ?? null,
        iv: fields.secrets?.iv ?? null,
        tag: fields.tag ?? null,
        threat: fields.threat ?? null,
      })
      .where('get_token', '=', getToken)
      .execute();
  }

  /** An available, unexpired file by its GET token. */
  async available(getToken: string, now: number): Promise<Upload | undefined> {
    const row = await this.db
      .selectFrom('http_upload_files')
      .selectAll()
      .where('get_token', '=', getToken)
      .where('status', '=', 'available')
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return row && toUpload(row);
  }

  /** Records that `principal` (a bare JID) may download the file; repeating it changes nothing. */
  async allow(getToken: string, principal: string): Promise<void> {
    await this.db
      .insertInto('http_upload_access')
      .values({ get_token: getToken, principal })
      .onConflict((oc) => oc.columns(['get_token', 'principal']).doNothing())
      .execute();
  }

  /** Whether the file was shared with `principal` (its uploader is not listed here: compare with owner). */
  async isAllowed(getToken: string, principal: string): Promise<boolean> {
    const r = await this.db
      .selectFrom('http_upload_access')
      .select('principal')
      .where('get_token', '=', getToken)
      .where('principal', '=', principal)
      .executeTakeFirst();
    return r !== undefined;
  }

  /** The file whose GET token this is, whatever its state. */
  async byToken(getToken: string): Promise<Upload | undefined> {
    const row = await this.db.selectFrom('http_upload_files').selectAll().where('get_token', '=', getToken).executeTakeFirst();
    return row && toUpload(row);
  }

  /** A file by its blob name (the id `palisade quarantine` shows), whatever its state. */
  async byBlob(blob: string): Promise<Upload | undefined> {
    const row = await this.db.selectFrom('http_upload_files').selectAll().where('blob', '=', blob).executeTakeFirst();
    return row && toUpload(row);
  }

  /** Quarantined files, oldest first. */
  async quarantined(limit: number): Promise<Upload[]> {
    const rows = await this.db
      .selectFrom('http_upload_files')
      .selectAll()
      .where('status', '=', 'quarantined')
      .orderBy('created_at')
      .orderBy('blob')
      .limit(limit)
      .execute();
    return rows.map(toUpload);
  }

  /** Makes a quarantined file available; false when it is not (or no longer) quarantined. */
  async release(blob: string): Promise<boolean> {
    const r = await this.db
      .updateTable('http_upload_files')
      .set({ status: 'available' })
      .where('blob', '=', blob)
      .where('status', '=', 'quarantined')
      .executeTakeFirst();
    return r.numUpdatedRows === 1n;
  }

  /** Deletes a file's row (its wrapped key with it) and its permissions; false when there was none. */
  async remove(blob: string): Promise<boolean> {
    const row = await this.db.selectFrom('http_upload_files').select('get_token').where('blob', '=', blob).executeTakeFirst();
    if (!row) return false;
    await this.db.deleteFrom('http_upload_access').where('get_token', '=', row.get_token).execute();
    const r = await this.db.deleteFrom('http_upload_files').where('blob', '=', blob).executeTakeFirst();
    return r.numDeletedRows === 1n;
  }

  /**
   * Rows past expiry, and slots never used (or whose upload broke off) past
   * the slot lifetime: removed from the database; their blobs are returned for deletion.
   */
  async purge(now: number, slotTtlMs: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('http_upload_files')
      .select(['get_token', 'blob'])
      .where((eb) =>
        eb.or([
          eb('expires_at', '<=', now),
          eb.and([eb('status', 'in', ['pending', 'failed']), eb('created_at', '<=', now - slotTtlMs)]),
        ]),
      )
      .limit(limit)
      .execute();
    if (rows.length === 0) return [];
    const tokens = rows.map((r) => r.get_token);
    await this.db.deleteFrom('http_upload_access').where('get_token', 'in', tokens).execute();
    await this.db.deleteFrom('http_upload_files').where('get_token', 'in', tokens).execute();
    return rows.map((r) => r.blob);
  }
}
