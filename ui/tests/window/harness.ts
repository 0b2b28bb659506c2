/// <reference types="node" />
// The window tests' harness: a sandbox agency and the real app in a real window, driven
// over WebDriver (tauri-driver → WebKitWebDriver), plus screenshots, axe and a keyboard
// check. The display and tauri-driver come from global-setup.ts.
//
// How the app gets its environment: tauri-driver maps {"tauri:options": {application,
// args}} to WebKitGTK's {binary, args} and nothing else, so there is no way to pass env
// through the capabilities; WebKitWebDriver starts the app with tauri-driver's own env.
// Each twin therefore gets a small wrapper script as its "application": it records its pid
// (it `exec`s the app, so that is the app's pid), exports TWIN_VAULT, TWIN_SANDBOX,
// TWIN_SANDBOX_AGENCY and XDG_DATA/CONFIG/CACHE_HOME pointing into the test's own temp
// folder, and execs $APP. One tauri-driver serves every test file.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { inject, it } from "vitest";
import { remote } from "webdriverio";
import { alive, Fatal, freePort, killGroup, outputDir, screenshotDir, waitFor } from "./procs";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..", "..");

export type Browser = WebdriverIO.Browser;

export const STAFF = "Sam Patel (sandbox officer)";
export const AGENCY_ID = "sandbox-benefits";
export const PASSPHRASE = "correct horse battery staple window";

/** Waits used by the tests: generous, because two cores run the app, its KDF and the agency. */
export const T = { short: 10_000, long: 45_000 };

export interface TwinOptions {
  /** Names the temp folder, logs and screenshots ("onboarding", "sharing", …). */
  name: string;
  /** Start a sandbox agency for this twin (default true). */
  agency?: boolean;
  /** Also run .ci/sandbox-officer next to it (default false: tests act as the officer). */
  officer?: boolean;
}

/** One test file's world: a temp folder, a sandbox agency, and the app in a WebDriver session. */
export class Twin {
  readonly name: string;
  readonly root: string;
  readonly xdg: { data: string; config: string; cache: string };
  readonly vault: string;
  readonly agencyDir: string;
  agencyUrl = "";
  private server: ChildProcess | null = null;
  private officer: ChildProcess | null = null;
  private wrapper: string;
  private pidFile: string;
  private logDir: string;
  private session: Browser | null = null;
  private shots = 0;

  constructor(private opts: TwinOptions) {
    this.name = opts.name;
    this.root = mkdtempSync(join(tmpdir(), `ct-window-${opts.name}-`));
    this.xdg = {
      data: join(this.root, "xdg", "data"),
      config: join(this.root, "xdg", "config"),
      cache: join(this.root, "xdg", "cache"),
    };
    // The vault where the app would keep it by default: inside XDG_DATA_HOME.
    this.vault = join(this.xdg.data, "citizen-twin", "vault");
    this.agencyDir = join(this.root, "agency");
    this.logDir = join(outputDir(), "logs", opts.name);
    this.wrapper = join(this.root, "app.sh");
    this.pidFile = join(this.root, "app.pid");
    for (const d of [this.xdg.data, this.xdg.config, this.xdg.cache, this.agencyDir, this.logDir, screenshotDir()]) {
      mkdirSync(d, { recursive: true });
    }
  }

  /** The live WebDriver session (throws if the app is not open). */
  get browser(): Browser {
    if (!this.session) throw new Error("The app is not open: call twin.open() first.");
    return this.session;
  }

  // ---- The sandbox agency -----------------------------------------------------------------

  private agencyEnv(): NodeJS.ProcessEnv {
    return { ...process.env, TWIN_AGENCY_DIR: this.agencyDir };
  }

