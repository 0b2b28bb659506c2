import { render, fireEvent, waitFor, screen } from "@testing-library/svelte";
import { vi, it, expect, beforeEach, describe } from "vitest";
import axe from "axe-core";
(globalThis as any).ResizeObserver ??= class { observe() {} unobserve() {} disconnect() {} };

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
const saveMock = vi.fn(async () => "/tmp/x.twingrant");
vi.mock("@tauri-apps/plugin-dialog", () => ({ save: (...a: any[]) => (saveMock as any)(...a) }));

import Sharing from "./Sharing.svelte";
import Requests from "./Requests.svelte";
import Records from "./Records.svelte";

const now = Math.floor(Date.now() / 1000);
const twin = {
  conflicts: 0,
  categories: [
    { id: "personal", needs_opt_in: false, opted_in: true, fields: [
      { path: "personal.date_of_birth", title: "Date of birth", hint: "", kind: "text", value: "1950-01-02" },
      { path: "personal.address.postcode", title: "Postcode", hint: "", kind: "text", value: "SW1A 1AA" },
      { path: "personal.name.full", title: "Full name", hint: "", kind: "text", value: null },
      { path: "personal.phone", title: "Phone", hint: "", kind: "text", value: "0123" },
    ] },
  ],
};
const agency = {
  id: "sandbox-benefits", name: "Sandbox Benefits", sandbox: true, endpoint: "http://127.0.0.1:8700",
  purposes: [{ code: "pension-credit-check", words: "Pension Credit check", fields: ["personal.date_of_birth", "personal.address.postcode", "personal.name.full"], legal_basis: "State Pension Credit Act 2002", retention_days: 30 }],
  record_types: ["benefit-award/v1"],
};
const grant = (over: any = {}) => ({
  id: "g1", agency: "sandbox-benefits", agency_name: "Sandbox Benefits (SANDBOX)", fields: ["personal.date_of_birth"],
  purpose: "Pension Credit check", records: ["benefit-award/v1"], issued_at: now, expires_at: now + 6 * 86400 + 3 * 3600 + 100,
  state: { state: "active" }, delivery: { state: "accepted", at: now }, notice: null, refreshes: 0,
  access: { receipts: 2, missing: [{ from: 3, to: 3 }], broken: [], conflicting: [] }, ...over,
});

async function axeCheck(container: HTMLElement) {
  const r = await axe.run(container, { rules: { "color-contrast": { enabled: false }, region: { enabled: false } } });
  const bad = r.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length) console.error(JSON.stringify(bad.map((v) => [v.id, v.nodes.map((n) => n.html)]), null, 1));
  expect(bad).toEqual([]);
}

beforeEach(() => {
  calls.length = 0;
  document.body.innerHTML = "";
});

const info = { version: "0", sandbox: true, vault_dir: "", has_vault: true, unlocked: true, settings: { auto_lock_minutes: 5 }, sandbox_agency: "http://127.0.0.1:8700" } as any;

