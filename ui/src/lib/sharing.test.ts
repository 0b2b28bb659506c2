import { describe, expect, it } from "vitest";
import type { GrantSummary, SyncReport, TwinView } from "./api-types";
import {
  accessProblems,
  agencyProblemLines,
  bodyEntries,
  countdownWords,
  dateTimeWords,
  dateWords,
  deliveryWords,
  durationWords,
  grantStateWords,
  hasValue,
  holdsWords,
  keyWords,
  noticeWords,
  precheckedFields,
  problemEvents,
  problemFollowUp,
  receiptLine,
  requestDefaultFields,
  splitGrants,
  titleMap,
  titlesOf,
  valueText,
  svgDataUrl,
  recordTypeWords,
  shareFileName,
  shareOutcomeSummary,
  stoppedWords,
} from "./sharing";

const UTC = "UTC";
// 3 December 2026 14:05:00 UTC
const T = Date.UTC(2026, 11, 3, 14, 5, 0) / 1000;
const DAY = 86_400;

function grant(over: Partial<GrantSummary> = {}): GrantSummary {
  return {
    id: "g1",
    agency: "dwp-sandbox",
    agency_name: "DWP (SANDBOX)",
    fields: ["personal.name.full", "personal.address.postcode"],
    purpose: "Pension Credit check",
    records: [],
    issued_at: T,
    expires_at: T + 7 * DAY,
    state: { state: "active" },
    delivery: { state: "accepted", at: T },
    notice: null,
    refreshes: 0,
    access: { receipts: 0, missing: [], broken: [], conflicting: [] },
    ...over,
  };
}

const titles = new Map([
  ["personal.name.full", "Full name"],
  ["personal.address.postcode", "Postcode"],
]);

describe("dates", () => {
  it("writes dates in words", () => {
    expect(dateWords(T, UTC)).toBe("3 December 2026");
    expect(dateTimeWords(T, UTC)).toBe("3 December 2026 at 14:05");
  });
  it("writes lengths of time", () => {
    expect(durationWords(7 * DAY)).toBe("7 days");
    expect(durationWords(DAY)).toBe("1 day");
    expect(durationWords(DAY + 3 * 3600)).toBe("1 day 3 hours");
    expect(durationWords(3600)).toBe("1 hour");
    expect(durationWords(30)).toBe("1 minute");
  });
});

describe("countdownWords", () => {
  it("counts days and hours", () => {
    expect(countdownWords(T + 6 * DAY + 3 * 3600 + 59, T)).toBe("ends in 6 days 3 hours");
    expect(countdownWords(T + DAY, T)).toBe("ends in 1 day");
  });
  it("counts hours and minutes near the end", () => {
    expect(countdownWords(T + 2 * 3600 + 5 * 60, T)).toBe("ends in 2 hours 5 minutes");
    expect(countdownWords(T + 3600, T)).toBe("ends in 1 hour");
    expect(countdownWords(T + 60, T)).toBe("ends in 1 minute");
    expect(countdownWords(T + 59, T)).toBe("ends in less than a minute");
  });
  it("says when it has ended", () => {
    expect(countdownWords(T, T)).toBe("ended");
    expect(countdownWords(T - 10, T)).toBe("ended");
  });
});

