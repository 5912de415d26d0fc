// Range requests on downloads (RFC 9110 §14): one byte range of the form
// a-b, a- or -n. Several ranges in one request get the whole file (a server
// may ignore Range, §14.2); so does a header that is not valid syntax.

/** First and last byte, both included. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The range to serve for a Range header on a file of `size` bytes:
 * undefined for the whole file (no header, several ranges, invalid syntax),
 * 'unsatisfiable' for a valid range that starts beyond the end (416).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*([0-9]{0,16})\s*-\s*([0-9]{0,16})\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    // A suffix: the last n bytes (all of them when n is larger than the file).
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return undefined; // invalid (§14.1.1): ignored
  if (start >= size) return 'unsatisfiable';
  return { start, end: m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1) };
}
