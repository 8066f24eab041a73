/**
 * @module Idempotency keys: a key names one request. Starting again with a key already used
 * answers with the run it started only when the request is the same (kind, spec, inputs,
 * principal); anything else is refused (`IDEMPOTENCY_KEY_REUSED`), as Stripe and the IETF
 * Idempotency-Key draft do, instead of answering with a run that is not what was asked.
 */
import { AirunError } from "../../core/errors.js";
import { hashJson } from "../../core/hash.js";
import type { JsonObject } from "../../core/json.js";
import type { RunRecord } from "../../store/store.js";

/** What a start asks for, as far as its idempotency key is concerned. */
export interface KeyedRequest {
  readonly kind: RunRecord["kind"];
  readonly specHash: string;
  readonly inputs: JsonObject;
  readonly principal: string;
}

/** `run` (found by `key`) when it is the run `request` would start; else refused. */
export function sameRequestOrRefuse(run: RunRecord, key: string, request: KeyedRequest): RunRecord {
  const differs =
    run.kind !== request.kind
      ? ["kind"]
      : [
          ...(run.specHash !== request.specHash ? ["spec"] : []),
          ...(hashJson(run.inputs) !== hashJson(request.inputs) ? ["inputs"] : []),
          ...(run.principal !== request.principal ? ["principal"] : []),
        ];
  if (differs.length === 0) return run;
  const what = run.kind === "session" ? "session" : "run";
  throw new AirunError(
    "IDEMPOTENCY_KEY_REUSED",
    `idempotency key "${key}" already started ${what} ${run.id}, with another ${differs.join(", ")}: a key names one request; use a new key for a new one`,
    { runId: run.id, idempotencyKey: key, differs },
  );
}
