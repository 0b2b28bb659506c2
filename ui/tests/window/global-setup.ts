/// <reference types="node" />
// The window tests' shared infrastructure, started once for the whole run: a virtual
// display (Xvfb, on a display number it picks itself) and tauri-driver (which starts
// WebKitWebDriver, which starts the app for each WebDriver session). Each test file then
// starts its own sandbox agency and app session (see harness.ts).
//
// Env in:  APP, AGENCY_BIN, TWIN_BIN (see the Makefile's window-test target);
//          optionally TAURI_DRIVER (path), WINDOW_KEEP=1 (keep temp folders for inspection).
// Provided to the tests (inject): "window" → { display, driverPort }.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, openSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { Fatal, freePort, killGroup, outputDir, waitFor } from "./procs";

export interface WindowInfra {
  display: string;
  driverPort: number;
}

declare module "vitest" {
  export interface ProvidedContext {
    window: WindowInfra;
  }
}

function need(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set. Run the window tests with \`make window-test\` (it builds the app and ` +
        `sets APP, AGENCY_BIN and TWIN_BIN), or set them yourself.`,
    );
  }
  const p = resolve(v);
  try {
    accessSync(p, constants.X_OK);
  } catch {
    throw new Error(`${name}=${p} is not an executable file. Build it first (make app; cargo build -p twin-agency -p twin-cli).`);
  }
  return p;
}

export function findTauriDriver(): string {
  const candidates = [process.env.TAURI_DRIVER, join(homedir(), ".cargo", "bin", "tauri-driver")];
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir) candidates.push(join(dir, "tauri-driver"));
  for (const c of candidates) if (c && existsSync(c)) return c;
  throw new Error("tauri-driver is not installed: cargo install tauri-driver --version '^2' --locked (make deps does it).");
}

/** Starts Xvfb on a free display; `-displayfd` makes Xvfb pick the number and tell us. */
export async function startXvfb(logFile: string): Promise<{ proc: ChildProcess; display: string }> {
  const log = openSync(logFile, "a");
  const proc = spawn("Xvfb", ["-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp"], {
    detached: true, // its own session and process group (setsid): killed by its own pid
    stdio: ["ignore", log, log, "pipe"],
  });
  const display = await new Promise<string>((ok, fail) => {
    let text = "";
    const timer = setTimeout(() => fail(new Error(`Xvfb did not report a display within 20 s (log: ${logFile})`)), 20_000);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`Xvfb exited (${code}) before it was ready (log: ${logFile})`));
    });
    const fd3 = proc.stdio[3] as NodeJS.ReadableStream;
    fd3.on("data", (d: Buffer) => {
      text += d.toString();
      if (text.includes("\n")) {
        clearTimeout(timer);
        ok(`:${text.trim()}`);
      }
    });
  });
  return { proc, display };
}

export async function startDriver(bin: string, display: string, logFile: string): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const nativePort = await freePort();
  const log = openSync(logFile, "a");
  const proc = spawn(bin, ["--port", String(port), "--native-port", String(nativePort)], {
    detached: true,
    stdio: ["ignore", log, log],
    env: { ...process.env, DISPLAY: display },
  });
  let exited: number | null = null;
  proc.once("exit", (code) => (exited = code ?? -1));
  await waitFor(
    async () => {
      if (exited !== null) throw new Fatal(`tauri-driver exited (${exited}); see ${logFile}`);
      try {
        const r = await fetch(`http://127.0.0.1:${port}/status`);
        return r.ok;
      } catch {
        return false;
      }
    },
    20_000,
    `tauri-driver to answer on port ${port} (log: ${logFile})`,
  );
  return { proc, port };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  need("APP");
  need("AGENCY_BIN");
  need("TWIN_BIN");
  const driverBin = findTauriDriver();
  // Each run starts with empty output folders, so every screenshot is from this run.
  for (const d of ["screenshots", "axe", "logs"]) rmSync(join(outputDir(), d), { recursive: true, force: true });
  const logs = join(outputDir(), "logs");
  mkdirSync(logs, { recursive: true });

  const xvfb = await startXvfb(join(logs, "xvfb.log"));
  let driver: { proc: ChildProcess; port: number } | null = null;
  try {
    driver = await startDriver(driverBin, xvfb.display, join(logs, "tauri-driver.log"));
  } catch (e) {
    killGroup(xvfb.proc.pid);
    throw e;
  }
  project.provide("window", { display: xvfb.display, driverPort: driver.port });

  return async () => {
    // tauri-driver stops WebKitWebDriver on SIGTERM.
    if (driver) killGroup(driver.proc.pid, "SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    killGroup(xvfb.proc.pid, "SIGTERM");
  };
}
