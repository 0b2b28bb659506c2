/// <reference types="node" />
// Onboarding to a new twin (welcome → passphrase → recovery code shown once → type back
// group N → My twin), then unlock with a wrong passphrase (a plain message and a growing
// wait, never a lockout), and recovery with the recovery code.
import { afterAll, beforeAll, describe, expect } from "vitest";
import {
  story,
  checkScreen,
  confirmRecoveryGroup,
  heading,
  PASSPHRASE,
  press,
  readRecoveryCode,
  shown,
  T,
  textOf,
  Twin,
  type,
  unlock,
  waitForText,
} from "./harness";

const NEW_PASSPHRASE = "lantern orchard pebble quietly";

describe("onboarding, unlock and recovery", () => {
  const twin = new Twin({ name: "onboarding" });
  const step = story(twin);
  let code: { groups: string[]; checkGroup: number };

  beforeAll(async () => {
    await twin.open();
  });
  afterAll(async () => {
    await twin.dispose();
  });

  step("welcomes a new citizen, says what stays on this computer, and that this is a sandbox", async () => {
    const b = twin.browser;
    expect(await heading(b)).toBe("Welcome to Citizen Twin");
    await waitForText(b, "What stays on this computer");
    await waitForText(b, "What an agency can and cannot see");
    await waitForText(b, /Sandbox/);
    await checkScreen(twin, "welcome");
  });

  step("refuses a short passphrase in place, keeping what was typed", async () => {
    const b = twin.browser;
    await type(b, "passphrase", "short");
    await type(b, "passphrase-confirm", "short");
    await press(b, "create-twin");
    await textOf(b, "create-error", "at least 10 characters");
    expect(await (await shown(b, "passphrase")).getValue()).toBe("short");
  });

  step("shows strength feedback, then the recovery code once", async () => {
    const b = twin.browser;
    await type(b, "passphrase", PASSPHRASE);
    await textOf(b, "strength-label", /Strength: .+ \(\d of 4\)/);
    await type(b, "passphrase-confirm", PASSPHRASE);
    await twin.screenshot("welcome-passphrase", '[data-testid="strength-meter"]');
    await press(b, "create-twin");
    code = await readRecoveryCode(b);
    expect(code.groups.length).toBeGreaterThanOrEqual(4);
    for (const g of code.groups) expect(g).toMatch(/^[A-Z0-9]{5}$/i);
    expect(code.checkGroup).toBeGreaterThanOrEqual(1);
    expect(code.checkGroup).toBeLessThanOrEqual(code.groups.length);
    expect(await heading(b)).toBe("Keep your recovery code");
    await checkScreen(twin, "recovery-code");
  });

  step("warns before saving the code to a file, and before printing", async () => {
    const b = twin.browser;
    await press(b, "recovery-save");
    const save = await shown(b, "recovery-save-dialog");
    expect(await save.getText()).toMatch(/removable media|USB stick/i);
    await checkScreen(twin, "recovery-save-warning");
    await press(b, "recovery-save-dialog-cancel");
    await press(b, "recovery-print");
    const print = await shown(b, "recovery-print-dialog");
    expect(await print.getText()).toMatch(/print queue/i);
    await press(b, "recovery-print-dialog-cancel");
  });

  step("asks to type back group N: a wrong group is refused in place, the right one opens the twin", async () => {
    const b = twin.browser;
    const wrong = code.groups[code.checkGroup % code.groups.length]!; // another group
    await type(b, "recovery-group-input", wrong === code.groups[code.checkGroup - 1] ? "ZZZZZ" : wrong);
    await press(b, "recovery-confirm");
    await textOf(b, "recovery-check-error", `group ${code.checkGroup}`);
    await confirmRecoveryGroup(b, code);
    await b.waitUntil(async () => (await heading(b)) === "My twin", { timeout: T.long, timeoutMsg: "My twin did not open" });
    await shown(b, "category-personal");
    await twin.screenshot("my-twin-new");
  });

  step("a wrong passphrase shows a plain message and a wait that grows; the right one unlocks", async () => {
    const b = twin.browser;
    await b.$("nav").$("button=Lock now").click();
    await b.waitUntil(async () => (await heading(b)) === "Unlock your twin", { timeout: T.short, timeoutMsg: "did not lock" });
    await checkScreen(twin, "unlock");

    await type(b, "unlock-passphrase", "not my passphrase at all");
    await press(b, "unlock-button");
    const first = await textOf(b, "unlock-error", "not the one for this twin", T.long);
    expect(first).toMatch(/try again in 1 second\b/);
    // Plain words: no error code, no stack.
    expect(first).not.toMatch(/Error|panicked|\.rs:\d|\{|"code"/);
    await twin.screenshot("unlock-wrong-passphrase", '[data-testid="unlock-error"]');
    // The button counts down, then comes back.
    await textOf(b, "unlock-button", "Unlock", T.long);

    await press(b, "unlock-button"); // the box still holds the wrong passphrase
    const second = await textOf(b, "unlock-error", /try again in 2 seconds/, T.long);
    expect(second).toMatch(/recovery code/);
    await waitForText(b, "Nothing is locked out");
    await textOf(b, "unlock-button", "Unlock", T.long);

    await unlock(b);
  });

  step("recovers with the recovery code and a new passphrase, showing a new code once", async () => {
    const b = twin.browser;
    await b.$("nav").$("button=Lock now").click();
    await b.waitUntil(async () => (await heading(b)) === "Unlock your twin", { timeout: T.short });
    await press(b, "forgot-passphrase");
    await b.waitUntil(async () => (await heading(b)) === "Recover your twin", { timeout: T.short });
    await checkScreen(twin, "recover");
    await type(b, "recover-code", code.groups.join("-").toLowerCase());
    await type(b, "recover-passphrase", NEW_PASSPHRASE);
    await type(b, "recover-passphrase-confirm", NEW_PASSPHRASE);
    await press(b, "recover-button");
    const fresh = await readRecoveryCode(b);
    expect(await heading(b)).toBe("Keep your new recovery code");
    expect(fresh.groups.join("")).not.toBe(code.groups.join(""));
    await confirmRecoveryGroup(b, fresh);
    await b.waitUntil(async () => (await heading(b)) === "My twin", { timeout: T.long });

    // The new passphrase is the one now.
    await b.$("nav").$("button=Lock now").click();
    await b.waitUntil(async () => (await heading(b)) === "Unlock your twin", { timeout: T.short });
    await unlock(b, NEW_PASSPHRASE);
  });
});
