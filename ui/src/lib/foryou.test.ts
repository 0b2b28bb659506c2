import { describe, expect, it } from "vitest";
import type { CriterionOutcome, LineOutcome, Outcome, ReminderOutcome } from "./api-types";
import {
  acceptedLines,
  criterionMarks,
  criterionText,
  criterionWords,
  dueWords,
  editable,
  groupOutcomes,
  initialChoices,
  isOverdue,
  lineEditText,
  lineId,
  outcomeKey,
  parseLineEdit,
  parseNumber,
  valueLines,
  valuesUsed,
  verdictWords,
  whatIfBanner,
  whatIfFields,
} from "./foryou";

function outcome(over: Partial<Outcome> = {}): Outcome {
  return {
    publisher: "sandbox-benefits",
    pack: "benefits",
    rule: "pension-credit",
    version: 1,
    kind: "eligibility",
    title: "Pension Credit",
    summary: "You may be eligible for Pension Credit",
    source: "https://www.gov.uk/pension-credit/eligibility",
    purpose: "pension-credit-check",
    status: "applies",
    criteria: [],
    explanation: "",
    fields_read: [],
    records_read: [],
    prefill: [],
    reminder: null,
    ...over,
  };
}

const reminder = (days_left: number, in_window = true): ReminderOutcome => ({
  due: "2027-01-05",
  days_left,
  in_window,
  message: "Book your flu jab",
});

const crit = (over: Partial<CriterionOutcome>): CriterionOutcome => ({
  name: "age",
  result: "met",
  explanation: "Age 67 ≥ 66 ✓",
  fields_read: ["personal.date_of_birth"],
  ...over,
});

const proposed = (line: string, value: unknown, shown = String(value)): LineOutcome => ({
  line,
  label: `Line ${line}`,
  result: "proposed",
  value,
  shown,
  fields_read: [],
});

describe("groupOutcomes", () => {
  it("sorts outcomes into the screen's sections", () => {
    const g = groupOutcomes([
      outcome({ rule: "a" }),
      outcome({ rule: "b", status: "undecided" }),
      outcome({ rule: "c", status: "could_not_check" }),
      outcome({ rule: "d", status: "does_not_apply" }),
      outcome({ rule: "r-later", kind: "reminder", reminder: reminder(20) }),
      outcome({ rule: "r-overdue", kind: "reminder", reminder: reminder(-3) }),
      outcome({ rule: "r-not-due", kind: "reminder", status: "does_not_apply", reminder: reminder(200, false) }),
      outcome({ rule: "r-none", kind: "reminder", status: "undecided", reminder: null }),
      outcome({ rule: "p", kind: "prefill" }),
      outcome({ rule: "p-undecided", kind: "prefill", status: "undecided" }),
    ]);
    expect(g.eligible.map((o) => o.rule)).toEqual(["a"]);
    expect(g.undecided.map((o) => o.rule)).toEqual(["b"]);
    expect(g.couldNotCheck.map((o) => o.rule)).toEqual(["c"]);
    expect(g.notApply.map((o) => o.rule)).toEqual(["d"]);
    // Most urgent first; not-due reminders are left out.
    expect(g.reminders.map((o) => o.rule)).toEqual(["r-overdue", "r-later"]);
    expect(g.prefills.map((o) => o.rule)).toEqual(["p"]);
  });

  it("keys outcomes by publisher, pack and rule", () => {
    expect(outcomeKey(outcome())).toBe("sandbox-benefits/benefits/pension-credit");
  });
});

describe("dueWords", () => {
  it("says when a reminder is due, in words", () => {
    expect(dueWords(reminder(46))).toBe("due 5 January 2027, in 46 days");
    expect(dueWords(reminder(1))).toBe("due tomorrow, 5 January 2027");
    expect(dueWords(reminder(0))).toBe("due today, 5 January 2027");
    expect(dueWords(reminder(-1))).toBe("overdue: it was due 5 January 2027, 1 day ago");
    expect(dueWords(reminder(-50))).toBe("overdue: it was due 5 January 2027, 50 days ago");
    expect(isOverdue(reminder(0))).toBe(false);
    expect(isOverdue(reminder(-1))).toBe(true);
  });
});

describe("criteria", () => {
  it("drops the engine's own mark, and gives marks and words for every result", () => {
    expect(criterionText(crit({}))).toBe("Age 67 ≥ 66");
    expect(criterionText(crit({ result: "not_met", explanation: "Weekly income £250.00 < £218.15 ✗" }))).toBe(
      "Weekly income £250.00 < £218.15",
    );
    expect(
      criterionText(crit({ result: "undecided", hint: "Add your date of birth to check this", explanation: "Add your date of birth to check this" })),
    ).toBe("Add your date of birth to check this");
    expect(criterionText(crit({ result: "undecided", explanation: "Add your yearly income" }))).toBe("Add your yearly income");
    expect(
      criterionText(crit({ result: "could_not_check", why: "the rule divides by zero", explanation: "Couldn't check: the rule divides by zero" })),
    ).toBe("Couldn't check: the rule divides by zero");
    expect(criterionText(crit({ result: "could_not_check", why: "the rule divides by zero", explanation: "" }))).toBe(
      "Couldn't check: the rule divides by zero",
    );
    expect(Object.values(criterionMarks)).toEqual(["✓", "✗", "?", "!"]);
    expect(criterionWords.could_not_check).toBe("Could not check");
  });
});

