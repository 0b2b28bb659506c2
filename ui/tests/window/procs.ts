/// <reference types="node" />
// Small process helpers shared by the global setup and the harness (no WebDriver here).
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** ui/test-output: screenshots, logs (git-ignored). */
export function outputDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "test-output");
}

export function screenshotDir(): string {
  return join(outputDir(), "screenshots");
}

/** A TCP port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => ok(port));
    });
  });
}

/** Whether a process with this pid exists. */
export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Signals the process group led by `pid` (processes we started with `detached: true`,
 * i.e. setsid: the group is that process and its own children only), falling back to the
 * process itself.
 */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals = "SIGTERM"): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Thrown from a waitFor condition: stop waiting at once (e.g. the process died). */
export class Fatal extends Error {}

/** Polls `cond` every `every` ms until it returns true; throws after `timeout` ms. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeout: number,
  what: string,
  every = 100,
): Promise<void> {
  const end = Date.now() + timeout;
  let last: unknown = null;
  for (;;) {
    try {
      if (await cond()) return;
      last = null;
    } catch (e) {
      if (e instanceof Fatal) throw e;
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`Timed out after ${timeout} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}
