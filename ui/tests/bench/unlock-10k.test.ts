/// <reference types="node" />
// A twin with 10,000 records (the fixture, see global-setup.ts): unlock → My twin painted;
// Records: navigate → first rows painted; scroll the list to the bottom → last row painted;
// and one screen at a time through the list. Timed inside the window (performance.now()
// from the click to the element's first layout, then the next two animation frames: the
// second one runs once the frame showing the element has been produced), so WebDriver's
// round trips are not in the numbers. The floor, in the same round: the backend's own time
// for the same commands (`bench_fixture floor`: Argon2id + unlock + view::twin, records +
// agencies, each with its JSON), alternated with the app round by round. Results:
// test-output/bench/unlock-10k.json; nothing asserts on time.
import { execFile } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, inject, it } from "vitest";
import { heading, shown, Twin, type, type Browser } from "../window/harness";
import { benchDir, fmt, machine, quantile, saveResult, stats } from "./common";

const run = promisify(execFile);
/** The fixture's passphrase (src-tauri/examples/bench_fixture.rs, PASSPHRASE). */
const PASSPHRASE = "bench fixture ten thousand records";
/** Screens scrolled one at a time through the list, from the top. */
const PAGE_STEPS = 60;

type Action = { kind: "click"; selector: string } | { kind: "nav"; label: string } | { kind: "scroll"; selector: string; to: number | "bottom" };
interface Wait {
  selector: string;
  text?: string;
  inView?: boolean;
}
type Timing = { ok: true; dom: number; frame: number; painted: number } | { ok: false; after: number };

/**
 * In the window: does `action`, then waits until, for each of `waits`, an element matching
 * it is laid out (non-empty box; in the viewport if `inView`; containing `text` if given).
 * Times are ms from the action, per wait: `dom` when a DOM mutation made it true, `frame`
 * at the next animation frame (before that frame is painted), `painted` at the one after
 * (the frame showing it has been produced).
 */
async function act(b: Browser, action: Action, waits: Wait[], timeout = 120_000): Promise<Timing[]> {
  return (await b.executeAsync(
    (action: Action, waits: Wait[], timeout: number, done: (r: Timing[]) => void) => {
      const t0 = performance.now();
      const seen = (wait: Wait) => {
        for (const el of Array.from(document.querySelectorAll(wait.selector))) {
          const r = el.getBoundingClientRect();
          if (r.width === 0 || r.height === 0) continue;
          if (wait.inView && (r.bottom <= 0 || r.top >= window.innerHeight)) continue;
          if (wait.text && !(el.textContent ?? "").includes(wait.text)) continue;
          return true;
        }
        return false;
      };
      const out: Array<Timing | null> = waits.map(() => null);
      let pending = waits.length;
      let over = false;
      const settle = () => {
        if (over) return;
        waits.forEach((w, k) => {
          if (out[k] !== null || !seen(w)) return;
          const dom = performance.now();
          out[k] = { ok: false, after: -1 }; // placeholder until its frames are in
          requestAnimationFrame(() => {
            const frame = performance.now();
            requestAnimationFrame(() => {
              out[k] = { ok: true, dom: dom - t0, frame: frame - t0, painted: performance.now() - t0 };
              if (--pending === 0) end();
            });
          });
        });
      };
      const obs = new MutationObserver(settle);
      const timer = setTimeout(() => {
        if (over) return;
        end(true);
      }, timeout);
      function end(timedOut = false) {
        over = true;
        obs.disconnect();
        clearTimeout(timer);
        done(out.map((o) => (o && !timedOut ? o : (o ?? { ok: false, after: performance.now() - t0 }))));
      }
      obs.observe(document.documentElement, { childList: true, subtree: true, attributes: true, characterData: true });
      if (action.kind === "click") {
        document.querySelector<HTMLElement>(action.selector)!.click();
      } else if (action.kind === "nav") {
        Array.from(document.querySelectorAll<HTMLElement>("nav button"))
          .find((e) => (e.textContent ?? "").trim() === action.label)!
          .click();
      } else {
        const v = document.querySelector<HTMLElement>(action.selector)!;
        v.scrollTop = action.to === "bottom" ? v.scrollHeight : action.to;
      }
      settle();
    },
    action,
    waits,
    timeout,
  )) as Timing[];
}

