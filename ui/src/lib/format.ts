// Dates and times in plain British English: "3 December 2026 at 14:05".
// `timeZone` is for tests; the app always uses the computer's own zone.

// Building an Intl.DateTimeFormat is slow; a long activity log formats thousands of times.
const cache = new Map<string, Intl.DateTimeFormat>();

function dt(opts: Intl.DateTimeFormatOptions, timeZone?: string): Intl.DateTimeFormat {
  const key = JSON.stringify([opts, timeZone ?? null]);
  let f = cache.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", timeZone ? { ...opts, timeZone } : opts);
    cache.set(key, f);
  }
  return f;
}

/** "3 December 2026 at 14:05" from milliseconds since 1970. */
export function formatDateTime(ms: number, timeZone?: string): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return "an unknown time";
  const day = dt({ day: "numeric", month: "long", year: "numeric" }, timeZone).format(d);
  const time = dt({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" }, timeZone).format(d);
  return `${day} at ${time}`;
}

/** Same as formatDateTime, from seconds since 1970 (grants, records and receipts use seconds). */
export function formatDateTimeSecs(secs: number, timeZone?: string): string {
  return formatDateTime(secs * 1000, timeZone);
}

/** "14:05" from milliseconds since 1970. */
export function formatTime(ms: number, timeZone?: string): string {
  return dt({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" }, timeZone).format(new Date(ms));
}

/** "Thursday 3 December 2026": a day heading. */
export function formatDay(ms: number, timeZone?: string): string {
  return dt({ weekday: "long", day: "numeric", month: "long", year: "numeric" }, timeZone)
    .format(new Date(ms))
    .replace(",", "");
}

/** A key that is the same for every moment of one local day ("2026-12-03"). */
export function dayKey(ms: number, timeZone?: string): string {
  const parts = dt({ year: "numeric", month: "2-digit", day: "2-digit" }, timeZone).formatToParts(
    new Date(ms),
  );
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? "";
  return `${get("year")}-${get("month")}-${get("day")}`;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** "14 March 1958" from "1958-03-14"; anything else comes back unchanged. */
export function formatIsoDate(text: string): string {
  const m = ISO_DATE.exec(text);
  if (!m) return text;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) {
    return text;
  }
  return dt({ day: "numeric", month: "long", year: "numeric" }, "UTC").format(date);
}

/** Whether a text looks like a year-month-day date. */
export function isIsoDate(text: string): boolean {
  return ISO_DATE.test(text);
}

/** "1 minute", "5 minutes", "1 hour". */
export function formatMinutes(minutes: number): string {
  if (minutes === 60) return "1 hour";
  if (minutes > 60 && minutes % 60 === 0) return `${minutes / 60} hours`;
  return minutes === 1 ? "1 minute" : `${minutes} minutes`;
}

/** "1 entry", "3 entries" … for any noun with a regular or given plural. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en-GB")} ${n === 1 ? one : many}`;
}

/** The short form of a device (actor) id, as people can compare it: first 8 characters. */
export function shortDevice(id: string): string {
  const clean = id.trim();
  return clean.length > 8 ? clean.slice(0, 8) : clean;
}
