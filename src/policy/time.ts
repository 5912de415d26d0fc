// Wall-clock time in a named IANA zone, through Intl (the ICU data that ships
// with Node), so summer time is whatever the zone's rules say on that date.
// Time windows compare local weekday and minute of day: '08:00-18:00' is
// 08:00 to 18:00 on the local clock on both sides of a DST change.

export const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Day = (typeof DAYS)[number];

export function isTimeZone(zone: string): boolean {
  if (zone === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export interface LocalTime {
  /** 0 = Monday … 6 = Sunday. */
  day: number;
  /** Minutes since local midnight, 0..1439. */
  minutes: number;
}

const WEEKDAY: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

/** The local time of one zone; remembers the last minute asked about (offsets change on whole minutes). */
export class ZoneClock {
  readonly zone: string;
  private readonly format: Intl.DateTimeFormat;
  private lastMinute = Number.NaN;
  private last: LocalTime = { day: 0, minutes: 0 };

  constructor(zone: string) {
    this.zone = zone;
    this.format = new Intl.DateTimeFormat('en-US', { timeZone: zone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  }

  at(date: Date): LocalTime {
    const minute = Math.floor(date.getTime() / 60_000);
    if (minute === this.lastMinute) return this.last;
    let day = 0;
    let hour = 0;
    let min = 0;
    for (const p of this.format.formatToParts(date)) {
      if (p.type === 'weekday') day = WEEKDAY[p.value] ?? 0;
      else if (p.type === 'hour') hour = Number(p.value) % 24;
      else if (p.type === 'minute') min = Number(p.value);
    }
    this.last = { day, minutes: hour * 60 + min };
    this.lastMinute = minute;
    return this.last;
  }

  /** e.g. 'Mon 08:30 Europe/Berlin', for explanations. */
  describe(date: Date): string {
    const t = this.at(date);
    return `${cap(DAYS[t.day]!)} ${hhmm(t.minutes)} ${this.zone}`;
  }
}

const clocks = new Map<string, ZoneClock>();

/** One clock per zone, shared (each caches its last minute). */
export function zoneClock(zone: string): ZoneClock {
  let c = clocks.get(zone);
  if (!c) {
    c = new ZoneClock(zone);
    clocks.set(zone, c);
  }
  return c;
}

export interface CompiledWindow {
  /** The window's name, or 'inline'. */
  name: string;
  clock: ZoneClock;
  days: ReadonlySet<number>;
  /** [start, end) in minutes; start > end runs across midnight into the next day. */
  ranges: readonly (readonly [number, number])[];
  text: string;
}

export function compileWindow(name: string, spec: { zone?: string; days: readonly Day[]; hours: string | readonly string[] }, defaultZone: string): CompiledWindow {
  const zone = spec.zone ?? defaultZone;
  const hours = typeof spec.hours === 'string' ? [spec.hours] : spec.hours;
  const ranges = hours.map((h) => {
    const [a, b] = h.split('-') as [string, string];
    return [toMinutes(a), toMinutes(b)] as const;
  });
  const days = new Set(spec.days.map((d) => DAYS.indexOf(d)));
  return { name, clock: zoneClock(zone), days, ranges, text: `${spec.days.length === 7 ? 'every day' : spec.days.join(',')} ${hours.join(',')} ${zone}` };
}

/**
 * Whether the instant falls in the window. For a range across midnight
 * ('22:00-06:00' on fri), the part after midnight belongs to the day it
 * started on (Friday night until Saturday 06:00).
 */
export function inWindow(w: CompiledWindow, date: Date): boolean {
  const t = w.clock.at(date);
  for (const [start, end] of w.ranges) {
    if (start < end) {
      if (t.minutes >= start && t.minutes < end && w.days.has(t.day)) return true;
    } else {
      if (t.minutes >= start && w.days.has(t.day)) return true;
      if (t.minutes < end && w.days.has((t.day + 6) % 7)) return true;
    }
  }
  return false;
}

function toMinutes(hhmmText: string): number {
  const [h, m] = hhmmText.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

function hhmm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

function cap(s: string): string {
  return s[0]!.toUpperCase() + s.slice(1);
}
