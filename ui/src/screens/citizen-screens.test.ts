import { describe, it, expect, vi, beforeEach } from "vitest";
import { render, screen, fireEvent, waitFor, cleanup } from "@testing-library/svelte";
import axe from "axe-core";

const U = "..";
const calls: string[] = [];
class ApiError extends Error { code: string; retryInSecs?: number; constructor(code: string, message: string, retry?: number) { super(message); this.code = code; this.retryInSecs = retry; } }

const twin = {
  conflicts: 1,
  categories: [
    { id: "personal", needs_opt_in: false, opted_in: true, fields: [
      { path: "personal.full_name", title: "Full name", hint: "Enter your name", kind: "text", value: "Alex Smith" },
      { path: "personal.date_of_birth", title: "Date of birth", hint: "Enter a date like 1958-03-14 (year-month-day)", kind: "text", value: null },
      { path: "personal.household.size", title: "People in your household", hint: "Enter a whole number", kind: "integer", value: 3 },
    ]},
    { id: "health", needs_opt_in: true, opted_in: false, fields: [] },
    { id: "social", needs_opt_in: true, opted_in: true, fields: [
      { path: "health.immunisations", title: "Immunisations", hint: "A list", kind: "list", value: [{ name: "Flu", date: "2025-10-01" }] },
    ]},
  ],
};
const entries = Array.from({ length: 5000 }, (_, i) => ({ seq: i + 1, at_ms: Date.UTC(2026, 0, 1) + i * 600_000, kind: i % 7 === 0 ? "failed-unlocks" : "edit", line: `You changed your postcode (${i}).` }));

const api = {
  passphraseStrength: vi.fn(async (p: string) => ({ score: Math.min(4, Math.floor(p.length / 4)), long_enough: p.length >= 10, warning: p.length < 8 ? "This is a very common password." : null, suggestions: ["Add another word or two."] })),
  createTwin: vi.fn(async () => ({ groups: ["ABCDE", "FGHJK", "MNPQR", "STVWX", "YZ012", "34567", "89ABC", "DEFGH"], check_group: 3 })),
  checkRecoveryGroup: vi.fn(async (_g: number, t: string) => t.toUpperCase() === "MNPQR"),
  forgetRecoveryCode: vi.fn(async () => { calls.push("forget"); }),
  saveRecoveryCode: vi.fn(async () => {}),
  stillHere: vi.fn(async () => {}),
  unlock: vi.fn(async (p: string) => { if (p !== "right") throw new ApiError("wrong-passphrase", "That passphrase is not the one for this twin. Check Caps Lock and try again in 2 seconds.", 2); }),
  recover: vi.fn(),
  twin: vi.fn(async () => twin),
  setField: vi.fn(async (path: string, text: string) => { if (text === "bad") throw new ApiError("invalid-value", "Postcode: the value does not match. Enter a postcode like LS1 4AP."); return true; }),
  fieldHistory: vi.fn(async () => [{ at_ms: Date.UTC(2026, 11, 3, 14, 5), who: "you, in the Citizen Twin app", why: "changed in the app", device: "a1b2c3d4e5f6", value: "Alex Smith" }]),
  erase: vi.fn(async (path: string) => ({ path, fields_cleared: [path], destroyed_database: "twin-1.db", new_database: "twin-2.db" })),
  optIn: vi.fn(async () => true),
  optOut: vi.fn(async () => null),
  conflicts: vi.fn(async () => [{ path: "personal.address.postcode", title: "Postcode", values: ["LS1 4AP", "LS2 9JT"] }]),
  chooseValue: vi.fn(async () => true),
  activity: vi.fn(async () => ({ entries, report: { entries: 5000, first_broken: null, cut_short: [] }, intact: true })),
  agencies: vi.fn(async () => [{ id: "sandbox-benefits", name: "Sandbox Benefits Agency", sandbox: true, endpoint: "http://127.0.0.1:8080", purposes: [{ code: "pc", words: "Pension Credit check", fields: [], legal_basis: "", retention_days: 30 }], record_types: [] }]),
  addAgency: vi.fn(),
  changePassphrase: vi.fn(async () => {}),
  setAutoLock: vi.fn(async (m: number) => ({ auto_lock_minutes: m })),
  deletionSummary: vi.fn(async () => ({ fields: 3, records: 1, audit_entries: 40, active_shares: [], backups: 2, dir: "/home/a/.local/share/citizen-twin", phrase: "delete my twin" })),
  deleteTwin: vi.fn(async (i: { even_with_active_shares: boolean }) => { if (!i.even_with_active_shares) throw new ApiError("active-shares", "Your twin was not deleted: X could not be told."); return { removed: [], removed_folder: true }; }),
};
vi.mock("../lib/api", () => ({ api, ApiError, toApiError: (e: unknown) => e instanceof ApiError ? e : new ApiError("app-error", "The app could not complete that.") }));
vi.mock("@tauri-apps/plugin-dialog", () => ({ save: vi.fn(async () => "/media/usb/code.txt") }));

