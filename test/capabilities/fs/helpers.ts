/**
 * @module Test helpers for `io.fs.*`: real temp directories, a capability context, and a
 * step runner that behaves like the engine (parse input, prepare, persist the plan as JSON
 * and copied blobs, execute, revert, reconcile).
 */
import { createHash } from "node:crypto";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, realpath, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type {
  AnyCapability,
  CapabilityContext,
  ReconcileResult,
  UndoPlan,
} from "../../../src/core/capability.js";
import type { JsonValue } from "../../../src/core/json.js";

/** A sandbox root `ws` and, next to it, places that must never be touched. */
export interface FsEnv {
  /** Parent of everything (canonical). */
  readonly base: string;
  /** The only sandbox root. */
  readonly root: string;
  /** A sibling whose name starts with the root's name (`ws_evil`). */
  readonly evil: string;
  /** Another directory outside the root. */
  readonly outside: string;
  readonly ctx: CapabilityContext;
  cleanup(): Promise<void>;
}

/** Creates `base/{ws, ws_evil, outside}` under the OS temp directory. */
export async function makeEnv(): Promise<FsEnv> {
  const base = await realpath(await mkdtemp(path.join(os.tmpdir(), "airun-fs-")));
  const root = path.join(base, "ws");
  const evil = path.join(base, "ws_evil");
  const outside = path.join(base, "outside");
  for (const d of [root, evil, outside]) await mkdir(d);
  return {
    base,
    root,
    evil,
    outside,
    ctx: makeContext([root]),
    cleanup: () => rm(base, { recursive: true, force: true }),
  };
}

/** A capability context with the given roots and a 64 MiB before-image limit. */
export function makeContext(
  fsRoots: readonly string[],
  overrides: Partial<CapabilityContext["sandbox"]> = {},
): CapabilityContext {
  return {
    signal: new AbortController().signal,
    sandbox: {
      fsRoots,
      httpAllowHosts: [],
      httpAllowPrivate: false,
      execAllow: [],
      envAllow: [],
      maxBeforeImageBytes: 64 * 1024 * 1024,
      ...overrides,
    },
    runId: "run-test",
    stepId: "step-test",
    attempt: 1,
  };
}

/** Simulates persistence: plan data through JSON, blobs copied into fresh buffers. */
function persist(plan: UndoPlan): UndoPlan {
  const blobs: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(plan.blobs ?? {})) blobs[k] = new Uint8Array(v);
  return { data: JSON.parse(JSON.stringify(plan.data)) as JsonValue, blobs };
}

/** Runs one step as the engine would; returns its output and its persisted undo plan. */
export async function runStep(
  cap: AnyCapability,
  raw: unknown,
  ctx: CapabilityContext,
): Promise<{ output: Record<string, unknown>; plan: UndoPlan }> {
  const input = cap.input.parse(raw);
  const plan = cap.prepare ? persist(await cap.prepare(input, ctx)) : { data: null };
  const output = (await cap.execute(input, ctx)) as Record<string, unknown>;
  if (cap.output) cap.output.parse(output);
  return { output, plan };
}

/** Prepares only (the effect has not happened yet, as after a crash before `execute`). */
export async function prepareStep(
  cap: AnyCapability,
  raw: unknown,
  ctx: CapabilityContext,
): Promise<UndoPlan> {
  if (!cap.prepare) throw new Error(`${cap.name} has no prepare`);
  return persist(await cap.prepare(cap.input.parse(raw), ctx));
}

/** Reverts a step from its persisted plan. */
export async function revertStep(
  cap: AnyCapability,
  plan: UndoPlan,
  ctx: CapabilityContext,
  force = false,
): Promise<void> {
  if (!cap.revert) throw new Error(`${cap.name} has no revert`);
  await cap.revert({ ...ctx, data: plan.data, blobs: plan.blobs ?? {}, force });
}

/** Asks a capability whether an interrupted call took effect. */
export async function reconcileStep(
  cap: AnyCapability,
  raw: unknown,
  plan: UndoPlan,
  ctx: CapabilityContext,
): Promise<ReconcileResult> {
  if (!cap.reconcile) throw new Error(`${cap.name} has no reconcile`);
  return cap.reconcile(cap.input.parse(raw), plan, ctx);
}

/**
 * Everything under `dir` as `relative path → description` (type, mode, content hash, link
 * target), to assert that nothing changed — or that a restore is byte-exact.
 */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (abs: string, rel: string): Promise<void> => {
    for (const name of (await readdir(abs)).sort()) {
      const p = path.join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out[r] = `symlink ${await readlink(p)}`;
      else if (st.isDirectory()) {
        out[r] = `dir ${mode}`;
        await walk(p, r);
      } else {
        const sha = createHash("sha256")
          .update(await readFile(p))
          .digest("hex");
        out[r] = `file ${mode} ${st.size} ${sha}`;
      }
    }
  };
  await walk(dir, "");
  return out;
}

/** Bytes including 0x00 and 0xff, which no text encoding round-trips by accident. */
export const BINARY = Buffer.from([0x00, 0xff, 0x10, 0x80, 0xfe, 0x0a, 0x0d, 0xc3, 0x28, 0xff]);

/** The mode bits of a path. */
export async function modeOf(p: string): Promise<number> {
  return (await lstat(p)).mode & 0o7777;
}

/** True when something exists at `p` (a dangling symlink counts). */
export async function present(p: string): Promise<boolean> {
  return lstat(p).then(
    () => true,
    () => false,
  );
}
