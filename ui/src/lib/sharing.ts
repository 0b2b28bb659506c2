// Pure helpers for the Sharing, Requests and Records screens: plain words for grant
// states, countdowns, access receipts and their gaps, field values and record bodies.
// No state, no storage, no logging: every function takes what it needs and returns text.
import type {
  AccessChain,
  AccessReceipt,
  DeliveryState,
  GrantSummary,
  NoticeState,
  Purpose,
  ShareOutcome,
  SyncEvent,
  SyncReport,
  TwinView,
} from "./api-types";
import { formatDateTimeSecs } from "./format";
import { describeScalar } from "./values";

/** Times from the backend are seconds since 1970 (UTC). */
export type Secs = number;

export const nowSecs = (): Secs => Math.floor(Date.now() / 1000);

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

const dayFormats = new Map<string, Intl.DateTimeFormat>();

/** "3 December 2026" (local time unless `timeZone` is given, e.g. "UTC" in tests). */
export function dateWords(at: Secs, timeZone?: string): string {
  const key = timeZone ?? "";
  let f = dayFormats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone });
    dayFormats.set(key, f);
  }
  return f.format(new Date(at * 1000));
}

/** "3 December 2026 at 14:05". */
export const dateTimeWords = (at: Secs, timeZone?: string): string => formatDateTimeSecs(at, timeZone);

/** "1 day", "7 days". */
export const daysWords = (days: number): string => plural(days, "day");

/** A length of time in the largest whole unit that fits: "7 days", "12 hours", "1 minute". */
export function durationWords(secs: number): string {
  if (secs >= DAY && secs % DAY === 0) return plural(secs / DAY, "day");
  if (secs >= DAY) {
    const d = Math.floor(secs / DAY);
    const h = Math.floor((secs % DAY) / HOUR);
    return h ? `${plural(d, "day")} ${plural(h, "hour")}` : plural(d, "day");
  }
  if (secs >= HOUR) return plural(Math.floor(secs / HOUR), "hour");
  return plural(Math.max(1, Math.floor(secs / MINUTE)), "minute");
}

/**
 * How long until `end`, for a countdown refreshed every minute: "ends in 6 days 3 hours",
 * "ends in 2 hours 5 minutes", "ends in 4 minutes", "ends in less than a minute", "ended".
 */
export function countdownWords(end: Secs, now: Secs): string {
  const left = end - now;
  if (left <= 0) return "ended";
  if (left < MINUTE) return "ends in less than a minute";
  const d = Math.floor(left / DAY);
  const h = Math.floor((left % DAY) / HOUR);
  const m = Math.floor((left % HOUR) / MINUTE);
  if (d > 0) return h > 0 ? `ends in ${plural(d, "day")} ${plural(h, "hour")}` : `ends in ${plural(d, "day")}`;
  if (h > 0) return m > 0 ? `ends in ${plural(h, "hour")} ${plural(m, "minute")}` : `ends in ${plural(h, "hour")}`;
  return `ends in ${plural(m, "minute")}`;
}

/** path → title, from the twin view (every field of every category). */
export function titleMap(twin: TwinView): Map<string, string> {
  const m = new Map<string, string>();
  for (const c of twin.categories) for (const f of c.fields) m.set(f.path, f.title);
  return m;
}

/** A field's title, or its path when the twin does not know it. */
export const titleOf = (titles: Map<string, string>, path: string): string => titles.get(path) ?? path;

/** Titles of several fields, joined: "Full name, Postcode". */
export const titlesOf = (titles: Map<string, string>, paths: readonly string[]): string =>
  paths.map((p) => titleOf(titles, p)).join(", ");

/** Whether a field holds something that can be shared. */
export function hasValue(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === "string") return v.trim() !== "";
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

/**
 * A value as one line of plain text: dates in words and numbers as the twin screens show
 * them, lists joined by commas, objects as "key: value" pairs.
 */
