/**
 * @module Opening a session (a new run of kind `session`, leased by this process) and reopening
 * one by id, in this or another process.
 */
import { AirunError, ConflictError, NotFoundError } from "../../core/errors.js";
import { isTerminal } from "../../core/status.js";
import type { RunRecord } from "../../store/store.js";
import { sameRequestOrRefuse } from "../state/idempotency.js";
import { announceStart, creationOps, newRun } from "../state/run-records.js";
import { RunState } from "../state/run-state.js";
import { Session, type SessionHost } from "./session.js";
import { sessionEndError } from "./session-end.js";
import { type OpenSessionOptions, sessionPlan } from "./session-plan.js";

/** Opens a session (see `Runtime.openSession`). */
export async function openSession(host: SessionHost, opts: OpenSessionOptions): Promise<Session> {
  const ctx = host.ctx;
  const { plan, specText } = sessionPlan(opts);
  const key = opts.idempotencyKey;
  const request = {
    kind: "session",
    specHash: plan.specHash,
    inputs: {},
    principal: opts.principal,
  } as const;
  if (key) {
    const existing = await ctx.store.findRunByIdempotencyKey(key);
    if (existing) return resumeExisting(host, sameRequestOrRefuse(existing, key, request));
  }
  const now = ctx.clock.now();
  const { run } = newRun(
    ctx,
    {
      kind: "session",
      plan,
      specText,
      principal: opts.principal,
      inputs: {},
      idempotencyKey: opts.idempotencyKey ?? null,
    },
    now,
  );
  const policy = ctx.gatekeeper.policy;
  try {
    await ctx.store.commit([
      ...host.policyBlob(policy),
      ...creationOps(ctx, run, [], {
        kind: "session",
        objective: plan.description,
        ...(plan.governance ? { governance: plan.governance } : {}),
      }),
    ]);
  } catch (err) {
    host.policyNotStored(policy.hash);
    if (err instanceof ConflictError && key) {
      const existing = await ctx.store.findRunByIdempotencyKey(key);
      if (existing) return resumeExisting(host, sameRequestOrRefuse(existing, key, request));
    }
    throw err;
  }
  announceStart(ctx, run, { kind: "session" });
  const session = new Session(host, run);
  await session.attach(RunState.created(ctx, run, plan, []));
  return session;
}

/** Reopens a session by id (see `Runtime.resumeSession`). */
export async function resumeSession(host: SessionHost, runId: string): Promise<Session> {
  const run = await host.ctx.store.getRun(runId);
  if (!run) throw new NotFoundError(`session ${runId}`, { runId });
  return resumeExisting(host, run);
}

async function resumeExisting(host: SessionHost, run: RunRecord): Promise<Session> {
  if (run.kind !== "session") {
    throw new AirunError("NOT_A_SESSION", `run ${run.id} is a workflow run, not a session`, {
      runId: run.id,
    });
  }
  const mine = host.heldSession(run.id);
  if (mine) return mine;
  if (isTerminal(run.status)) throw sessionEndError(run);
  const session = new Session(host, run);
  await session.attach(null);
  return session;
}