  /** Runs `$AGENCY_BIN args…` against this twin's agency; returns stdout. */
  async agency(...args: string[]): Promise<string> {
    try {
      const { stdout } = await run(process.env.AGENCY_BIN!, args, { env: this.agencyEnv(), maxBuffer: 16 << 20 });
      return stdout;
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`twin-agency ${args.join(" ")} failed: ${err.stderr || err.message}`);
    }
  }

  private async startAgency(): Promise<void> {
    const port = await freePort();
    this.agencyUrl = `http://127.0.0.1:${port}`;
    await this.agency("init", "--name", "Sandbox Benefits", "--id", AGENCY_ID, "--sandbox", "--endpoint", this.agencyUrl);
    await this.agency("staff", "add", STAFF);
    const log = openSync(join(this.logDir, "agency.log"), "a");
    this.server = spawn(process.env.AGENCY_BIN!, ["serve", "--listen", `127.0.0.1:${port}`], {
      env: this.agencyEnv(),
      detached: true,
      stdio: ["ignore", log, log],
    });
    const server = this.server;
    await waitFor(
      async () => {
        if (server.exitCode !== null) throw new Fatal(`the sandbox agency exited (${server.exitCode}); see ${this.logDir}/agency.log`);
        try {
          return (await fetch(`${this.agencyUrl}/readyz`)).ok;
        } catch {
          return false;
        }
      },
      T.short,
      `the sandbox agency's /readyz at ${this.agencyUrl}`,
    );
    if (this.opts.officer) {
      const olog = openSync(join(this.logDir, "officer.log"), "a");
      this.officer = spawn(join(repo, ".ci", "sandbox-officer"), [process.env.AGENCY_BIN!, this.agencyDir], {
        env: this.agencyEnv(),
        detached: true,
        stdio: ["ignore", olog, olog],
      });
    }
  }

  /** The agency's grants (`grants list --json`). */
  async agencyGrants(): Promise<Array<{ grant_id: string; purpose: string; fields: string[]; purged_at?: number | null; records?: string[] }>> {
    return JSON.parse(await this.agency("grants", "list", "--json"));
  }

  // ---- The app ----------------------------------------------------------------------------

  private writeWrapper(): void {
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const env: Record<string, string> = {
      TWIN_VAULT: this.vault,
      TWIN_SANDBOX: "1",
      XDG_DATA_HOME: this.xdg.data,
      XDG_CONFIG_HOME: this.xdg.config,
      XDG_CACHE_HOME: this.xdg.cache,
      DISPLAY: inject("window").display,
      // No accessibility bus under Xvfb: do not wait for one.
      NO_AT_BRIDGE: "1",
    };
    if (this.agencyUrl) env.TWIN_SANDBOX_AGENCY = this.agencyUrl;
    const lines = [
      "#!/bin/sh",
      "# Written by ui/tests/window/harness.ts: the app with this test's environment.",
      `echo $$ > ${q(this.pidFile)}`,
      ...Object.entries(env).map(([k, v]) => `export ${k}=${q(v)}`),
      `exec ${q(resolve(process.env.APP!))} "$@" 2>>${q(join(this.logDir, "app.log"))}`,
      "",
    ];
    writeFileSync(this.wrapper, lines.join("\n"));
    chmodSync(this.wrapper, 0o755);
  }

  /** The app's pid (from the wrapper), or undefined before it started. */
  appPid(): number | undefined {
    try {
      const n = Number(readFileSync(this.pidFile, "utf8").trim());
      return Number.isFinite(n) && n > 0 ? n : undefined;
    } catch {
      return undefined;
    }
  }

  /** Starts what this twin needs (the agency, once) and opens the app in a new session. */
  async open(): Promise<Browser> {
    if (this.opts.agency !== false && !this.server) await this.startAgency();
    this.writeWrapper();
    rmSync(this.pidFile, { force: true });
    const { driverPort } = inject("window");
    this.session = await this.newSession(driverPort);
    // The first screen: welcome (no twin yet) or unlock.
    await this.session.$("main h1").waitForDisplayed({ timeout: T.long });
    return this.session;
  }

  private async newSession(driverPort: number): Promise<Browser> {
    try {
      return await this.remote(driverPort);
    } catch (e) {
      const msg = String((e as Error).message ?? e);
      if (/failed to create a new browsing context/i.test(msg)) {
        throw new Error(
          `WebKitWebDriver could not take control of the app's window (${msg}).\n` +
            `The usual cause: the window is created "incognito" (src-tauri/tauri.conf.json app.windows[].incognito = true). ` +
            `wry then makes its own ephemeral WebKit context with automation turned off, ignoring TAURI_WEBVIEW_AUTOMATION, ` +
            `so no WebDriver session can attach. Build the app under test with incognito off ` +
            `(e.g. TAURI_CONFIG='{"app":{"windows":[{…,"incognito":false}]}}' at build time) and point APP at it. ` +
            `App log: ${join(this.logDir, "app.log")}`,
        );
      }
      throw e;
    }
  }

  private remote(driverPort: number): Promise<Browser> {
    return remote({
      hostname: "127.0.0.1",
      port: driverPort,
      path: "/",
      logLevel: "warn",
      outputDir: this.logDir,
      waitforTimeout: T.short,
      connectionRetryTimeout: 60_000,
      connectionRetryCount: 1,
      capabilities: {
        "tauri:options": { application: this.wrapper },
        "wdio:enforceWebDriverClassic": true,
      } as WebdriverIO.Capabilities,
    });
  }

  /** Closes the app the way a citizen does (the window closes) and waits until it exited. */
  async close(): Promise<void> {
    const pid = this.appPid();
    const s = this.session;
    this.session = null;
    if (s) {
      await s.deleteSession().catch(() => {});
    }
    if (pid) {
      await waitFor(() => !alive(pid), T.long, `the app (pid ${pid}) to exit after its window closed`);
    }
  }

  /** Kills the app at once (SIGKILL: no chance to save or clean up), as a crash would. */
  async kill(): Promise<void> {
    const pid = this.appPid();
    if (!pid) throw new Error("no app pid recorded");
    process.kill(pid, "SIGKILL");
    await waitFor(() => !alive(pid), T.short, `the app (pid ${pid}) to die`);
    const s = this.session;
    this.session = null;
    // WebKitWebDriver notices that its browser is gone; ending the session tidies it up.
    if (s) await s.deleteSession().catch(() => {});
  }

  /** Stops everything this twin started and removes its temp folder (WINDOW_KEEP=1 keeps it). */
  async dispose(): Promise<void> {
    await this.close().catch(() => {
      const pid = this.appPid();
      if (pid && alive(pid)) process.kill(pid, "SIGKILL");
    });
    killGroup(this.officer?.pid);
    killGroup(this.server?.pid);
    this.officer = this.server = null;
    if (process.env.WINDOW_KEEP !== "1") rmSync(this.root, { recursive: true, force: true });
    else console.log(`[window] kept ${this.root}`);
  }

  /** "thread … panicked at …" lines (with the message after each) from the app's stderr. */
  appPanics(): string[] {
    let log = "";
    try {
      log = readFileSync(join(this.logDir, "app.log"), "utf8");
    } catch {
      return [];
    }
    const lines = log.split("\n");
    const out: string[] = [];
    lines.forEach((l, i) => {
      if (/panicked at/.test(l)) out.push(`${l.trim()} ${(lines[i + 1] ?? "").trim()}`);
    });
    return out;
  }

  // ---- Screenshots ------------------------------------------------------------------------

  /**
   * Saves ui/test-output/screenshots/<file>-<nn>-<name>.png; returns its path. The page is
   * scrolled to the top first, or to bring `show` (a CSS selector) into the middle of the view.
   */
  async screenshot(name: string, show?: string, block: "start" | "center" | "end" = "center"): Promise<string> {
    await this.browser.execute((sel: string | null, blk: string) => {
      const el = sel ? document.querySelector(sel) : null;
      if (el) {
        el.scrollIntoView({ block: blk as ScrollLogicalPosition });
        return;
      }
      window.scrollTo(0, 0);
      for (const m of Array.from(document.querySelectorAll("main, .frame"))) m.scrollTop = 0;
    }, show ?? null, block);
    this.shots += 1;
    const file = join(screenshotDir(), `${this.name}-${String(this.shots).padStart(2, "0")}-${name}.png`);
    await this.browser.saveScreenshot(file);
    return file;
  }

  // ---- Files, for the privacy canary ------------------------------------------------------

  /** Every regular file under `dir` (recursively; symlinks are not followed). */
  static files(dir: string): string[] {
    const out: string[] = [];
    const walk = (d: string) => {
      let entries: string[];
      try {
        entries = readdirSync(d);
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(d, e);
        let st;
        try {
          st = statSync(p, { throwIfNoEntry: false });
        } catch {
          continue;
        }
        if (!st) continue;
        if (st.isDirectory()) walk(p);
        else if (st.isFile()) out.push(p);
      }
    };
    walk(dir);
    return out;
  }
}

