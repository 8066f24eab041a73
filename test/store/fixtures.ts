/**
 * @module Records for store tests: every field populated with a non-default value, so a lost or
 * mis-mapped column shows up in a round trip; fresh ids, so tests never collide.
 */
import { createHash, randomUUID } from "node:crypto";
import type {
  CompensationRecord,
  EventRecord,
  RunRecord,
  StepRecord,
} from "../../src/store/store.js";

/** A fully populated run; every field non-default so a lost column shows up. */
export function makeRun(overrides: Partial<RunRecord> = {}): RunRecord {
  const id = overrides.id ?? `run-${randomUUID()}`;
  return {
    id,
    kind: "workflow",
    name: `wf-${id}`,
    specVersion: "1",
    specHash: "a".repeat(64),
    specText: "name: wf\nsteps:\n  - id: one\n    use: fs.write # ünïcødé\n",
    plan: { steps: [{ id: "one", use: "fs.write", n: 1.5 }], nested: { ok: true, none: null } },
    principal: "alice@example.com",
    inputs: { path: "/tmp/x", count: 3, tags: ["a", "b"] },
    status: "RUNNING",
    outcome: null,
    reason: null,
    reasonDetail: null,
    idempotencyKey: null,
    leaseOwner: null,
    leaseExpiresAt: null,
    leaseEpoch: 3,
    cancelRequestedBy: "user:carol",
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_001,
    meta: { counters: { calls: 2 }, flag: false },
    ...overrides,
  };
}

/** A fully populated step. */
export function makeStep(runId: string, overrides: Partial<StepRecord> = {}): StepRecord {
  return {
    runId,
    stepId: "one",
    status: "SUCCEEDED",
    attempts: 2,
    inputs: { path: "/tmp/x", secret: "***" },
    outputs: { bytes: 12, list: [1, "two", null] },
    error: { code: "E_IO", message: "flaky", retryable: true },
    decision: { decision: "ALLOW", rule: "default" },
    contextHash: "c".repeat(64),
    seq: 1,
    startedAt: 1_700_000_000_010,
    finishedAt: 1_700_000_000_020,
    ...overrides,
  };
}

/** A fully populated compensation. */
export function makeCompensation(
  runId: string,
  overrides: Partial<CompensationRecord> = {},
): CompensationRecord {
  return {
    runId,
    stepId: "one",
    seq: 1,
    kind: "declared",
    capability: "http.request",
    inputs: { method: "DELETE", url: "https://example.com/x" },
    undo: { restore: "before" },
    blobs: { before: "b".repeat(64) },
    status: "ARMED",
    attempts: 1,
    error: { code: "E_HTTP", message: "503" },
    updatedAt: 1_700_000_000_030,
    ...overrides,
  };
}

/** An event without its seq. */
export function makeEvent(
  runId: string | null,
  overrides: Partial<Omit<EventRecord, "seq">> = {},
): Omit<EventRecord, "seq"> {
  return {
    runId,
    stepId: "one",
    type: "step.succeeded",
    at: 1_700_000_000_040,
    data: { a: 1, z: [true, null, "x"], nested: { k: "v" } },
    ...overrides,
  };
}

/** A blob and its content address. */
export function blobOf(text: string): { id: string; bytes: Uint8Array } {
  const bytes = new TextEncoder().encode(text);
  return { id: createHash("sha256").update(bytes).digest("hex"), bytes };
}

/** True when `a` holds exactly the bytes of `b`. */
export function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}