const info = { version: "0.1.0", sandbox: true, vault_dir: "/x", has_vault: true, unlocked: true, settings: { auto_lock_minutes: 5 } };

(globalThis as any).ResizeObserver ??= class { observe() {} unobserve() {} disconnect() {} };
beforeEach(() => {
  cleanup();
  // jsdom lacks <dialog> methods
  (HTMLDialogElement.prototype as any).showModal ??= function (this: HTMLDialogElement) { this.setAttribute("open", ""); };
  (HTMLDialogElement.prototype as any).close ??= function (this: HTMLDialogElement) { this.removeAttribute("open"); this.dispatchEvent(new Event("close")); };
});

async function check(label: string) {
  const r = await axe.run(document.body, { rules: { "color-contrast": { enabled: false } } });
  const bad = r.violations.filter((v) => v.id !== "region" && (v.impact === "serious" || v.impact === "critical" || v.impact === "moderate"));
  if (bad.length) console.log(label, JSON.stringify(bad.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.html.slice(0, 160)) })), null, 1));
  expect(bad.filter((v) => v.impact !== "moderate")).toEqual([]);
  // inline style attributes forbidden

}

describe("screens", () => {
  it("Welcome", async () => {
    const Welcome = (await import(`${U}/screens/Welcome.svelte`)).default;
    const onDone = vi.fn();
    render(Welcome, { info: { ...info, has_vault: false, unlocked: false }, onDone });
    await check("welcome");
    const p = screen.getByTestId("passphrase") as HTMLInputElement;
    await fireEvent.input(p, { target: { value: "short" } });
    await new Promise((r) => setTimeout(r, 350));
    expect(screen.getByTestId("strength-label").textContent).toContain("Weak");
    await fireEvent.click(screen.getByTestId("create-twin"));
    expect(screen.getByTestId("create-error").textContent).toContain("at least 10");
    await fireEvent.input(p, { target: { value: "correct horse battery" } });
    await fireEvent.input(screen.getByTestId("passphrase-confirm"), { target: { value: "correct horse battery" } });
    await fireEvent.click(screen.getByTestId("create-twin"));
    await waitFor(() => screen.getByTestId("recovery-code"));
    await check("welcome-code");
    expect(screen.getByTestId("recovery-group-3").textContent).toContain("MNPQR");
    await fireEvent.click(screen.getByTestId("recovery-save"));
    await check("save-dialog");
    await fireEvent.click(screen.getByTestId("recovery-save-dialog-confirm"));
    await waitFor(() => screen.getByTestId("recovery-saved"));
    // The auto-lock clock restarts before the native save dialog opens and after it returns.
    expect(api.stillHere).toHaveBeenCalledTimes(2);
    await fireEvent.input(screen.getByTestId("recovery-group-input"), { target: { value: "xxxxx" } });
    await fireEvent.click(screen.getByTestId("recovery-confirm"));
    await waitFor(() => screen.getByTestId("recovery-check-error"));
    expect((screen.getByTestId("recovery-group-input") as HTMLInputElement).value).toBe("xxxxx");
    await fireEvent.input(screen.getByTestId("recovery-group-input"), { target: { value: "mnpqr" } });
    await fireEvent.click(screen.getByTestId("recovery-confirm"));
    await waitFor(() => expect(onDone).toHaveBeenCalled());
    expect(calls).toContain("forget");
  });

  it("Unlock", async () => {
    const Unlock = (await import(`${U}/screens/Unlock.svelte`)).default;
    const onUnlocked = vi.fn();
    render(Unlock, { info: { ...info, unlocked: false }, reason: "idle", onUnlocked });
    expect(screen.getByTestId("unlock-reason").textContent).toContain("Locked after 5 minutes without activity");
    await check("unlock");
    await fireEvent.input(screen.getByTestId("unlock-passphrase"), { target: { value: "wrong" } });
    await fireEvent.click(screen.getByTestId("unlock-button"));
    await waitFor(() => screen.getByTestId("unlock-error"));
    expect(screen.getByTestId("unlock-button").textContent).toMatch(/Try again in [12] s/);
    expect((screen.getByTestId("unlock-button") as HTMLButtonElement).disabled).toBe(true);
    await check("unlock-err");
    await fireEvent.click(screen.getByTestId("forgot-passphrase"));
    await check("recover");
  });

  it("MyTwin", async () => {
    const MyTwin = (await import(`${U}/screens/MyTwin.svelte`)).default;
    render(MyTwin, { info, go: vi.fn() });
    await waitFor(() => screen.getByTestId("field-personal.full_name"));
    await check("twin");
    await fireEvent.click(screen.getByTestId("edit-personal.full_name"));
    const inp = screen.getByTestId("field-input-personal.full_name") as HTMLInputElement;
    await fireEvent.input(inp, { target: { value: "bad" } });
    await fireEvent.click(screen.getByTestId("save-personal.full_name"));
    await waitFor(() => screen.getByTestId("field-error-personal.full_name"));
    expect((screen.getByTestId("field-input-personal.full_name") as HTMLInputElement).value).toBe("bad");
    expect(inp.getAttribute("aria-invalid")).toBe("true");
    await check("twin-err");
    await fireEvent.click(screen.getByTestId("history-personal.full_name"));
    await waitFor(() => screen.getByTestId("history-list-personal.full_name"));
    expect(screen.getByTestId("history-list-personal.full_name").textContent).toContain("3 December 2026 at");
    await check("twin-history");
    await fireEvent.click(screen.getByTestId("erase-personal.household.size"));
    await check("erase-dialog");
    await fireEvent.click(screen.getByTestId("erase-dialog-confirm"));
    await waitFor(() => expect(screen.getByTestId("twin-status").textContent).toContain("Erased"));
  });

  it("Conflicts", async () => {
    const C = (await import(`${U}/screens/Conflicts.svelte`)).default;
    render(C, { info, go: vi.fn() });
    await waitFor(() => screen.getByTestId("conflicts-list"));
    await check("conflicts");
    await fireEvent.click(screen.getByTestId("conflict-option-personal.address.postcode-2"));
    await fireEvent.click(screen.getByTestId("choose-personal.address.postcode"));
    await waitFor(() => expect(api.chooseValue).toHaveBeenCalledWith("personal.address.postcode", "LS2 9JT"));
  });

  it("Activity", async () => {
    const A = (await import(`${U}/screens/Activity.svelte`)).default;
    render(A, { info, go: vi.fn() });
    await waitFor(() => screen.getByTestId("activity-list"));
    await check("activity");
    expect(screen.getByTestId("activity-verification").textContent).toContain("complete and unaltered (5,000 entries)");
    const rows = screen.getAllByTestId("activity-list-row");
    expect(rows.length).toBeLessThan(60);
    await fireEvent.input(screen.getByTestId("activity-search"), { target: { value: "(42)" } });
    await waitFor(() => expect(screen.getByTestId("activity-count").textContent).toContain("Showing 1 entry"));
  });

  it("Settings", async () => {
    const S = (await import(`${U}/screens/Settings.svelte`)).default;
    const onDeleted = vi.fn();
    render(S, { info, go: vi.fn(), onDeleted, onSettings: vi.fn() });
    await waitFor(() => screen.getByTestId("deletion-summary"));
    await waitFor(() => screen.getByTestId("agency-sandbox"));
    await check("settings");
    await fireEvent.input(screen.getByTestId("delete-confirm-phrase"), { target: { value: "delete my twin" } });
    await fireEvent.input(screen.getByTestId("delete-passphrase"), { target: { value: "pw" } });
    await fireEvent.click(screen.getByTestId("delete-twin"));
    await waitFor(() => screen.getByTestId("delete-anyway"));
    await check("settings-err");
    await fireEvent.click(screen.getByTestId("delete-anyway"));
    await fireEvent.click(screen.getByTestId("delete-twin"));
    await waitFor(() => expect(onDeleted).toHaveBeenCalled());
  });
});
