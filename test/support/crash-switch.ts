/**
 * @module The crash switch, TEST ONLY: store commit hooks that SIGKILL this process at an exact
 * commit, so crash tests can prove recovery (SPEC §9) at every commit boundary. The shipped
 * binary never reads it: the test harness (`crash-bin.ts`, bundled next to the real binary)
 * hands the hooks to the CLI through the composition root.
 *
 * `before:N` kills the process right before the Nth physical transaction begins, so nothing of
 * that commit (nor any side effect performed after the previous one) is recorded; `after:N`
 * kills it right after the Nth physical commit returned, before any caller learns that its
 * batch is durable. N counts physical transactions of one store instance from 1 (group commit
 * may put several batches in one).
 */
import { writeFileSync } from "node:fs";
import type { StoreHooks } from "../../src/store/store.js";

/** The environment variable the test harness reads. */
export const CRASH_AT_ENV = "AIRUN_TEST_CRASH_AT";

/** Where to crash: right before or right after the `commit`th physical transaction. */
export interface CrashAt {
  readonly when: "before" | "after";
  readonly commit: number;
}

/**
 * Parses `before:N` or `after:N` (N ≥ 1). Empty or undefined means "no crash". Anything else
 * throws: a typo must not silently disable a crash test.
 */
export function parseCrashAt(text: string | undefined): CrashAt | undefined {
  const value = text?.trim();
  if (!value) return undefined;
  const match = /^(before|after):([1-9][0-9]*)$/.exec(value);
  const when = match?.[1];
  const n = match?.[2];
  if ((when !== "before" && when !== "after") || n === undefined) {
    throw new Error(
      `${CRASH_AT_ENV} must be "before:N" or "after:N" with N >= 1, got ${JSON.stringify(value)}`,
    );
  }
  return Object.freeze({ when, commit: Number(n) });
}

/** Reads the crash switch from an environment. */
export function crashAtFromEnv(env: NodeJS.ProcessEnv = process.env): CrashAt | undefined {
  return parseCrashAt(env[CRASH_AT_ENV]);
}

/** The commit hook that SIGKILLs this process at `crashAt`. */
export function crashHooks(crashAt: CrashAt): StoreHooks {
  const crash = (n: number): void => {
    if (n === crashAt.commit) process.kill(process.pid, "SIGKILL");
  };
  return crashAt.when === "before" ? { beforeCommit: crash } : { afterCommit: crash };
}

/**
 * The environment variable of the commit counter: a file the harness writes, as it exits, the
 * number of physical commits the process made (the test learns a workflow's commits from one
 * run instead of bisecting with crashes).
 */
export const COUNT_COMMITS_TO_ENV = "AIRUN_TEST_COUNT_COMMITS_TO";

/** The commit hook that counts this process's commits and writes the count to `file` at exit. */
export function countingHooks(file: string): StoreHooks {
  let commits = 0;
  process.on("exit", () => writeFileSync(file, String(commits)));
  return {
    afterCommit: (n: number): void => {
      commits = n;
    },
  };
}

/** The environment variable of the fault switch: `before:N` or `after:N`, as `CRASH_AT_ENV`. */
export const FAULT_AT_ENV = "AIRUN_TEST_FAULT_AT";

/** The environment variable naming the fault's kind (`FAULT_KINDS`; default `SQLITE_IOERR_WRITE`). */
export const FAULT_KIND_ENV = "AIRUN_TEST_FAULT";

/**
 * What a disk can do to a commit, as SQLite reports it: full, an I/O error writing the
 * database or its WAL, an I/O error from fsync.
 */
export const FAULT_KINDS = ["SQLITE_FULL", "SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

const FAULT_MESSAGES: Record<FaultKind, string> = {
  SQLITE_FULL: "database or disk is full",
  SQLITE_IOERR_WRITE: "disk I/O error",
  SQLITE_IOERR_FSYNC: "disk I/O error",
};

/** Parses a fault kind; undefined means the default. A typo throws. */
export function parseFaultKind(text: string | undefined): FaultKind {
  const value = text?.trim() || "SQLITE_IOERR_WRITE";
  if (!(FAULT_KINDS as readonly string[]).includes(value)) {
    throw new Error(`${FAULT_KIND_ENV} must be one of ${FAULT_KINDS.join(", ")}, got ${value}`);
  }
  return value as FaultKind;
}

/**
 * Commit hooks that make the Nth physical commit fail as a disk would, with the error SQLite
 * gives (`SqliteError` of `sqliteError`, its extended result code as `code`). `before:N` fails
 * it inside the transaction, its writes applied, right before COMMIT, which is then rolled back
 * (nothing of it is written: disk full, EIO on write, or EIO on the fsync of a commit that did
 * not reach the disk); `after:N` fails it after COMMIT returned (it is durable, but the caller
 * is told otherwise: EIO on the fsync of a commit that did reach the disk, a lost
 * acknowledgement). The process lives on: the engine must fail closed.
 */
export function faultHooks(
  at: CrashAt,
  kind: FaultKind,
  sqliteError: new (message: string, code: string) => Error,
): StoreHooks {
  const fault = (n: number): void => {
    if (n !== at.commit) return;
    throw new sqliteError(`${FAULT_MESSAGES[kind]} (injected at ${at.when}:${at.commit})`, kind);
  };
  return at.when === "before" ? { atCommit: fault } : { afterCommit: fault };
}
