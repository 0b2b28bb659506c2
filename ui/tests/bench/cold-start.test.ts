/// <reference types="node" />
// Cold start to the unlock screen (goal ≤ 1 s under Xvfb): from spawning the app, with an
// existing vault, to the unlock screen painted on the display. No test here asserts on
// time: each step records its numbers (test-output/bench/cold-start.json) and the last one
// prints the summary that goes into docs/benchmarks.md.
//
// How "painted" is seen: X11 DAMAGE events on the screen (x11.ts) say when anything was
// drawn; after each, the screen is grabbed and compared with the settled unlock screen
// (taken once per subject, before the measured rounds). The unlock screen counts as
// painted at the damage event that preceded the first matching grab. The watcher only
// runs when something draws: its cost per run (grabs, CPU) is recorded.
//
// Subjects, alternated round by round so that drift hits them alike:
//   app            the app binary spawned directly (DISPLAY, TWIN_VAULT = a fresh copy of
//                  the fixture, TWIN_SANDBOX=1, fresh XDG folders)
//   minibrowser    the floor: WebKitGTK's MiniBrowser (--private) showing minimal.html, a
//                  heading, a passphrase input and a button (its toolbar is not compared)
//   app-first-start  the app with an empty XDG_CACHE_HOME, as on its very first start (the
//                  others keep a shader cache across runs, as a citizen's computer does:
//                  see shaderCache in common.ts); the settled screens are taken first, which
//                  warms those caches and the OS file cache
//   app-no-compositing, minibrowser-no-compositing: the same with
//                  WEBKIT_DISABLE_COMPOSITING_MODE=1 (a diagnostic: how much of the time is
//                  WebKit's accelerated compositing, which under Xvfb runs on software OpenGL)
//   app (WebDriver), minibrowser (WebDriver): the same through tauri-driver and
//                  WebKitWebDriver, as the window tests start the app: session creation,
//                  the input displayed as WebDriver sees it, and the paint seen on the screen.
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { remote } from "webdriverio";
import { alive } from "../window/procs";
import { benchDir, fmt, freshWorld, machine, saveResult, Screen, shaderCache, sleep, stats } from "./common";
import { diffPixels, png, type Frame, X11 } from "./x11";

const here = dirname(fileURLToPath(import.meta.url));
const PAGE = `file://${join(here, "minimal.html")}`;
/** A frame "is" the settled screen when at most this many pixels differ (a caret is ~40). */
const SAME = 300;
/**
 * Rows not compared: MiniBrowser's toolbar (its URL bar shows a loading bar for ~0.4 s
 * after the page is on screen); the app's window is all page.
 */
const skipRows = (subject: string) => (subject.startsWith("minibrowser") ? 40 : 0);

interface Direct {
  /** ms from spawn: the first top-level window mapped, the first drawing, the screen painted. */
  mapped: number;
  firstDamage: number;
  painted: number;
  /** ms from spawn when the matching grab came back (painted ≤ this). */
  grabbed: number;
  grabs: number;
  watcherCpuMs: number;
  /** Every frame grabbed until the match: [ms from spawn of the damage before it, pixels differing from the settled screen]. */
  trace: Array<[number, number]>;
}

interface ViaDriver {
  /** From the window's own clock (Navigation/Paint Timing), ms from spawn. */
  page: Record<string, number>;
  session: number;
  navigated: number;
  displayed: number;
  painted: number;
  polls: number;
}

