// The desktop app's benchmarks (docs/benchmarks.md, "Desktop app"): the real app under
// Xvfb, timed. Not part of `make test`; run with `make bench-app` (it builds the app and the
// fixture example and sets APP and FIXTURE_BIN). Nothing here asserts on time: results go
// to test-output/bench/*.json and the summaries are printed. One file at a time, in one
// fork: one display, one app at a time, and nothing else of ours using the CPU.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/bench/**/*.test.ts"],
    environment: "node",
    globalSetup: ["tests/bench/global-setup.ts"],
    pool: "forks",
    poolOptions: { forks: { singleFork: true } },
    fileParallelism: false,
    sequence: { concurrent: false, shuffle: false },
    testTimeout: 30 * 60_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    retry: 0,
    reporters: ["verbose"],
  },
});
