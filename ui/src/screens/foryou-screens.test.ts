import { render, fireEvent, waitFor, screen } from "@testing-library/svelte";
import { vi, it, expect, beforeEach, describe } from "vitest";
import axe from "axe-core";

// As sharing-screens.test.ts: the backend is mocked at `invoke`, so ../lib/api (its
// command names and arguments) is exercised too.
const calls: { cmd: string; args: any }[] = [];
let handlers: Record<string, (args: any) => any> = {};
vi.mock("@tauri-apps/api/core", () => ({
  invoke: vi.fn(async (cmd: string, args: any) => {
    calls.push({ cmd, args });
    const h = handlers[cmd];
    if (!h) throw { code: "nope", message: `no handler ${cmd}` };
    return h(args);
  }),
}));
vi.mock("@tauri-apps/api/event", () => ({ listen: vi.fn(async () => () => {}) }));
const openMock = vi.fn(async (_opts?: any): Promise<string | null> => "/home/a/benefits.twinrules");
const saveMock = vi.fn(async (_opts?: any): Promise<string | null> => "/tmp/pension-credit.twingrant");
vi.mock("@tauri-apps/plugin-dialog", () => ({
  open: (o: any) => openMock(o),
  save: (o: any) => saveMock(o),
}));

import ForYou from "./ForYou.svelte";

// ---- Fixtures -------------------------------------------------------------------------------
const now = Math.floor(Date.now() / 1000);

let returnLines: unknown = null;
const twin = () => ({
  conflicts: 0,
  categories: [
    { id: "personal", needs_opt_in: false, opted_in: true, fields: [
      { path: "personal.date_of_birth", title: "Date of birth", hint: "", kind: "text", value: "1959-03-14" },
      { path: "personal.address.postcode", title: "Postcode", hint: "", kind: "text", value: "LS1 4AP" },
      { path: "personal.household.size", title: "People in your household", hint: "", kind: "integer", value: null },
    ] },
    { id: "government", needs_opt_in: false, opted_in: true, fields: [
      { path: "government.tax.reference", title: "Tax reference", hint: "", kind: "text", value: "AB123456C" },
      { path: "government.tax.annual_income", title: "Yearly income (pounds)", hint: "", kind: "number", value: 9360 },
      { path: "government.tax.return_lines", title: "Tax return lines you accepted", hint: "", kind: "list", value: returnLines },
    ] },
    { id: "health", needs_opt_in: true, opted_in: true, fields: [
      { path: "health.immunisations", title: "Immunisations", hint: "", kind: "list", value: [{ name: "Flu", date: "2025-10-01" }] },
    ] },
  ],
});

const packs = [
  { publisher: "sandbox-benefits", publisher_name: "Sandbox Benefits", pack: "benefits", version: 2, title: "Benefits you may be able to get", rules: 4 },
  { publisher: "sandbox-tax", publisher_name: "Sandbox Tax Office", pack: "tax", version: 1, title: "Your tax return", rules: 1 },
  { publisher: "sandbox-health", publisher_name: "Sandbox Health", pack: "health", version: 1, title: "Health reminders", rules: 2 },
];

const base = {
  version: 1, source: "https://www.gov.uk/pension-credit/eligibility", records_read: [], prefill: [], reminder: null,
};

const pensionCredit = {
  ...base, publisher: "sandbox-benefits", pack: "benefits", rule: "pension-credit", kind: "eligibility",
  title: "Pension Credit", summary: "You may be eligible for Pension Credit", purpose: "pension-credit-check", status: "applies",
  criteria: [
    { name: "age", result: "met", explanation: "Age 67 ≥ 66 ✓", fields_read: ["personal.date_of_birth"] },
    { name: "income", result: "met", explanation: "Weekly income £180.00 < £218.15 ✓", fields_read: ["government.tax.annual_income"] },
  ],
  explanation: "Age 67 ≥ 66 ✓ · Weekly income £180.00 < £218.15 ✓",
  fields_read: ["personal.date_of_birth", "government.tax.annual_income"],
};

