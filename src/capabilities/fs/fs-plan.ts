/**
 * @module Helpers shared by the file capabilities: opening the sandbox for a call, resolving a
 * path input to the canonical path the gate authorized (`touching` before the decision,
 * `resolveAuthorized` in `execute`), parsing a persisted undo plan back into its typed shape,
 * and drift errors that say which path differs and how.
 */

import { relative, sep } from "node:path";
import type { z } from "zod";
import type {
  CapabilityContext,
  ReconcileResult,
  SandboxConfig,
  TouchedPath,
} from "../../core/capability.js";
import { CapabilityError, DriftError } from "../../core/errors.js";
import type { JsonValue } from "../../core/json.js";
import { throwIfAborted, withFsErrors } from "./fs-errors.js";
import { describeState, type NodeState } from "./fs-state.js";
import {
  FsSandbox,
  type ResolvedPath,
  type ResolvedTarget,
  type ResolveOptions,
} from "./sandbox.js";

interface CachedSandbox {
  /** The configured roots the sandbox was built from (compared on every lookup). */
  readonly fsRoots: readonly string[];
  readonly sandbox: Promise<FsSandbox>;
}

/**
 * Canonicalized sandboxes, one per `SandboxConfig` object (the engine passes the same config
 * object to every call of a runtime). `realpath` of every root on every call cost two
 * threadpool hops and a failing `readlink` per path component of each root. Roots are
 * operator configuration, trusted as configured (re-running `realpath` per call would follow
 * a root swapped for a symlink just the same), no capability may delete or move a root, and
 * roots are taken not to move during the life of a process. What is below a root is never cached: every call still walks
 * its path one component at a time. A failed canonicalization is not cached, so a root
 * created later is picked up; a root deleted later makes calls fail (`FS_NOT_FOUND` or a
 * `SandboxError`), never reach outside.
 */
const sandboxes = new WeakMap<SandboxConfig, CachedSandbox>();

function sameRoots(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((r, i) => r === b[i]);
}

/** Opens the sandbox configured for this call (refusing at once if the call was aborted). */
export function sandboxFor(ctx: CapabilityContext): Promise<FsSandbox> {
  throwIfAborted(ctx.signal);
  const config = ctx.sandbox;
  const cached = sandboxes.get(config);
  if (cached && sameRoots(cached.fsRoots, config.fsRoots)) return cached.sandbox;
  const entry: CachedSandbox = {
    fsRoots: [...config.fsRoots],
    sandbox: FsSandbox.create(config.fsRoots),
  };
  sandboxes.set(config, entry);
  entry.sandbox.catch(() => {
    if (sandboxes.get(config) === entry) sandboxes.delete(config);
  });
  return entry.sandbox;
}

/** Parses persisted undo data; a plan that does not match is `UNDO_PLAN_INVALID`. */
export function parsePlan<T>(
  schema: z.ZodType<T>,
  data: JsonValue | undefined,
  capability: string,
): T {
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    throw new CapabilityError(
      "UNDO_PLAN_INVALID",
      `undo plan of ${capability} is malformed: ${parsed.error.message}`,
      {
        context: { capability },
      },
    );
  }
  return parsed.data;
}

/** Converts typed plan data into the JSON an `UndoPlan` carries. */
export function toJson(value: unknown): JsonValue {
  return JSON.parse(JSON.stringify(value)) as JsonValue;
}

/** A `DriftError` saying what the step left at `path` and what is there now. */
export function driftError(
  capability: string,
  path: string,
  expected: NodeState,
  actual: NodeState,
  ctx: CapabilityContext,
): DriftError {
  return new DriftError(
    `${path} changed since ${capability} ran: expected ${describeState(expected)}, found ${describeState(actual)}; not restoring (force to override)`,
    { capability, path, runId: ctx.runId, stepId: ctx.stepId },
  );
}

/**
 * Runs a reconcile probe; a recorded path that now resolves elsewhere means the outcome
 * cannot be told (`unknown`), never a guess.
 */
export async function reconcileWith(
  capability: string,
  fn: () => Promise<ReconcileResult>,
): Promise<ReconcileResult> {
  try {
    return await withFsErrors({ capability }, fn);
  } catch (err) {
    if (err instanceof DriftError) return "unknown";
    throw err;
  }
}

/**
 * `touches` for a file capability: each named input field resolved inside the sandbox exactly
 * as `execute` resolves it (`options` per field: a final symlink followed, or not for calls
 * that act on the link itself), as the canonical paths the policy and the context hash see.
 */
export function touching<I>(
  fields: Readonly<Record<string, ResolveOptions>>,
): (input: I, ctx: CapabilityContext) => Promise<TouchedPath[]> {
  return async (input, ctx) => {
    const sb = await sandboxFor(ctx);
    const out: TouchedPath[] = [];
    for (const [field, options] of Object.entries(fields)) {
      const given = (input as Record<string, unknown>)[field];
      if (typeof given !== "string") continue;
      const { path: p, root } = await withFsErrors({ path: given }, () =>
        sb.resolve(given, options),
      );
      out.push({ field, path: p, relative: relative(root, p).split(sep).join("/") || "." });
    }
    return out;
  };
}

/**
 * Resolves the path input `field` (its value `userPath`) exactly as `FsSandbox.resolve` does
 * (same `options` as the capability's `touching` declares for it), then holds it to what the
 * gate authorized: when `ctx.paths` names the field and the path now resolves to anything
 * else (a folder on the way was swapped for a symlink after the decision), the call is
 * refused with `FS_PATH_CHANGED`, naming the field, the authorized path and the path it now
 * resolves to, before anything is touched. Without `ctx.paths` (prepare, reconcile, revert,
 * a direct call) it is `resolve`. Every file capability's `execute` resolves its path inputs
 * through this or `resolveAuthorizedWithStats`: no call site can forget the check.
 *
 * @example const { path } = await resolveAuthorized(sb, ctx, "path", input.path);
 */
export async function resolveAuthorized(
  sb: FsSandbox,
  ctx: CapabilityContext,
  field: string,
  userPath: string,
  options: ResolveOptions = {},
): Promise<ResolvedPath> {
  const {
    path: p,
    root,
    exists,
  } = await resolveAuthorizedWithStats(sb, ctx, field, userPath, options);
  return { path: p, root, exists };
}

/** `resolveAuthorized`, also returning the `lstat` the sandbox walk took of the result. */
export async function resolveAuthorizedWithStats(
  sb: FsSandbox,
  ctx: CapabilityContext,
  field: string,
  userPath: string,
  options: ResolveOptions = {},
): Promise<ResolvedTarget> {
  const resolved = await sb.resolveWithStats(userPath, options);
  const authorized = ctx.paths?.[field];
  if (authorized !== undefined && authorized !== resolved.path) {
    throw new CapabilityError(
      "FS_PATH_CHANGED",
      `input "${field}" was authorized as ${authorized} but now resolves to ${resolved.path}: a path component changed after the decision; refusing`,
      {
        context: { field, path: userPath, authorized, actual: resolved.path },
      },
    );
  }
  return resolved;
}