describe("cold start to the unlock screen", () => {
  const bench = inject("bench");
  const { display, driverPort } = inject("window");
  let x: X11;
  let screen: Screen;
  let blank: Frame;
  const refs: Record<string, Frame> = {};
  const direct: Record<string, Direct[]> = {
    app: [],
    minibrowser: [],
    "app-first-start": [],
    "app-no-compositing": [],
    "minibrowser-no-compositing": [],
  };
  const driven: Record<string, ViaDriver[]> = { app: [], minibrowser: [] };
  /** WebDriver sessions that could not be created (retried). */
  const failures: Array<{ subject: string; round: number; failed: string; after: number }> = [];
  const logDir = join(benchDir(), "logs");
  const machineStart = machine();

  beforeAll(async () => {
    mkdirSync(logDir, { recursive: true });
    x = await X11.open(display);
    await x.watchDamage();
    screen = new Screen(x);
    blank = await x.grab();
  });

  afterAll(() => {
    x?.close();
  });

  /** How to start a subject directly: command, args, env, and what to remove afterwards. */
  function start(subject: string): { cmd: string; args: string[]; env: NodeJS.ProcessEnv; root: string } {
    const base = subject.replace(/-no-compositing$|-first-start$/, "");
    let s: { cmd: string; args: string[]; env: NodeJS.ProcessEnv; root: string };
    if (base === "app") {
      const w = freshWorld(bench.fixture, "cold");
      s = { cmd: bench.app, args: [], env: { ...process.env, DISPLAY: display, ...w.env }, root: w.root };
    } else {
      const root = mkdtempSync(join(benchDir(), "run-mb-"));
      const env = {
        ...process.env,
        DISPLAY: display,
        NO_AT_BRIDGE: "1",
        XDG_DATA_HOME: join(root, "d"),
        XDG_CONFIG_HOME: join(root, "c"),
        XDG_CACHE_HOME: join(root, "k"),
      };
      s = { cmd: bench.miniBrowser!, args: ["--private", PAGE], env, root };
    }
    // A later start finds the shader cache the earlier ones left; a first start, none.
    if (subject.endsWith("-first-start")) delete s.env.MESA_SHADER_CACHE_DIR;
    else s.env.MESA_SHADER_CACHE_DIR = shaderCache(subject);
    if (subject.endsWith("-no-compositing")) s.env.WEBKIT_DISABLE_COMPOSITING_MODE = "1";
    return s;
  }

  async function stop(child: ChildProcess): Promise<void> {
    const pid = child.pid!;
    const exited = new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", () => r())));
    try {
      process.kill(-pid, "SIGTERM");
    } catch {
      /* gone */
    }
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        /* gone */
      }
      await exited;
    }
  }

  /** Waits until the screen is empty again (the last window closed). */
  async function blankAgain(): Promise<void> {
    await screen.waitFor((f) => diffPixels(f, blank) <= SAME, 15_000, "the screen to be empty again");
    await sleep(400);
  }

  async function launchDirect(subject: string, ref: Frame | null): Promise<{ child: ChildProcess; run: Direct | null; root: string }> {
    const s = start(subject);
    const log = openSync(join(logDir, `cold-${subject}.log`), "a");
    const maps = screen.maps.length;
    const grabs = screen.grabs;
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const child = spawn(s.cmd, s.args, { env: s.env, detached: true, stdio: ["ignore", log, log] });
    let run: Direct | null = null;
    if (ref) {
      const trace: Array<[number, number]> = [];
      const f = await screen.waitFor(
        (f) => {
          if (f.sent <= t0) return false;
          const d = diffPixels(f, ref, 24, skipRows(subject));
          trace.push([Math.round(f.lastDamage - t0), d]);
          return d <= SAME;
        },
        60_000,
        `${subject}'s settled screen`,
      );
      const c = process.cpuUsage(cpu);
      const map = screen.maps.slice(maps).find((m) => m.at >= t0);
      run = {
        mapped: (map?.at ?? NaN) - t0,
        firstDamage: screen.firstDamageAfter(t0) - t0,
        painted: f.lastDamage - t0,
        grabbed: f.received - t0,
        grabs: screen.grabs - grabs,
        watcherCpuMs: (c.user + c.system) / 1000,
        trace,
      };
    }
    return { child, run, root: s.root };
  }

  it("takes each subject's settled screen (not measured; warms the OS file cache)", async () => {
    const subjects = bench.miniBrowser
      ? ["app", "minibrowser", "app-first-start", "app-no-compositing", "minibrowser-no-compositing"]
      : ["app", "app-first-start", "app-no-compositing"];
    for (const subject of subjects) {
      await blankAgain();
      const { child, root } = await launchDirect(subject, null);
      await sleep(3000);
      const ref = await screen.settle();
      refs[subject] = ref;
      writeFileSync(join(benchDir(), `cold-start-${subject}.png`), png(ref));
      await stop(child);
      rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      // The settled screen is a window, not the empty screen.
      expect(diffPixels(ref, blank)).toBeGreaterThan(50_000);
    }
  });

  it("spawns the app and the floor directly, alternated", async () => {
    for (let i = 0; i < bench.runs; i++) {
      for (const subject of Object.keys(refs)) {
        await blankAgain();
        const { child, run, root } = await launchDirect(subject, refs[subject]!);
        direct[subject]!.push(run!);
        await sleep(300);
        await stop(child);
        rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      }
    }
  });

  /**
   * A wrapper script that records its pid (it `exec`s, so that is the program's pid) and
   * gives the program its environment, as the window tests' harness does for the app.
   */
  function wrapper(program: string, env: Record<string, string>, root: string, log: string): { path: string; pidFile: string } {
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const pidFile = join(root, "pid");
    const path = join(root, "start.sh");
    const lines = [
      "#!/bin/sh",
      `echo $$ > ${q(pidFile)}`,
      ...Object.entries({ ...env, DISPLAY: display }).map(([k, v]) => `export ${k}=${q(v)}`),
      `exec ${q(program)} "$@" 2>>${q(join(logDir, log))}`,
      "",
    ];
    writeFileSync(path, lines.join("\n"));
    chmodSync(path, 0o755);
    return { path, pidFile };
  }

  function readPid(file: string): number | undefined {
    try {
      const n = Number(readFileSync(file, "utf8").trim());
      return n > 0 ? n : undefined;
    } catch {
      return undefined;
    }
  }

  async function launchDriven(subject: string, ref: Frame): Promise<ViaDriver | { failed: string; after: number }> {
    let root: string;
    let wr: { path: string; pidFile: string };
    let args: string[] = [];
    if (subject === "app") {
      const w = freshWorld(bench.fixture, "cold-wd");
      root = w.root;
      wr = wrapper(bench.app, { ...w.env, MESA_SHADER_CACHE_DIR: shaderCache("app") }, w.root, "cold-app-webdriver.log");
    } else {
      root = mkdtempSync(join(benchDir(), "run-mb-wd-"));
      wr = wrapper(
        bench.miniBrowser!,
        {
          NO_AT_BRIDGE: "1",
          XDG_DATA_HOME: join(root, "d"),
          XDG_CONFIG_HOME: join(root, "c"),
          XDG_CACHE_HOME: join(root, "k"),
          MESA_SHADER_CACHE_DIR: shaderCache("minibrowser"),
        },
        root,
        "cold-minibrowser-webdriver.log",
      );
      args = ["--automation"];
    }
    const application = wr.path;
    const pidFile: string | null = wr.pidFile;
    const t0 = performance.now();
    const t0Epoch = performance.timeOrigin + t0;
    const painted = screen
      .waitFor((f) => f.sent > t0 && diffPixels(f, ref, 24, skipRows(subject)) <= SAME, 60_000, `${subject}'s settled screen`)
      .then((f) => f.lastDamage - t0)
      .catch(() => NaN); // under automation the screen may differ a little: then NaN
    let b: WebdriverIO.Browser;
    try {
      b = await remote({
        hostname: "127.0.0.1",
        port: driverPort,
        path: "/",
        logLevel: "error",
        connectionRetryTimeout: 60_000,
        connectionRetryCount: 0,
        capabilities: {
          "tauri:options": { application, args },
          "wdio:enforceWebDriverClassic": true,
        } as WebdriverIO.Capabilities,
      });
    } catch (e) {
      // Counted, not fatal: the app started but WebKitWebDriver got no browsing context.
      const pid = readPid(pidFile);
      if (pid && alive(pid)) process.kill(pid, "SIGKILL");
      rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
      return { failed: `${(e as Error).message}`.slice(0, 200), after: performance.now() - t0 };
    }
    const session = performance.now() - t0;
    let navigated = NaN;
    if (subject !== "app") {
      await b.url(PAGE);
      navigated = performance.now() - t0;
    }
    let polls = 0;
    for (;;) {
      polls++;
      const el = await b.$('[data-testid="unlock-passphrase"]');
      if ((await el.isExisting()) && (await el.isDisplayed())) break;
      if (performance.now() - t0 > 60_000) throw new Error(`${subject}: the passphrase input was not displayed within 60 s`);
    }
    const displayed = performance.now() - t0;
    // Where the time went, by the page's own clock (epoch ms, compared with the spawn).
    const marks = (await b.execute(() => {
      const n = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined;
      const out: Record<string, number> = { timeOrigin: performance.timeOrigin };
      if (n) {
        for (const k of ["fetchStart", "responseEnd", "domInteractive", "domContentLoadedEventEnd", "loadEventEnd"] as const) out[k] = n[k];
      }
      for (const p of performance.getEntriesByType("paint")) out[p.name] = p.startTime;
      return out;
    })) as Record<string, number>;
    const page: Record<string, number> = { navigationStart: marks.timeOrigin! - t0Epoch };
    for (const [k, v] of Object.entries(marks)) if (k !== "timeOrigin") page[k] = marks.timeOrigin! + v - t0Epoch;
    const paintedAt = await Promise.race([painted, sleep(5000).then(() => NaN)]);
    const pid = readPid(pidFile);
    await b.deleteSession().catch(() => {});
    if (pid) {
      const end = performance.now() + 15_000;
      while (alive(pid) && performance.now() < end) await sleep(100);
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
    rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    return { page, session, navigated, displayed, painted: paintedAt, polls };
  }

  it("starts the app and the floor through WebDriver, alternated", async () => {
    let inARow = 0;
    for (let i = 0; i < bench.runs && inARow < 4; i++) {
      for (const subject of Object.keys(refs).filter((s) => s === "app" || s === "minibrowser")) {
        for (;;) {
          try {
            await blankAgain();
          } catch (e) {
            failures.push({ subject, round: i, failed: `before the run: ${(e as Error).message}`, after: 0 });
            inARow = 4;
            break;
          }
          const r = await launchDriven(subject, refs[subject]!);
          if ("failed" in r) {
            failures.push({ subject, round: i, ...r });
            if (++inARow < 4) continue;
            break; // WebDriver is not usable any more: report what we have
          }
          inARow = 0;
          driven[subject]!.push(r);
          break;
        }
        if (inARow >= 4) break;
      }
    }
  });

  it("reports", () => {
    const S = (xs: number[]) => stats(xs);
    const lines: string[] = [];
    const summary: Record<string, unknown> = {};
    for (const [subject, runs] of Object.entries(direct)) {
      if (runs.length === 0) continue;
      const s = {
        mapped: S(runs.map((r) => r.mapped)),
        firstDamage: S(runs.map((r) => r.firstDamage)),
        painted: S(runs.map((r) => r.painted)),
        grabbedMinusPainted: S(runs.map((r) => r.grabbed - r.painted)),
        grabs: S(runs.map((r) => r.grabs)),
        watcherCpuMs: S(runs.map((r) => r.watcherCpuMs)),
      };
      summary[`direct:${subject}`] = s;
      lines.push(
        `direct ${subject}: window mapped ${fmt(s.mapped)}; first drawing ${fmt(s.firstDamage)}; ` +
          `settled screen painted ${fmt(s.painted)} [grab returned ${fmt(s.grabbedMinusPainted)} later]; ` +
          `watcher: ${fmt(s.grabs, "grabs")}, ${fmt(s.watcherCpuMs, "ms CPU")}`,
      );
    }
    for (const [a, m] of [
      ["app", "minibrowser"],
      ["app-no-compositing", "minibrowser-no-compositing"],
    ] as const) {
      const app = (direct[a] ?? []).map((r) => r.painted);
      const mb = (direct[m] ?? []).map((r) => r.painted);
      if (mb.length !== app.length || mb.length === 0) continue;
      const ratios = app.map((x, i) => x / mb[i]!);
      const diffs = app.map((x, i) => x - mb[i]!);
      summary[`ratio:${a}/${m}`] = { perRound: S(ratios), ofMedians: S(app).median / S(mb).median, extraMs: S(diffs) };
      lines.push(
        `${a} / ${m}, settled screen painted: ratio of medians ${(S(app).median / S(mb).median).toFixed(2)}x; per round ${fmt(S(ratios), "x")}; app − floor per round ${fmt(S(diffs))}`,
      );
    }
    for (const [subject, runs] of Object.entries(driven)) {
      if (runs.length === 0) continue;
      const s = {
        session: S(runs.map((r) => r.session)),
        navigated: S(runs.map((r) => r.navigated)),
        displayed: S(runs.map((r) => r.displayed)),
        painted: S(runs.map((r) => r.painted)),
        displayedMinusPainted: S(runs.map((r) => r.displayed - r.painted)),
        polls: S(runs.map((r) => r.polls)),
      };
      const pageKeys = [...new Set(runs.flatMap((r) => Object.keys(r.page)))];
      const page = Object.fromEntries(pageKeys.map((k) => [k, S(runs.map((r) => r.page[k] ?? NaN))]));
      summary[`webdriver:${subject}`] = { ...s, page };
      lines.push(
        `WebDriver ${subject}: session created ${fmt(s.session)}; ` +
          (subject === "app" ? "" : `page loaded (url) ${fmt(s.navigated)}; `) +
          `input displayed per WebDriver ${fmt(s.displayed)}; painted per screen ${fmt(s.painted)}; ` +
          `WebDriver saw it ${fmt(s.displayedMinusPainted)} after the paint (${fmt(s.polls, "polls")}); ` +
          `page clock, ms from spawn: ${Object.entries(page)
            .map(([k, v]) => `${k} ${fmt(v)}`)
            .join("; ")}`,
      );
    }
    if (failures.length > 0) {
      lines.push(
        `WebDriver sessions that failed and were retried: ${failures.length} (${failures.map((f) => `${f.subject} round ${f.round + 1} after ${f.after.toFixed(0)} ms: ${f.failed.split(" when running")[0]}`).join("; ")})`,
      );
    }
    const file = saveResult("cold-start", {
      failures,
      machineAtStart: machineStart,
      machineAtEnd: machine(),
      app: { path: bench.appSource, bytes: bench.appBytes, modified: bench.appModified },
      miniBrowser: bench.miniBrowser,
      runs: bench.runs,
      sameThresholdPx: SAME,
      summary,
      direct,
      driven,
    });
    console.log(
      [
        `==== cold start (${bench.runs} rounds; load ${machineStart.loadavg.join(" ")} → ${machine().loadavg.join(" ")}; nproc ${machineStart.nproc})`,
        ...lines,
        `(${file})`,
      ].join("\n"),
    );
  });
});