/** In the window: scrolls the list one screen at a time; per step, ms until the new top row is painted. */
async function pageThrough(b: Browser, steps: number): Promise<{ rowHeight: number; viewport: number; steps: number[]; rowsInDom: number[] }> {
  return (await b.executeAsync((steps: number, done: (r: { rowHeight: number; viewport: number; steps: number[]; rowsInDom: number[] }) => void) => {
    const v = document.querySelector<HTMLElement>('[data-testid="records-list"]')!;
    const first = v.querySelector<HTMLElement>("[data-vrow]")!;
    const rowHeight = first.getBoundingClientRect().height;
    const out: number[] = [];
    const rowsInDom: number[] = [];
    v.scrollTop = 0;
    let i = 0;
    const step = () => {
      if (i >= steps) {
        done({ rowHeight, viewport: v.clientHeight, steps: out, rowsInDom });
        return;
      }
      i++;
      const to = i * v.clientHeight;
      const want = String(Math.floor(to / rowHeight));
      const t0 = performance.now();
      v.scrollTop = to;
      const check = () => {
        const el = v.querySelector<HTMLElement>(`[data-vrow="${want}"]`);
        if (el) {
          requestAnimationFrame(() =>
            requestAnimationFrame(() => {
              out.push(performance.now() - t0);
              rowsInDom.push(v.querySelectorAll("[data-vrow]").length);
              step();
            }),
          );
        } else requestAnimationFrame(check);
      };
      check();
    };
    requestAnimationFrame(() => requestAnimationFrame(step));
  }, steps)) as { rowHeight: number; viewport: number; steps: number[]; rowsInDom: number[] };
}

/**
 * The floor of `pageThrough`, in the same window: the list's first rows copied (same
 * markup, same scoped styles) into a plain scrolling box of the same size, `rows` of
 * them, nothing virtual and nothing reactive; scrolled one screen at a time the same way.
 * The virtual list is hidden meanwhile and everything is put back afterwards.
 */
async function pageThroughStatic(b: Browser, steps: number, rows: number): Promise<number[]> {
  return (await b.executeAsync(
    (steps: number, rows: number, done: (r: number[]) => void) => {
      const v = document.querySelector<HTMLElement>('[data-testid="records-list"]')!;
      const samples = Array.from(v.querySelectorAll<HTMLElement>("[data-vrow]")).slice(0, 8);
      const rowHeight = samples[0]!.getBoundingClientRect().height;
      const box = document.createElement("div");
      box.className = v.className;
      box.style.height = `${v.clientHeight}px`;
      box.style.overflowY = "auto";
      box.style.position = "relative";
      for (let k = 0; k < rows; k++) {
        const r = samples[k % samples.length]!.cloneNode(true) as HTMLElement;
        r.removeAttribute("data-vrow");
        r.removeAttribute("data-testid");
        r.style.position = "static";
        r.style.transform = "none";
        r.style.height = `${rowHeight}px`;
        box.appendChild(r);
      }
      v.style.display = "none";
      v.parentElement!.insertBefore(box, v);
      const out: number[] = [];
      let i = 0;
      const step = () => {
        if (i >= steps) {
          box.remove();
          v.style.display = "";
          done(out);
          return;
        }
        i++;
        const t0 = performance.now();
        box.scrollTop = i * box.clientHeight;
        requestAnimationFrame(() =>
          requestAnimationFrame(() => {
            out.push(performance.now() - t0);
            step();
          }),
        );
      };
      requestAnimationFrame(() => requestAnimationFrame(step));
    },
    steps,
    rows,
  )) as number[];
}

/** In the window: round trips of commands through Tauri's IPC (answer parsed), ms each. */
async function ipc(b: Browser, command: string, times: number): Promise<{ ms: number[]; items: number }> {
  const r = (await b.executeAsync(
    (command: string, times: number, done: (r: unknown) => void) => {
      const w = window as unknown as { __TAURI_INTERNALS__?: { invoke: (c: string, a?: object) => Promise<unknown> } };
      const invoke = w.__TAURI_INTERNALS__?.invoke;
      if (!invoke) {
        done({ error: "no __TAURI_INTERNALS__ in the page" });
        return;
      }
      const ms: number[] = [];
      let items = 0;
      const one = (k: number): Promise<void> => {
        if (k >= times) return Promise.resolve();
        const t0 = performance.now();
        return invoke(command).then((r) => {
          ms.push(performance.now() - t0);
          items = Array.isArray(r) ? r.length : 1;
          return one(k + 1);
        });
      };
      one(0).then(
        () => done({ ms, items }),
        (e: unknown) => done({ error: String(e) }),
      );
    },
    command,
    times,
  )) as { ms: number[]; items: number } | { error: string };
  if ("error" in r) throw new Error(`invoke ${command} in the window: ${r.error}`);
  return r;
}

