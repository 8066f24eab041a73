/**
 * @module Helpers for the session tests: a workspace whose config loads a plugin with a counted
 * capability (`test.count.bump`: appends its `tag` to `bumps.log` in the sandbox root, so a
 * test can prove which calls were really made), and readers of a session's ledger entries.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { JsonObject } from "../../src/core/json.js";
import type { Runtime } from "../../src/engine/runtime/runtime.js";
import { type Workspace, workspace } from "./helpers.js";

const ZOD = pathToFileURL(createRequire(import.meta.url).resolve("zod")).href;

/** The counted capability, as a plugin module. */
export const COUNT_PLUGIN = `
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "${ZOD}";
export const bump = {
  name: "test.count.bump",
  description: "Appends its tag to bumps.log (a call counter a test can read)",
  input: z.object({ tag: z.string() }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  async execute(i, ctx) {
    appendFileSync(join(ctx.sandbox.fsRoots[0], "bumps.log"), i.tag + "\\n");
    return { tag: i.tag, refs: [i.tag + "#1", i.tag + "#2"] };
  },
};
`;

/** A workspace with the counting plugin and, optionally, a policy and extra config. */
export async function sessionWorkspace(
  opts: { config?: string; policy?: string } = {},
): Promise<Workspace> {
  const w = await workspace({
    config: `plugins: ["./count-plugin.mjs"]\n${opts.config ?? ""}`,
    ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
  });
  writeFileSync(join(w.dir, "count-plugin.mjs"), COUNT_PLUGIN);
  return w;
}

/** Tags of the counted calls really made, in order. */
export function bumps(w: Workspace): string[] {
  const file = join(w.ws, "bumps.log");
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
}

/** The types of a run's ledger entries, in order. */
export async function entryTypes(rt: Runtime, runId: string): Promise<string[]> {
  return (await rt.events(runId)).map((e) => e.type);
}

/** The data of a run's ledger entries of one type, in order. */
export async function entries(rt: Runtime, runId: string, type: string): Promise<JsonObject[]> {
  return (await rt.events(runId)).filter((e) => e.type === type).map((e) => e.data as JsonObject);
}
