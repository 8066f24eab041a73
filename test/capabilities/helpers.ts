/**
 * @module Test helpers for capability tests: a `CapabilityContext` with a configurable sandbox,
 * and temporary directories (canonical paths) removed after each test.
 */
import { mkdtemp, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach } from "vitest";
import type { CapabilityContext, SandboxConfig } from "../../src/core/capability.js";

/** Options of `makeCtx`. */
export interface CtxOptions {
  readonly sandbox?: Partial<SandboxConfig>;
  readonly signal?: AbortSignal;
}

/** A capability context for one call; the sandbox allows nothing unless told. */
export function makeCtx(opts: CtxOptions = {}): CapabilityContext {
  return {
    signal: opts.signal ?? new AbortController().signal,
    sandbox: {
      fsRoots: [],
      httpAllowHosts: [],
      httpAllowPrivate: false,
      execAllow: [],
      envAllow: [],
      maxBeforeImageBytes: 1024 * 1024,
      ...opts.sandbox,
    },
    runId: "run_test",
    stepId: "step_test",
    attempt: 1,
  };
}

const created: string[] = [];

/** A fresh temporary directory (real path), removed after the current test. */
export async function tempDir(prefix = "airun-cap-"): Promise<string> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), prefix)));
  created.push(dir);
  return dir;
}

afterEach(async () => {
  for (const dir of created.splice(0)) await rm(dir, { recursive: true, force: true });
});
