/**
 * @module Audit levels (config `audit.level`): how much of a step's inputs and outputs its
 * ledger entries keep. Always after redaction (secrets masked, sensitive fields replaced).
 * - `BASIC`: only the SHA-256 of the canonical JSON of each (proves what was acted on, keeps
 *   nothing readable).
 * - `DETAILED` (default): the recorded inputs and outputs themselves.
 * - `FORENSIC`: as DETAILED, plus the undo data captured before each side effect (before-image
 *   descriptors and blob ids) on the step's intent entry.
 * The steps table keeps the recorded outputs whatever the level: later steps' templates and
 * recovery need them while the run lives. The level governs the permanent record (the ledger
 * and the evidence packs exported from it).
 */
import { hashJson } from "../core/hash.js";
import type { JsonObject, JsonValue } from "../core/json.js";
import { AuditLevel } from "../core/status.js";

/** The fields a ledger entry carries for a step's `inputs` or `outputs` at `level`. */
export function audited(
  level: AuditLevel,
  name: "inputs" | "outputs",
  value: JsonValue | null | undefined,
): JsonObject {
  if (value === null || value === undefined) return {};
  return level === AuditLevel.BASIC ? { [`${name}_sha256`]: hashJson(value) } : { [name]: value };
}

/**
 * Adds to `data` the fields `audited` returns (for a hot path: no object made and spread).
 * Returns `data`.
 */
export function auditInto(
  data: JsonObject,
  level: AuditLevel,
  name: "inputs" | "outputs",
  value: JsonValue | null | undefined,
): JsonObject {
  if (value === null || value === undefined) return data;
  if (level === AuditLevel.BASIC) data[`${name}_sha256`] = hashJson(value);
  else data[name] = value;
  return data;
}

/** The undo data a FORENSIC intent entry carries (nothing at other levels). */
export function auditedUndo(
  level: AuditLevel,
  undo: JsonValue | null,
  blobs: Readonly<Record<string, string>>,
): JsonObject {
  return level === AuditLevel.FORENSIC ? { before_images: { ...blobs }, undo } : {};
}
