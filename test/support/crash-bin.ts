/**
 * @module The crash harness, TEST ONLY: the real CLI (`src/cli/main.ts`, bundled like the shipped
 * binary) with the crash switch's commit hooks injected through the composition root, read from
 * `AIRUN_TEST_CRASH_AT`. The shipped `airun` has no such switch. Bundled by the test setup into
 * `dist-test/airun-crash.mjs`.
 */
import { main } from "../../src/cli/main.js";
import { crashAtFromEnv, crashHooks } from "./crash-switch.js";

const crashAt = crashAtFromEnv();
process.exitCode = await main(
  process.argv.slice(2),
  crashAt ? { storeOptions: { hooks: crashHooks(crashAt) } } : {},
);