export function valueText(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return describeScalar(v);
  if (Array.isArray(v)) return v.map(valueText).join(", ");
  if (typeof v === "object") {
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${keyWords(k)}: ${valueText(x)}`)
      .join("; ");
  }
  return String(v);
}

/** "effective_from" → "Effective from". */
export function keyWords(key: string): string {
  const s = key.replace(/[_-]+/g, " ").trim();
  return s ? s.charAt(0).toUpperCase() + s.slice(1) : key;
}

/**
 * A record's body as a readable list of [label, text] pairs. Nested objects become
 * "Parent › child" labels; lists are joined; a body that is not an object is one pair.
 */
export function bodyEntries(body: unknown, prefix = ""): [string, string][] {
  if (body === null || body === undefined) return [];
  if (typeof body !== "object" || Array.isArray(body)) {
    return [[prefix || "Contents", valueText(body)]];
  }
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    const label = prefix ? `${prefix} › ${keyWords(k)}` : keyWords(k);
    if (v !== null && typeof v === "object" && !Array.isArray(v)) out.push(...bodyEntries(v, label));
    else out.push([label, valueText(v)]);
  }
  return out;
}

/** The fields to tick at first for a purpose: those it lists that hold a value. */
export function precheckedFields(purpose: Purpose | undefined, values: Map<string, unknown>): string[] {
  if (!purpose) return [];
  return purpose.fields.filter((p) => hasValue(values.get(p)));
}

/** The fields of a request to tick at first: all but those it over-asks for. */
export function requestDefaultFields(fields: readonly string[], overAsking: readonly string[]): string[] {
  const over = new Set(overAsking);
  return fields.filter((f) => !over.has(f));
}

/** The events of a sync report that did not go through. */
export function problemEvents(report: SyncReport | null | undefined): SyncEvent[] {
  return (report?.events ?? []).filter((e) => e.outcome === "failed" || e.outcome === "refused");
}

/** What becomes of a share whose sending did not go through, after the agency's own line. */
export function problemFollowUp(e: SyncEvent): string {
  return e.outcome === "refused"
    ? "The agency refused it, so it will not be sent again. Your share is kept on this computer."
    : "Your share is kept on this computer, and the next check for updates will try again.";
}

/** The access-receipt problems of a share, each a plain sentence that says what it means. */
export function accessProblems(chain: AccessChain): string[] {
  const out: string[] = [];
  for (const r of chain.missing) {
    out.push(
      r.from === r.to
        ? `Receipt ${r.from} is missing: the agency may have opened your data without telling you.`
        : `Receipts ${r.from} to ${r.to} are missing: the agency may have opened your data without telling you.`,
    );
  }
  for (const s of chain.broken) {
    if (s === 0) out.push("A receipt is numbered 0, which no receipt may be: the agency's record of who opened your data cannot be trusted.");
    else if (s === 1) out.push("Receipt 1 does not start the list properly: the agency's record of who opened your data may have been changed.");
    else out.push(`Receipt ${s} does not follow on from receipt ${s - 1}: the agency's record of who opened your data may have been changed.`);
  }
  for (const s of chain.conflicting) {
    out.push(`The agency signed two different receipts numbered ${s}: it has given two accounts of the same opening of your data.`);
  }
  return out;
}

/** "Opened by J. Smith on 3 December 2026 at 14:05 for 'Pension Credit check' (fields: Full name, Postcode)". */
export function receiptLine(r: AccessReceipt, titles: Map<string, string>, timeZone?: string): string {
  const fields = r.fields.length ? ` (fields: ${titlesOf(titles, r.fields)})` : "";
  return `Opened by ${r.staff} on ${dateTimeWords(r.at, timeZone)} for '${r.purpose}'${fields}`;
}

/** Whether a share still lets its agency read (or is about to be delivered). */
export const isLive = (g: GrantSummary): boolean => g.state.state === "active";

/** Where a share stands, in words kept apart: stopped here, and deleted by the agency. */
export interface GrantStateWords {
  /** A short status: "Active", "Ended", "Stopped", "Deleted by the agency". */
  status: string;
  /** "Stopped on this computer on 3 December 2026", when the citizen stopped it. */
  stopped: string | null;
  /** "Agency confirmed deletion on 4 December 2026", only with the agency's signed receipt. */
  deleted: string | null;
  /** "Ended on …" when it ran its course. */
  ended: string | null;
}

export function grantStateWords(g: GrantSummary, timeZone?: string): GrantStateWords {
  const st = g.state;
  switch (st.state) {
    case "active":
      return { status: "Active", stopped: null, deleted: null, ended: null };
    case "expired":
      return { status: "Ended", stopped: null, deleted: null, ended: `Ended on ${dateWords(g.expires_at, timeZone)}` };
    case "stopped":
      return {
        status: "Stopped",
        stopped: `Stopped on this computer on ${dateWords(st.at, timeZone)}`,
        deleted: null,
        ended: null,
      };
    case "deleted": {
      const why =
        st.reason === "expired" ? " (the share had ended)" : st.reason === "request" ? " (at your request)" : "";
      return {
        status: "Deleted by the agency",
        stopped: st.stopped_at != null ? `Stopped on this computer on ${dateWords(st.stopped_at, timeZone)}` : null,
        deleted: `Agency confirmed deletion on ${dateWords(st.at, timeZone)}${why}`,
        ended: null,
      };
    }
  }
}

/** Whether the agency has been told a stopped share is stopped. Null when not stopped. */
export function noticeWords(n: NoticeState | null, timeZone?: string): string | null {
  if (!n) return null;
  if (n.refused) return "The agency refused the notice to stop; it will not be sent again.";
  if (n.sent_at == null) return "Not yet told: the agency will be told at the next check for updates.";
  const told = `Told on ${dateWords(n.sent_at, timeZone)}`;
  if (n.agency_status === "purged") return `${told}: it answered that it deleted what it held.`;
  if (n.agency_status === "remembered")
    return `${told}: it had not received the share, and will refuse it if it arrives.`;
  return `${told}.`;
}

/** What stopping a share did, read from the share as it stands right after stopping. */
export interface StoppedWords {
  /** Whether the agency has been told (or confirmed deletion): shown as a success. */
  told: boolean;
  /** One sentence: "Stopped, and … was told to delete what it holds." and so on. */
  text: string;
}

