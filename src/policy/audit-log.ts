// The audit log as the policy writes it: the hash chain of the audit store,
// plus Ed25519 signatures made with a key that only the server's data_dir
// holds (audit-signing.key, mode 0600):
//
// - a checkpoint every N entries ("entry N has hash H"), kept in the
//   audit_checkpoints table: someone who can write the database but lacks the
//   key cannot rewrite the chain and recompute the hashes without breaking a
//   signature;
// - the seal: a signature over the newest entry, moved forward at most
//   SEAL_DELAY_MS after each append (table audit_seal, and mirrored to
//   data_dir/audit-seal.json so that deleting the row is noticed too). Entries
//   removed from the end of the log, even after the last checkpoint and with
//   the chain head rewritten to match, are detected because the seal names an
//   entry that is no longer there. One seal covers every entry of a burst (a
//   signature and a write per entry made each login cost a fifth more, issue
//   #9); only the entries of the last SEAL_DELAY_MS before a crash stay
//   unsealed, which verify reports as a warning.
//
// Signed text: "palisade-audit/v1 <kind> <seq> <hash> <ts>", kind checkpoint
// or seal, so that one kind's signature cannot stand in for the other.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AuditEntry, AuditVerifyResult, NewAuditEntry, Storage } from '../storage/types.ts';
import { readDate, readInt } from '../storage/values.ts';
import { GroupCommit } from '../storage/group-commit.ts';
import type { AuditSink } from './decision-point.ts';
import { SyslogForwarder, type ForwarderStats, type SyslogOptions } from './syslog.ts';

type Timestamp = import('kysely').ColumnType<Date | number, Date, Date>;
type Int64 = import('kysely').ColumnType<number | string, number, number>;

type SignedRow = {
  seq: Int64;
  hash: string;
  ts: Timestamp;
  key_id: string;
  signature: string;
};

export type CheckpointTables = {
  audit_checkpoints: SignedRow;
  audit_seal: SignedRow & { id: number };
  audit_log: { seq: Int64; hash: string; ts: Timestamp };
};

export const AUDIT_KEY_FILE = 'audit-signing.key';
export const AUDIT_SEAL_FILE = 'audit-seal.json';
const SEAL_FILE_INTERVAL_MS = 1000;
const SEAL_DELAY_MS = 100;
/** Entries appended in one transaction at most. */
const MAX_APPEND_BATCH = 500;

export interface AuditKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** First 16 hex digits of the SHA-256 of the public key (SPKI DER). */
  keyId: string;
  file: string;
}

/** Reads the server's signing key from data_dir, creating it (mode 0600) on first use. */
export function loadOrCreateAuditKey(dataDir: string): AuditKey {
  const file = join(dataDir, AUDIT_KEY_FILE);
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    const text = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    try {
      // 'wx': another process (the CLI, a second node) may be creating it at the same moment.
      writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
      chmodSync(file, 0o600);
      pem = text;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      pem = readFileSync(file, 'utf8');
    }
  }
  return keyFrom(pem, file);
}