describe("pre-filled lines", () => {
  const lines: LineOutcome[] = [
    proposed("1.1", "AB123456C"),
    proposed("1.2", 18250.5, "£18,250.50"),
    { line: "1.4", label: "Yearly income", result: "undecided", hint: "Add your yearly income to fill this line", fields_read: [] },
    proposed("2.2", 5680.5, "£5,680.50"),
  ];

  it("makes test-id-safe line ids and edit texts", () => {
    expect(lineId("1.2")).toBe("1-2");
    expect(lineEditText(18250.5)).toBe("18250.5");
    expect(lineEditText("AB1")).toBe("AB1");
    expect(lineEditText(null)).toBe("");
    expect(editable(lines[0]!)).toBe(true);
    expect(editable(lines[2]!)).toBe(false);
    expect(editable(proposed("3", true))).toBe(false);
  });

  it("uses every proposed line at first", () => {
    const c = initialChoices(lines);
    expect(Object.keys(c)).toEqual(["1.1", "1.2", "2.2"]);
    expect(c["1.2"]).toEqual({ use: true, editing: false, text: "18250.5" });
    expect(acceptedLines(lines, c)).toEqual({
      lines: [
        { line: "1.1", value: "AB123456C" },
        { line: "1.2", value: 18250.5 },
        { line: "2.2", value: 5680.5 },
      ],
      problems: {},
    });
  });

  it("leaves out unticked lines and reads edits back as the kind proposed", () => {
    const c = initialChoices(lines);
    c["1.1"]!.use = false;
    c["2.2"] = { use: true, editing: true, text: "£6,000.25" };
    expect(acceptedLines(lines, c)).toEqual({
      lines: [
        { line: "1.2", value: 18250.5 },
        { line: "2.2", value: 6000.25 },
      ],
      problems: {},
    });
    // A text line edited stays text, even when it looks like a number.
    c["1.1"] = { use: true, editing: true, text: " 12345678 " };
    expect(acceptedLines(lines, c).lines[0]).toEqual({ line: "1.1", value: "12345678" });
  });

  it("refuses an edit that is not a number on a number line, and an empty text line", () => {
    const c = initialChoices(lines);
    c["1.2"] = { use: true, editing: true, text: "about 18k" };
    c["1.1"] = { use: true, editing: true, text: "   " };
    const r = acceptedLines(lines, c);
    expect(r.lines).toEqual([{ line: "2.2", value: 5680.5 }]);
    expect(r.problems["1.2"]).toMatch(/Line 1\.2 needs a number/);
    expect(r.problems["1.1"]).toMatch(/Line 1\.1 is empty/);
    // An unticked line is not checked.
    c["1.2"]!.use = false;
    expect(acceptedLines(lines, c).problems["1.2"]).toBeUndefined();
  });

  it("parses numbers as people type them", () => {
    expect(parseNumber("18250.50")).toBe(18250.5);
    expect(parseNumber("18,250.50")).toBe(18250.5);
    expect(parseNumber(" £1,000 ")).toBe(1000);
    expect(parseNumber("-5")).toBe(-5);
    expect(parseNumber("-£5.10")).toBe(-5.1);
    expect(parseNumber(".5")).toBe(0.5);
    expect(parseNumber("0")).toBe(0);
    for (const bad of ["", "abc", "12a", "1.2.3", "1,2,3", "12,34", "£", "1e5", "Infinity", "NaN", "--5"]) {
      expect(parseNumber(bad), bad).toBeNull();
    }
    expect(parseLineEdit("2.2", 1, "x")).toMatchObject({ ok: false });
    expect(parseLineEdit("1.1", "a", "x".repeat(301))).toMatchObject({ ok: false, message: /at most 300/ });
    expect(parseLineEdit("1.1", "a", "AB1")).toEqual({ ok: true, value: "AB1" });
  });
});

describe("what if", () => {
  it("lists every field any rule read, once, by title", () => {
    const titles = new Map([
      ["personal.date_of_birth", "Date of birth"],
      ["government.tax.annual_income", "Yearly income (pounds)"],
    ]);
    const f = whatIfFields(
      [
        outcome({ fields_read: ["personal.date_of_birth", "government.tax.annual_income"] }),
        outcome({ rule: "ctr", fields_read: ["government.tax.annual_income", "personal.household.size"] }),
      ],
      titles,
    );
    expect(f).toEqual([
      { path: "personal.date_of_birth", title: "Date of birth" },
      { path: "personal.household.size", title: "personal.household.size" },
      { path: "government.tax.annual_income", title: "Yearly income (pounds)" },
    ]);
    expect(whatIfBanner("Yearly income (pounds)", "9000")).toBe(
      "What if Yearly income (pounds) were 9000: your twin is not changed.",
    );
  });
});

describe("values", () => {
  it("shows accepted return lines and other values plainly", () => {
    expect(
      valueLines([
        { line: "1.1", label: "Tax reference", value: "AB123456C" },
        { line: "1.2", label: "Pay from employment", value: 18250.5 },
      ]),
    ).toEqual(["Line 1.1, Tax reference: AB123456C", "Line 1.2, Pay from employment: 18,250.5"]);
    expect(valueLines("1950-01-02")).toEqual(["2 January 1950"]);
    expect(valueLines(null)).toEqual(["Not set"]);
    expect(valuesUsed({ "personal.date_of_birth": "1959-03-14", "government.tax.annual_income": 9360 }, new Map([["personal.date_of_birth", "Date of birth"]]))).toEqual([
      ["Date of birth", "14 March 1959"],
      ["government.tax.annual_income", "9,360"],
    ]);
    expect(valuesUsed(null, new Map())).toEqual([]);
    expect(verdictWords.disagree).toBe("Does not follow the published rule");
  });
});
