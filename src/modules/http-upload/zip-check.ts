// Finds password-protected (encrypted) entries in a zip file as it streams
// past, with bounded memory: clamd cannot look inside them, so the policy
// `encrypted_archives: refuse` turns them away. An entry is encrypted when bit
// 0 of its general purpose flags is set (APPNOTE.TXT §4.4.4; WinZip AES and
// PKWARE strong encryption set it too), in its central directory record or
// its local header. The central directory is found from the end of central
// directory record at the end of the file and walked record by record, using
// what was noted about every central record signature seen on the way.

const SIG_LOCAL = Buffer.from('PK\x03\x04', 'latin1');
const SIG_CENTRAL = Buffer.from('PK\x01\x02', 'latin1');
const SIG_END = 0x06054b50;
const SIG_END64_LOCATOR = 0x07064b50;
const SIG_END64 = 0x06064b50;
/** Bytes of a central directory record before its variable fields; more than a local header's 30. */
const CENTRAL_FIXED = 46;
/** The end record (22 bytes), its longest comment, and the ZIP64 locator (20) and record (56) before it. */
const TAIL_BYTES = 22 + 0xffff + 20 + 56;
/** Central records noted at most; a zip with more entries cannot be checked (and is refused). */
export const MAX_ZIP_ENTRIES = 100_000;
/** Compression methods of APPNOTE.TXT §4.4.5 a real local header names: a random "PK\3\4" rarely has one. */
const METHODS = new Set([0, 1, 6, 8, 9, 12, 14, 19, 93, 95, 96, 97, 98, 99]);

export type ZipVerdict = 'clear' | 'encrypted' | 'unreadable' | 'too-many-entries';

interface CentralRecord {
  encrypted: boolean;
  length: number;
}

/** True when the file starts like a zip archive (a local file header). */
export function looksLikeZip(head: Buffer): boolean {
  return head.length >= 4 && head.subarray(0, 4).equals(SIG_LOCAL);
}

export class ZipEncryptionCheck {
  /** File offset of carry[0]. */
  private offset = 0;
  /** The end of the previous chunk that may hold the start of a record split across chunks. */
  private carry = Buffer.alloc(0);
  private tail = Buffer.alloc(0);
  private size = 0;
  private readonly central = new Map<number, CentralRecord>();
  private encryptedLocal = false;
  private overflow = false;

  update(chunk: Buffer): void {
    this.size += chunk.length;
    this.tail = Buffer.concat([this.tail, chunk]);
    if (this.tail.length > TAIL_BYTES) this.tail = this.tail.subarray(this.tail.length - TAIL_BYTES);
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    // Signatures starting in the last CENTRAL_FIXED - 1 bytes wait for the next chunk, so each is read once, whole.
    const limit = buf.length - (CENTRAL_FIXED - 1);
    this.scan(buf, limit);
    const keep = Math.max(0, limit);
    this.offset += keep;
    this.carry = Buffer.from(buf.subarray(keep));
  }

  /** The verdict once the whole file went through update(). */
  result(): ZipVerdict {
    this.scan(this.carry, this.carry.length);
    if (this.overflow) return 'too-many-entries';
    if (this.encryptedLocal) return 'encrypted';
    const end = this.endRecord();
    if (!end) return 'unreadable';
    let at = end.centralStart;
    for (let i = 0; i < end.entries; i++) {
      const record = this.central.get(at);
      if (!record) return 'unreadable';
      if (record.encrypted) return 'encrypted';
      at += record.length;
    }
    return 'clear';
  }

  private scan(buf: Buffer, limit: number): void {
    for (let p = buf.indexOf(SIG_CENTRAL); p !== -1 && p < limit; p = buf.indexOf(SIG_CENTRAL, p + 1)) {
      if (p + CENTRAL_FIXED > buf.length) break;
      if (this.central.size >= MAX_ZIP_ENTRIES) {
        this.overflow = true;
        break;
      }
      const length = CENTRAL_FIXED + buf.readUInt16LE(p + 28) + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32);
      this.central.set(this.offset + p, { encrypted: (buf.readUInt16LE(p + 8) & 1) === 1, length });
    }
    // A local header alone counts too: streaming unzippers read entries the central directory does not list.
    for (let p = buf.indexOf(SIG_LOCAL); p !== -1 && p < limit; p = buf.indexOf(SIG_LOCAL, p + 1)) {
      if (p + 30 > buf.length) break;
      const nameLength = buf.readUInt16LE(p + 26);
      const plausible = buf.readUInt16LE(p + 4) <= 63 && METHODS.has(buf.readUInt16LE(p + 8)) && nameLength > 0 && nameLength <= 4096;
      if (plausible && (buf.readUInt16LE(p + 6) & 1) === 1) this.encryptedLocal = true;
    }
  }

  /** Where the central directory starts (as found, whatever offsets the archive claims) and how many records it has. */
  private endRecord(): { centralStart: number; entries: number } | undefined {
    const t = this.tail;
    const tailStart = this.size - t.length;
    // The end record is the one whose comment reaches exactly to the end of the file.
    for (let e = t.length - 22; e >= 0; e--) {
      if (t.readUInt32LE(e) !== SIG_END || t.readUInt16LE(e + 20) !== t.length - e - 22) continue;
      let entries = t.readUInt16LE(e + 10);
      let centralSize = t.readUInt32LE(e + 12);
      let recordStart = tailStart + e;
      if (entries === 0xffff || centralSize === 0xffffffff || t.readUInt32LE(e + 16) === 0xffffffff) {
        const locator = e - 20;
        if (locator < 0 || t.readUInt32LE(locator) !== SIG_END64_LOCATOR) return undefined;
        const r = Number(t.readBigUInt64LE(locator + 8)) - tailStart;
        if (r < 0 || r + 56 > locator || t.readUInt32LE(r) !== SIG_END64) return undefined;
        entries = Number(t.readBigUInt64LE(r + 32));
        centralSize = Number(t.readBigUInt64LE(r + 40));
        recordStart = tailStart + r;
      }
      if (entries > MAX_ZIP_ENTRIES) return undefined;
      return { centralStart: recordStart - centralSize, entries };
    }
    return undefined;
  }
}
