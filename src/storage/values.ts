// Reading columns the same way on every backend, and checking page sizes.

/** timestamptz arrives as Date (PostgreSQL), epoch milliseconds as number (SQLite). */
export function readDate(v: Date | number): Date {
  return v instanceof Date ? v : new Date(v);
}

/** boolean (PostgreSQL) or 0/1 (SQLite). */
export function readBool(v: boolean | number): boolean {
  return v === true || v === 1;
}

/** bigint arrives as a string from pg; every value we store fits a double exactly. */
export function readInt(v: number | string): number {
  return typeof v === 'number' ? v : Number(v);
}

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new RangeError(`limit must be an integer from 1 to ${MAX_PAGE}, got ${limit}`);
  }
  return limit;
}
