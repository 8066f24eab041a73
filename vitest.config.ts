import { defineConfig } from "vitest/config";

/**
 * Tests that read the build rather than `src/`: they get the rebuild-when-stale global setup of
 * the projects that run the built binary, and stay out of the quick `unit` loop.
 */
const READS_THE_BUILD = [
  "test/core/errors.test.ts",
  "test/store/commit-hooks.test.ts",
  "test/store/ledger-chain.test.ts",
  "test/store/sqlite-store.test.ts",
];

/** Builds `dist/` when it is missing or older than its sources (see test/global-setup.ts). */
const FRESH_BUILD = ["test/global-setup.ts"];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Crash and end-to-end tests spawn real processes; keep the 2-core machine responsive.
    maxWorkers: 2,
    // A worker runs its test files one after another in one module graph instead of a fresh one
    // each: the unit project's import time fell from 66 s to 11 s (126 s -> 69 s wall), and
    // every file here cleans up after itself (temp dirs, stores, servers) already.
    isolate: false,
    allowOnly: false,
    reporters: ["default", "./test/support/summary-reporter.ts"],
    // All projects share one pool of workers (same group order), so `vitest run` keeps both
    // cores busy until the end; `--project NAME` runs one of them.
    projects: [
      {
        extends: true,
        test: {
          // core, capabilities, store, engine, and any new folder: every test file runs somewhere.
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: [
            "test/e2e/**",
            "test/crash/**",
            "test/attacks/**",
            "test/fuzz/**",
            ...READS_THE_BUILD,
          ],
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts", ...READS_THE_BUILD],
          globalSetup: FRESH_BUILD,
        },
      },
      {
        extends: true,
        test: {
          // Issue 13's standing attack suite: the built CLI against hostile input.
          name: "attacks",
          include: ["test/attacks/**/*.test.ts"],
          // Then the totals table (tried / refused / escaped per family), failing on an escape.
          globalSetup: [...FRESH_BUILD, "test/attacks/totals-setup.ts"],
        },
      },
      {
        extends: true,
        test: {
          // Issue 13's property-based fuzzing of the loaders and the evaluator: a short run with
          // a fixed seed here; `npm run fuzz` runs the same properties long (test/fuzz/kit.ts).
          name: "fuzz",
          include: ["test/fuzz/**/*.test.ts"],
          globalSetup: FRESH_BUILD,
        },
      },
      {
        extends: true,
        test: {
          name: "crash",
          include: ["test/crash/**/*.test.ts"],
          globalSetup: FRESH_BUILD,
        },
      },
    ],
  },
});
