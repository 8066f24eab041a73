/**
 * @module A run patch (`updateRun`) as the columns it sets, in every dialect: which fields may be
 * patched, how each is encoded, the lease cleared when a run becomes terminal, and `updated_at`.
 * A dialect turns the result into its UPDATE statement.
 */
import { AirunError } from "../core/errors.js";
import { isTerminal } from "../core/status.js";
import { jsonOrNull, jsonText } from "./rows.js";
import type { RunPatch, RunRecord } from "./store.js";

/** What a patch sets. */
export interface RunPatchColumns {
  /** Columns set to values, in a stable order (sorted by field name). */
  readonly columns: readonly string[];
  /** Their encoded values, in the same order. */
  readonly values: readonly unknown[];
  /** The run becomes terminal: `lease_owner` and `lease_expires_at` are cleared. */
  readonly clearLease: boolean;
  /** The value of `updated_at`: the patch's, or now. */
  readonly updatedAt: number;
}

type PatchKey = keyof Omit<RunRecord, "id" | "createdAt" | "updatedAt" | "leaseEpoch">;
type Encode = (value: unknown, field: string) => unknown;

const same: Encode = (v) => v;
const json: Encode = (v, field) => jsonText(v, field);
const nullableJson: Encode = (v) => jsonOrNull(v);

/** Each patchable field: its column and its encoder. */
const RUN_PATCH_COLUMNS: Readonly<Record<PatchKey, readonly [column: string, encode: Encode]>> = {
  kind: ["kind", same],
  name: ["name", same],
  specVersion: ["spec_version", same],
  specHash: ["spec_hash", same],
  specText: ["spec_text", same],
  plan: ["plan", json],
  principal: ["principal", same],
  inputs: ["inputs", json],
  status: ["status", same],
  outcome: ["outcome", same],
  reason: ["reason", same],
  reasonDetail: ["reason_detail", nullableJson],
  idempotencyKey: ["idempotency_key", same],
  leaseOwner: ["lease_owner", same],
  leaseExpiresAt: ["lease_expires_at", same],
  cancelRequestedBy: ["cancel_requested_by", same],
  meta: ["meta", json],
};

/**
 * The columns a patch of run `runId` sets. Fields that are undefined are left alone; a patch to
 * a terminal status ignores the lease fields and clears the lease instead. Throws `AirunError`
 * `STORE_INVALID_PATCH` for a field that cannot be patched.
 *
 * @example
 * runPatchColumns("r1", { status: "FAILED", meta: {} });
 * // { columns: ["meta", "status"], values: ["{}", "FAILED"], clearLease: true, updatedAt: <now> }
 */
export function runPatchColumns(runId: string, patch: RunPatch): RunPatchColumns {
  const columns: string[] = [];
  const values: unknown[] = [];
  const clearLease = patch.status !== undefined && isTerminal(patch.status);
  const fields = patch as Readonly<Record<string, unknown>>;
  for (const key of Object.keys(fields).sort()) {
    const value = fields[key];
    if (value === undefined || key === "updatedAt") continue;
    if (clearLease && (key === "leaseOwner" || key === "leaseExpiresAt")) continue;
    const column = Object.hasOwn(RUN_PATCH_COLUMNS, key)
      ? RUN_PATCH_COLUMNS[key as PatchKey]
      : undefined;
    if (column === undefined) {
      throw new AirunError("STORE_INVALID_PATCH", `run field "${key}" cannot be patched`, {
        runId,
      });
    }
    columns.push(column[0]);
    values.push(column[1](value, key));
  }
  return { columns, values, clearLease, updatedAt: patch.updatedAt ?? Date.now() };
}
