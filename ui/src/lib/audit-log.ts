// The activity screen's logic: which group a log entry's kind belongs to, filtering,
// newest-first day grouping into flat rows (for a fixed-row-height virtual list), and
// the chain's verification status in plain words.
import type { AuditEntry, AuditReport } from "./api-types";
import { dayKey, formatDay, plural } from "./format";

export type KindGroup =
  | "access"
  | "edits"
  | "sharing"
  | "agency-access"
  | "requests"
  | "records"
  | "backups"
  | "other";

/** The filter's choices, in the order it lists them. */
export const kindGroups: { id: KindGroup; label: string }[] = [
  { id: "access", label: "Unlocking and passphrase" },
  { id: "edits", label: "Changes to your twin" },
  { id: "sharing", label: "Sharing" },
  { id: "agency-access", label: "Agencies opening your data" },
  { id: "requests", label: "Requests from agencies" },
  { id: "records", label: "Records" },
  { id: "backups", label: "Backups" },
  { id: "other", label: "Other" },
];

const groupOf: Record<string, KindGroup> = {
  created: "access",
  unlocked: "access",
  "failed-unlocks": "access",
  "passphrase-changed": "access",
  recovered: "access",
  edit: "edits",
  import: "edits",
  "opt-in": "edits",
  "opt-out": "edits",
  erase: "edits",
  "agency-added": "sharing",
  shared: "sharing",
  "stopped-sharing": "sharing",
  "share-delivered": "sharing",
  "share-refused": "sharing",
  "notice-delivered": "sharing",
  "notice-refused": "sharing",
  "refresh-sent": "sharing",
  "refresh-refused": "sharing",
  "deletion-confirmed": "sharing",
  "access-receipt": "agency-access",
  "request-received": "requests",
  "request-approved": "requests",
  "request-declined": "requests",
  "record-received": "records",
  "record-hidden": "records",
  "record-shown": "records",
  "backup-exported": "backups",
  "backup-restored": "backups",
};

export function kindGroup(kind: string): KindGroup {
  return groupOf[kind] ?? "other";
}

export function groupLabel(group: KindGroup): string {
  return kindGroups.find((g) => g.id === group)?.label ?? "Other";
}

/** Entries that deserve a second look: failures, refusals, a log cut short, access gaps. */
export function needsAttention(entry: AuditEntry): boolean {
  return (
    entry.kind === "failed-unlocks" ||
    entry.kind === "log-cut-short" ||
    entry.kind.endsWith("-refused") ||
    (entry.kind === "access-receipt" && /\b(gap|missing|warning)\b/i.test(entry.line))
  );
}

export interface LogFilter {
  /** The groups to show; empty or "all" shows every group. */
  group: KindGroup | "all";
  /** Words the line must contain (case-insensitive, every word). */
  text: string;
}

export function matches(entry: AuditEntry, filter: LogFilter): boolean {
  if (filter.group !== "all" && kindGroup(entry.kind) !== filter.group) return false;
  const words = filter.text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const hay = `${entry.line} ${entry.kind} ${groupLabel(kindGroup(entry.kind))}`.toLowerCase();
  return words.every((w) => hay.includes(w));
}

export type LogRow =
  | { type: "day"; key: string; label: string; count: number }
  | { type: "entry"; key: string; entry: AuditEntry };

/** Newest first, with a heading row before each day's entries. */
export function logRows(entries: readonly AuditEntry[], filter: LogFilter, timeZone?: string): LogRow[] {
  const kept = entries.filter((e) => matches(e, filter));
  kept.sort((a, b) => b.seq - a.seq);
  const rows: LogRow[] = [];
  let day: { type: "day"; key: string; label: string; count: number } | null = null;
  // Entries written together share a time: key each distinct time once.
  let lastMs = Number.NaN;
  let k = "";
  for (const e of kept) {
    if (e.at_ms !== lastMs) {
      k = dayKey(e.at_ms, timeZone);
      lastMs = e.at_ms;
    }
    if (!day || day.key !== `day-${k}`) {
      day = { type: "day", key: `day-${k}`, label: formatDay(e.at_ms, timeZone), count: 0 };
      rows.push(day);
    }
    day.count += 1;
    rows.push({ type: "entry", key: `e-${e.seq}`, entry: e });
  }
  return rows;
}

/** The chain's verification status in plain words. */
export function chainStatus(report: AuditReport, intact: boolean): { ok: boolean; title: string; detail: string | null } {
  if (intact && report.first_broken == null && report.cut_short.length === 0) {
    return {
      ok: true,
      title: `Your activity log is complete and unaltered (${plural(report.entries, "entry", "entries")}).`,
      detail: null,
    };
  }
  const parts: string[] = [];
  if (report.first_broken != null) {
    parts.push(
      `Entry ${report.first_broken} and those after it do not follow from the ones before: the log file on this computer was changed outside the app, so those entries cannot be trusted.`,
    );
  }
  if (report.cut_short.length > 0) {
    const at = report.cut_short.map((n) => `entry ${n}`).join(", ");
    parts.push(
      `${report.cut_short.length === 1 ? "Once" : `${report.cut_short.length} times`}, the app found the end of the log missing when you unlocked (recorded at ${at}): entries that were there had been removed.`,
    );
  }
  return {
    ok: false,
    title: "Warning: your activity log is not complete and unaltered.",
    detail: parts.join(" ") || "The app could not confirm that the log is whole.",
  };
}