describe("fields and values", () => {
  const twin: TwinView = {
    conflicts: 0,
    categories: [
      {
        id: "personal",
        needs_opt_in: false,
        opted_in: true,
        fields: [
          { path: "personal.name.full", title: "Full name", hint: "", kind: "text", value: "Ada" },
          { path: "personal.address.postcode", title: "Postcode", hint: "", kind: "text", value: null },
        ],
      },
    ],
  };
  it("maps paths to titles", () => {
    const m = titleMap(twin);
    expect(m.get("personal.name.full")).toBe("Full name");
    expect(titlesOf(m, ["personal.address.postcode", "x.unknown"])).toBe("Postcode, x.unknown");
  });
  it("knows an empty value", () => {
    expect(hasValue(null)).toBe(false);
    expect(hasValue("  ")).toBe(false);
    expect(hasValue([])).toBe(false);
    expect(hasValue(0)).toBe(true);
    expect(hasValue(["a"])).toBe(true);
  });
  it("writes values as text", () => {
    expect(valueText(["English", "Welsh"])).toBe("English, Welsh");
    expect(valueText(42)).toBe("42");
    expect(valueText(12345.5)).toBe("12,345.5");
    expect(valueText("1958-03-14")).toBe("14 March 1958");
    expect(valueText(true)).toBe("Yes");
    expect(valueText(null)).toBe("");
    expect(valueText({ a_b: 1 })).toBe("A b: 1");
  });
  it("pre-ticks only the purpose's fields that hold a value", () => {
    const values = new Map<string, unknown>([
      ["personal.name.full", "Ada"],
      ["personal.address.postcode", null],
    ]);
    const purpose = {
      code: "pc",
      words: "Pension Credit check",
      fields: ["personal.name.full", "personal.address.postcode"],
      legal_basis: "x",
      retention_days: 30,
    };
    expect(precheckedFields(purpose, values)).toEqual(["personal.name.full"]);
    expect(precheckedFields(undefined, values)).toEqual([]);
  });
  it("leaves over-asked fields unticked in a request", () => {
    expect(requestDefaultFields(["a", "b", "c"], ["b"])).toEqual(["a", "c"]);
  });
});

describe("record bodies", () => {
  it("lists keys and values readably", () => {
    expect(keyWords("effective_from")).toBe("Effective from");
    expect(
      bodyEntries({ benefit: "Pension Credit", amount: 12.5, period: { every: "week" }, tags: ["a", "b"] }),
    ).toEqual([
      ["Benefit", "Pension Credit"],
      ["Amount", "12.5"],
      ["Period › Every", "week"],
      ["Tags", "a, b"],
    ]);
    expect(bodyEntries(null)).toEqual([]);
    expect(bodyEntries("plain")).toEqual([["Contents", "plain"]]);
  });
});

describe("access receipts", () => {
  it("writes a receipt as a sentence", () => {
    expect(
      receiptLine({ seq: 1, at: T, staff: "J. Smith", fields: ["personal.name.full"], purpose: "Pension Credit check" }, titles, UTC),
    ).toBe("Opened by J. Smith on 3 December 2026 at 14:05 for 'Pension Credit check' (fields: Full name)");
    expect(receiptLine({ seq: 1, at: T, staff: "A", fields: [], purpose: "p" }, titles, UTC)).toBe(
      "Opened by A on 3 December 2026 at 14:05 for 'p'",
    );
  });
  it("flags gaps, broken links and two accounts in plain words", () => {
    expect(accessProblems({ receipts: 2, missing: [], broken: [], conflicting: [] })).toEqual([]);
    const p = accessProblems({
      receipts: 5,
      missing: [
        { from: 3, to: 3 },
        { from: 6, to: 8 },
      ],
      broken: [0, 1, 4],
      conflicting: [2],
    });
    expect(p[0]).toBe("Receipt 3 is missing: the agency may have opened your data without telling you.");
    expect(p[1]).toMatch(/^Receipts 6 to 8 are missing/);
    expect(p[2]).toMatch(/numbered 0/);
    expect(p[3]).toMatch(/^Receipt 1 does not start/);
    expect(p[4]).toMatch(/^Receipt 4 does not follow on from receipt 3/);
    expect(p[5]).toMatch(/two different receipts numbered 2/);
  });
});