const ctrHint = "Add your yearly income and how many people live with you to check this";
const councilTax = {
  ...base, publisher: "sandbox-benefits", pack: "benefits", rule: "council-tax-reduction", kind: "eligibility",
  title: "Council Tax Reduction", summary: "You may be able to pay less Council Tax", purpose: "council-tax-reduction",
  source: "https://www.gov.uk/apply-council-tax-reduction", status: "undecided",
  criteria: [
    { name: "home", result: "met", explanation: "A home postcode is in your twin (LS1 4AP) ✓", fields_read: ["personal.address.postcode"] },
    { name: "income", result: "undecided", missing: ["personal.household.size"], hint: ctrHint, explanation: ctrHint, fields_read: ["government.tax.annual_income", "personal.household.size"] },
  ],
  explanation: `A home postcode is in your twin (LS1 4AP) ✓ · ${ctrHint}`,
  fields_read: ["personal.address.postcode", "government.tax.annual_income", "personal.household.size"],
};

const winterFuel = {
  ...base, publisher: "sandbox-benefits", pack: "benefits", rule: "winter-fuel", kind: "eligibility",
  title: "Winter Fuel Payment", summary: "You may be able to get a Winter Fuel Payment", purpose: "winter-fuel",
  source: "https://www.gov.uk/winter-fuel-payment", status: "does_not_apply",
  criteria: [{ name: "born", result: "not_met", explanation: "Born 14 March 1959, before 22 September 1960 ✗", fields_read: ["personal.date_of_birth"] }],
  explanation: "Born 14 March 1959, before 22 September 1960 ✗",
  fields_read: ["personal.date_of_birth"],
};

const flu = {
  ...base, publisher: "sandbox-health", pack: "health", rule: "flu-immunisation", kind: "reminder",
  title: "Flu immunisation", summary: "You can have a free flu jab", purpose: "flu-immunisation",
  source: "https://www.nhs.uk/vaccinations/flu-vaccine/", status: "applies",
  criteria: [{ name: "age", result: "met", explanation: "Age 67 ≥ 65 ✓", fields_read: ["personal.date_of_birth"] }],
  explanation: "Age 67 ≥ 65 ✓ · Due 1 October 2026, in 10 days",
  fields_read: ["personal.date_of_birth", "health.immunisations"],
  reminder: { due: "2026-10-01", days_left: 10, in_window: true, message: "Your last flu jab was on 1 October 2025: book this year's with your GP surgery" },
};

const licence = {
  ...flu, rule: "driving-licence", title: "Driving licence renewal", status: "does_not_apply",
  reminder: { due: "2030-05-01", days_left: 1300, in_window: false, message: "Renew your photocard licence" },
};

const selfAssessment = {
  ...base, publisher: "sandbox-tax", pack: "tax", rule: "self-assessment", kind: "prefill",
  title: "Self Assessment tax return 2025 to 2026", summary: "Your tax return can be pre-filled from your twin",
  source: "https://www.gov.uk/self-assessment-tax-returns", purpose: "self-assessment-prefill", status: "applies",
  criteria: [{ name: "reference", result: "met", explanation: "Tax reference AB123456C ✓", fields_read: ["government.tax.reference"] }],
  explanation: "Tax reference AB123456C ✓",
  fields_read: ["government.tax.reference", "government.tax.annual_income"],
  prefill: [
    { line: "1.1", label: "Tax reference", result: "proposed", value: "AB123456C", shown: "AB123456C", fields_read: ["government.tax.reference"] },
    { line: "1.2", label: "Pay from employment", result: "proposed", value: 18250.5, shown: "£18,250.50", fields_read: [] },
    { line: "1.4", label: "Yearly income, as in your twin", result: "undecided", hint: "Add your yearly income to fill this line", fields_read: ["government.tax.annual_income"] },
    { line: "2.2", label: "Taxable income", result: "proposed", value: 5680.5, shown: "£5,680.50", fields_read: ["government.tax.annual_income"] },
  ],
};

const disagreeWords =
  "The agency refused, but by its own published rule Pension Credit (version 1) your shared details meet every criterion: Age 67 ≥ 66 ✓ · Weekly income £180.00 < £218.15 ✓. You can ask for the decision to be looked at again; this evidence is ready to send with your request.";
const decision = {
  record: "rec-pc-1", agency: "sandbox-benefits", agency_name: "Sandbox Benefits", benefit: "Pension Credit", issued_at: now - 86400,
  agreement: {
    verdict: "disagree", decision: "refused", words: disagreeWords,
    evidence: {
      publisher: "sandbox-benefits", pack: "benefits", rule: "pension-credit", version: 1, title: "Pension Credit",
      source: "https://www.gov.uk/pension-credit/eligibility", decided_on: "2026-09-01",
      criteria: pensionCredit.criteria, explanation: pensionCredit.explanation,
      values_used: { "personal.date_of_birth": "1959-03-14", "government.tax.annual_income": 9360 },
    },
  },
  problem: null,
  values_changed: true,
};
const unchecked = {
  record: "rec-wf-2", agency: "sandbox-benefits", agency_name: "Sandbox Benefits", benefit: "Winter Fuel Payment", issued_at: now - 86400,
  agreement: null, problem: "the rule it cites, Winter Fuel Payment version 3, is not in a pack you added", values_changed: false,
};