/** The key if it exists (audit verify must not create one). */
export function loadAuditKey(dataDir: string): AuditKey | undefined {
  const file = join(dataDir, AUDIT_KEY_FILE);
  try {
    return keyFrom(readFileSync(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function keyFrom(pem: string, file: string): AuditKey {
  const privateKey = createPrivateKey(pem);
  const publicKey = createPublicKey(privateKey);
  const keyId = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
  return { privateKey, publicKey, keyId, file };
}

function signedText(kind: 'checkpoint' | 'seal', seq: number, hash: string, ts: Date): Buffer {
  return Buffer.from(`palisade-audit/v1 ${kind} ${seq} ${hash} ${ts.toISOString()}`, 'utf8');
}

interface Signed {
  seq: number;
  hash: string;
  ts: Date;
  keyId: string;
  signature: string;
}

export type AuditReport =
  | { ok: true; count: number; checkpoints: number; sealedTo: number; warnings: string[] }
  | { ok: false; brokenAtSeq: number; reason: string; warnings: string[] };

export interface SignedAuditLogOptions {
  dataDir: string;
  /** Checkpoint every this many entries (policy.audit_checkpoint_every). */
  checkpointEvery: number;
  log?: Logger;
  /** Forward every appended entry to a syslog collector (policy.audit_syslog); ca_file is relative to baseDir. */
  syslog?: SyslogOptions | null;
  baseDir?: string;
}

export class SignedAuditLog implements AuditSink {
  private readonly storage: Storage;
  private readonly db: Kysely<CheckpointTables>;
  private readonly key: AuditKey;
  private readonly opts: SignedAuditLogOptions;
  private sealFileSeq = 0;
  /** The newest entry appended and not yet sealed in the database. */
  private unsealed: AuditEntry | undefined;
  private sealDbTimer: NodeJS.Timeout | undefined;
  private sealing: Promise<void> = Promise.resolve();
  private pendingSeal: Signed | undefined;
  private sealTimer: NodeJS.Timeout | undefined;
  private lastSealWrite = 0;
  private readonly forwarder: SyslogForwarder | undefined;
  /** Appends in batches: one transaction for what comes together (src/storage/group-commit.ts). */
  private readonly appends: GroupCommit<NewAuditEntry, AuditEntry>;

  constructor(storage: Storage, key: AuditKey, opts: SignedAuditLogOptions) {
    this.storage = storage;
    this.db = storage.db.withTables<CheckpointTables>() as unknown as Kysely<CheckpointTables>;
    this.key = key;
    this.opts = opts;
    this.appends = new GroupCommit((entries) => storage.audit.appendMany(entries), MAX_APPEND_BATCH);
    const syslog = opts.syslog;
    if (syslog?.host) this.forwarder = new SyslogForwarder({ ...syslog, host: syslog.host }, opts.baseDir ?? process.cwd(), opts.log?.child({ component: 'syslog' }));
  }

  /**
   * Appends to the chain, then signs: a checkpoint every N entries; the seal
   * over the newest entry follows shortly. The entries of one turn of the event
   * loop, and those that come while a batch is being written, are appended in
   * one transaction (a flood of refusals or logins need not commit each).
   */
  async append(e: NewAuditEntry): Promise<AuditEntry> {
    const entry = await this.appends.add(e);
    // Once it is in the local log: the collector gets a copy, never the only one.
    this.forwarder?.forward(entry);
    this.sealSoon(entry);
    if (entry.seq % this.opts.checkpointEvery === 0) await this.checkpoint(entry);
    return entry;
  }

  /** Syslog forwarding statistics, when forwarding is on. */
  syslogStats(): ForwarderStats | undefined {
    return this.forwarder?.stats();
  }

  /** Writes the pending seal and stops forwarding. */
  async close(): Promise<void> {
    await this.flush();
    this.forwarder?.close();
  }

  private async checkpoint(entry: AuditEntry): Promise<void> {
    await this.db
      .insertInto('audit_checkpoints')
      .values(this.row('checkpoint', entry, new Date()))
      .onConflict((oc) => oc.column('seq').doNothing())
      .execute();
  }

  private sealSoon(entry: AuditEntry): void {
    if (!this.unsealed || entry.seq > this.unsealed.seq) this.unsealed = entry;
    if (this.sealDbTimer) return;
    this.sealDbTimer = setTimeout(() => void this.sealNow(), SEAL_DELAY_MS);
    this.sealDbTimer.unref();
  }

  /** Seals the newest entry appended so far (after any seal being written). */
  private sealNow(): Promise<void> {
    clearTimeout(this.sealDbTimer);
    this.sealDbTimer = undefined;
    const entry = this.unsealed;
    this.unsealed = undefined;
    if (!entry) return this.sealing;
    this.sealing = this.sealing.then(() => this.seal(entry)).catch((err: unknown) => this.opts.log?.error({ err }, 'could not seal the audit log'));
    return this.sealing;
  }

  private async seal(entry: AuditEntry): Promise<void> {
    const ts = new Date();
    const seal = this.row('seal', entry, ts);
    // Moves forward only: two appenders may finish in either order.
    await this.db
      .insertInto('audit_seal')
      .values({ id: 1, ...seal })
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet({ seq: seal.seq, hash: seal.hash, ts: seal.ts, key_id: seal.key_id, signature: seal.signature })
          .where('audit_seal.seq', '<', seal.seq),
      )
      .execute();
    this.mirrorSeal({ seq: entry.seq, hash: entry.hash, ts, keyId: this.key.keyId, signature: seal.signature });
  }

  private row(kind: 'checkpoint' | 'seal', entry: AuditEntry, ts: Date): { seq: number; hash: string; ts: Date; key_id: string; signature: string } {
    const signature = sign(null, signedText(kind, entry.seq, entry.hash, ts), this.key.privateKey).toString('base64');
    return { seq: entry.seq, hash: entry.hash, ts, key_id: this.key.keyId, signature };
  }

  /**
   * The seal outside the database, in data_dir (written atomically; never moved
   * back). At most once a second: a burst of refusals writes the file once, and
   * the newest seal follows when the second is over.
   */
  private mirrorSeal(s: Signed): void {
    if (s.seq <= this.sealFileSeq || (this.pendingSeal && s.seq <= this.pendingSeal.seq)) return;
    this.pendingSeal = s;
    if (this.sealTimer) return;
    const wait = this.lastSealWrite + SEAL_FILE_INTERVAL_MS - Date.now();
    if (wait <= 0) return this.writeSealFile();
    this.sealTimer = setTimeout(() => this.writeSealFile(), wait);
    this.sealTimer.unref();
  }

  /** Writes the appends and the seal still waiting for their turn, in the database and in data_dir (e.g. before the process exits). */
  async flush(): Promise<void> {
    await this.appends.drain();
    await this.sealNow();
    if (this.pendingSeal) this.writeSealFile();
  }

  private writeSealFile(): void {
    if (this.sealTimer) clearTimeout(this.sealTimer);
    this.sealTimer = undefined;
    const s = this.pendingSeal;
    this.pendingSeal = undefined;
    if (!s || s.seq <= this.sealFileSeq) return;
    this.lastSealWrite = Date.now();
    const file = join(this.opts.dataDir, AUDIT_SEAL_FILE);
    try {
      const existing = readSealFile(this.opts.dataDir);
      if (existing && existing.seq >= s.seq) {
        this.sealFileSeq = existing.seq;
        return;
      }
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ ...s, ts: s.ts.toISOString() }) + '\n', { mode: 0o600 });
      renameSync(tmp, file);
      this.sealFileSeq = s.seq;
    } catch (err) {
      this.opts.log?.error({ err }, 'could not write the audit seal file');
    }
  }
}