/**
 * What "Stop sharing" did, from the share the backend returned (never from whether a sync
 * event failed: an agency that could not be reached leaves a "skipped" event, or none).
 */
export function stoppedWords(g: GrantSummary, timeZone?: string): StoppedWords {
  const name = g.agency_name;
  const n = g.notice;
  if (g.state.state === "deleted") {
    const on = dateWords(g.state.at, timeZone);
    return {
      told: true,
      text:
        n?.sent_at != null
          ? `Stopped, and ${name} was told to delete what it holds: it confirmed deletion on ${on}.`
          : `Stopped, and ${name} confirmed deletion on ${on}.`,
    };
  }
  if (n?.refused) {
    return {
      told: false,
      text: `Stopped on this computer; ${name} refused the notice to stop, so it will not be sent again.`,
    };
  }
  if (n?.sent_at != null) {
    const answer =
      n.agency_status === "purged"
        ? " It answered that it deleted what it held."
        : n.agency_status === "remembered"
          ? " It had not received the share, and will refuse it if it arrives."
          : "";
    return { told: true, text: `Stopped, and ${name} was told to delete what it holds.${answer}` };
  }
  return {
    told: false,
    text: `Stopped on this computer; ${name} has not been told yet — the next check for updates tells it.`,
  };
}

/** The lines of a report about one agency that did not go through (failed, refused or skipped). */
export function agencyProblemLines(report: SyncReport | null | undefined, agency: string): string[] {
  return (report?.events ?? [])
    .filter((e) => e.agency === agency && (e.outcome === "failed" || e.outcome === "refused" || e.outcome === "skipped"))
    .map((e) => e.line);
}

/** One short line saying what became of a share just handed over (for a live region). */
export function shareOutcomeSummary(o: ShareOutcome, how: "send" | "file" | "paper"): string {
  const name = o.grant.agency_name;
  if (how === "file") return `Saved as a file for ${name}.`;
  if (how === "paper") return `Ready to show to ${name} or print.`;
  // As the outcome block reads: a sending that did not go through comes first.
  const problems = problemEvents(o.sent);
  if (o.grant.delivery.state === "refused" || problems.some((e) => e.outcome === "refused"))
    return `Your share was made, but ${name} refused it.`;
  if (problems.length === 0 && o.grant.delivery.state === "accepted") return `Sent to ${name}: it received your share.`;
  return `Your share was made, but not delivered yet: the next check for updates will try again.`;
}

/** How a share reaches its agency, in words. */
export function deliveryWords(d: DeliveryState, timeZone?: string): string {
  switch (d.state) {
    case "by-hand":
      return "Handed over by you, as a file or on paper.";
    case "to-send":
      return "Not sent yet: the next check for updates sends it.";
    case "accepted":
      return `Received by the agency on ${dateWords(d.at, timeZone)}.`;
    case "refused":
      return `The agency refused it: ${d.message}`;
  }
}

/** What the agency holds of a share now, in words. */
export function holdsWords(g: GrantSummary, titles: Map<string, string>, timeZone?: string): string {
  const fields = titlesOf(titles, g.fields);
  if (g.state.state === "deleted") return `Nothing: it confirmed on ${dateWords(g.state.at, timeZone)} that it deleted ${fields}.`;
  if (g.delivery.state === "refused") return "Nothing: it refused this share.";
  if (g.delivery.state === "to-send") return `Nothing yet. Once sent, it will hold: ${fields}.`;
  if (g.state.state === "stopped" && g.notice?.agency_status === "purged")
    return `Nothing, it says: it deleted ${fields} when told to stop.`;
  if (g.state.state === "active") return fields;
  return `It may still hold: ${fields}, until it confirms it deleted them.`;
}

/** Where the grant list puts a share: still running, or over. */
export function splitGrants(grants: readonly GrantSummary[]): { live: GrantSummary[]; past: GrantSummary[] } {
  return { live: grants.filter(isLive), past: grants.filter((g) => !isLive(g)) };
}

/** The end date of a share made now for `days` days. */
export const endOf = (now: Secs, days: number): Secs => now + days * DAY;

/** "benefit-award/v1" → "Benefit award". */
export function recordTypeWords(t: string): string {
  const name = t.replace(/\/v\d+$/, "");
  return keyWords(name) || t;
}

/** An SVG document as a data: URL for <img> (the CSP allows data: images). */
export function svgDataUrl(svg: string): string {
  const bytes = new TextEncoder().encode(svg);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return `data:image/svg+xml;base64,${btoa(bin)}`;
}

/** A file name to offer when saving a share: "share-sandbox-benefits-2026-12-03.twingrant". */
export function shareFileName(agency: string, at: Secs): string {
  const day = new Date(at * 1000).toISOString().slice(0, 10);
  const safe = agency.replace(/[^a-z0-9-]+/gi, "-").replace(/^-+|-+$/g, "") || "agency";
  return `share-${safe}-${day}.twingrant`;
}
