/**
 * @module The MCP tool list of a session: each capability the session's governance envelope
 * allows, with its input schema (from its zod schema), its output schema where it declares one,
 * and annotations derived from what it declares:
 *
 * - `readOnlyHint`: its effect class is `read`;
 * - `destructiveHint` (only for tools that are not read-only): it deletes, executes programs,
 *   cannot be undone, or its risk floor is HIGH or CRITICAL;
 * - `idempotentHint`: it declares itself idempotent;
 * - `openWorldHint`: it reaches the network or runs programs, or its outputs depend on the
 *   outside world (`nondeterministic`).
 *
 * `_meta["io.airun/capability"]` carries the capability's name, risk floor, effect and undo kind.
 * Every capability tool may be called as an MCP task (`execution.taskSupport: "optional"`): a call
 * that needs a person's approval then returns at once (`server.ts`).
 */
import type { Tool } from "@modelcontextprotocol/sdk/types.js";
import { type Governance, toolRefusal } from "../core/governance.js";
import { isPlainObject } from "../core/json.js";
import type { CapabilityDescription } from "../engine/runtime/runtime.js";
import { META_TOOLS, toolNameOf } from "./tool-names.js";

/** The annotations MCP clients read, derived from a capability's declaration. */
export function annotationsOf(d: CapabilityDescription): NonNullable<Tool["annotations"]> {
  const readOnly = d.effect === "read";
  return {
    title: d.name,
    readOnlyHint: readOnly,
    destructiveHint:
      !readOnly &&
      (d.effect === "delete" ||
        d.effect === "exec" ||
        d.undo === "irreversible" ||
        d.risk === "HIGH" ||
        d.risk === "CRITICAL"),
    idempotentHint: d.idempotent,
    openWorldHint: d.effect === "network" || d.effect === "exec" || d.nondeterministic,
  };
}

/** A JSON Schema MCP accepts as a tool's schema (an object at the root), else undefined. */
function objectSchema(schema: unknown): Tool["inputSchema"] | undefined {
  if (!isPlainObject(schema) || schema.type !== "object") return undefined;
  return schema as Tool["inputSchema"];
}

/** The MCP tool of one capability. */
export function toolOf(d: CapabilityDescription): Tool {
  const output = objectSchema(d.outputSchema);
  return {
    name: toolNameOf(d.name),
    title: d.name,
    description: d.description,
    inputSchema: objectSchema(d.inputSchema) ?? { type: "object" },
    ...(output ? { outputSchema: output as NonNullable<Tool["outputSchema"]> } : {}),
    annotations: annotationsOf(d),
    execution: { taskSupport: "optional" },
    _meta: {
      "io.airun/capability": { name: d.name, risk: d.risk, effect: d.effect, undo: d.undo },
    },
  };
}

/** The session's own tools: status, commit, rollback, and the status of a waiting call. */
export const META_TOOL_LIST: readonly Tool[] = Object.freeze([
  {
    name: META_TOOLS.status,
    title: "Session status",
    description:
      "This session's calls, spend against each budget of its governance envelope, the evidence collected and whether the envelope's requirements are met now, and any call waiting for a person's approval.",
    inputSchema: { type: "object", properties: {}, additionalProperties: false },
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
  {
    name: META_TOOLS.commit,
    title: "Commit the session",
    description:
      "Ends the session as a transaction: budgets, evidence requirements and drift are checked; ACCEPT keeps everything the calls did, ABSTAIN rolls it all back. `evidence` adds key/value evidence (e.g. source references) before the requirements are checked.",
    inputSchema: {
      type: "object",
      properties: {
        evidence: {
          type: "object",
          description: "evidence key → value, checked against the envelope's evidence.required",
          additionalProperties: true,
        },
      },
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false },
  },
  {
    name: META_TOOLS.rollback,
    title: "Roll the session back",
    description:
      "Abandons the session: everything its calls did is undone, newest first (files restored byte for byte), and it ends ROLLED_BACK / REMEDIATE (cancelled).",
    inputSchema: {
      type: "object",
      properties: { reason: { type: "string", description: "why (recorded in the ledger)" } },
      additionalProperties: false,
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  },
  {
    name: META_TOOLS.callStatus,
    title: "Status of a waiting call",
    description:
      "The status of a call that waits for a person's approval (its `call_id` from the pending-approval result): still pending, or its result once approved and made, or why it was refused.",
    inputSchema: {
      type: "object",
      properties: { call_id: { type: "string" } },
      required: ["call_id"],
      additionalProperties: false,
    },
    annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  },
]);

/** The tools a session with `envelope` lists: the capabilities it allows, then the meta-tools. */
export function listTools(
  described: readonly CapabilityDescription[],
  envelope: Pick<Governance, "allowed" | "forbidden"> | null,
): Tool[] {
  const allowed = described.filter(
    (d) => envelope === null || toolRefusal(envelope, d.name) === null,
  );
  return [...allowed.map(toolOf), ...META_TOOL_LIST];
}
