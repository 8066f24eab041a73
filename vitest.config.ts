import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Crash and end-to-end tests spawn real processes; keep the 2-core machine responsive.
    maxWorkers: 2,
    allowOnly: false,
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
