import { describe, expect, it } from "vitest";
import { describeEntry, describeScalar, describeValue, editText, inputShape, pathId } from "./values";

describe("describeValue", () => {
  it("says when nothing is set", () => {
    expect(describeValue(null)).toEqual({ empty: true, lines: ["Not set"] });
  });
  it("shows dates in words", () => {
    expect(describeValue("1958-03-14").lines).toEqual(["14 March 1958"]);
  });
  it("shows text as it is", () => {
    expect(describeScalar("LS1 4AP")).toBe("LS1 4AP");
  });
  it("shows numbers readably", () => {
    expect(describeScalar(18250.5)).toBe("18,250.5");
    expect(describeScalar(3)).toBe("3");
  });
  it("shows one line per list entry", () => {
    const v = [
      { name: "Flu", date: "2025-10-01" },
      { name: "Metformin", dose: "500 mg", schedule: "twice a day" },
    ];
    expect(describeValue(v).lines).toEqual([
      "Flu · 1 October 2025",
      "Metformin · dose 500 mg · schedule twice a day",
    ]);
  });
  it("handles an empty list and odd entries", () => {
    expect(describeValue([])).toEqual({ empty: true, lines: ["An empty list"] });
    expect(describeEntry({})).toBe("(empty entry)");
    expect(describeEntry("plain")).toBe("plain");
  });
});

describe("editText", () => {
  it("starts empty for an unset field", () => {
    expect(editText(null, "text")).toBe("");
    expect(editText(null, "list")).toBe("[]");
  });
  it("gives text and numbers back as typed", () => {
    expect(editText("Leeds", "text")).toBe("Leeds");
    expect(editText(4, "integer")).toBe("4");
    expect(editText(18250.5, "number")).toBe("18250.5");
  });
  it("gives lists as JSON the backend reads", () => {
    const v = [{ name: "Flu", date: "2025-10-01" }];
    expect(JSON.parse(editText(v, "list"))).toEqual(v);
  });
});

describe("inputShape", () => {
  it("numbers get number inputs", () => {
    expect(inputShape("integer", "personal.household.size", "").type).toBe("number");
    expect(inputShape("number", "government.tax.annual_income", "").step).toBe("any");
  });
  it("dates get a format placeholder", () => {
    const s = inputShape("text", "personal.date_of_birth", "Enter a date like 1958-03-14 (year-month-day)");
    expect(s.placeholder).toBe("YYYY-MM-DD");
    expect(s.type).toBe("text");
  });
  it("lists and long text get a multi-line box", () => {
    expect(inputShape("list", "health.immunisations", "").multiline).toBe(true);
    expect(inputShape("text", "social.feedback", "Write up to 2000 characters").multiline).toBe(true);
    expect(inputShape("text", "personal.full_name", "Enter your name").multiline).toBe(false);
  });
  it("keeps paths safe for test ids", () => {
    expect(pathId("personal.address.postcode")).toBe("personal.address.postcode");
    expect(pathId("a b")).toBe("a_b");
  });
});
