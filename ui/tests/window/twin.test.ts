/// <reference types="node" />
// My twin: edit a field and see it in history; a validation message in place that keeps
// what was typed; the privacy canary (the webview keeps no twin data of its own); closing
// mid-operation (the app is killed right after a save) loses nothing; erase a field.
import { readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect } from "vitest";
import {
  story,
  checkScreen,
  createTwin,
  go,
  heading,
  press,
  setField,
  shown,
  T,
  textOf,
  tid,
  Twin,
  type,
  unlock,
} from "./harness";

const CANARY = "Canary Zqxjvw Pellucid";

/** Files under `dir` holding the canary as UTF-8 or UTF-16 (WebKit stores strings both ways). */
function filesWithCanary(files: string[]): string[] {
  const needles = [Buffer.from(CANARY, "utf8"), Buffer.from(CANARY, "utf16le"), Buffer.from(CANARY.toLowerCase(), "utf8")];
  return files.filter((f) => {
    let data: Buffer;
    try {
      data = readFileSync(f);
    } catch {
      return false;
    }
    return needles.some((n) => data.includes(n));
  });
}

describe("My twin", () => {
  const twin = new Twin({ name: "twin" });
  const step = story(twin);

  beforeAll(async () => {
    await twin.open();
    await createTwin(twin.browser);
  });
  afterAll(async () => {
    await twin.dispose();
  });

  step("shows categories and fields, accessibly", async () => {
    const b = twin.browser;
    await shown(b, "category-personal");
    await shown(b, "field-personal.full_name");
    await checkScreen(twin, "my-twin-empty");
  });

  step("edits a field and shows the change in its history", async () => {
    const b = twin.browser;
    await setField(b, "personal.full_name", "Alex Smith");
    await setField(b, "personal.full_name", "Alexandra Smith");
    await press(b, "history-personal.full_name");
    const list = await shown(b, "history-list-personal.full_name");
    await b.waitUntil(async () => (await b.$$('[data-testid="history-list-personal.full_name"] [data-testid="history-entry"]').length) >= 2, {
      timeout: T.short,
      timeoutMsg: "the history did not list both values",
    });
    const text = await list.getText();
    // Newest first.
    expect(text.indexOf("Alexandra Smith")).toBeGreaterThanOrEqual(0);
    expect(text.indexOf("Alex Smith")).toBeGreaterThan(text.indexOf("Alexandra Smith"));
    await checkScreen(twin, "my-twin-history");
  });

  step("says what is wrong with a value in place, and keeps what was typed", async () => {
    const b = twin.browser;
    await press(b, "edit-personal.date_of_birth");
    await type(b, "field-input-personal.date_of_birth", "14/03/1958");
    await press(b, "save-personal.date_of_birth");
    const msg = await textOf(b, "field-error-personal.date_of_birth", /./);
    // Plain words for the citizen: no stack, no internal field path, no raw schema pattern.
    expect.soft(msg, "the message names the field by its internal path").not.toContain("personal.date_of_birth");
    expect.soft(msg, "the message shows a raw regular expression").not.toMatch(/\^\[|\$"|\{\d|\\d/);
    expect.soft(msg).not.toMatch(/Error:|panicked|"code"/);
    expect(msg).toMatch(/1958-03-14|year-month-day/);
    expect(await tid(b, "field-input-personal.date_of_birth").getValue()).toBe("14/03/1958");
    await checkScreen(twin, "my-twin-edit-error");
    await type(b, "field-input-personal.date_of_birth", "1958-03-14");
    await press(b, "save-personal.date_of_birth");
    await textOf(b, "value-personal.date_of_birth", "14 March 1958", T.long);
    await setField(b, "personal.address.postcode", "LS1 4AP");
    await twin.screenshot("my-twin");
  });

  step("keeps no twin data in the webview's or the app's own files (privacy canary)", async () => {
    const b = twin.browser;
    await setField(b, "personal.address.line1", CANARY);
    // Put the value through more of the UI: its history, and the share wizard's field list.
    await press(b, "history-personal.address.line1");
    await textOf(b, "history-list-personal.address.line1", CANARY);
    await go(b, "Activity");
    await go(b, "My twin");
    await textOf(b, "value-personal.address.line1", CANARY);
    await twin.close();

    const outside = [twin.xdg.data, twin.xdg.config, twin.xdg.cache].flatMap((d) => Twin.files(d)).filter((f) => !f.startsWith(twin.vault + "/"));
    const inVault = Twin.files(twin.vault);
    console.log(
      `[canary] searched ${outside.length} app/webview file(s) outside the vault and ${inVault.length} in it:\n  ` +
        [...outside, ...inVault].map((f) => relative(twin.root, f)).join("\n  "),
    );
    // The search itself finds the canary where it is (UTF-8 and UTF-16).
    const control = join(twin.root, "control.bin");
    writeFileSync(control, Buffer.concat([Buffer.from("x"), Buffer.from(CANARY, "utf16le")]));
    expect(filesWithCanary([control])).toEqual([control]);
    expect(inVault.length, "the vault folder holds the twin's files").toBeGreaterThan(0);
    expect(filesWithCanary(outside), "files outside the vault holding the canary").toEqual([]);
    expect(filesWithCanary(inVault), "vault files holding the canary in clear (SQLCipher encrypts them)").toEqual([]);
  });

  step("loses nothing that was saved when the app is killed right after a save", async () => {
    let b = await twin.open();
    expect(await heading(b)).toBe("Unlock your twin");
    await unlock(b);
    await setField(b, "personal.phone", "+44 20 7946 0000"); // returns once the save returned
    await twin.kill();

    b = await twin.open();
    expect(await heading(b)).toBe("Unlock your twin");
    await unlock(b);
    await textOf(b, "value-personal.phone", "+44 20 7946 0000");
    await textOf(b, "value-personal.full_name", "Alexandra Smith");
  });

  step("erases a field, from the twin and its history, after saying what erasure means", async () => {
    const b = twin.browser;
    await press(b, "erase-personal.full_name");
    const dialog = await shown(b, "erase-dialog");
    const words = await dialog.getText();
    expect(words).toMatch(/history/i);
    expect(words).toMatch(/re-encrypted|new key/i);
    expect(words).toMatch(/Agencies you already shared/i);
    await checkScreen(twin, "my-twin-erase-dialog");
    await press(b, "erase-dialog-confirm");
    await textOf(b, "twin-status", "Erased", T.long);
    await textOf(b, "value-personal.full_name", "Not set");
    await press(b, "history-personal.full_name");
    const list = await textOf(b, "history-list-personal.full_name", /./);
    expect(list).not.toContain("Alex");
    await twin.screenshot("my-twin-erased");
  });
});
