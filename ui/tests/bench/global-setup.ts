/// <reference types="node" />
// The desktop app's benchmarks (docs/benchmarks.md, "Desktop app"): started once for the
// run. A virtual display (Xvfb) and tauri-driver, as for the window tests (startXvfb and
// startDriver are copied from ../window/global-setup.ts, which requires the agency and the
// command line too), then the fixture: a vault with a full twin and 10,000 signed records,
// built by the `bench_fixture` example (src-tauri/examples/bench_fixture.rs).
//
// Env in:  APP (the app binary, as `make app` builds it), FIXTURE_BIN (the bench_fixture
//          example, same profile);
//          optionally BENCH_RUNS (rounds, default 7), BENCH_RECORDS (default 10000),
//          MINIBROWSER (WebKitGTK's MiniBrowser, the floor of the cold start; default: the
//          one webkit2gtk-4.1 installs), TAURI_DRIVER.
// Provided to the tests (inject): "window" (the harness's: display, driverPort) and "bench".
import { execFileSync, type ChildProcess } from "node:child_process";
import {
  accessSync,
  chmodSync,
  constants,
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { findTauriDriver, startDriver, startXvfb, type WindowInfra } from "../window/global-setup";
import { killGroup } from "../window/procs";
import { benchDir, machine, shaderCache, type BenchInfo } from "./common";

declare module "vitest" {
  export interface ProvidedContext {
    bench: BenchInfo;
  }
}

function need(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set. Run the benchmarks with \`make bench-app\` (it builds the app and the fixture example and sets APP and FIXTURE_BIN).`,
    );
  }
  const p = resolve(v);
  try {
    accessSync(p, constants.X_OK);
  } catch {
    throw new Error(`${name}=${p} is not an executable file.`);
  }
  return p;
}

/**
 * The binary as it is now: a hard link in test-output/bench (a copy if linking fails), so
 * that a build finishing during the run cannot swap it under us (the linker and cargo put
 * a new file in place; the link keeps the old one), without copying 500 MB.
 */
function snapshot(app: string, dir: string, name: string): string {
  const out = join(dir, name);
  rmSync(out, { force: true });
  try {
    linkSync(app, out);
  } catch {
    copyFileSync(app, out);
    chmodSync(out, 0o755);
  }
  return out;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const appBin = need("APP");
  const fixtureBin = need("FIXTURE_BIN");
  const driverBin = findTauriDriver();
  const dir = benchDir();
  const logs = join(dir, "logs");
  mkdirSync(logs, { recursive: true });
  const runs = Number(process.env.BENCH_RUNS ?? 7);
  const records = Number(process.env.BENCH_RECORDS ?? 10_000);
  const miniBrowser = process.env.MINIBROWSER ?? "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";

  // The app as it is now, before the fixture takes its half-minute.
  const app = snapshot(appBin, dir, "app-under-test");
  // Shader caches start empty; each test warms its own before measuring (see shaderCache).
  rmSync(join(dir, "mesa-cache"), { recursive: true, force: true });
  for (const old of readdirSync(dir)) if (old.startsWith("run-")) rmSync(join(dir, old), { recursive: true, force: true });
  // The app started over WebDriver (tauri-driver → WebKitWebDriver → the harness's wrapper)
  // inherits this.
  process.env.MESA_SHADER_CACHE_DIR = shaderCache("webdriver");
  // The fixture, built fresh (its build time is one of the results).
  const fixture = join(dir, `fixture-${records}`);
  rmSync(fixture, { recursive: true, force: true });
  const started = performance.now();
  const out = execFileSync(fixtureBin, ["build", fixture, "--records", String(records)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 16 << 20,
  });
  const line = out.split("\n").find((l) => l.startsWith("BENCH_FIXTURE "));
  if (!line) throw new Error(`bench_fixture build printed no BENCH_FIXTURE line:\n${out}`);
  const fixtureReport = JSON.parse(line.slice("BENCH_FIXTURE ".length)) as Record<string, number>;
  fixtureReport.wall_ms = performance.now() - started;

  const info: BenchInfo = {
    app,
    appSource: appBin,
    appBytes: statSync(appBin).size,
    appModified: statSync(appBin).mtime.toISOString(),
    fixtureBin,
    fixture,
    fixtureReport,
    records,
    runs,
    miniBrowser: existsSync(miniBrowser) ? miniBrowser : null,
    machineAtStart: machine(),
  };
  writeFileSync(join(dir, "setup.json"), JSON.stringify(info, null, 2));

  const xvfb = await startXvfb(join(logs, "xvfb.log"));
  let driver: { proc: ChildProcess; port: number } | null = null;
  try {
    driver = await startDriver(driverBin, xvfb.display, join(logs, "tauri-driver.log"));
  } catch (e) {
    killGroup(xvfb.proc.pid);
    throw e;
  }
  const window: WindowInfra = { display: xvfb.display, driverPort: driver.port };
  project.provide("window", window);
  project.provide("bench", info);

  return async () => {
    if (driver) killGroup(driver.proc.pid, "SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    killGroup(xvfb.proc.pid, "SIGTERM");
    if (process.env.BENCH_KEEP !== "1") {
      rmSync(fixture, { recursive: true, force: true });
      for (const old of readdirSync(dir))
        if (old.startsWith("run-")) rmSync(join(dir, old), { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
    }
    rmSync(app, { force: true });
  };
}
