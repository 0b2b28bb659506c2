/// <reference types="node" />
// For you: what a sandbox agency's signed rule pack says about one citizen, worked out on
// this computer. A citizen of 68 with a yearly income of £9,360 and no household size:
// Pension Credit and Winter Fuel Payment "You may be eligible", Council Tax Reduction
// "We need more to check" (how many people live with you). "What if" the income were
// £30,000: Pension Credit no longer applies, the twin is not changed, and "Back to your
// details" brings it back. "Apply…" on Pension Credit reviews exactly the two fields the
// rule reads, sends them, and the share (app and agency side) holds those two and no others.
// axe and the keyboard on each state of the page; no value in the webview's own files.
//
// The pack is signed by the test's own sandbox agency (`twin-agency rules sign`). "Add a
// rule pack…" opens a native file dialog WebDriver cannot drive, so the pack is added with
// the `twin` command line against the same vault while the app has it locked ("Lock now":
// the vault's lock file is released), then the window unlocks again.
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect } from "vitest";
import {
  AGENCY_ID,
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
  tid,
  Twin,
  type,
  unlock,
  waitForText,
} from "./harness";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..", "..");
const SAMPLE_PACK = join(repo, "packaging", "rules", "benefits.json");
const DOCS_SHOT = join(repo, "docs", "screenshots", "foryou.png");

const DOB = "personal.date_of_birth";
const INCOME = "government.tax.annual_income";
const POSTCODE = "personal.address.postcode";
const PC = "pension-credit";
const CTR = "council-tax-reduction";
const WFP = "winter-fuel-payment";

/** The citizen's values, as typed and as the app shows them. */
const DOB_VALUE = "1958-03-02";
const DOB_SHOWN = "2 March 1958";
const INCOME_VALUE = "9360";
const INCOME_SHOWN = "9,360";

