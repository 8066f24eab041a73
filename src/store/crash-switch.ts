/**
 * @module The crash switch: a TEST-ONLY way to make a store kill its own process with SIGKILL
 * at an exact point, so crash tests can prove recovery (SPEC §9) at every commit boundary. It is
 * a pair of commit hooks (`StoreHooks`) armed from the environment by `openStore`.
 *
 * `AIRUN_CRASH_AT=before:N` kills the process right before the Nth physical transaction begins,
 * so nothing of that commit (nor any side effect performed after the previous one) is recorded;
 * `AIRUN_CRASH_AT=after:N` kills it right after the Nth physical commit returned, before any
 * caller learns that its batch is durable. N counts physical transactions of one store instance
 * from 1 (group commit may put several batches in one). Never set this outside tests.
 */
import { AirunError } from "../core/errors.js";
import type { StoreHooks } from "./store.js";

/** Name of the environment variable read by `crashAtFromEnv`. */
export const CRASH_AT_ENV = "AIRUN_CRASH_AT";

/** Where to crash: right before or right after the `commit`th physical transaction. */
export interface CrashAt {
  readonly when: "before" | "after";
  readonly commit: number;
}

/**
 * Parses `before:N` or `after:N` (N ≥ 1). Empty or undefined means "no crash". Anything else
 * throws `AirunError` `INVALID_CRASH_SWITCH`: a typo must not silently disable a crash test.
 *
 * @example
 * parseCrashAt("after:3"); // { when: "after", commit: 3 }
 */
export function parseCrashAt(text: string | undefined): CrashAt | undefined {
  const value = text?.trim();
  if (!value) return undefined;
  const match = /^(before|after):([1-9][0-9]*)$/.exec(value);
  const when = match?.[1];
  const n = match?.[2];
  if ((when !== "before" && when !== "after") || n === undefined) {
    throw new AirunError(
      "INVALID_CRASH_SWITCH",
      `${CRASH_AT_ENV} must be "before:N" or "after:N" with N >= 1, got ${JSON.stringify(value)}`,
      { value },
    );
  }
  return Object.freeze({ when, commit: Number(n) });
}

/** Reads the crash switch from an environment (test-only; see the module comment). */
export function crashAtFromEnv(env: NodeJS.ProcessEnv = process.env): CrashAt | undefined {
  return parseCrashAt(env[CRASH_AT_ENV]);
}

/**
 * The commit hook that SIGKILLs this process at `crashAt`.
 *
 * @example
 * crashHooks({ when: "after", commit: 3 }); // { afterCommit(n) { if (n === 3) kill -9 } }
 */
export function crashHooks(crashAt: CrashAt): StoreHooks {
  const crash = (n: number): void => {
    if (n === crashAt.commit) process.kill(process.pid, "SIGKILL");
  };
  return crashAt.when === "before" ? { beforeCommit: crash } : { afterCommit: crash };
}
