// The window tests: the real app in a real window (Xvfb + tauri-driver + WebKitWebDriver),
// with a sandbox agency per test file. Run with `make window-test` (it builds the app and
// sets APP, AGENCY_BIN and TWIN_BIN). One file at a time, in one fork: there is one display
// and one tauri-driver, and each file drives one app window.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/window/**/*.test.ts"],
    environment: "node",
    globalSetup: ["tests/window/global-setup.ts"],
    pool: "forks",
    poolOptions: { forks: { singleFork: true } },
    fileParallelism: false,
    sequence: { concurrent: false, shuffle: false },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // A flow is a story: retrying one step alone would not make sense.
    retry: 0,
    reporters: ["verbose"],
  },
});