// ---- Driving the UI ------------------------------------------------------------------------

/** The element with this data-testid. */
export function tid(b: Browser, id: string): ChainablePromiseElement {
  return b.$(`[data-testid="${id}"]`);
}
type ChainablePromiseElement = ReturnType<Browser["$"]>;

/** Waits until the element with this test id is displayed, and returns it. */
export async function shown(b: Browser, id: string, timeout = T.short) {
  const el = tid(b, id);
  await el.waitForDisplayed({ timeout, timeoutMsg: `[data-testid="${id}"] was not displayed within ${timeout} ms` });
  return el;
}

/** Clicks the element with this test id once it is clickable. */
export async function press(b: Browser, id: string, timeout = T.short): Promise<void> {
  const el = tid(b, id);
  await el.waitForClickable({ timeout, timeoutMsg: `[data-testid="${id}"] was not clickable within ${timeout} ms` });
  await el.click();
}

/** Replaces an input's value by typing, as a person would. */
export async function type(b: Browser, id: string, text: string): Promise<void> {
  const el = await shown(b, id);
  await el.clearValue();
  await el.setValue(text);
}

/**
 * Chooses an option of a <select> by its value (a WebDriver click on the <option>: input and
 * change fire). Refuses a value the select already shows: no change event would fire, and a
 * test meaning to check a change would pass or fail for the wrong reason.
 */
