/**
 * @module Helpers for the governance tests: a workspace with a fake model capability whose
 * usage is declared (`test.llm.complete`: reserves its request's `max_tokens`, reports `use`
 * tokens, logs every call made to `calls.log` in the sandbox root), and readers of what a run
 * persisted (its `meta.governance`, its events).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { JsonObject } from "../../src/core/json.js";
import type { Runtime } from "../../src/engine/runtime/runtime.js";
import { openStore } from "../../src/store/open-store.js";
import { type Workspace, workspace } from "./helpers.js";

const ZOD = pathToFileURL(createRequire(import.meta.url).resolve("zod")).href;

/** The fake model capability, as a plugin module. */
export const USAGE_PLUGIN = `
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "${ZOD}";
export const complete = {
  name: "test.llm.complete",
  description: "A fake model call: reserves max_tokens (and their price), reports use tokens",
  input: z.object({ max_tokens: z.number().int(), use: z.number(), price: z.number().default(0.001) }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  estimateUsage: (i) => ({ tokens: i.max_tokens, costUsd: i.max_tokens * i.price }),
  actualUsage: (o, i) => ({ tokens: o.tokens, costUsd: o.tokens * i.price }),
  async execute(i, ctx) {
    appendFileSync(join(ctx.sandbox.fsRoots[0], "calls.log"), ctx.stepId + "\\n");
    return { tokens: i.use };
  },
};
`;

/** A workspace whose config loads the fake model plugin (plus `config`). */
export async function governedWorkspace(config = ""): Promise<Workspace> {
  const w = await workspace({ config: `plugins: ["./usage-plugin.mjs"]\n${config}` });
  writeFileSync(join(w.dir, "usage-plugin.mjs"), USAGE_PLUGIN);
  return w;
}

/** Step ids of the fake model calls actually made, in order. */
export function callsMade(w: Workspace): string[] {
  const file = join(w.ws, "calls.log");
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
}

/** What the run persisted in `meta.governance` (read from the database file). */
export async function governanceMeta(w: Workspace, runId: string): Promise<JsonObject> {
  const store = await openStore({ url: "sqlite", home: w.home });
  try {
    const run = await store.getRun(runId);
    return (run?.meta.governance ?? {}) as JsonObject;
  } finally {
    await store.close();
  }
}

/** The data of a run's events of one type, in order. */
export async function eventData(rt: Runtime, runId: string, type: string): Promise<JsonObject[]> {
  return (await rt.events(runId)).filter((e) => e.type === type).map((e) => e.data as JsonObject);
}
