/**
 * @module The run fold of `core/ledger-run.ts` writes the engine's entry types out as text (core
 * imports no other layer): they must be the engine's vocabulary, and every lifecycle entry that
 * moves a run's status must be among them, or `ledger verify` and `verify-pack` would misread
 * runs.
 */
import { describe, expect, it } from "vitest";
import { RecordedRun, RUN_STATUS_BY_ENTRY } from "../../src/core/ledger-run.js";
import { RunStatus } from "../../src/core/status.js";
import { EventType } from "../../src/engine/events.js";

describe("the run fold's entry types", () => {
  it("are the engine's event types, each announcing a run status", () => {
    const types = new Set<string>(Object.values(EventType));
    for (const [type, status] of Object.entries(RUN_STATUS_BY_ENTRY)) {
      expect(types.has(type), type).toBe(true);
      expect(Object.values(RunStatus)).toContain(status);
    }
  });

  it("cover every run.* entry that changes a run's status (the others change none)", () => {
    const moving = Object.values(EventType).filter(
      (t) =>
        t.startsWith("run.") &&
        t !== EventType.RUN_RECOVERED &&
        t !== EventType.RUN_CANCEL_REQUESTED,
    );
    expect(Object.keys(RUN_STATUS_BY_ENTRY).sort()).toEqual([...moving].sort());
  });

  it("fold a rolled-back run: created by its principal, then what its terminal entry records", () => {
    const run = new RecordedRun();
    run.push({ seq: 1, at: 10, type: "run.created", data: { name: "w", principal: "agent:bot" } });
    run.push({ seq: 2, at: 10, type: "run.started", data: null });
    run.push({ seq: 5, at: 12, type: "run.compensating", data: { reason: "STEP_FAILED" } });
    expect(run.status).toEqual({ value: "COMPENSATING", seq: 5, type: "run.compensating" });
    expect(run.reason?.value).toBe("STEP_FAILED");
    expect(run.outcome).toBeNull(); // not recorded until the run ends
    run.push({
      seq: 9,
      at: 14,
      type: "run.rolled_back",
      data: { status: "ROLLED_BACK", outcome: "REMEDIATE", reason: "STEP_FAILED", detail: null },
    });
    expect(run.created).toMatchObject({ seq: 1, at: 10, kind: "workflow", principal: "agent:bot" });
    expect(run.created?.inputsSha256).toBeUndefined();
    expect(run.status?.value).toBe("ROLLED_BACK");
    expect(run.outcome).toEqual({ value: "REMEDIATE", seq: 9, type: "run.rolled_back" });
  });
});