export async function choose(b: Browser, id: string, value: string): Promise<void> {
  await shown(b, id);
  if ((await tid(b, id).getValue()) === value) throw new Error(`[data-testid="${id}"] already shows "${value}": choose another value to test a change`);
  const opt = b.$(`[data-testid="${id}"] option[value="${value}"]`);
  await opt.waitForExist({ timeout: T.short, timeoutMsg: `no option "${value}" in [data-testid="${id}"]` });
  await opt.click();
  await b.waitUntil(async () => (await tid(b, id).getValue()) === value, { timeout: T.short, timeoutMsg: `[data-testid="${id}"] did not take "${value}"` });
}

/** Waits until the page's visible text contains `text` (or matches it). */
export async function waitForText(b: Browser, text: string | RegExp, timeout = T.short, scope = "body"): Promise<void> {
  let last = "";
  await b.waitUntil(
    async () => {
      last = await b.$(scope).getText();
      return typeof text === "string" ? last.includes(text) : text.test(last);
    },
    { timeout, timeoutMsg: `"${String(text)}" did not appear in ${scope} within ${timeout} ms. It showed:\n${last.slice(0, 2000)}` },
  );
}

/** The text of the element with this test id, once it contains `text`. */
export async function textOf(b: Browser, id: string, text: string | RegExp, timeout = T.short): Promise<string> {
  const el = await shown(b, id, timeout);
  let last = "";
  await b.waitUntil(
    async () => {
      last = await el.getText();
      return typeof text === "string" ? last.includes(text) : text.test(last);
    },
    { timeout, timeoutMsg: `[data-testid="${id}"] did not come to show "${String(text)}" within ${timeout} ms; it shows:\n${last}` },
  );
  return last;
}

/** The current screen's heading (main h1). */
export async function heading(b: Browser): Promise<string> {
  return (await b.$("main h1").getText()).trim();
}

/** Goes to a screen through the navigation, and waits for its heading. */
export async function go(b: Browser, label: string, h1 = label): Promise<void> {
  const button = b.$("nav").$(`button=${label}`);
  await button.waitForClickable({ timeout: T.short, timeoutMsg: `no "${label}" in the navigation` });
  await button.click();
  await b.waitUntil(async () => (await heading(b)) === h1, {
    timeout: T.short,
    timeoutMsg: `the "${label}" screen did not open (heading "${h1}")`,
  });
}

/** Onboarding through the UI: passphrase → recovery code → type back the asked group → My twin. */
export async function createTwin(b: Browser, passphrase = PASSPHRASE): Promise<{ groups: string[]; checkGroup: number }> {
  await type(b, "passphrase", passphrase);
  await type(b, "passphrase-confirm", passphrase);
  await press(b, "create-twin");
  const code = await readRecoveryCode(b);
  await confirmRecoveryGroup(b, code);
  await b.waitUntil(async () => (await heading(b)) === "My twin", { timeout: T.long, timeoutMsg: "My twin did not open after onboarding" });
  return code;
}