interface Round {
  round: number;
  /** "default", or "no-compositing" (WEBKIT_DISABLE_COMPOSITING_MODE=1: a diagnostic). */
  mode: string;
  floor: Record<string, number>;
  unlockH1: Timing;
  unlockField: Timing;
  recordsH1: Timing;
  recordsFirstRow: Timing;
  recordsCount: string;
  rowsInDom: number;
  scrollBottom: Timing;
  pages: { rowHeight: number; viewport: number; steps: number[]; rowsInDom: number[] };
  /** The same steps through a plain, non-virtual box of copied rows (the floor). */
  staticPages: number[];
  ipc: Record<string, { ms: number[]; items: number }>;
}

const MODES = ["default", "no-compositing"] as const;

/** The app with WEBKIT_DISABLE_COMPOSITING_MODE=1: a script the harness's wrapper execs. */
function noCompositing(app: string): string {
  const path = join(benchDir(), "app-no-compositing.sh");
  writeFileSync(path, `#!/bin/sh\nexport WEBKIT_DISABLE_COMPOSITING_MODE=1\nexec '${app.replace(/'/g, `'\\''`)}' "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

function summarise(rounds: Round[]) {
  const S = (f: (r: Round) => number) => stats(rounds.map(f));
  const t = (x: Timing, k: "dom" | "frame" | "painted") => (x.ok ? x[k] : NaN);
  return {
    floor: {
      argon2id: S((r) => r.floor.argon2id_ms!),
      unlockWithKey: S((r) => r.floor.unlock_with_key_ms!),
      twin: S((r) => r.floor.twin_ms!),
      unlockPlusTwin: S((r) => r.floor.unlock_ms! + r.floor.twin_ms!),
      records: S((r) => r.floor.records_ms!),
      recordsWithoutJson: S((r) => r.floor.records_without_json_ms!),
      agencies: S((r) => r.floor.agencies_ms!),
      recordsJsonBytes: S((r) => r.floor.records_json_bytes!),
    },
    app: {
      unlockH1: { dom: S((r) => t(r.unlockH1, "dom")), painted: S((r) => t(r.unlockH1, "painted")) },
      unlockField: { dom: S((r) => t(r.unlockField, "dom")), painted: S((r) => t(r.unlockField, "painted")) },
      recordsH1: { painted: S((r) => t(r.recordsH1, "painted")) },
      recordsFirstRow: { dom: S((r) => t(r.recordsFirstRow, "dom")), painted: S((r) => t(r.recordsFirstRow, "painted")) },
      scrollBottom: { dom: S((r) => t(r.scrollBottom, "dom")), painted: S((r) => t(r.scrollBottom, "painted")) },
      pageStepMedian: S((r) => stats(r.pages.steps).median),
      pageStepP95: S((r) => quantile(r.pages.steps, 0.95)),
      pageStepMax: S((r) => stats(r.pages.steps).max),
      staticStepMedian: S((r) => stats(r.staticPages).median),
      staticStepP95: S((r) => quantile(r.staticPages, 0.95)),
      rowsInDom: S((r) => r.rowsInDom),
      ipcRecords: S((r) => stats(r.ipc.records?.ms ?? []).median),
      ipcTwin: S((r) => stats(r.ipc.twin?.ms ?? []).median),
      ipcAppInfo: S((r) => stats(r.ipc.app_info?.ms ?? []).median),
    },
    windowAdds: {
      unlockToField: S((r) => t(r.unlockField, "painted") - (r.floor.unlock_ms! + r.floor.twin_ms!)),
      recordsToFirstRow: S((r) => t(r.recordsFirstRow, "painted") - r.floor.records_ms!),
      ipcRecordsOverFloor: S((r) => stats(r.ipc.records?.ms ?? []).median - r.floor.records_ms!),
      firstRowsAfterIpc: S((r) => t(r.recordsFirstRow, "painted") - stats(r.ipc.records?.ms ?? []).median),
    },
  };
}

function lines(mode: string, s: ReturnType<typeof summarise>): string[] {
  const f = s.floor;
  const a = s.app;
  const w = s.windowAdds;
  return [
    `-- ${mode}`,
    `floor: Argon2id ${fmt(f.argon2id)}; unlock_with_key ${fmt(f.unlockWithKey)}; view::twin+JSON ${fmt(f.twin)}; records()+JSON ${fmt(f.records)} (without JSON ${fmt(f.recordsWithoutJson)}; ${fmt(f.recordsJsonBytes, "B")}); agencies ${fmt(f.agencies)}`,
    `unlock → "My twin" h1: dom ${fmt(a.unlockH1.dom)}, painted ${fmt(a.unlockH1.painted)}`,
    `unlock → first field row with its value: dom ${fmt(a.unlockField.dom)}, painted ${fmt(a.unlockField.painted)}; floor (unlock + twin) ${fmt(f.unlockPlusTwin)}; window adds ${fmt(w.unlockToField)}`,
    `Records → h1 painted ${fmt(a.recordsH1.painted)}; first rows: dom ${fmt(a.recordsFirstRow.dom)}, painted ${fmt(a.recordsFirstRow.painted)}; floor (records+JSON) ${fmt(f.records)}; window adds ${fmt(w.recordsToFirstRow)}; rows in the DOM ${fmt(a.rowsInDom, "")}`,
    `scroll to the bottom → last row: dom ${fmt(a.scrollBottom.dom)}, painted ${fmt(a.scrollBottom.painted)}`,
    `one screen at a time (${PAGE_STEPS} steps): median step ${fmt(a.pageStepMedian)}; p95 ${fmt(a.pageStepP95)}; max ${fmt(a.pageStepMax)}; ` +
      `floor (plain box of 600 copied rows, same window): median ${fmt(a.staticStepMedian)}, p95 ${fmt(a.staticStepP95)}`,
    `IPC round trip in the window (invoke + JSON parse): records ${fmt(a.ipcRecords)} (over the floor: ${fmt(w.ipcRecordsOverFloor)}; first rows painted minus it: ${fmt(w.firstRowsAfterIpc)}); twin ${fmt(a.ipcTwin)}; app_info ${fmt(a.ipcAppInfo)}`,
  ];
}

describe(`a twin with ${inject("bench").records} records`, () => {
  const bench = inject("bench");
  const rounds: Round[] = [];
  /** Every round's floor, also when the window could not be measured. */
  const floors: Array<{ round: number; mode: string; floor: Record<string, number> }> = [];
  /** Why the window could not be driven (WebDriver), if it could not. */
  let noDriver: string | null = null;
  const machineStart = machine();
  const last = String(bench.records - 1);

  afterAll(() => {
    const summary = Object.fromEntries(MODES.map((m) => [m, summarise(rounds.filter((r) => r.mode === m))]));
    const floorAll = (k: string) => stats(floors.map((f) => f.floor[k]!));
    const floorSummary = Object.fromEntries(
      ["argon2id_ms", "unlock_with_key_ms", "unlock_ms", "twin_ms", "agencies_ms", "records_ms", "records_without_json_ms"].map((k) => [
        k,
        floorAll(k),
      ]),
    );
    const file = saveResult("unlock-10k", {
      machineAtStart: machineStart,
      machineAtEnd: machine(),
      app: {
        path: bench.appSource,
        bytes: bench.appBytes,
        modified: bench.appModified,
        note: "under WebDriver the app makes its window non-incognito (src-tauri/src/lib.rs, main_window)",
      },
      fixture: bench.fixtureReport,
      records: bench.records,
      noDriver,
      floorSummary,
      summary,
      floors,
      rounds,
    });
    console.log(
      [
        `==== ${bench.records} records (${bench.runs} rounds × ${MODES.join(", ")}; load ${machineStart.loadavg.join(" ")} → ${machine().loadavg.join(" ")}; nproc ${machineStart.nproc})`,
        `fixture: ${JSON.stringify(bench.fixtureReport)}`,
        `floor, all ${floors.length} rounds: ${Object.entries(floorSummary)
          .map(([k, v]) => `${k} ${fmt(v)}`)
          .join("; ")}`,
        ...(noDriver ? [`window not measured: ${noDriver}`] : MODES.flatMap((m) => lines(m, summary[m]!))),
        `(${file})`,
      ].join("\n"),
    );
  });

  // Round 0 warms up (the OS file cache, the shader cache: see shaderCache in common.ts)
  // and is not counted.
  for (let i = 0; i <= bench.runs; i++) {
    for (const mode of MODES) {
      it(i === 0 ? `warm-up, ${mode} (not counted)` : `round ${i}, ${mode}: the floor, then the app`, async () => {
        // The floor: the backend alone, in its own process, on its own copy.
        const { stdout } = await run(bench.fixtureBin, ["floor", bench.fixture, "--runs", "1"], { maxBuffer: 16 << 20 });
        const line = stdout.split("\n").find((l) => l.startsWith("BENCH_FLOOR "));
        if (!line) throw new Error(`bench_fixture floor printed no BENCH_FLOOR line:\n${stdout}`);
        const floor = JSON.parse(line.slice("BENCH_FLOOR ".length)) as Record<string, number>;
        expect(floor.verified).toBe(bench.records);

        if (i > 0) floors.push({ round: i, mode, floor });
        if (noDriver) return; // reported once, below

        // The app, over WebDriver (the harness's Twin: its environment, its wrapper).
        process.env.APP = mode === "default" ? bench.app : noCompositing(bench.app);
        const twin = new Twin({ name: `bench-10k-${i}-${mode}`, agency: false });
        mkdirSync(dirname(twin.vault), { recursive: true });
        cpSync(bench.fixture, twin.vault, { recursive: true });
        try {
          let b: Browser;
          try {
            b = await twin.open();
          } catch (e) {
            // Not this benchmark's to fix (see the window tests' harness): keep the floors,
            // say why the window was not measured, and stop trying.
            noDriver = String((e as Error).message)
              .split("\n")[0]!
              .slice(0, 300);
            console.log(`[bench] no WebDriver session, so the window is not measured: ${noDriver}`);
            return;
          }
          expect(await heading(b)).toBe("Unlock your twin");
          await b.setTimeout({ script: 300_000 });
          await type(b, "unlock-passphrase", PASSPHRASE);
          await shown(b, "unlock-button");

          // Unlock → My twin: its heading, then the first field with its value.
          const [unlockH1, unlockField] = await act(b, { kind: "click", selector: '[data-testid="unlock-button"]' }, [
            { selector: "main h1", text: "My twin" },
            { selector: '[data-testid="value-personal.full_name"]', text: "Alexandra" },
          ]);
          // Records: navigate → its heading, then the first rows of the list.
          const [recordsH1, recordsFirstRow] = await act(b, { kind: "nav", label: "Records" }, [
            { selector: "main h1", text: "Records" },
            { selector: '[data-testid="records-list-row"]', inView: true },
          ]);
          const recordsCount = (await b.$('[data-testid="records-count"]').getText()).trim();
          const rowsInDom = (await b.execute(() => document.querySelectorAll('[data-testid="records-list-row"]').length)) as number;
          if (i === 1 && mode === "default") await twin.screenshot("records-top");

          // Scroll to the bottom → the last row.
          const [scrollBottom] = await act(b, { kind: "scroll", selector: '[data-testid="records-list"]', to: "bottom" }, [
            { selector: `[data-vrow="${last}"]`, inView: true },
          ]);
          if (i === 1 && mode === "default") await twin.screenshot("records-bottom", `[data-vrow="${last}"]`);
          const pages = await pageThrough(b, PAGE_STEPS);
          const staticPages = await pageThroughStatic(b, PAGE_STEPS, 600);

          const ipcTimes: Round["ipc"] = {
            app_info: await ipc(b, "app_info", 5),
            twin: await ipc(b, "twin", 3),
            records: await ipc(b, "records", 1),
          };
          if (i > 0)
            rounds.push({
              round: i,
              mode,
              floor,
              unlockH1: unlockH1!,
              unlockField: unlockField!,
              recordsH1: recordsH1!,
              recordsFirstRow: recordsFirstRow!,
              recordsCount,
              rowsInDom,
              scrollBottom: scrollBottom!,
              pages,
              staticPages,
              ipc: ipcTimes,
            });
          expect(recordsCount).toContain(`${bench.records} records`);
        } finally {
          await twin.dispose();
        }
      });
    }
  }
});