describe("Sharing", () => {
  it("walks the wizard and sends", async () => {
    let grants = [grant()];
    handlers = {
      twin: () => twin,
      agencies: () => [agency],
      grants: () => grants,
      share: (a: any) => { const g = grant({ id: "g2", fields: a.request.fields, access: { receipts: 0, missing: [], broken: [], conflicting: [] } }); grants = [g, ...grants]; return { grant: g, text: null, qr_svg: null, file: null, sent: { events: [{ agency: "sandbox-benefits", step: "share", outcome: "failed", grant: "g2", code: "x", line: "Sandbox Benefits could not be reached." }] } }; },
      sync: () => ({ events: [{ agency: "a", step: "inbox", outcome: "done", grant: null, code: null, line: "Fetched 1 record from Sandbox Benefits." }] }),
      access_receipts: () => [{ seq: 1, at: now, staff: "Sam Patel", fields: ["personal.date_of_birth"], purpose: "Pension Credit check" }],
      revoke: () => ({ grant: grant({ state: { state: "stopped", at: now }, notice: { sent_at: null, agency_status: null, refused: null } }), sent: null, not_sent: { code: "offline", message: "The agency could not be reached." } }),
    };
    const { container } = render(Sharing, { props: { info, go: () => {} } });
    await screen.findByTestId("grant-g1");
    expect(screen.getByTestId("grant-countdown-g1").textContent).toBe("ends in 6 days 3 hours");
    expect(screen.getByTestId("grant-gaps-g1").textContent).toMatch(/Receipt 3 is missing/);
    await axeCheck(container);

    await fireEvent.click(screen.getByTestId("sync"));
    await waitFor(() => expect(screen.getByTestId("sync-result").textContent).toMatch(/Fetched 1 record/));

    await fireEvent.click(screen.getByTestId("share-start"));
    expect(document.activeElement).toBe(screen.getByTestId("share-step"));
    expect(screen.getByText("SANDBOX — for trying things out")).toBeTruthy();
    await axeCheck(container);
    // Only one agency: chosen already.
    expect((screen.getByTestId("agency-sandbox-benefits") as HTMLInputElement).checked).toBe(true);
    await fireEvent.click(screen.getByTestId("share-next"));
    expect(screen.getByTestId("share-step").textContent).toMatch(/Step 2 of 5/);
    expect((screen.getByTestId("purpose-pension-credit-check") as HTMLInputElement).checked).toBe(true);
    expect(container.textContent).toMatch(/State Pension Credit Act 2002/);
    await axeCheck(container);
    await fireEvent.click(screen.getByTestId("share-next"));
    expect(screen.getByTestId("share-step").textContent).toMatch(/Step 3 of 5/);
    const dob = screen.getByTestId("share-field-personal.date_of_birth") as HTMLInputElement;
    const name = screen.getByTestId("share-field-personal.name.full") as HTMLInputElement;
    const phone = screen.getByTestId("share-field-personal.phone") as HTMLInputElement;
    expect(dob.checked).toBe(true);
    expect(name.disabled).toBe(true);
    expect(phone.checked).toBe(false);
    expect(container.textContent).toMatch(/SW1A 1AA/);
    await axeCheck(container);
    // untick postcode
    await fireEvent.click(screen.getByTestId("share-field-personal.address.postcode"));
    await fireEvent.click(screen.getByTestId("share-next"));
    expect(screen.getByTestId("share-step").textContent).toMatch(/Step 4 of 5/);
    expect((screen.getByTestId("share-days") as HTMLSelectElement).value).toBe("7");
    await axeCheck(container);
    // back and forward keeps choices
    await fireEvent.click(screen.getByTestId("share-back"));
    expect((screen.getByTestId("share-field-personal.address.postcode") as HTMLInputElement).checked).toBe(false);
    await fireEvent.click(screen.getByTestId("share-next"));
    await fireEvent.change(screen.getByTestId("share-days"), { target: { value: "30" } });
    await fireEvent.click(screen.getByTestId("share-review"));
    expect(screen.getByTestId("share-step").textContent).toMatch(/Step 5 of 5/);
    const review = screen.getByTestId("share-review-list").textContent!;
    expect(review).toMatch(/Date of birth/);
    expect(review).toMatch(/2 January 1950/);
    expect(review).not.toMatch(/Postcode/);
    expect(container.textContent).toMatch(/if you change one of these fields, the new value is sent\s+to Sandbox Benefits at the next check for updates/);
    await axeCheck(container);
    await fireEvent.click(screen.getByTestId("share-send"));
    await waitFor(() => expect(screen.getByTestId("share-outcome").textContent).toMatch(/could not be reached/));
    // Only a short line is live, not the whole outcome block.
    expect(screen.getByTestId("share-outcome").getAttribute("role")).toBeNull();
    expect(screen.getByTestId("share-outcome-summary").getAttribute("role")).toBe("status");
    expect(screen.getByTestId("share-outcome-summary").textContent).toMatch(/not delivered yet/);
    expect(screen.getByTestId("share-outcome").textContent).toMatch(/next check for updates will try again/);
    const share = calls.find((c) => c.cmd === "share")!;
    expect(share.args).toEqual({
      request: { agency: "sandbox-benefits", fields: ["personal.date_of_birth"], purpose: "pension-credit-check", days: 30, records: ["benefit-award/v1"], records_days: 90, single_use: false },
      delivery: { by: "send" },
    });
    await screen.findByTestId("grant-g2");
    await axeCheck(container);

    // receipts
    await fireEvent.click(screen.getByTestId("receipts-g1"));
    await waitFor(() => expect(screen.getByTestId("receipts-list-g1").textContent).toMatch(/Opened by Sam Patel on .* at \d\d:\d\d for 'Pension Credit check' \(fields: Date of birth\)/));
    await axeCheck(container);

    // revoke
    grants = grants.map((g) => g.id === "g1" ? grant({ state: { state: "stopped", at: now }, notice: { sent_at: null, agency_status: null, refused: null } }) : g);
    await fireEvent.click(screen.getByTestId("revoke-g1"));
    expect(screen.getByTestId("revoke-dialog").textContent).toMatch(/such as an award, stand/);
    expect(screen.getByTestId("revoke-dialog").textContent).toMatch(/told to delete its copy of\s+Date of birth/);
    expect(screen.getByTestId("revoke-dialog").textContent).not.toMatch(/can no longer read/);
    await axeCheck(container);
    await fireEvent.click(screen.getByTestId("revoke-dialog-confirm"));
    await waitFor(() => expect(screen.getByTestId("revoke-result-g1").textContent).toMatch(/could not be told now: The agency could not be reached/));
    // Read from the share: not told yet, so never "was told to delete".
    expect(screen.getByTestId("revoke-result-g1").textContent).toMatch(/has not been told yet — the next check for updates tells it/);
    expect(screen.getByTestId("revoke-result-g1").textContent).not.toMatch(/was told to delete/);
    expect(screen.getByTestId("grant-state-g1").textContent).toMatch(/Stopped on this computer on/);
    expect(screen.getByTestId("grant-notice-g1").textContent).toMatch(/Not yet told/);
    expect(screen.queryByTestId("revoke-g1")).toBeNull();
    await axeCheck(container);
  });

  it("paper, file, errors and no agencies", async () => {
    let agencies: any[] = [];
    handlers = {
      twin: () => twin, agencies: () => agencies, grants: () => [],
      add_agency: (a: any) => { if (a.url.includes("bad")) throw { code: "card", message: "That address did not give a signed agency card." }; agencies = [agency]; return agency; },
      share: (a: any) => {
        if (a.delivery.by === "file") throw { code: "file-not-saved", message: "Could not save /tmp/x.twingrant: a file with that name is already there; choose another name." };
        return { grant: grant({ id: "g9" }), text: "twin-grant:ABC", qr_svg: "<svg xmlns='http://www.w3.org/2000/svg'></svg>", file: null, sent: null };
      },
    };
    const { container } = render(Sharing, { props: { info, go: () => {} } });
    await fireEvent.click(screen.getByTestId("share-start"));
    await waitFor(() => expect(container.textContent).toMatch(/not added an agency yet/));
    await axeCheck(container);
    await fireEvent.click(screen.getByTestId("share-next"));
    expect(screen.getByTestId("share-step-error").textContent).toMatch(/Choose the agency/);
    await fireEvent.input(screen.getByTestId("agency-url"), { target: { value: "http://bad.example" } });
    await fireEvent.click(screen.getByTestId("agency-add"));
    await waitFor(() => expect(screen.getByTestId("agency-add-error").textContent).toBe("That address did not give a signed agency card."));
    expect((screen.getByTestId("agency-url") as HTMLInputElement).value).toBe("http://bad.example");
    await axeCheck(container);
    await fireEvent.click(screen.getByTestId("agency-add-sandbox"));
    await waitFor(() => expect((screen.getByTestId("agency-sandbox-benefits") as HTMLInputElement).checked).toBe(true));
    expect(container.textContent).toMatch(/Added Sandbox Benefits/);
    await fireEvent.click(screen.getByTestId("share-next"));
    await fireEvent.click(screen.getByTestId("share-next"));
    await fireEvent.click(screen.getByTestId("share-next"));
    await fireEvent.click(screen.getByTestId("share-single-use"));
    await fireEvent.click(screen.getByTestId("share-review"));
    await fireEvent.click(screen.getByTestId("share-file"));
    await waitFor(() => expect(screen.getByTestId("share-error").textContent).toMatch(/already there/));
    await axeCheck(container);
    await fireEvent.click(screen.getByTestId("share-paper"));
    await screen.findByTestId("share-qr");
    const img = screen.getByTestId("share-qr") as HTMLImageElement;
    expect(img.getAttribute("src")).toMatch(/^data:image\/svg\+xml;base64,/);
    expect((screen.getByTestId("share-text") as HTMLTextAreaElement).value).toBe("twin-grant:ABC");
    const share = calls.filter((c) => c.cmd === "share").pop()!;
    expect(share.args.request.single_use).toBe(true);
    await axeCheck(container);
    await fireEvent.click(screen.getByTestId("share-again"));
    expect(screen.getByTestId("share-step").textContent).toMatch(/Step 1 of 5/);
  });
});