/** The recovery code on screen and the group the app asks to type back. */
export async function readRecoveryCode(b: Browser): Promise<{ groups: string[]; checkGroup: number }> {
  await shown(b, "recovery-code", T.long);
  const groups = (await b.$$('[data-testid="recovery-code"] li code').map((e) => e.getText())).map((s) => s.trim());
  const label = await b.$('label[for$="-typed"]').getText();
  const m = /group (\d+)/i.exec(label);
  if (!m) throw new Error(`could not read which group to type back from "${label}"`);
  return { groups, checkGroup: Number(m[1]) };
}

export async function confirmRecoveryGroup(b: Browser, code: { groups: string[]; checkGroup: number }): Promise<void> {
  await type(b, "recovery-group-input", code.groups[code.checkGroup - 1]!);
  await press(b, "recovery-confirm");
}

/** Unlocks with the passphrase and waits for My twin. */
export async function unlock(b: Browser, passphrase = PASSPHRASE): Promise<void> {
  await type(b, "unlock-passphrase", passphrase);
  await press(b, "unlock-button");
  await b.waitUntil(async () => (await heading(b)) === "My twin", { timeout: T.long, timeoutMsg: "My twin did not open after unlocking" });
}

/** Edits one field on My twin and waits until the saved value shows. */
export async function setField(b: Browser, path: string, text: string, shows = text): Promise<void> {
  await press(b, `edit-${path}`);
  await type(b, `field-input-${path}`, text);
  await press(b, `save-${path}`);
  // The edit box closes once the backend's set_field returned; an error keeps it open.
  await waitFor(
    async () => {
      const err = tid(b, `field-error-${path}`);
      if (await err.isExisting()) throw new Fatal(`saving ${path} failed: ${await err.getText()}`);
      return !(await tid(b, `field-input-${path}`).isExisting());
    },
    T.long,
    `saving ${path} to finish`,
    200,
  );
  await textOf(b, `value-${path}`, shows);
}

// ---- Accessibility: axe -------------------------------------------------------------------

const axeSource = readFileSync(resolve(here, "..", "..", "node_modules", "axe-core", "axe.min.js"), "utf8");

interface AxeNode {
  target: string;
  html: string;
  summary: string;
}
interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  helpUrl: string;
  nodes: AxeNode[];
}

/**
 * Runs axe-core inside the real window and fails on any violation of impact "serious" or
 * "critical". axe's source is injected through WebDriver's Execute Script, which WebKit
 * runs outside the page's CSP (the app's CSP allows only 'self' scripts; see the report).
 * Every result (all impacts) is also written to test-output/axe/<screen>.json.
 */
