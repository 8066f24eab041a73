/**
 * @module The context a capability call receives (`engine/step/invoke.ts`): its fields, and a
 * signal made only when read, aborted at the step's timeout whether it was read before the
 * timeout or after it.
 */
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createStandardRegistry } from "../../src/capabilities/registry.js";
import type { AnyCapability, CapabilityContext } from "../../src/core/capability.js";
import { Runtime } from "../../src/engine/runtime/runtime.js";
import { type Workspace, workspace } from "./helpers.js";

let w: Workspace | undefined;
afterEach(async () => {
  await w?.cleanup();
  w = undefined;
});

/** A capability that hands its context to `seen` and then does `body`. */
function probe(
  name: string,
  body: (ctx: CapabilityContext) => Promise<unknown>,
  seen: CapabilityContext[],
): AnyCapability {
  return {
    name,
    description: "test probe",
    input: z.object({}).passthrough(),
    risk: "LOW",
    effect: "read",
    idempotent: false,
    undo: "none",
    async execute(_input: unknown, ctx: CapabilityContext) {
      seen.push(ctx);
      return (await body(ctx)) ?? {};
    },
  } as unknown as AnyCapability;
}

async function open(caps: AnyCapability[]): Promise<Runtime> {
  w = await workspace();
  const registry = createStandardRegistry();
  for (const cap of caps) registry.register(cap);
  return Runtime.open({ cwd: w.dir, env: {}, registry });
}

describe("the context of a capability call", () => {
  it("carries the run, step, attempt and sandbox, no paths without `touches`, and a live signal", async () => {
    const seen: CapabilityContext[] = [];
    const rt = await open([probe("test.probe", async () => ({}), seen)]);
    try {
      const spec = await w!.spec(
        "wf.yaml",
        "name: ctx\nversion: 1\nsteps:\n  - id: a\n    capability: test.probe\n    inputs: {}\n",
      );
      const view = await rt.startRun({ specFile: spec });
      expect(view.status).toBe("COMPLETED");
      const ctx = seen[0]!;
      expect(ctx.runId).toBe(view.id);
      expect(ctx.stepId).toBe("a");
      expect(ctx.attempt).toBe(1);
      expect(ctx.sandbox).toBeTypeOf("object");
      expect("paths" in ctx).toBe(false);
      expect(ctx.signal).toBeInstanceOf(AbortSignal);
      expect(ctx.signal.aborted).toBe(false);
      // The same signal each time it is read.
      expect(ctx.signal).toBe(ctx.signal);
    } finally {
      await rt.close();
    }
  });

  it("aborts a signal read before the timeout, and one first read after it, with TIMEOUT", async () => {
    const early: CapabilityContext[] = [];
    const late: CapabilityContext[] = [];
    const reasons: unknown[] = [];
    const rt = await open([
      probe(
        "test.early",
        (ctx) =>
          new Promise((resolve) => {
            ctx.signal.addEventListener("abort", () => {
              reasons.push(ctx.signal.reason);
              resolve({});
            });
          }),
        early,
      ),
      probe("test.late", () => new Promise(() => {}), late),
    ]);
    try {
      const one = (cap: string) =>
        `name: ctx\nversion: 1\nsteps:\n  - id: a\n    capability: ${cap}\n    timeout: 100ms\n    inputs: {}\n`;
      for (const cap of ["test.early", "test.late"]) {
        const view = await rt.startRun({ specFile: await w!.spec(`${cap}.yaml`, one(cap)) });
        expect(view.status).not.toBe("COMPLETED");
      }
      expect((reasons[0] as { code?: string }).code).toBe("TIMEOUT");
      // Never read while the call ran: born aborted, with the same reason.
      const signal = late[0]!.signal;
      expect(signal.aborted).toBe(true);
      expect((signal.reason as { code?: string }).code).toBe("TIMEOUT");
    } finally {
      await rt.close();
    }
  });
});