function readSealFile(dataDir: string): Signed | undefined {
  let text: string;
  try {
    text = readFileSync(join(dataDir, AUDIT_SEAL_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as { seq: number; hash: string; ts: string; keyId: string; signature: string };
    if (!Number.isInteger(v.seq) || typeof v.hash !== 'string' || typeof v.signature !== 'string') return undefined;
    return { seq: v.seq, hash: v.hash, ts: new Date(v.ts), keyId: String(v.keyId), signature: v.signature };
  } catch {
    return undefined;
  }
}

/**
 * Checks the chain (the audit store's verify), every checkpoint and the seal.
 * Needs the server's key (data_dir/audit-signing.key) to check signatures.
 */
export async function verifyAuditLog(storage: Storage, dataDir: string): Promise<AuditReport> {
  const warnings: string[] = [];
  const chain: AuditVerifyResult = await storage.audit.verify();
  if (!chain.ok) return { ...chain, warnings };
  const count = chain.count;
  const db = storage.db.withTables<CheckpointTables>() as unknown as Kysely<CheckpointTables>;
  const key = loadAuditKey(dataDir);
  const checkpoints = (await db.selectFrom('audit_checkpoints').selectAll().orderBy('seq').execute()).map(toSigned);
  const sealRow = await db.selectFrom('audit_seal').selectAll().where('id', '=', 1).executeTakeFirst();
  const sealFile = readSealFile(dataDir);
  const seals: { seal: Signed; where: string }[] = [];
  if (sealRow) seals.push({ seal: toSigned(sealRow), where: 'the signed seal' });
  if (sealFile) seals.push({ seal: sealFile, where: `the signed seal in ${join(dataDir, AUDIT_SEAL_FILE)}` });
  if (!key) {
    if (checkpoints.length > 0 || seals.length > 0) {
      return { ok: false, brokenAtSeq: 0, reason: `cannot check the signatures: the signing key ${join(dataDir, AUDIT_KEY_FILE)} is missing`, warnings };
    }
    warnings.push('no signing key yet: the log has no signed checkpoints');
    return { ok: true, count, checkpoints: 0, sealedTo: 0, warnings };
  }
  try {
    if ((statSync(key.file).mode & 0o077) !== 0) warnings.push(`${key.file} is readable by other users; it should have mode 0600`);
  } catch {
    // checked above that it exists
  }

  const hashAt = async (seq: number) =>
    (await db.selectFrom('audit_log').select('hash').where('seq', '=', seq).executeTakeFirst())?.hash;

  let previous = 0;
  for (const cp of checkpoints) {
    if (!verify(null, signedText('checkpoint', cp.seq, cp.hash, cp.ts), key.publicKey, Buffer.from(cp.signature, 'base64'))) {
      return { ok: false, brokenAtSeq: cp.seq, reason: `the checkpoint for entry ${cp.seq} has an invalid signature (forged or altered, or signed with key ${cp.keyId})`, warnings };
    }
    if (cp.seq > count) {
      return {
        ok: false,
        brokenAtSeq: count + 1,
        reason: `entries ${count + 1} to ${cp.seq} (at least) are missing: the log ends at entry ${count}, but a signed checkpoint shows it reached entry ${cp.seq}`,
        warnings,
      };
    }
    if ((await hashAt(cp.seq)) !== cp.hash) {
      return {
        ok: false,
        brokenAtSeq: previous + 1,
        reason: `entries ${previous + 1} to ${cp.seq} were rewritten (the chain was recomputed): entry ${cp.seq} no longer has the hash its signed checkpoint records`,
        warnings,
      };
    }
    previous = cp.seq;
  }

  let sealedTo = 0;
  for (const { seal, where } of seals) {
    if (!verify(null, signedText('seal', seal.seq, seal.hash, seal.ts), key.publicKey, Buffer.from(seal.signature, 'base64'))) {
      return { ok: false, brokenAtSeq: Math.min(seal.seq, count + 1), reason: `${where} has an invalid signature (forged or altered)`, warnings };
    }
    if (seal.seq > count) {
      return {
        ok: false,
        brokenAtSeq: count + 1,
        reason: `entries ${count + 1} to ${seal.seq} are missing: the log ends at entry ${count}, but ${where} shows it reached entry ${seal.seq} (tail truncated)`,
        warnings,
      };
    }
    if ((await hashAt(seal.seq)) !== seal.hash) {
      return {
        ok: false,
        brokenAtSeq: previous + 1,
        reason: `entries after ${previous} were rewritten (the chain was recomputed): entry ${seal.seq} no longer has the hash ${where} records`,
        warnings,
      };
    }
    sealedTo = Math.max(sealedTo, seal.seq);
  }
  if (count > 0 && seals.length === 0) {
    warnings.push('the log has no seal (entries written before signing was set up, or the seal was deleted)');
  } else if (sealedTo < count) {
    warnings.push(`entries ${sealedTo + 1} to ${count} are not yet covered by a signature (appended moments before the server stopped abruptly, or by a process without the signing key)`);
  }
  return { ok: true, count, checkpoints: checkpoints.length, sealedTo, warnings };
}

function toSigned(r: { seq: number | string; hash: string; ts: Date | number; key_id: string; signature: string }): Signed {
  return { seq: readInt(r.seq), hash: r.hash, ts: readDate(r.ts), keyId: r.key_id, signature: r.signature };
}

/** Entries appended at or after `since`, in order, for export (JSON lines). */
export async function* auditEntriesSince(storage: Storage, since: Date): AsyncGenerator<AuditEntry> {
  const db = storage.db.withTables<CheckpointTables>() as unknown as Kysely<CheckpointTables>;
  const first = await db
    .selectFrom('audit_log')
    .select((eb) => eb.fn.min('seq').as('seq'))
    .where('ts', '>=', since)
    .executeTakeFirst();
  if (first?.seq === null || first?.seq === undefined) return;
  let after = readInt(first.seq as number | string) - 1;
  for (;;) {
    const page = await storage.audit.list({ afterSeq: after, limit: 1000 });
    for (const e of page) if (e.ts >= since) yield e;
    if (page.length < 1000) return;
    after = page[page.length - 1]!.seq;
  }
}