const full = (over: any = {}) => ({
  packs,
  outcomes: [pensionCredit, councilTax, winterFuel, flu, licence, selfAssessment],
  decisions: [decision, unchecked],
  what_if: false,
  ...over,
});

const agencies = [
  { id: "sandbox-benefits", name: "Sandbox Benefits", sandbox: true, endpoint: "http://127.0.0.1:8700", record_types: ["benefit-award/v1"],
    purposes: [{ code: "pension-credit-check", words: "Pension Credit check", fields: [], legal_basis: "State Pension Credit Act 2002", retention_days: 30 }] },
  { id: "sandbox-tax", name: "Sandbox Tax Office", sandbox: true, endpoint: "http://127.0.0.1:8701", record_types: [],
    purposes: [{ code: "self-assessment-prefill", words: "Self Assessment tax return", fields: [], legal_basis: "Taxes Management Act 1970", retention_days: 365 }] },
];

const pcShare = {
  rule: "pension-credit", title: "Pension Credit", agency: "sandbox-benefits", agency_name: "Sandbox Benefits",
  purpose: "pension-credit-check", purpose_words: "Pension Credit check", fields: ["personal.date_of_birth", "government.tax.annual_income"], records: ["benefit-award/v1"],
};

const grant = (over: any = {}) => ({
  id: "g1", agency: "sandbox-benefits", agency_name: "Sandbox Benefits", fields: pcShare.fields, purpose: "Pension Credit check",
  records: ["benefit-award/v1"], issued_at: now, expires_at: now + 30 * 86400, state: { state: "active" },
  delivery: { state: "accepted", at: now }, notice: null, refreshes: 0, access: { receipts: 0, missing: [], broken: [], conflicting: [] }, ...over,
});

const info = { version: "0", sandbox: true, vault_dir: "", has_vault: true, unlocked: true, settings: { auto_lock_minutes: 5 }, sandbox_agency: null } as any;

async function axeCheck(container: HTMLElement) {
  const r = await axe.run(container, { rules: { "color-contrast": { enabled: false }, region: { enabled: false } } });
  const bad = r.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length) console.error(JSON.stringify(bad.map((v) => [v.id, v.nodes.map((n) => n.html)]), null, 1));
  expect(bad).toEqual([]);
}

const cmds = (cmd: string) => calls.filter((c) => c.cmd === cmd);
const cells = (id: string) => [...screen.getByTestId(id).querySelectorAll("th, td")].map((c) => c.textContent!.trim());
const text = (id: string) => screen.getByTestId(id).textContent!.replace(/\s+/g, " ").trim();

function standardHandlers(over: Record<string, (args: any) => any> = {}) {
  handlers = {
    for_you: () => full(),
    twin: () => twin(),
    agencies: () => agencies,
    still_here: () => null,
    rule_share: (a: any) => {
      if (a.rule === "pension-credit") return pcShare;
      if (a.rule === "council-tax-reduction") throw { code: "unknown-purpose", message: "Sandbox Benefits' card lists no purpose called council-tax-reduction." };
      throw { code: "no-rule", message: "no rule" };
    },
    share: (a: any) => ({
      grant: grant(),
      text: null,
      qr_svg: null,
      file: a.delivery.by === "file" ? a.delivery.path : null,
      sent: a.delivery.by === "send" ? { events: [] } : null,
    }),
    ...over,
  };
}

beforeEach(() => {
  calls.length = 0;
  returnLines = null;
  document.body.innerHTML = "";
  openMock.mockClear();
  saveMock.mockClear();
});