export async function runAxe(b: Browser, screen: string): Promise<AxeViolation[]> {
  const present = await b.execute(() => typeof (window as unknown as { axe?: unknown }).axe);
  if (present !== "object") {
    // A plain script body: axe's bundle assigns window.axe.
    const after = await b.execute(`${axeSource}\n;return typeof window.axe;`);
    if (after !== "object") throw new Error(`axe-core could not be injected into the window (typeof window.axe: ${String(after)})`);
  }
  const raw = (await b.executeAsync((done: (r: unknown) => void) => {
    type R = { violations: Array<{ id: string; impact: string | null; help: string; helpUrl: string; nodes: Array<{ target: unknown[]; html: string; failureSummary?: string }> }> };
    const axe = (window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<R> } }).axe;
    axe
      .run(document, { resultTypes: ["violations"] })
      .then((r) =>
        done({
          ok: r.violations.map((v) => ({
            id: v.id,
            impact: v.impact,
            help: v.help,
            helpUrl: v.helpUrl,
            nodes: v.nodes.map((n) => ({ target: n.target.map(String).join(" "), html: n.html, summary: n.failureSummary ?? "" })),
          })),
        }),
      )
      .catch((e: Error) => done({ error: String(e && e.stack ? e.stack : e) }));
  })) as { ok?: AxeViolation[]; error?: string };
  if (raw.error) throw new Error(`axe-core failed inside the window on ${screen}: ${raw.error}`);
  const all = raw.ok ?? [];
  const dir = join(outputDir(), "axe");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${screen.replace(/[^A-Za-z0-9_.-]+/g, "-")}.json`), JSON.stringify(all, null, 2));
  const bad = all.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length > 0) {
    throw new Error(`axe found ${bad.length} serious or critical problem(s) on ${screen}:\n${formatViolations(bad)}`);
  }
  return all;
}

export function formatViolations(vs: AxeViolation[]): string {
  return vs
    .map(
      (v) =>
        `  [${v.impact}] ${v.id}: ${v.help}\n    ${v.helpUrl}\n` +
        v.nodes
          .slice(0, 8)
          .map((n) => `    - ${n.target}\n      ${n.html.slice(0, 200)}\n      ${n.summary.replace(/\n/g, "\n      ")}`)
          .join("\n") +
        (v.nodes.length > 8 ? `\n    … and ${v.nodes.length - 8} more` : ""),
    )
    .join("\n");
}

// ---- Accessibility: the keyboard -----------------------------------------------------------

interface KbdReport {
  total: number;
  notFocusable: string[];
  notReached: string[];
  reached: number;
}

/**
 * Every visible control on the screen can be reached with Tab: it is focusable (tabIndex
 * ≥ 0, not disabled) and pressing Tab from the top of the page focuses it. Radio buttons
 * count once per group (arrow keys move within a group). With a modal dialog open, only
 * the dialog's controls count (the rest of the page is inert).
 */
export async function keyboardCheck(b: Browser, screen: string): Promise<KbdReport> {
  const setup = (await b.execute(() => {
    const w = window as unknown as { __kbdSeen?: string[]; __kbdListen?: (e: Event) => void };
    const modal = document.querySelector<HTMLDialogElement>("dialog[open]");
    const scope: ParentNode = modal ?? document;
    const sel = 'a[href], button, input:not([type="hidden"]), select, textarea, summary, [tabindex]:not([tabindex="-1"]), [contenteditable="true"]';
    const visible = (el: HTMLElement) => {
      if (el.getClientRects().length === 0) return false;
      // Inside a closed <details> (other than its summary): not shown, not reachable.
      const closed = el.closest("details:not([open])");
      if (closed && !(el.tagName === "SUMMARY" && el.parentElement === closed)) return false;
      const c = el as HTMLElement & { checkVisibility?: (o?: object) => boolean };
      if (typeof c.checkVisibility === "function" && !c.checkVisibility({ visibilityProperty: true })) return false;
      const cs = getComputedStyle(el);
      if (cs.visibility === "hidden" || cs.display === "none") return false;
      // A visually-hidden native control behind a styled label still counts if focusable.
      return !el.closest("[inert], [hidden], [aria-hidden='true']");
    };
    const describe = (el: HTMLElement) => {
      const label =
        el.getAttribute("aria-label") ||
        (el.id && document.querySelector<HTMLLabelElement>(`label[for="${el.id}"]`)?.innerText) ||
        el.innerText ||
        (el as HTMLInputElement).value ||
        "";
      const tid = el.getAttribute("data-testid");
      return `<${el.tagName.toLowerCase()}${tid ? ` data-testid="${tid}"` : ""}${el.id ? ` id="${el.id}"` : ""}> "${label.trim().replace(/\s+/g, " ").slice(0, 60)}"`;
    };
    document.querySelectorAll("[data-kbd]").forEach((e) => e.removeAttribute("data-kbd"));
    const els = Array.from(scope.querySelectorAll<HTMLElement>(sel)).filter(visible);
    const radioGroups = new Map<string, HTMLInputElement[]>();
    const wanted: HTMLElement[] = [];
    const notFocusable: string[] = [];
    for (const el of els) {
      const disabled = (el as HTMLButtonElement).disabled === true || el.getAttribute("aria-disabled") === "true";
      if (disabled) continue; // disabled on purpose (busy, nothing to do yet): not a control right now
      if (el.tabIndex < 0) {
        notFocusable.push(describe(el));
        continue;
      }
      if (el instanceof HTMLInputElement && el.type === "radio" && el.name) {
        const g = radioGroups.get(el.name) ?? [];
        g.push(el);
        radioGroups.set(el.name, g);
        continue;
      }
      wanted.push(el);
    }
    let n = 0;
    for (const el of wanted) el.setAttribute("data-kbd", `k${n++}`);
    for (const [, g] of radioGroups) {
      const id = `k${n++}`;
      for (const r of g) r.setAttribute("data-kbd", id);
    }
    w.__kbdSeen = [];
    if (w.__kbdListen) document.removeEventListener("focusin", w.__kbdListen, true);
    w.__kbdListen = (e: Event) => {
      const t = e.target as HTMLElement | null;
      const k = t?.getAttribute?.("data-kbd");
      w.__kbdSeen!.push(k ?? `other:${t ? t.tagName : "?"}`);
    };
    document.addEventListener("focusin", w.__kbdListen, true);
    // Start from the top: focus nothing (inside a modal, its first control is reached first).
    (document.activeElement as HTMLElement | null)?.blur();
    return { ids: Array.from({ length: n }, (_, i) => `k${i}`), names: Object.fromEntries([...wanted.map((el) => [el.getAttribute("data-kbd"), describe(el)]), ...[...radioGroups.values()].map((g) => [g[0]!.getAttribute("data-kbd"), `radio group "${g[0]!.name}" (${g.length} choices)`])]) as Record<string, string>, notFocusable };
  })) as { ids: string[]; names: Record<string, string>; notFocusable: string[] };

  // Tab through, one key at a time (WebKitWebDriver delivers only the first Tab of a
  // multi-key action), reading what got focus every few presses; stop once all were reached.
  const want = new Set(setup.ids);
  const seen = new Set<string>();
  const presses = setup.ids.length + 6;
  for (let done = 0; done < presses && seen.size < want.size; done++) {
    await b.keys("Tab");
    if (done % 8 === 7 || done === presses - 1 || done >= setup.ids.length - 1) {
      const s = (await b.execute(() => (window as unknown as { __kbdSeen: string[] }).__kbdSeen.splice(0))) as string[];
      for (const k of s) if (want.has(k)) seen.add(k);
    }
  }
  await b.execute(() => {
    const w = window as unknown as { __kbdListen?: (e: Event) => void };
    if (w.__kbdListen) document.removeEventListener("focusin", w.__kbdListen, true);
    document.querySelectorAll("[data-kbd]").forEach((e) => e.removeAttribute("data-kbd"));
  });
  const notReached = setup.ids.filter((k) => !seen.has(k)).map((k) => setup.names[k] ?? k);
  const report = { total: setup.ids.length, notFocusable: setup.notFocusable, notReached, reached: seen.size };
  if (notReached.length > 0 || setup.notFocusable.length > 0) {
    throw new Error(
      `Keyboard check on ${screen}: ${report.reached} of ${report.total} controls reached with Tab.\n` +
        (setup.notFocusable.length ? `  Not focusable (tabindex -1 on a control):\n    ${setup.notFocusable.join("\n    ")}\n` : "") +
        (notReached.length ? `  Never reached with Tab:\n    ${notReached.join("\n    ")}\n` : ""),
    );
  }
  return report;
}

/** axe + keyboard + a screenshot: what every screen gets. */
export async function checkScreen(
  twin: Twin,
  screen: string,
  opts: { keyboard?: boolean; shot?: boolean; show?: string; block?: "start" | "center" | "end" } = {},
): Promise<void> {
  const b = twin.browser;
  if (opts.shot !== false) await twin.screenshot(screen, opts.show, opts.block);
  await runAxe(b, screen);
  if (opts.keyboard !== false) await keyboardCheck(b, screen);
}

// ---- Stories: steps that build on each other ------------------------------------------------

/**
 * A test file's steps, in order, each building on the one before: once a step fails the
 * rest are skipped (one cause, one failure), and a screenshot of the window as it was is
 * saved as FAILED-<step>.png.
 */
export function story(twin: Twin): (name: string, fn: () => Promise<void>) => void {
  let broken: string | null = null;
  return (name, fn) =>
    it(name, async (ctx) => {
      if (broken) ctx.skip(`an earlier step failed: ${broken}`);
      try {
        await fn();
      } catch (e) {
        broken = name;
        await twin.screenshot(`FAILED-${name.replace(/[^A-Za-z0-9]+/g, "-").slice(0, 60)}`).catch(() => {});
        const panics = twin.appPanics();
        if (panics.length > 0 && e instanceof Error) {
          e.message += `\n\nThe app panicked meanwhile (its stderr: test-output/logs/${twin.name}/app.log):\n  ${panics.join("\n  ")}`;
        }
        throw e;
      }
    });
}