describe("Requests", () => {
  it("flags over-asking, trims, approves and declines", async () => {
    const req = (id: string, state = "pending") => ({
      id, agency: "sandbox-benefits", agency_name: "Sandbox Benefits (SANDBOX)", fields: ["personal.date_of_birth", "personal.phone", "personal.name.full"],
      over_asking: ["personal.phone"], purpose: "Pension Credit check", legal_basis: "State Pension Credit Act 2002", retention_days: 30,
      duration_secs: 7 * 86400, case_ref: "PC-1", records: [], records_secs: 0, expires_at: now + 86400, state,
    });
    let list = [req("r1"), req("r2"), req("r0", "lapsed")];
    handlers = {
      twin: () => twin, requests: () => list,
      approve_request: (a: any) => { list = list.map((r) => r.id === a.id ? { ...r, state: "approved" } : r); return { grant: grant({ delivery: { state: "to-send" } }), text: null, qr_svg: null, file: null, sent: { events: [{ agency: "sandbox-benefits", step: "agency", outcome: "skipped", grant: null, code: "offline", line: "Sandbox Benefits was not contacted: it could not be reached." }] } }; },
      decline_request: (a: any) => { if (a.id === "r2" && !list.find(r => r.id === "r2")!.case_ref?.startsWith("X")) { list = list.map((r) => r.id === a.id ? { ...r, state: "declined" } : r); } return list.find((r) => r.id === a.id); },
    };
    const { container } = render(Requests, { props: { info, go: () => {} } });
    await screen.findByTestId("request-r1");
    await waitFor(() => expect(container.textContent).toMatch(/2 January 1950/));
    expect(screen.getByTestId("request-over-r1-personal.phone").textContent).toMatch(/Not on the agency's published list for this purpose/);
    expect((screen.getByTestId("request-field-r1-personal.phone") as HTMLInputElement).checked).toBe(false);
    expect((screen.getByTestId("request-field-r1-personal.date_of_birth") as HTMLInputElement).checked).toBe(true);
    expect((screen.getByTestId("request-field-r1-personal.name.full") as HTMLInputElement).disabled).toBe(true);
    expect(container.textContent).toMatch(/PC-1/);
    expect(container.textContent).toMatch(/30 days/);
    expect(container.textContent).toMatch(/Past requests/);
    await axeCheck(container);
    await fireEvent.click(screen.getByTestId("approve-r1"));
    await waitFor(() => expect(screen.getByTestId("request-state-r1").textContent).toMatch(/approved/));
    expect(calls.find((c) => c.cmd === "approve_request")!.args).toEqual({ id: "r1", fields: ["personal.date_of_birth"] });
    // Not delivered (the agency was skipped): kept, and sent at the next check; never "You shared".
    const result = screen.getByTestId("request-result-r1").textContent!;
    expect(result).not.toMatch(/You shared/);
    expect(result).toMatch(/kept on this computer.*sent at the next check for updates/);
    expect(result).toMatch(/was not contacted/);
    await fireEvent.click(screen.getByTestId("decline-r2"));
    await waitFor(() => expect(screen.getByTestId("request-state-r2").textContent).toMatch(/declined/));
    await axeCheck(container);
  });
});

describe("Records", () => {
  it("virtualises 10,000 records, badges, hides", async () => {
    const recs = Array.from({ length: 10_000 }, (_, i) => ({
      id: `rec${i}`, agency: "sandbox-benefits", record_type: "benefit-award/v1", issued_at: now - i * 60,
      body: i === 1 ? null : { benefit: "Pension Credit", decision: "awarded", amount: 10 + i },
      grant: "g1", verified: i !== 1, problem: i === 1 ? "Its signature does not match Sandbox Benefits' card." : null, hidden: i === 2,
    }));
    handlers = {
      records: () => recs, agencies: () => [agency],
      hide_record: (a: any) => ({ ...recs.find((r) => r.id === a.id)!, hidden: a.hidden }),
    };
    const { container } = render(Records, { props: { info, go: () => {} } });
    await screen.findByTestId("record-rec0");
    expect(container.querySelectorAll("[data-testid^='record-rec']").length).toBeLessThan(60);
    await waitFor(() => expect(screen.getByTestId("record-verified-rec0").textContent).toBe("Verified: signed by Sandbox Benefits (SANDBOX)"));
    expect(screen.getByTestId("record-unverified-rec1")).toBeTruthy();
    expect(container.textContent).toMatch(/does not match/);
    expect(screen.queryByTestId("record-rec2")).toBeNull();
    expect(screen.getByTestId("records-count").textContent).toMatch(/9999 records listed, 1 hidden/);
    await axeCheck(container);
    await fireEvent.click(screen.getByTestId("records-show-hidden"));
    await screen.findByTestId("record-rec2");
    await fireEvent.click(screen.getByTestId("hide-rec0"));
    await waitFor(() => expect(screen.getByTestId("records-status").textContent).toMatch(/Record hidden/));
    expect(calls.find((c) => c.cmd === "hide_record")!.args).toEqual({ id: "rec0", hidden: true });
    await fireEvent.click(screen.getByTestId("record-open-rec0"));
    expect(screen.getByTestId("record-details").textContent).toMatch(/Decision\s*awarded/);
    await axeCheck(container);
  });
});