describe("For you", () => {
  it("explains rule packs when there are none, and adds one", async () => {
    let added = false;
    standardHandlers({
      for_you: () => (added ? full() : { packs: [], outcomes: [], decisions: [], what_if: false }),
      add_rule_pack: (a: any) => {
        if (a.path.includes("forged")) throw { code: "rule-pack", message: "This rule pack's signature does not check out; it may have been altered." };
        added = true;
        return packs[0];
      },
    });
    const { container } = render(ForYou, { props: { info, go: () => {} } });
    expect(screen.getByTestId("foryou-heading").textContent).toBe("For you");
    expect(container.textContent).toMatch(/Worked out on this computer\. Nothing leaves it until you choose to share\./);
    expect(screen.getByTestId("foryou-loading").textContent).toBe("Working out what applies to you…");
    await screen.findByTestId("foryou-empty");
    expect(text("foryou-empty")).toMatch(/Rule packs are published and signed by agencies you added/);
    expect(screen.queryByTestId("foryou-packs")).toBeNull();
    await axeCheck(container);

    // Closing the file dialog does nothing.
    openMock.mockResolvedValueOnce(null);
    await fireEvent.click(screen.getByTestId("foryou-add-pack"));
    await waitFor(() => expect(openMock).toHaveBeenCalledTimes(1));
    expect(openMock.mock.calls[0]![0]).toMatchObject({ multiple: false, filters: [{ extensions: ["twinrules"] }] });
    expect(cmds("add_rule_pack")).toEqual([]);

    // A pack that does not verify: the reason, in place.
    openMock.mockResolvedValueOnce("/home/a/forged.twinrules");
    await fireEvent.click(screen.getByTestId("foryou-add-pack"));
    await waitFor(() => expect(text("foryou-add-error")).toBe("This rule pack's signature does not check out; it may have been altered."));

    await fireEvent.click(screen.getByTestId("foryou-add-pack"));
    await waitFor(() => expect(text("foryou-status")).toBe("Added “Benefits you may be able to get” from Sandbox Benefits (version 2, 4 rules)."));
    expect(cmds("add_rule_pack").pop()!.args).toEqual({ path: "/home/a/benefits.twinrules" });
    expect(screen.queryByTestId("foryou-empty")).toBeNull();
    expect(screen.queryByTestId("foryou-add-error")).toBeNull();
    // The smaller button stays, and the packs are listed.
    expect(screen.getByTestId("foryou-add-pack")).toBeTruthy();
    const packList = screen.getByTestId("foryou-packs") as HTMLDetailsElement;
    expect(packList.open).toBe(false);
    expect(text("foryou-packs")).toMatch(/Benefits you may be able to get from Sandbox Benefits · version 2 · 4 rules/);
    expect(text("foryou-packs")).toMatch(/Your tax return from Sandbox Tax Office · version 1 · 1 rule(?!s)/);
    // Nothing is ever kept in the browser's storage.
    expect(localStorage.length).toBe(0);
    expect(sessionStorage.length).toBe(0);
  });

  it("groups reminders and suggestions, criterion by criterion", async () => {
    standardHandlers();
    const go = vi.fn();
    const { container } = render(ForYou, { props: { info, go } });
    await screen.findByTestId("foryou-eligible");
    expect(cmds("for_you")[0]!.args).toEqual({ whatIf: [] });

    // Reminders: the due one, not the one years away.
    const reminders = screen.getByTestId("foryou-reminders");
    expect(text("reminder-flu-immunisation")).toMatch(/Flu immunisation/);
    expect(text("reminder-flu-immunisation")).toMatch(/due 1 October 2026, in 10 days/);
    expect(text("reminder-flu-immunisation")).toMatch(/book this year's with your GP surgery/);
    expect(reminders.querySelector('[data-testid="reminder-driving-licence"]')).toBeNull();

    // You may be eligible: Pension Credit, each criterion with its mark hidden and words.
    const eligible = screen.getByTestId("foryou-eligible");
    expect(eligible.querySelector('[data-testid="suggestion-pension-credit"]')).toBeTruthy();
    expect(eligible.querySelector("h4")!.textContent).toBe("You may be eligible for Pension Credit");
    const age = screen.getByTestId("criterion-pension-credit-age");
    expect(age.querySelector('[aria-hidden="true"]')!.textContent).toBe("✓");
    expect(age.querySelector(".sr-only")!.textContent).toMatch(/^Met/);
    expect(age.textContent).toMatch(/Age 67 ≥ 66$/);
    expect(text("criterion-pension-credit-income")).toMatch(/Weekly income £180\.00 < £218\.15$/);
    expect(text("suggestion-pension-credit")).toMatch(/Published rule: https:\/\/www\.gov\.uk\/pension-credit\/eligibility, version 1/);
    expect(screen.getByTestId("apply-pension-credit").textContent).toMatch(/Apply…/);

    // We need more to check: the hint, and a way to My twin.
    const undecided = screen.getByTestId("foryou-undecided");
    expect(undecided.querySelector('[data-testid="suggestion-council-tax-reduction"]')).toBeTruthy();
    const income = screen.getByTestId("criterion-council-tax-reduction-income");
    expect(income.querySelector('[aria-hidden="true"]')!.textContent).toBe("?");
    expect(income.textContent).toMatch(new RegExp(`Not known yet: ${ctrHint}$`));
    expect(screen.getByTestId("apply-council-tax-reduction")).toBeTruthy();
    await fireEvent.click(screen.getByRole("button", { name: /Go to My twin/ }));
    expect(go).toHaveBeenCalledWith("twin");

    // Does not seem to apply: collapsed, no Apply.
    const notApply = screen.getByTestId("foryou-not-apply") as HTMLDetailsElement;
    expect(notApply.tagName).toBe("DETAILS");
    expect(notApply.open).toBe(false);
    expect(notApply.querySelector('[data-testid="suggestion-winter-fuel"]')).toBeTruthy();
    expect(text("criterion-winter-fuel-born")).toMatch(/^✗ Not met: Born 14 March 1959, before 22 September 1960$/);
    expect(screen.queryByTestId("apply-winter-fuel")).toBeNull();
    expect(screen.queryByTestId("foryou-could-not-check")).toBeNull();

    // Pre-fill and decisions have their own sections, not in suggestions.
    expect(screen.getByTestId("prefill-self-assessment")).toBeTruthy();
    expect(screen.queryByTestId("suggestion-self-assessment")).toBeNull();
    await axeCheck(container);

    // A preparing error stays on its card.
    await fireEvent.click(screen.getByTestId("apply-council-tax-reduction"));
    await waitFor(() => expect(text("apply-error-council-tax-reduction")).toMatch(/lists no purpose called council-tax-reduction/));
    expect(screen.queryByTestId("apply-review")).toBeNull();
    expect(cmds("share")).toEqual([]);
  });

  it("shows a could-not-check rule plainly", async () => {
    standardHandlers({
      for_you: () => full({
        outcomes: [{
          ...pensionCredit, status: "could_not_check",
          criteria: [{ name: "income", result: "could_not_check", why: "the rule divides by zero", explanation: "Couldn't check: the rule divides by zero", fields_read: [] }],
        }],
        decisions: [],
      }),
    });
    render(ForYou, { props: { info, go: () => {} } });
    await screen.findByTestId("foryou-could-not-check");
    expect(text("criterion-pension-credit-income")).toBe("! Could not check: Couldn't check: the rule divides by zero");
    expect(screen.queryByTestId("apply-pension-credit")).toBeNull();
  });

  it("Apply reviews exactly the rule's fields, and shares only on Send now", async () => {
    standardHandlers();
    const { container } = render(ForYou, { props: { info, go: () => {} } });
    await screen.findByTestId("apply-pension-credit");
    await fireEvent.click(screen.getByTestId("apply-pension-credit"));
    await screen.findByTestId("apply-review");
    expect(cmds("rule_share")).toEqual([{ cmd: "rule_share", args: { rule: "pension-credit" } }]);
    const review = screen.getByTestId("apply-review");
    expect(review.querySelector("h4")!.textContent).toBe("Share with Sandbox Benefits for ‘Pension Credit check’");
    await waitFor(() => expect(document.activeElement).toBe(review.querySelector("h4")));
    const rows = [...review.querySelectorAll('[data-testid^="apply-field-"]')].map((r) => r.getAttribute("data-testid"));
    expect(rows).toEqual(["apply-field-personal.date_of_birth", "apply-field-government.tax.annual_income"]);
    expect(cells("apply-field-personal.date_of_birth")).toEqual(["Date of birth", "14 March 1959"]);
    expect(cells("apply-field-government.tax.annual_income")).toEqual(["Yearly income (pounds)", "9,360"]);
    expect(review.textContent).not.toMatch(/LS1 4AP/);
    expect(review.textContent).toMatch(/For 30 days, until/);
    expect(review.textContent).toMatch(/Only these values leave your computer\. You can stop the share at any time from Sharing\./);
    expect(cmds("share")).toEqual([]);
    await axeCheck(container);

    // Cancel: nothing shared, focus back on Apply.
    await fireEvent.click(screen.getByTestId("apply-cancel"));
    expect(screen.queryByTestId("apply-review")).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId("apply-pension-credit")));
    expect(cmds("share")).toEqual([]);

    // Saving as a file: closing the dialog shares nothing.
    await fireEvent.click(screen.getByTestId("apply-pension-credit"));
    await screen.findByTestId("apply-review");
    saveMock.mockResolvedValueOnce(null);
    await fireEvent.click(screen.getByTestId("apply-file"));
    await waitFor(() => expect(saveMock).toHaveBeenCalledTimes(1));
    expect(saveMock.mock.calls[0]![0]).toMatchObject({ filters: [{ extensions: ["twingrant"] }] });
    expect(cmds("share")).toEqual([]);

    await fireEvent.click(screen.getByTestId("apply-send"));
    await waitFor(() => expect(text("apply-outcome")).toMatch(/Sent to Sandbox Benefits/));
    expect(cmds("share")).toEqual([{
      cmd: "share",
      args: {
        request: { agency: "sandbox-benefits", fields: ["personal.date_of_birth", "government.tax.annual_income"], purpose: "pension-credit-check", days: 30, records: ["benefit-award/v1"], records_days: 90, single_use: false },
        delivery: { by: "send" },
      },
    }]);
    expect(text("apply-outcome")).toMatch(/Sandbox Benefits received it\. It may read these details until/);
    expect(screen.queryByTestId("apply-send")).toBeNull();
    await axeCheck(container);
  });

  it("saves the share as a file, and shows a refusal in place", async () => {
    let refuse = true;
    standardHandlers({
      share: (a: any) => {
        if (refuse) {
          refuse = false;
          throw { code: "file-not-saved", message: "Could not save /tmp/pension-credit.twingrant: a file with that name is already there; choose another name." };
        }
        return { grant: grant({ delivery: { state: "by-hand" } }), text: null, qr_svg: null, file: a.delivery.path, sent: null };
      },
    });
    render(ForYou, { props: { info, go: () => {} } });
    await fireEvent.click(await screen.findByTestId("apply-pension-credit"));
    await screen.findByTestId("apply-review");
    await fireEvent.click(screen.getByTestId("apply-file"));
    await waitFor(() => expect(text("apply-error")).toMatch(/already there; choose another name/));
    expect(screen.getByTestId("apply-outcome").contains(screen.getByTestId("apply-error"))).toBe(true);
    expect(screen.getByTestId("apply-file")).toBeTruthy();
    await fireEvent.click(screen.getByTestId("apply-file"));
    await waitFor(() => expect(text("apply-outcome")).toMatch(/Saved as a file Saved to \/tmp\/pension-credit\.twingrant\. Hand this file to Sandbox Benefits/));
    expect(cmds("share").pop()!.args.delivery).toEqual({ by: "file", path: "/tmp/pension-credit.twingrant" });
    expect(screen.queryByTestId("apply-error")).toBeNull();
  });

  it("pre-fill: sends exactly the lines accepted, edits as numbers, refuses a non-number in place", async () => {
    standardHandlers({
      accept_prefill: (a: any) => {
        const labels: Record<string, string> = { "1.1": "Tax reference", "1.2": "Pay from employment", "2.2": "Taxable income" };
        returnLines = a.lines.map((l: any) => ({ line: l.line, label: labels[l.line], value: l.value }));
        return { rule: "self-assessment", title: "Self Assessment tax return 2025 to 2026", agency: "sandbox-tax", agency_name: "Sandbox Tax Office", purpose: "self-assessment-prefill", purpose_words: "Self Assessment tax return", fields: ["government.tax.return_lines"], records: [] };
      },
    });
    const { container } = render(ForYou, { props: { info, go: () => {} } });
    await screen.findByTestId("prefill-self-assessment");
    expect(cells("prefill-line-self-assessment-1-1").slice(0, 3)).toEqual(["1.1", "Tax reference", "AB123456C"]);
    expect(screen.getByLabelText("Use line 1.1")).toBe(screen.getByTestId("prefill-use-self-assessment-1-1"));
    expect(text("prefill-line-self-assessment-1-2")).toMatch(/£18,250\.50/);
    expect(text("prefill-line-self-assessment-1-4")).toMatch(/Add your yearly income to fill this line/);
    expect(screen.queryByTestId("prefill-use-self-assessment-1-4")).toBeNull();
    for (const l of ["1-1", "1-2", "2-2"]) expect((screen.getByTestId(`prefill-use-self-assessment-${l}`) as HTMLInputElement).checked).toBe(true);
    await axeCheck(container);

    // Untick 1.1; edit 1.2 into something that is not a number.
    await fireEvent.click(screen.getByTestId("prefill-use-self-assessment-1-1"));
    await fireEvent.click(screen.getByTestId("prefill-edit-self-assessment-1-2"));
    const input = screen.getByTestId("prefill-input-self-assessment-1-2") as HTMLInputElement;
    expect(input.value).toBe("18250.5");
    expect(document.activeElement).toBe(input);
    await fireEvent.input(input, { target: { value: "about 19k" } });
    await fireEvent.click(screen.getByTestId("prefill-accept-self-assessment"));
    await waitFor(() => expect(text("prefill-line-error-self-assessment-1-2")).toMatch(/Line 1\.2 needs a number/));
    expect(input.getAttribute("aria-invalid")).toBe("true");
    expect(input.value).toBe("about 19k");
    expect(text("prefill-error-self-assessment")).toMatch(/One line needs changing first/);
    expect(cmds("accept_prefill")).toEqual([]);
    await axeCheck(container);

    await fireEvent.input(input, { target: { value: "£19,000.75" } });
    await waitFor(() => expect(screen.queryByTestId("prefill-line-error-self-assessment-1-2")).toBeNull());
    await fireEvent.click(screen.getByTestId("prefill-accept-self-assessment"));
    await screen.findByTestId("apply-review");
    expect(cmds("accept_prefill")).toEqual([{
      cmd: "accept_prefill",
      args: { rule: "self-assessment", lines: [{ line: "1.2", value: 19000.75 }, { line: "2.2", value: 5680.5 }] },
    }]);
    // The review: the one field the lines are kept in, with the lines as accepted.
    const review = screen.getByTestId("apply-review");
    expect(review.querySelector("h4")!.textContent).toBe("Share with Sandbox Tax Office for ‘Self Assessment tax return’");
    expect([...review.querySelectorAll('[data-testid^="apply-field-"]')].length).toBe(1);
    const field = text("apply-field-government.tax.return_lines");
    expect(field).toMatch(/Tax return lines you accepted/);
    expect(field).toMatch(/Line 1\.2, Pay from employment: 19,000\.75/);
    expect(field).toMatch(/Line 2\.2, Taxable income: 5,680\.5/);
    expect(field).not.toMatch(/AB123456C/);
    expect(cmds("share")).toEqual([]);
    await axeCheck(container);

    await fireEvent.click(screen.getByTestId("apply-send"));
    await waitFor(() => expect(cmds("share").length).toBe(1));
    expect(cmds("share")[0]!.args.request).toEqual({
      agency: "sandbox-tax", fields: ["government.tax.return_lines"], purpose: "self-assessment-prefill", days: 30, records: [], records_days: 90, single_use: false,
    });
  });

  it("pre-fill: no line ticked is refused in place", async () => {
    standardHandlers();
    render(ForYou, { props: { info, go: () => {} } });
    await screen.findByTestId("prefill-self-assessment");
    for (const l of ["1-1", "1-2", "2-2"]) await fireEvent.click(screen.getByTestId(`prefill-use-self-assessment-${l}`));
    await fireEvent.click(screen.getByTestId("prefill-accept-self-assessment"));
    expect(text("prefill-error-self-assessment")).toBe("Tick “Use” on at least one line to accept it.");
    expect(cmds("accept_prefill")).toEqual([]);
  });

  it("what if: works out with a value tried, leaves the twin, and goes back", async () => {
    standardHandlers({
      for_you: (a: any) => {
        const w = a.whatIf as { path: string; value: string }[];
        if (w.length === 0) return full();
        if (w[0]!.value === "lots") throw { code: "invalid-what-if", message: "Yearly income (pounds): Enter an amount in pounds like 18250.50" };
        return full({ what_if: true, outcomes: [{ ...pensionCredit, status: "does_not_apply", criteria: [pensionCredit.criteria[0], { ...pensionCredit.criteria[1], result: "not_met", explanation: "Weekly income £576.92 < £218.15 ✗" }] }] });
      },
    });
    const { container } = render(ForYou, { props: { info, go: () => {} } });
    await screen.findByTestId("whatif-field");
    const select = screen.getByTestId("whatif-field") as HTMLSelectElement;
    const options = [...select.options].map((o) => [o.value, o.textContent]);
    expect(options).toContainEqual(["government.tax.annual_income", "Yearly income (pounds)"]);
    expect(options).toContainEqual(["personal.household.size", "People in your household"]);
    expect(new Set(options.map((o) => o[0])).size).toBe(options.length);
    await axeCheck(container);

    await fireEvent.change(select, { target: { value: "government.tax.annual_income" } });
    const value = screen.getByTestId("whatif-value") as HTMLInputElement;
    await fireEvent.input(value, { target: { value: "lots" } });
    await fireEvent.click(screen.getByTestId("whatif-check"));
    await waitFor(() => expect(text("whatif-error")).toBe("Yearly income (pounds): Enter an amount in pounds like 18250.50"));
    expect(value.value).toBe("lots");
    expect(select.value).toBe("government.tax.annual_income");
    expect(screen.queryByTestId("whatif-banner")).toBeNull();
    // The results as they were are still shown.
    expect(screen.getByTestId("foryou-eligible")).toBeTruthy();

    await fireEvent.input(value, { target: { value: "30000" } });
    await fireEvent.click(screen.getByTestId("whatif-check"));
    await screen.findByTestId("whatif-banner");
    expect(cmds("for_you").pop()!.args).toEqual({ whatIf: [{ path: "government.tax.annual_income", value: "30000" }] });
    expect(text("whatif-banner")).toMatch(/What if Yearly income \(pounds\) were 30000: your twin is not changed\./);
    expect(screen.queryByTestId("whatif-error")).toBeNull();
    expect(screen.queryByTestId("foryou-eligible")).toBeNull();
    expect(text("criterion-pension-credit-income")).toMatch(/Weekly income £576\.92 < £218\.15$/);
    // Nothing can be applied from a what if.
    expect(screen.queryByTestId("apply-pension-credit")).toBeNull();
    expect(cmds("set_field")).toEqual([]);
    await axeCheck(container);

    await fireEvent.click(screen.getByTestId("whatif-reset"));
    await waitFor(() => expect(screen.queryByTestId("whatif-banner")).toBeNull());
    expect(cmds("for_you").pop()!.args).toEqual({ whatIf: [] });
    expect(screen.getByTestId("apply-pension-credit")).toBeTruthy();
  });

  it("a decision that does not follow the published rule shows the evidence", async () => {
    standardHandlers();
    const { container } = render(ForYou, { props: { info, go: () => {} } });
    await screen.findByTestId("foryou-decisions");
    const d = text("decision-rec-pc-1");
    expect(d).toMatch(/^Pension Credit from Sandbox Benefits/);
    expect(text("decision-verdict-rec-pc-1")).toMatch(/^Does not follow the published rule/);
    expect(screen.getByTestId("decision-verdict-rec-pc-1").getAttribute("role")).toBeNull();
    expect(screen.getByTestId("decision-verdict-rec-pc-1").className).toMatch(/notice/);
    expect(d).toContain(disagreeWords);
    expect(d).toMatch(/Your details have changed since you shared them; this check uses the details in your twin now\./);
    const ev = screen.getByTestId("decision-evidence-rec-pc-1") as HTMLDetailsElement;
    expect(ev.tagName).toBe("DETAILS");
    expect(ev.querySelector("summary")!.textContent).toBe("Evidence for an appeal");
    const evText = ev.textContent!.replace(/\s+/g, " ");
    expect(evText).toMatch(/Pension Credit, version 1/);
    expect(evText).toMatch(/https:\/\/www\.gov\.uk\/pension-credit\/eligibility/);
    expect(evText).toMatch(/Decided on ?1 September 2026/);
    expect(evText).toMatch(/Refused/);
    expect(evText).toMatch(/Age 67 ≥ 66/);
    expect(evText).toMatch(/Weekly income £180\.00 < £218\.15/);
    expect(evText).toMatch(/Date of birth ?14 March 1959/);
    expect(evText).toMatch(/Yearly income \(pounds\) ?9,360/);
    // A decision that could not be checked says why.
    expect(text("decision-rec-wf-2")).toMatch(/Could not check this decision: the rule it cites, Winter Fuel Payment version 3, is not in a pack you added/);
    expect(screen.queryByTestId("decision-evidence-rec-wf-2")).toBeNull();
    await axeCheck(container);
  });

  it("shows an error in place when the rules cannot be worked out", async () => {
    standardHandlers({
      for_you: () => {
        throw { code: "rules-unavailable", message: "Your rule packs could not be read. Nothing was changed; please try again." };
      },
    });
    const { container } = render(ForYou, { props: { info, go: () => {} } });
    await waitFor(() => expect(text("foryou-error")).toBe("Your rule packs could not be read. Nothing was changed; please try again."));
    expect(screen.getByTestId("foryou-error").getAttribute("role")).toBe("alert");
    expect(screen.queryByTestId("foryou-loading")).toBeNull();
    await axeCheck(container);
  });
});
