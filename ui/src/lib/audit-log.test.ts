import { describe, expect, it } from "vitest";
import type { AuditEntry } from "./api-types";
import { chainStatus, kindGroup, logRows, matches, needsAttention } from "./audit-log";

const day1 = Date.UTC(2026, 11, 3, 9, 0);
const day2 = Date.UTC(2026, 11, 4, 10, 0);
const e = (seq: number, at_ms: number, kind: string, line: string): AuditEntry => ({ seq, at_ms, kind, line });
const log: AuditEntry[] = [
  e(1, day1, "created", "You created your twin."),
  e(2, day1 + 60_000, "edit", "You changed your postcode."),
  e(3, day2, "shared", "You shared your postcode with Sandbox Benefits Agency (SANDBOX)."),
  e(4, day2 + 1000, "failed-unlocks", "3 wrong passphrases were typed."),
];

describe("kind groups", () => {
  it("groups known kinds and keeps unknown ones", () => {
    expect(kindGroup("unlocked")).toBe("access");
    expect(kindGroup("erase")).toBe("edits");
    expect(kindGroup("access-receipt")).toBe("agency-access");
    expect(kindGroup("record-received")).toBe("records");
    expect(kindGroup("something-new")).toBe("other");
  });
  it("flags what needs attention", () => {
    expect(needsAttention(log[3]!)).toBe(true);
    expect(needsAttention(log[1]!)).toBe(false);
    expect(needsAttention(e(9, 0, "share-refused", "x"))).toBe(true);
  });
});

describe("filtering", () => {
  it("filters by group", () => {
    expect(log.filter((x) => matches(x, { group: "edits", text: "" })).map((x) => x.seq)).toEqual([2]);
  });
  it("searches every word, any case", () => {
    expect(log.filter((x) => matches(x, { group: "all", text: "POSTCODE sandbox" })).map((x) => x.seq)).toEqual([3]);
  });
  it("matches the group's name too", () => {
    expect(log.filter((x) => matches(x, { group: "all", text: "sharing" })).map((x) => x.seq)).toEqual([3]);
  });
});

describe("logRows", () => {
  it("is newest first with a heading per day", () => {
    const rows = logRows(log, { group: "all", text: "" }, "UTC");
    expect(rows.map((r) => (r.type === "day" ? r.label : r.entry.seq))).toEqual([
      "Friday 4 December 2026",
      4,
      3,
      "Thursday 3 December 2026",
      2,
      1,
    ]);
    expect(rows[0]).toMatchObject({ type: "day", count: 2 });
  });
  it("has unique keys", () => {
    const rows = logRows(log, { group: "all", text: "" }, "UTC");
    expect(new Set(rows.map((r) => r.key)).size).toBe(rows.length);
  });
  it("is empty when nothing matches", () => {
    expect(logRows(log, { group: "all", text: "zzz" })).toEqual([]);
  });
  it("copes with thousands of entries", () => {
    const many = Array.from({ length: 10_000 }, (_, i) => e(i + 1, day1 + i * 60_000, "edit", `Change ${i}`));
    const rows = logRows(many, { group: "all", text: "" }, "UTC");
    expect(rows.filter((r) => r.type === "entry")).toHaveLength(10_000);
    expect(rows[1]).toMatchObject({ type: "entry", entry: { seq: 10_000 } });
  });
});

describe("chainStatus", () => {
  it("says the log is whole", () => {
    const s = chainStatus({ entries: 12, first_broken: null, cut_short: [] }, true);
    expect(s.ok).toBe(true);
    expect(s.title).toBe("Your activity log is complete and unaltered (12 entries).");
  });
  it("warns about a broken chain", () => {
    const s = chainStatus({ entries: 12, first_broken: 7, cut_short: [] }, false);
    expect(s.ok).toBe(false);
    expect(s.detail).toContain("Entry 7");
  });
  it("warns about a log cut short", () => {
    const s = chainStatus({ entries: 12, first_broken: null, cut_short: [5] }, false);
    expect(s.ok).toBe(false);
    expect(s.detail).toContain("entry 5");
  });
});
