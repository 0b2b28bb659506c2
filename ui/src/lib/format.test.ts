import { describe, expect, it } from "vitest";
import {
  dayKey,
  formatDateTime,
  formatDateTimeSecs,
  formatDay,
  formatIsoDate,
  formatMinutes,
  formatTime,
  isIsoDate,
  plural,
  shortDevice,
} from "./format";

// 3 December 2026, 14:05:09 UTC
const T = Date.UTC(2026, 11, 3, 14, 5, 9);

describe("formatDateTime", () => {
  it("reads as a sentence", () => {
    expect(formatDateTime(T, "UTC")).toBe("3 December 2026 at 14:05");
  });
  it("uses the given time zone", () => {
    expect(formatDateTime(T, "Asia/Tokyo")).toBe("3 December 2026 at 23:05");
  });
  it("uses the 24-hour clock, midnight as 00", () => {
    expect(formatDateTime(Date.UTC(2026, 0, 1, 0, 7), "UTC")).toBe("1 January 2026 at 00:07");
  });
  it("takes seconds too", () => {
    expect(formatDateTimeSecs(T / 1000, "UTC")).toBe("3 December 2026 at 14:05");
  });
  it("says so for a broken time", () => {
    expect(formatDateTime(Number.NaN)).toBe("an unknown time");
  });
});

describe("days", () => {
  it("names the day", () => {
    expect(formatDay(T, "UTC")).toBe("Thursday 3 December 2026");
  });
  it("keys by local day", () => {
    expect(dayKey(T, "UTC")).toBe("2026-12-03");
    expect(dayKey(T, "Pacific/Kiritimati")).toBe("2026-12-04");
  });
  it("formats a time alone", () => {
    expect(formatTime(T, "UTC")).toBe("14:05");
  });
});

describe("formatIsoDate", () => {
  it("turns year-month-day into words", () => {
    expect(formatIsoDate("1958-03-14")).toBe("14 March 1958");
  });
  it("leaves other text alone", () => {
    expect(formatIsoDate("Leeds")).toBe("Leeds");
    expect(formatIsoDate("2026-02-30")).toBe("2026-02-30");
  });
  it("recognises dates", () => {
    expect(isIsoDate("2031-06-30")).toBe(true);
    expect(isIsoDate("30/06/2031")).toBe(false);
  });
});

describe("small words", () => {
  it("minutes and hours", () => {
    expect(formatMinutes(1)).toBe("1 minute");
    expect(formatMinutes(15)).toBe("15 minutes");
    expect(formatMinutes(60)).toBe("1 hour");
  });
  it("plurals", () => {
    expect(plural(1, "entry", "entries")).toBe("1 entry");
    expect(plural(1200, "entry", "entries")).toBe("1,200 entries");
    expect(plural(0, "field")).toBe("0 fields");
  });
  it("short device ids", () => {
    expect(shortDevice("a1b2c3d4e5f60718")).toBe("a1b2c3d4");
    expect(shortDevice("abc")).toBe("abc");
  });
});
