/// <reference types="node" />
// Shared by the desktop app's benchmarks: where results go, the machine's facts, medians,
// fresh copies of the fixture, and `Screen`, which sees when the window paints.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem, availableParallelism } from "node:os";
import { join } from "node:path";
import { outputDir } from "../window/procs";
import { diffPixels, type Frame, type X11 } from "./x11";

export interface BenchInfo {
  /** The app binary measured (a hard link to APP taken at the start of the run). */
  app: string;
  appSource: string;
  appBytes: number;
  appModified: string;
  fixtureBin: string;
  /** The fixture vault; copy it before use (an unlock writes to it). */
  fixture: string;
  fixtureReport: Record<string, number>;
  records: number;
  runs: number;
  miniBrowser: string | null;
  machineAtStart: Machine;
}

export interface Machine {
  at: string;
  nproc: number;
  cpu: string;
  loadavg: number[];
  kernel: string;
  memGiB: number;
  node: string;
  webkitgtk: string;
}

/** ui/test-output/bench. */
export function benchDir(): string {
  const d = join(outputDir(), "bench");
  mkdirSync(d, { recursive: true });
  return d;
}

export function machine(): Machine {
  let webkitgtk = "unknown";
  try {
    webkitgtk = execFileSync("dpkg-query", ["-W", "-f", "${Version}", "libwebkit2gtk-4.1-0"], { encoding: "utf8" }).trim();
  } catch {
    /* not a Debian system */
  }
  return {
    at: new Date().toISOString(),
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? "unknown",
    loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
    kernel: release(),
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    webkitgtk,
  };
}

export interface Stats {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function stats(xs: number[]): Stats {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const n = v.length;
  if (n === 0) return { n, median: NaN, min: NaN, max: NaN };
  const median = n % 2 ? v[(n - 1) / 2]! : (v[n / 2 - 1]! + v[n / 2]!) / 2;
  return { n, median, min: v[0]!, max: v[n - 1]! };
}

export function quantile(xs: number[], q: number): number {
  const v = [...xs].sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v[Math.min(v.length - 1, Math.floor(q * v.length))]!;
}

/** "812 ms (745–901)". */
export function fmt(s: Stats, unit = "ms"): string {
  const r = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(1));
  return `${r(s.median)} ${unit} (${r(s.min)}–${r(s.max)}, n=${s.n})`;
}

/**
 * A Mesa shader cache kept across runs (MESA_SHADER_CACHE_DIR). Under Xvfb WebKit
 * composites with Mesa's software OpenGL, which compiles its shaders on first use and keeps
 * them in XDG_CACHE_HOME/mesa_shader_cache: empty on a first start, warm on every later one.
 * Each subject gets its own; global-setup.ts empties them all at the start of a run.
 */
export function shaderCache(name: string): string {
  const d = join(benchDir(), "mesa-cache", name);
  mkdirSync(d, { recursive: true });
  return d;
}

/** Writes test-output/bench/<name>.json and returns its path. */
export function saveResult(name: string, data: unknown): string {
  const f = join(benchDir(), `${name}.json`);
  writeFileSync(f, JSON.stringify(data, null, 2));
  return f;
}

/** A fresh folder with a copy of the fixture vault and empty XDG folders. */
export function freshWorld(fixture: string, name: string): { root: string; vault: string; env: Record<string, string> } {
  const root = mkdtempSync(join(benchDir(), `run-${name}-`));
  const vault = join(root, "vault");
  cpSync(fixture, vault, { recursive: true });
  const xdg = { data: join(root, "xdg", "data"), config: join(root, "xdg", "config"), cache: join(root, "xdg", "cache") };
  for (const d of Object.values(xdg)) mkdirSync(d, { recursive: true });
  return {
    root,
    vault,
    env: {
      TWIN_VAULT: vault,
      TWIN_SANDBOX: "1",
      XDG_DATA_HOME: xdg.data,
      XDG_CONFIG_HOME: xdg.config,
      XDG_CACHE_HOME: xdg.cache,
      NO_AT_BRIDGE: "1",
    },
  };
}

/** CPU time (user + system, ms) a process and its waited-for children used so far. */
export function cpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
    // utime, stime are fields 14 and 15 (1-based) of the whole line: 12 and 13 here.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Watches the screen through X11 DAMAGE events: on each, it empties the damage and grabs
 * the screen (one grab at a time; damage during a grab makes one more grab after it). A
 * waiter is given every grabbed frame until its test passes. No polling: between paints,
 * nothing runs.
 */
export class Screen {
  private busy = false;
  private again = false;
  private waiters: Array<(f: Frame) => void> = [];
  grabs = 0;
  maps: Array<{ window: number; at: number }> = [];
  last: Frame | null = null;

  constructor(readonly x: X11) {
    x.onDamage = (id) => {
      x.repair(id);
      void this.kick();
    };
    x.onMap = (window) => this.maps.push({ window, at: performance.now() });
  }

  /** Grabs the screen now (and gives the frame to the waiters). */
  async kick(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      do {
        this.again = false;
        const f = await this.x.grab();
        this.grabs++;
        this.last = f;
        for (const w of [...this.waiters]) w(f);
      } while (this.again);
    } finally {
      this.busy = false;
    }
  }

  /** The first frame (from now) for which `test` holds. */
  waitFor(test: (f: Frame) => boolean, timeout: number, what: string): Promise<Frame> {
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        fail(new Error(`timed out after ${timeout} ms waiting for ${what}`));
      }, timeout);
      const check = (f: Frame) => {
        if (test(f)) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== check);
          ok(f);
        }
      };
      this.waiters.push(check);
      void this.kick();
    });
  }

  /** Waits until two grabs `gap` ms apart differ by at most `tolerance` pixels; returns the second. */
  async settle(gap = 800, tolerance = 200, timeout = 30_000): Promise<Frame> {
    const end = performance.now() + timeout;
    let prev = await this.x.grab();
    for (;;) {
      await sleep(gap);
      const f = await this.x.grab();
      if (diffPixels(prev, f) <= tolerance) return f;
      if (performance.now() > end) throw new Error(`the screen did not settle within ${timeout} ms`);
      prev = f;
    }
  }

  /** The time of the first damage event after `t` (NaN if none). */
  firstDamageAfter(t: number): number {
    return this.x.damageTimes.find((d) => d > t) ?? NaN;
  }
}