describe("grant states", () => {
  it("keeps 'stopped here' apart from 'the agency deleted it'", () => {
    const stopped = grantStateWords(grant({ state: { state: "stopped", at: T } }), UTC);
    expect(stopped.stopped).toBe("Stopped on this computer on 3 December 2026");
    expect(stopped.deleted).toBeNull();

    const deleted = grantStateWords(
      grant({ state: { state: "deleted", at: T + DAY, reason: "revoked", stopped_at: T } }),
      UTC,
    );
    expect(deleted.stopped).toBe("Stopped on this computer on 3 December 2026");
    expect(deleted.deleted).toBe("Agency confirmed deletion on 4 December 2026");
    expect(deleted.status).toBe("Deleted by the agency");

    const expiredThenDeleted = grantStateWords(
      grant({ state: { state: "deleted", at: T, reason: "expired", stopped_at: null } }),
      UTC,
    );
    expect(expiredThenDeleted.stopped).toBeNull();
    expect(expiredThenDeleted.deleted).toMatch(/share had ended/);

    expect(grantStateWords(grant(), UTC).status).toBe("Active");
    expect(grantStateWords(grant({ state: { state: "expired" } }), UTC).ended).toBe("Ended on 10 December 2026");
  });
  it("says whether the agency was told", () => {
    expect(noticeWords(null)).toBeNull();
    expect(noticeWords({ sent_at: null, agency_status: null, refused: null })).toMatch(/^Not yet told/);
    expect(noticeWords({ sent_at: T, agency_status: "purged", refused: null }, UTC)).toBe(
      "Told on 3 December 2026: it answered that it deleted what it held.",
    );
    expect(noticeWords({ sent_at: T, agency_status: "remembered", refused: null }, UTC)).toMatch(/will refuse it/);
    expect(noticeWords({ sent_at: null, agency_status: null, refused: "some-code" })).not.toMatch(/some-code/);
  });
  it("says what stopping a share did, from the share itself", () => {
    const stopped = { state: "stopped" as const, at: T };
    // Not told: the agency could not be reached (a skipped event, or none at all).
    const notTold = stoppedWords(grant({ state: stopped, notice: { sent_at: null, agency_status: null, refused: null } }), UTC);
    expect(notTold.told).toBe(false);
    expect(notTold.text).toBe(
      "Stopped on this computer; DWP (SANDBOX) has not been told yet — the next check for updates tells it.",
    );
    // No notice at all yet: still not told.
    expect(stoppedWords(grant({ state: stopped }), UTC).told).toBe(false);
    expect(stoppedWords(grant({ state: stopped }), UTC).text).toMatch(/has not been told yet/);

    const told = stoppedWords(grant({ state: stopped, notice: { sent_at: T, agency_status: null, refused: null } }), UTC);
    expect(told).toEqual({ told: true, text: "Stopped, and DWP (SANDBOX) was told to delete what it holds." });
    expect(
      stoppedWords(grant({ state: stopped, notice: { sent_at: T, agency_status: "purged", refused: null } }), UTC).text,
    ).toBe("Stopped, and DWP (SANDBOX) was told to delete what it holds. It answered that it deleted what it held.");
    expect(
      stoppedWords(grant({ state: stopped, notice: { sent_at: T, agency_status: "remembered", refused: null } }), UTC).text,
    ).toMatch(/had not received the share, and will refuse it/);

    const deleted = stoppedWords(
      grant({
        state: { state: "deleted", at: T + DAY, reason: "revoked", stopped_at: T },
        notice: { sent_at: T, agency_status: "purged", refused: null },
      }),
      UTC,
    );
    expect(deleted).toEqual({
      told: true,
      text: "Stopped, and DWP (SANDBOX) was told to delete what it holds: it confirmed deletion on 4 December 2026.",
    });

    const refused = stoppedWords(grant({ state: stopped, notice: { sent_at: null, agency_status: null, refused: "bad-notice" } }), UTC);
    expect(refused.told).toBe(false);
    expect(refused.text).toMatch(/refused the notice to stop/);
    expect(refused.text).not.toMatch(/bad-notice/);
  });
  it("picks out one agency's lines that did not go through, skipped ones included", () => {
    const ev = (agency: string, outcome: "done" | "failed" | "refused" | "skipped" | "up-to-date") => ({
      agency,
      step: "notice" as const,
      outcome,
      grant: null,
      code: null,
      line: `${agency} ${outcome}`,
    });
    const r = { events: [ev("a", "done"), ev("a", "skipped"), ev("b", "failed"), ev("a", "refused"), ev("a", "up-to-date")] };
    expect(agencyProblemLines(r, "a")).toEqual(["a skipped", "a refused"]);
    expect(agencyProblemLines(null, "a")).toEqual([]);
  });
  it("sums up a share just handed over in one line", () => {
    const out = (over: Partial<GrantSummary>, sent: SyncReport | null = null) => ({
      grant: grant(over),
      text: null,
      qr_svg: null,
      file: null,
      sent,
    });
    expect(shareOutcomeSummary(out({}), "send")).toBe("Sent to DWP (SANDBOX): it received your share.");
    expect(shareOutcomeSummary(out({ delivery: { state: "to-send" } }), "send")).toMatch(/not delivered yet/);
    const failed = { events: [{ agency: "a", step: "share" as const, outcome: "failed" as const, grant: "g1", code: null, line: "x" }] };
    expect(shareOutcomeSummary(out({ delivery: { state: "to-send" } }, failed), "send")).toMatch(/not delivered yet/);
    expect(shareOutcomeSummary(out({ delivery: { state: "refused", code: "x", message: "No." } }), "send")).toMatch(
      /DWP \(SANDBOX\) refused it/,
    );
    expect(shareOutcomeSummary(out({ delivery: { state: "by-hand" } }), "file")).toBe("Saved as a file for DWP (SANDBOX).");
    expect(shareOutcomeSummary(out({ delivery: { state: "by-hand" } }), "paper")).toMatch(/^Ready to show/);
  });
  it("says how a share travels", () => {
    expect(deliveryWords({ state: "by-hand" })).toMatch(/Handed over/);
    expect(deliveryWords({ state: "to-send" })).toMatch(/Not sent yet/);
    expect(deliveryWords({ state: "accepted", at: T }, UTC)).toBe("Received by the agency on 3 December 2026.");
    expect(deliveryWords({ state: "refused", code: "x-code", message: "Bad value." })).toBe(
      "The agency refused it: Bad value.",
    );
  });
  it("says what the agency holds", () => {
    expect(holdsWords(grant(), titles)).toBe("Full name, Postcode");
    expect(holdsWords(grant({ delivery: { state: "to-send" } }), titles)).toMatch(/^Nothing yet/);
    expect(
      holdsWords(grant({ state: { state: "deleted", at: T, reason: "revoked", stopped_at: T } }), titles, UTC),
    ).toMatch(/^Nothing: it confirmed on 3 December 2026/);
  });
  it("splits live shares from past ones", () => {
    const { live, past } = splitGrants([grant(), grant({ id: "g2", state: { state: "expired" } })]);
    expect(live.map((g) => g.id)).toEqual(["g1"]);
    expect(past.map((g) => g.id)).toEqual(["g2"]);
  });
});