describe("For you: a rule pack's suggestions, what if, and apply", () => {
  const twin = new Twin({ name: "foryou" });
  const step = story(twin);
  const signedPack = join(twin.root, "benefits.twinrules");

  /** Runs `$TWIN_BIN args…` against this twin's vault (passphrase from the environment). */
  async function twinCli(...args: string[]): Promise<string> {
    try {
      const { stdout } = await run(process.env.TWIN_BIN!, args, {
        env: {
          ...process.env,
          TWIN_VAULT: twin.vault,
          TWIN_PASSPHRASE: PASSPHRASE,
          TWIN_SANDBOX: "1",
          XDG_DATA_HOME: twin.xdg.data,
          XDG_CONFIG_HOME: twin.xdg.config,
          XDG_CACHE_HOME: twin.xdg.cache,
        },
        maxBuffer: 16 << 20,
      });
      return stdout;
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string; message: string };
      throw new Error(`twin ${args.join(" ")} failed: ${err.stderr || err.stdout || err.message}`);
    }
  }

  /** The test ids of the elements under `scope` whose test id starts with `prefix`. */
  async function testIds(scope: string, prefix: string): Promise<string[]> {
    const b = twin.browser;
    return (await b.execute(
      (s: string, p: string) =>
        Array.from(document.querySelectorAll(`${s} [data-testid^="${p}"]`)).map((e) => e.getAttribute("data-testid") ?? ""),
      scope,
      prefix,
    )) as string[];
  }

  /** Whether the suggestion card of `rule` is inside the group with test id `group`. */
  async function inGroup(group: string, rule: string): Promise<boolean> {
    return tid(twin.browser, group).$(`[data-testid="suggestion-${rule}"]`).isExisting();
  }

  /** The text of an element whether shown or not (e.g. inside a closed <details>). */
  async function textContent(id: string): Promise<string> {
    return (await twin.browser.execute((t: string) => document.querySelector(`[data-testid="${t}"]`)?.textContent ?? "", id)) as string;
  }

  beforeAll(async () => {
    // The sample pack is in force for one tax year: outside it the app rightly refuses it.
    const { valid_from, valid_until } = JSON.parse(readFileSync(SAMPLE_PACK, "utf8")) as { valid_from: string; valid_until: string };
    const today = new Date().toLocaleDateString("en-CA"); // YYYY-MM-DD, local time
    if (today < valid_from || today > valid_until) {
      throw new Error(`${relative(repo, SAMPLE_PACK)} is valid from ${valid_from} to ${valid_until}, not today (${today}): update the sample pack's dates`);
    }
    const b = await twin.open();
    // The agency (started by open) signs its sample pack: what it would publish.
    await twin.agency("--dir", twin.agencyDir, "rules", "sign", SAMPLE_PACK, "--out", signedPack);
    await createTwin(b);
  });
  afterAll(async () => {
    await twin.dispose();
  });

  step("My twin: date of birth, yearly income and postcode; no household size", async () => {
    const b = twin.browser;
    await setField(b, "personal.full_name", "Winifred Adeyemi");
    await setField(b, DOB, DOB_VALUE, DOB_SHOWN);
    await setField(b, INCOME, INCOME_VALUE, INCOME_SHOWN);
    await setField(b, POSTCODE, "LS6 2QT");
    await textOf(b, "value-personal.household.size", "Not set");
    await twin.screenshot("my-twin");
  });

  step("For you, before any pack: says what a rule pack is, with the add button", async () => {
    const b = twin.browser;
    await go(b, "For you");
    const empty = await textOf(b, "foryou-empty", "No rule packs yet");
    expect(empty).toContain(".twinrules");
    await shown(b, "foryou-add-pack");
    await checkScreen(twin, "foryou-empty");
  });

  step("Settings: adds the sandbox agency by its address", async () => {
    const b = twin.browser;
    await go(b, "Settings");
    await type(b, "agency-url", twin.agencyUrl);
    await press(b, "add-agency");
    await textOf(b, "agency-status", "Added Sandbox Benefits", T.long);
    await textOf(b, `agency-${AGENCY_ID}`, "SANDBOX");
  });

  step("the signed pack is added with the twin command line while the app is locked", async () => {
    const b = twin.browser;
    const lock = b.$("nav").$("button=Lock now");
    await lock.waitForClickable({ timeout: T.short });
    await lock.click();
    await b.waitUntil(async () => (await heading(b)) === "Unlock your twin", { timeout: T.long, timeoutMsg: "the unlock screen did not show after Lock now" });

    const added = await twinCli("rules", "add", signedPack);
    expect(added).toContain("Added rule pack benefits version 1 from sandbox-benefits");
    const packs = JSON.parse(await twinCli("rules", "list", "--json")) as Array<{ publisher: string; pack: string; rules: number }>;
    expect(packs.map((p) => `${p.publisher}/${p.pack}`)).toEqual(["sandbox-benefits/benefits"]);

    await unlock(b);
  });

  step("For you: Pension Credit and Winter Fuel Payment eligible, Council Tax Reduction needs the household", async () => {
    const b = twin.browser;
    await go(b, "For you");
    await shown(b, "foryou-eligible", T.long);
    expect(await tid(b, "foryou-empty").isExisting()).toBe(false);
    expect(await textContent("foryou-packs")).toContain("from Sandbox Benefits");

    // Pension Credit: the summary, and each criterion with the citizen's own numbers.
    expect(await inGroup("foryou-eligible", PC), "Pension Credit is under “You may be eligible”").toBe(true);
    const pc = await textOf(b, `suggestion-${PC}`, "You may be eligible for Pension Credit");
    expect(pc).toContain("https://www.gov.uk/pension-credit/eligibility");
    const age = await textOf(b, `criterion-${PC}-age`, "≥ 66");
    expect(age).toMatch(/Age \d+ ≥ 66/);
    await textOf(b, `criterion-${PC}-income`, "Weekly income £180.00 < £218.15");
    await shown(b, `apply-${PC}`);

    // Winter Fuel Payment: born before 22 September 1960, £9,360 ≤ £35,000: eligible too.
    expect(await inGroup("foryou-eligible", WFP), "Winter Fuel Payment is under “You may be eligible”").toBe(true);
    await textOf(b, `suggestion-${WFP}`, "You may get a Winter Fuel Payment this winter");
    await textOf(b, `criterion-${WFP}-born`, "Born 2 March 1958, before 22 September 1960");
    await textOf(b, `criterion-${WFP}-income`, "Yearly income £9,360.00 ≤ £35,000.00");

    // Council Tax Reduction: the postcode is there, the household size is not.
    expect(await inGroup("foryou-undecided", CTR), "Council Tax Reduction is under “We need more to check”").toBe(true);
    expect(await inGroup("foryou-eligible", CTR)).toBe(false);
    await textOf(b, `criterion-${CTR}-home`, "Home postcode LS6 2QT");
    await textOf(b, `criterion-${CTR}-income`, "how many people live with you");
    await textOf(b, "foryou-undecided", "Go to My twin");

    // Nothing "could not be checked", nothing "does not apply", no reminder (no award record).
    expect(await tid(b, "foryou-could-not-check").isExisting()).toBe(false);
    expect(await tid(b, "foryou-not-apply").isExisting()).toBe(false);
    expect(await tid(b, "foryou-reminders").isExisting()).toBe(false);

    const shot = await twin.screenshot("foryou");
    // The README's screenshot is refreshed only when asked, so a test run leaves the
    // checkout as it was.
    if (process.env.UPDATE_DOC_SCREENSHOTS === "1") {
      mkdirSync(dirname(DOCS_SHOT), { recursive: true });
      copyFileSync(shot, DOCS_SHOT);
    }
    await checkScreen(twin, "foryou-suggestions", { shot: false });
  });

  step("What if the yearly income were £30,000: Pension Credit no longer applies; the twin is not changed", async () => {
    const b = twin.browser;
    await choose(b, "whatif-field", INCOME);
    await waitForText(b, `In your twin now: ${INCOME_SHOWN}`);
    await type(b, "whatif-value", "30000");
    await press(b, "whatif-check");
    const banner = await textOf(b, "whatif-banner", "were 30000: your twin is not changed", T.long);
    expect(banner).toContain("Yearly income");
    await textOf(b, "foryou-status", "your twin is not changed");

    await b.waitUntil(async () => !(await inGroup("foryou-eligible", PC)), { timeout: T.short, timeoutMsg: "Pension Credit stayed under “You may be eligible” in the what if" });
    expect(await inGroup("foryou-not-apply", PC), "Pension Credit is under “Does not seem to apply”").toBe(true);
    expect(await textContent(`criterion-${PC}-income`)).toContain("Weekly income £576.92 < £218.15");
    // £30,000 ≤ £35,000: still eligible for Winter Fuel Payment; Council Tax Reduction still undecided.
    expect(await inGroup("foryou-eligible", WFP)).toBe(true);
    expect(await inGroup("foryou-undecided", CTR)).toBe(true);
    // Apply is turned off while a what if shows.
    expect(await testIds("body", "apply-")).toEqual([]);

    // Open "Does not seem to apply" to see why.
    await b.$('[data-testid="foryou-not-apply"] summary').click();
    await textOf(b, `criterion-${PC}-income`, "Weekly income £576.92 < £218.15");
    await checkScreen(twin, "foryou-whatif", { show: '[data-testid="whatif-banner"]', block: "start" });
  });

  step("Back to your details: Pension Credit is eligible again, with the twin's own values", async () => {
    const b = twin.browser;
    await press(b, "whatif-reset");
    await textOf(b, "foryou-status", "Back to your details as they are in your twin", T.long);
    expect(await tid(b, "whatif-banner").isExisting()).toBe(false);
    await b.waitUntil(() => inGroup("foryou-eligible", PC), { timeout: T.short, timeoutMsg: "Pension Credit did not come back under “You may be eligible”" });
    await textOf(b, `criterion-${PC}-income`, "Weekly income £180.00 < £218.15");
    expect(await tid(b, "foryou-not-apply").isExisting()).toBe(false);
    // The twin itself never changed.
    await go(b, "My twin");
    await textOf(b, `value-${INCOME}`, INCOME_SHOWN);
    await go(b, "For you");
    await b.waitUntil(() => inGroup("foryou-eligible", PC), { timeout: T.long, timeoutMsg: "For you did not show Pension Credit again" });
  });

  step("Apply on Pension Credit: the review lists exactly the two fields the rule reads", async () => {
    const b = twin.browser;
    await press(b, `apply-${PC}`);
    const review = await textOf(b, "apply-review", "Share with Sandbox Benefits", T.long);
    expect(review).toContain("Nothing has been shared yet");
    const fields = await testIds('[data-testid="apply-review"]', "apply-field-");
    expect(fields.sort()).toEqual([`apply-field-${INCOME}`, `apply-field-${DOB}`].sort());
    await textOf(b, `apply-field-${DOB}`, DOB_SHOWN);
    await textOf(b, `apply-field-${INCOME}`, INCOME_SHOWN);
    expect(review).not.toContain("LS6 2QT");
    expect(review).not.toContain("Winifred Adeyemi");
    await checkScreen(twin, "foryou-apply-review", { show: '[data-testid="apply-review"]' });
  });

  step("Send now: the outcome says it was sent, and Sharing lists the share with those two fields", async () => {
    const b = twin.browser;
    await press(b, "apply-send");
    const final = await textOf(b, "apply-outcome", /Sent to Sandbox Benefits|not delivered|Refused/, T.long);
    await twin.screenshot("foryou-apply-sent", '[data-testid="apply-outcome"]');
    expect(final).toContain("Sent to Sandbox Benefits");
    expect(final).toMatch(/Sandbox Benefits.*received it/);

    await b.$('[data-testid="apply-outcome"]').$("button=See it in Sharing").click();
    await b.waitUntil(async () => (await heading(b)) === "Sharing", { timeout: T.short, timeoutMsg: "“See it in Sharing” did not open Sharing" });
    const card = b.$("li.grant");
    await card.waitForDisplayed({ timeout: T.long, timeoutMsg: "no share listed under Your shares" });
    expect(await b.$$("li.grant").length, "exactly one share").toBe(1);
    const grantId = ((await card.getAttribute("data-testid")) ?? "").replace(/^grant-/, "");
    expect(grantId).not.toBe("");
    await textOf(b, `grant-state-${grantId}`, "Active");
    const listed = (await b.execute((id: string) => {
      for (const dt of Array.from(document.querySelectorAll(`[data-testid="grant-${id}"] dt`))) {
        if (dt.textContent?.trim() === "Fields shared") return dt.nextElementSibling?.textContent?.trim() ?? "";
      }
      return "";
    }, grantId)) as string;
    expect(listed.split(/,\s*/).sort()).toEqual(["Date of birth", "Yearly income (pounds)"]);
    expect(await card.getText()).toContain("Pension Credit check");
    await twin.screenshot("foryou-sharing", `[data-testid="grant-${grantId}"]`, "start");

    // The agency holds the same grant, with exactly those two fields.
    const theirs = await twin.agencyGrants();
    expect(theirs.map((g) => g.grant_id)).toEqual([grantId]);
    expect(theirs[0]!.purpose).toBe("pension-credit-check");
    expect([...theirs[0]!.fields].sort()).toEqual([INCOME, DOB].sort());
  });

  step("keeps none of the citizen's values in the webview's or the app's own files", async () => {
    await twin.close();
    const needles = [DOB_VALUE, DOB_SHOWN, INCOME_SHOWN, "£9,360.00", "Winifred Adeyemi"].flatMap((s) => [Buffer.from(s, "utf8"), Buffer.from(s, "utf16le")]);
    const holding = (files: string[]) =>
      files.filter((f) => {
        let data: Buffer;
        try {
          data = readFileSync(f);
        } catch {
          return false;
        }
        return needles.some((n) => data.includes(n));
      });
    const outside = [twin.xdg.data, twin.xdg.config, twin.xdg.cache].flatMap((d) => Twin.files(d)).filter((f) => !f.startsWith(twin.vault + "/"));
    const inVault = Twin.files(twin.vault);
    const shaders = outside.filter((f) => f.includes("/mesa_shader_cache/")).length;
    console.log(
      `[foryou canary] searched ${outside.length} file(s) outside the vault (${shaders} in mesa_shader_cache) and ${inVault.length} in it:\n  ` +
        [...outside.filter((f) => !f.includes("/mesa_shader_cache/")), ...inVault].map((f) => relative(twin.root, f)).join("\n  "),
    );
    // The search itself finds a value where it is (UTF-16, as WebKit stores strings).
    const control = join(twin.root, "control.bin");
    writeFileSync(control, Buffer.concat([Buffer.from("x"), Buffer.from(DOB_SHOWN, "utf16le")]));
    expect(holding([control])).toEqual([control]);
    expect(inVault.length, "the vault folder holds the twin's files").toBeGreaterThan(0);
    expect(holding(outside), "files outside the vault holding the citizen's values").toEqual([]);
    expect(holding(inVault), "vault files holding the citizen's values in clear").toEqual([]);
  });
});
