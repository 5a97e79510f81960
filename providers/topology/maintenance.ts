// Maintenance windows: when a Cluster may start a Kubernetes upgrade, from
// the annotation ironplane.dev/maintenance-window on the Cluster.
//
//   value  := "open" | "closed" | window (";" window)*
//   window := days " " HH:MM "-" HH:MM        (UTC; the end is exclusive)
//   days   := "daily" | day-or-range ("," day-or-range)*
//   day-or-range := Mon|Tue|Wed|Thu|Fri|Sat|Sun [ "-" day ]
//
// An end at or before the start crosses midnight: the window opens on the
// listed day and closes the next day. "24:00" ends a window at midnight.
// Examples: "Sat,Sun 00:00-24:00", "Mon-Fri 22:00-04:00", "daily 02:00-03:00".
// Without the annotation a Cluster may upgrade at any time.

export const MAINTENANCE_ANNOTATION = 'ironplane.dev/maintenance-window';

const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
const MINUTES_PER_DAY = 24 * 60;
const DAY_MS = 24 * 60 * 60 * 1000;

interface Window {
  /** 0 = Monday. */
  days: ReadonlySet<number>;
  start: number;
  /** Minutes after the start of the opening day; above MINUTES_PER_DAY when it crosses midnight. */
  end: number;
}

export type Schedule = { kind: 'open' } | { kind: 'closed' } | { kind: 'windows'; windows: Window[] };

function dayIndex(s: string): number {
  return DAYS.findIndex((d) => d.toLowerCase() === s.toLowerCase());
}

function parseTime(s: string, allow24: boolean): number | undefined {
  const m = /^(\d{2}):(\d{2})$/.exec(s);
  if (!m) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (allow24 && h === 24 && min === 0) return MINUTES_PER_DAY;
  return h < 24 && min < 60 ? h * 60 + min : undefined;
}

/** Parses the annotation's value, or says what is wrong with it. */
export function parseSchedule(value: string): Schedule | string {
  const v = value.trim();
  if (v.toLowerCase() === 'open') return { kind: 'open' };
  if (v.toLowerCase() === 'closed') return { kind: 'closed' };
  const windows: Window[] = [];
  for (const part of v.split(';').map((p) => p.trim())) {
    const m = /^(\S+)\s+(\S+)-(\S+)$/.exec(part);
    if (!m) return `"${part}" is not a window: write <days> <HH:MM>-<HH:MM>, e.g. "Sat,Sun 00:00-06:00"`;
    const days = new Set<number>();
    if (m[1]!.toLowerCase() === 'daily') DAYS.forEach((_, i) => days.add(i));
    else {
      for (const token of m[1]!.split(',')) {
        const [from, to, extra] = token.split('-');
        const a = dayIndex(from ?? '');
        const b = to === undefined ? a : dayIndex(to);
        if (a < 0 || b < 0 || extra !== undefined) return `"${token}" is not a day or day range: use Mon, Tue, Wed, Thu, Fri, Sat, Sun, ranges such as Mon-Fri, or daily`;
        for (let d = a; ; d = (d + 1) % 7) {
          days.add(d);
          if (d === b) break;
        }
      }
    }
    const start = parseTime(m[2]!, false);
    const end = parseTime(m[3]!, true);
    if (start === undefined || end === undefined) return `"${part}" has a bad time: use HH:MM from 00:00 to 23:59 (24:00 as an end)`;
    if (start === end) return `"${part}" is empty: the start and the end are equal`;
    windows.push({ days, start, end: end > start ? end : end + MINUTES_PER_DAY });
  }
  return { kind: 'windows', windows };
}

const startOfUtcDay = (t: number): number => t - (t % DAY_MS);
const weekday = (t: number): number => (new Date(t).getUTCDay() + 6) % 7;

/** Whether the schedule is open at `now`; when closed, when it next opens (undefined for "closed"). */
export function evaluate(schedule: Schedule, now: Date): { open: boolean; nextOpen?: Date } {
  if (schedule.kind === 'open') return { open: true };
  if (schedule.kind === 'closed') return { open: false };
  const t = now.getTime();
  const today = startOfUtcDay(t);
  let next: number | undefined;
  // A window that opened yesterday may still be open; look up to a week ahead for the next one.
  for (let offset = -1; offset <= 7; offset++) {
    const day = today + offset * DAY_MS;
    for (const w of schedule.windows) {
      if (!w.days.has(weekday(day))) continue;
      const opens = day + w.start * 60_000;
      const closes = day + w.end * 60_000;
      if (opens <= t && t < closes) return { open: true };
      if (opens > t && (next === undefined || opens < next)) next = opens;
    }
  }
  return { open: false, ...(next !== undefined ? { nextOpen: new Date(next) } : {}) };
}

/** "Sat 2026-11-28 00:00 UTC". */
export function formatOpening(d: Date): string {
  const iso = d.toISOString();
  return `${DAYS[weekday(d.getTime())]} ${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}