describe("sync problems", () => {
  it("picks out what did not go through", () => {
    const ev = (outcome: "done" | "failed" | "refused") => ({
      agency: "a",
      step: "share" as const,
      outcome,
      grant: "g1",
      code: null,
      line: outcome,
    });
    const r = { events: [ev("done"), ev("failed"), ev("refused")] };
    expect(problemEvents(r).map((e) => e.outcome)).toEqual(["failed", "refused"]);
    expect(problemEvents(null)).toEqual([]);
    expect(problemFollowUp(ev("failed"))).toMatch(/try again/);
    expect(problemFollowUp(ev("refused"))).toMatch(/not be sent again/);
  });
});

describe("record types", () => {
  it("names a record type in words", () => {
    expect(recordTypeWords("benefit-award/v1")).toBe("Benefit award");
    expect(recordTypeWords("identity-link/v12")).toBe("Identity link");
  });
});

describe("files and pictures", () => {
  it("makes a data: URL of an SVG", () => {
    const url = svgDataUrl("<svg/>");
    expect(url).toBe("data:image/svg+xml;base64,PHN2Zy8+");
    expect(atob(url.split(",")[1]!)).toBe("<svg/>");
    // Large documents do not overflow the call stack.
    expect(svgDataUrl("<svg>" + "x".repeat(300_000) + "</svg>").length).toBeGreaterThan(400_000);
  });
  it("offers a safe file name", () => {
    expect(shareFileName("sandbox-benefits", T)).toBe("share-sandbox-benefits-2026-12-03.twingrant");
    expect(shareFileName("../x", T)).toBe("share-x-2026-12-03.twingrant");
  });
});
