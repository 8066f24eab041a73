/**
 * @module The crash harness, TEST ONLY: the real CLI (`src/cli/main.ts`, bundled like the shipped
 * binary) with test hooks injected into its store through the composition root: the crash switch
 * (`AIRUN_TEST_CRASH_AT`, SIGKILL at a commit) and the fault switch (`AIRUN_TEST_FAULT_AT`, a
 * commit that fails as a disk would, `AIRUN_TEST_FAULT` naming how: SQLite's own error) and the
 * commit counter (`AIRUN_TEST_COUNT_COMMITS_TO`, the number of commits written to a file). The
 * shipped `airun` has neither. Bundled by the test setup into `dist-test/airun-crash.cjs`, run
 * by its launcher `dist-test/airun-crash.mjs`.
 */
import Database from "better-sqlite3";
import { main } from "../../src/cli/main.js";
import type { StoreHooks } from "../../src/store/store.js";
import {
  COUNT_COMMITS_TO_ENV,
  CRASH_AT_ENV,
  countingHooks,
  crashHooks,
  FAULT_AT_ENV,
  FAULT_KIND_ENV,
  faultHooks,
  parseCrashAt,
  parseFaultKind,
} from "./crash-switch.js";

const crashAt = parseCrashAt(process.env[CRASH_AT_ENV]);
const faultAt = parseCrashAt(process.env[FAULT_AT_ENV]);
const countTo = process.env[COUNT_COMMITS_TO_ENV];
const hooks: StoreHooks | undefined = crashAt
  ? crashHooks(crashAt)
  : faultAt
    ? faultHooks(faultAt, parseFaultKind(process.env[FAULT_KIND_ENV]), Database.SqliteError)
    : countTo
      ? countingHooks(countTo)
      : undefined;
main(process.argv.slice(2), hooks ? { storeOptions: { hooks } } : {}).then((code) => {
  process.exitCode = code;
});
