// `palisade invite create --expires 7d`: how long an invitation stays valid.

export const DEFAULT_EXPIRY = '7d';
export const MAX_EXPIRY_MS = 90 * 86_400_000;

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

export class DurationError extends Error {}

/** '30m', '12h', '7d', '2w' → milliseconds; from one minute up to 90 days. */
export function parseDuration(text: string): number {
  const m = /^([1-9][0-9]{0,5})([mhdw])$/.exec(text.trim());
  if (!m) throw new DurationError(`invalid duration ${JSON.stringify(text)}: write a whole number and a unit m, h, d or w (e.g. 7d)`);
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  if (ms > MAX_EXPIRY_MS) throw new DurationError(`${text} is longer than the maximum of 90d`);
  return ms;
}
