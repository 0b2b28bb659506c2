/// <reference types="node" />
// Settings: the auto-lock time, changing the passphrase, the agencies list, and deleting
// the twin (right to be forgotten: says what will be destroyed, typed confirmation).
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect } from "vitest";
import {
  checkScreen,
  choose,
  createTwin,
  go,
  heading,
  PASSPHRASE,
  press,
  setField,
  shown,
  story,
  T,
  textOf,
  Twin,
  type,
  unlock,
} from "./harness";

const NEW_PASSPHRASE = "violet kettle harbour seventeen";

describe("Settings", () => {
  const twin = new Twin({ name: "settings", agency: false });
  const step = story(twin);

  beforeAll(async () => {
    const b = await twin.open();
    await createTwin(b);
    await setField(b, "personal.full_name", "Jonah Whitfield");
  });
  afterAll(async () => {
    await twin.dispose();
  });

  step("shows the settings, and what deleting would destroy", async () => {
    const b = twin.browser;
    await go(b, "Settings");
    const summary = await textOf(b, "deletion-summary", "1 field");
    expect(summary).toContain(twin.vault);
    expect(summary).toMatch(/not sharing anything/);
    await checkScreen(twin, "settings");
  });

  step("changes the auto-lock time", async () => {
    const b = twin.browser;
    await choose(b, "autolock-minutes", "10");
    await textOf(b, "autolock-status", "10 minutes");
  });

  step("changes the passphrase: a wrong current one is refused in place; the new one unlocks", async () => {
    const b = twin.browser;
    await type(b, "current-passphrase", "not the passphrase");
    await type(b, "new-passphrase", NEW_PASSPHRASE);
    await type(b, "new-passphrase-confirm", NEW_PASSPHRASE);
    await press(b, "change-passphrase");
    const err = await textOf(b, "passphrase-error", /\S/, T.long);
    expect(err).not.toMatch(/Error:|panicked|"code"/);
    // A wrong passphrase typed again while unlocked earns the same growing wait as
    // unlocking does: the message says how long, and the next try waits for it.
    const wait = Number(/in (\d+) second/.exec(err)?.[1]);
    expect(wait, `the wait in "${err}"`).toBeGreaterThan(0);
    await b.pause(wait * 1000 + 200);
    await type(b, "current-passphrase", PASSPHRASE);
    await type(b, "new-passphrase", NEW_PASSPHRASE);
    await type(b, "new-passphrase-confirm", NEW_PASSPHRASE);
    await press(b, "change-passphrase");
    await textOf(b, "passphrase-status", "Your passphrase was changed", T.long);
    await b.$("nav").$("button=Lock now").click();
    await b.waitUntil(async () => (await heading(b)) === "Unlock your twin", { timeout: T.short });
    await unlock(b, NEW_PASSPHRASE);
  });

  step("deletes the twin only with the typed confirmation, then starts afresh", async () => {
    const b = twin.browser;
    await go(b, "Settings");
    await shown(b, "deletion-summary");
    const label = await b.$('label[for="delete-confirm-phrase"]').getText();
    const phrase = /“(.+)”/.exec(label)?.[1];
    expect(phrase, `the confirmation phrase in "${label}"`).toBeTruthy();

    // The wrong words: nothing is deleted.
    await type(b, "delete-confirm-phrase", "delete");
    await type(b, "delete-passphrase", NEW_PASSPHRASE);
    await press(b, "delete-twin");
    await textOf(b, "delete-error", "Nothing was deleted");
    expect(existsSync(twin.vault)).toBe(true);
    await checkScreen(twin, "settings-delete-refused", { keyboard: false });

    await type(b, "delete-confirm-phrase", phrase!);
    await press(b, "delete-twin");
    await b.waitUntil(async () => (await heading(b)) === "Welcome to Citizen Twin", {
      timeout: T.long,
      timeoutMsg: "the welcome screen did not come back after deleting the twin",
    });
    await twin.screenshot("welcome-after-delete");
    const left = existsSync(twin.vault) ? Twin.files(twin.vault) : [];
    expect(left, "files left in the vault folder after deleting the twin").toEqual([]);
  });
});
