/**
 * OpenTelemetry spans of real runs (real SQLite file, real sandbox), recorded by a real SDK
 * (`BasicTracerProvider` + `InMemorySpanExporter`) registered globally for each test: the
 * span tree, its attributes, error statuses, compensation spans, and a canary secret absent
 * from every span. Without a recording run span no step span is even started.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Attributes, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  type Sampler,
  SamplingDecision,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterEach, describe, expect, it } from "vitest";
import { TRACER_NAME, TRACER_VERSION } from "../../src/engine/telemetry.js";
import { type Workspace, workspace } from "./helpers.js";

let w: Workspace | undefined;
let provider: BasicTracerProvider | undefined;
afterEach(async () => {
  trace.disable();
  await provider?.shutdown();
  provider = undefined;
  await w?.cleanup();
  w = undefined;
});

/** Registers a real SDK globally; its finished spans end up in the returned exporter. */
function registerSdk(sampler?: Sampler): InMemorySpanExporter {
  const exporter = new InMemorySpanExporter();
  provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    ...(sampler ? { sampler } : {}),
  });
  expect(trace.setGlobalTracerProvider(provider)).toBe(true);
  return exporter;
}

const byName = (spans: readonly ReadableSpan[], name: string): ReadableSpan[] =>
  spans.filter((s) => s.name === name);

function only(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const found = byName(spans, name);
  expect(found.map((s) => s.name)).toEqual([name]);
  return found[0]!;
}

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const idOf = (s: ReadableSpan) => s.spanContext().spanId;

const WRITE_THEN_ECHO = `name: traced
version: 1
principal: agent:tracer
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: a.txt, content: "A" }
  - id: echo
    capability: sys.echo
    depends_on: [write]
    inputs: { n: 1 }
`;

describe("OpenTelemetry spans", () => {
  it("reports the tracer as 'airun' with the package's version", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };
    expect(TRACER_NAME).toBe("airun");
    expect(TRACER_VERSION).toBe(pkg.version);
  });

  it("records one airun.run span with one child per step attempt, with ids, hashes and decisions", async () => {
    const exporter = registerSdk();
    w = await workspace();
    const rt = await w.open();
    try {
      const view = await rt.startRun({ specFile: await w.spec("wf.yaml", WRITE_THEN_ECHO) });
      expect(view.status).toBe("COMPLETED");
      const spans = exporter.getFinishedSpans();
      const run = only(spans, "airun.run");
      expect(run.parentSpanContext).toBeUndefined();
      expect(run.instrumentationScope).toMatchObject({ name: "airun", version: TRACER_VERSION });
      expect(run.attributes).toMatchObject({
        "airun.run.id": view.id,
        "airun.workflow.name": "traced",
        "airun.principal": "agent:tracer",
        "airun.run.status": "COMPLETED",
        "airun.run.outcome": "ACCEPT",
        "airun.run.reason": "COMPLETED",
      });
      expect(run.attributes["airun.spec.hash"]).toMatch(/^[0-9a-f]{64}$/);
      expect(run.status.code).not.toBe(SpanStatusCode.ERROR);
      for (const step of view.steps) {
        const span = only(spans, `airun.step ${step.id}`);
        expect(parentOf(span)).toBe(idOf(run));
        expect(span.spanContext().traceId).toBe(run.spanContext().traceId);
        expect(span.attributes).toEqual({
          "airun.run.id": view.id,
          "airun.step.id": step.id,
          "airun.capability": step.id === "write" ? "io.fs.write_file" : "sys.echo",
          "airun.step.attempt": 1,
          "airun.context_hash": step.context_hash,
          "airun.decision": "ALLOW",
        });
        expect(span.status.code).toBe(SpanStatusCode.UNSET);
      }
      expect(spans).toHaveLength(3);
    } finally {
      await rt.close();
    }
  });

  it("marks each failed attempt ERROR with its code, and traces the rollback's compensations under the run", async () => {
    const exporter = registerSdk();
    w = await workspace();
    const rt = await w.open();
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "wf.yaml",
          `name: fails
version: 1
steps:
  - id: first
    capability: io.fs.write_file
    inputs: { path: one.txt, content: "1" }
  - id: second
    capability: io.fs.write_file
    depends_on: [first]
    inputs: { path: two.txt, content: "2" }
  - id: boom
    capability: sys.fail
    depends_on: [second]
    retry: { max_attempts: 2, initial_delay: 1ms }
    inputs: { message: "planned", retryable: true, code: PLANNED_FAILURE }
`,
        ),
      });
      expect(view.status).toBe("ROLLED_BACK");
      const spans = exporter.getFinishedSpans();
      const run = only(spans, "airun.run");
      expect(run.status).toEqual({ code: SpanStatusCode.ERROR, message: "STEP_FAILED" });
      expect(run.attributes).toMatchObject({
        "airun.run.status": "ROLLED_BACK",
        "airun.run.outcome": "REMEDIATE",
        "airun.run.reason": "STEP_FAILED",
      });
      const attempts = byName(spans, "airun.step boom");
      expect(attempts.map((s) => s.attributes["airun.step.attempt"])).toEqual([1, 2]);
      for (const a of attempts) {
        expect(parentOf(a)).toBe(idOf(run));
        expect(a.status).toEqual({ code: SpanStatusCode.ERROR, message: "PLANNED_FAILURE" });
        expect(a.attributes).toMatchObject({
          "airun.error.code": "PLANNED_FAILURE",
          "error.type": "PLANNED_FAILURE",
        });
      }
      const undos = spans.filter((s) => s.name.startsWith("airun.compensate "));
      // Newest first, each a child of the run span, each DONE.
      expect(undos.map((s) => s.name)).toEqual([
        "airun.compensate second",
        "airun.compensate first",
      ]);
      for (const u of undos) {
        expect(parentOf(u)).toBe(idOf(run));
        expect(u.status.code).toBe(SpanStatusCode.UNSET);
        expect(u.attributes).toMatchObject({
          "airun.capability": "io.fs.write_file",
          "airun.compensation.kind": "builtin",
          "airun.compensation.status": "DONE",
          "airun.compensation.attempts": 1,
          "airun.compensation.forced": false,
        });
      }
    } finally {
      await rt.close();
    }
  });

  it("marks a compensation refused for drift ERROR, under the run span of a later rollback, which ends FAILED", async () => {
    const exporter = registerSdk();
    w = await workspace();
    const rt = await w.open();
    try {
      const done = await rt.startRun({
        specFile: await w.spec(
          "wf.yaml",
          `name: drift\nversion: 1\nsteps:\n  - id: w\n    capability: io.fs.write_file\n    inputs: { path: d.txt, content: "mine" }\n`,
        ),
      });
      expect(done.status).toBe("COMPLETED");
      writeFileSync(join(w.ws, "d.txt"), "changed by someone else");
      exporter.reset();
      const rolled = await rt.rollback(done.id, { principal: "user:ops" });
      expect(rolled.status).toBe("FAILED");
      const spans = exporter.getFinishedSpans();
      // `workflow rollback` drives no steps but still has its run span as parent.
      const run = only(spans, "airun.run");
      expect(run.attributes).toMatchObject({
        "airun.run.status": "FAILED",
        "airun.run.reason": "COMPENSATION_FAILED",
      });
      const undo = only(spans, "airun.compensate w");
      expect(parentOf(undo)).toBe(idOf(run));
      expect(undo.status.code).toBe(SpanStatusCode.ERROR);
      expect(undo.attributes["airun.compensation.status"]).toBe("REFUSED");
      expect(undo.attributes["airun.error.code"]).toBe(undo.status.message);
    } finally {
      await rt.close();
    }
  });

  it("records a step denied by policy as one ERROR span without an attempt number", async () => {
    const exporter = registerSdk();
    w = await workspace({
      policy: `version: 1\ndefault: ALLOW\nrules:\n  - id: no-delete\n    principal: "*"\n    capability: io.fs.delete\n    decision: DENY\n`,
    });
    const rt = await w.open();
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "wf.yaml",
          `name: denied\nversion: 1\nsteps:\n  - id: rm\n    capability: io.fs.delete\n    inputs: { path: x.txt }\n`,
        ),
      });
      expect(view.status).toBe("ROLLED_BACK");
      const span = only(exporter.getFinishedSpans(), "airun.step rm");
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: "POLICY_DENIED" });
      expect(span.attributes).toMatchObject({
        "airun.decision": "DENY",
        "airun.capability": "io.fs.delete",
      });
      expect(span.attributes["airun.context_hash"]).toBe(view.steps[0]?.context_hash);
      expect(span.attributes).not.toHaveProperty("airun.step.attempt");
    } finally {
      await rt.close();
    }
  });

  it("keeps a canary secret (via ${{ secrets.X }} and a sensitive field) out of every span name, attribute, event and status", async () => {
    const canary = `canary-${randomBytes(12).toString("hex")}`;
    const exporter = registerSdk();
    w = await workspace();
    const rt = await w.open({ CANARY: canary });
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "wf.yaml",
          `name: canary
version: 1
steps:
  - id: write
    capability: io.fs.write_file
    inputs: { path: c.txt, content: "key=\${{ secrets.CANARY }}" }
  - id: echo
    capability: sys.echo
    depends_on: [write]
    inputs: { note: "\${{ secrets.CANARY }}", password: "${canary}" }
  - id: boom
    capability: sys.fail
    depends_on: [echo]
    inputs: { message: "failed with \${{ secrets.CANARY }}" }
`,
        ),
      });
      expect(view.status).toBe("ROLLED_BACK");
      const spans = exporter.getFinishedSpans();
      expect(spans.map((s) => s.name).sort()).toEqual([
        "airun.compensate write",
        "airun.run",
        "airun.step boom",
        "airun.step echo",
        "airun.step write",
      ]);
      const seen = JSON.stringify(
        spans.map((s) => ({
          name: s.name,
          attributes: s.attributes,
          events: s.events,
          links: s.links,
          status: s.status,
          resource: s.resource.attributes as Attributes,
        })),
      );
      // The serialization really holds the spans' content (the check below can fail).
      expect(seen).toContain(view.id);
      expect(seen).not.toContain(canary);
      expect(seen).not.toContain(Buffer.from(canary).toString("base64"));
    } finally {
      await rt.close();
    }
  });

  it("starts no other span when the run span is not recording (sampled out), even through a rollback", async () => {
    let asked = 0;
    const dropAll: Sampler = {
      shouldSample() {
        asked += 1;
        return { decision: SamplingDecision.NOT_RECORD };
      },
      toString: () => "drop-all",
    };
    const exporter = registerSdk(dropAll);
    w = await workspace();
    const rt = await w.open();
    try {
      const view = await rt.startRun({
        specFile: await w.spec(
          "wf.yaml",
          `${WRITE_THEN_ECHO}  - id: boom\n    capability: sys.fail\n    depends_on: [echo]\n    inputs: { message: "no" }\n`,
        ),
      });
      expect(view.status).toBe("ROLLED_BACK");
      // Only the run span was ever asked about: steps, the rollback and its compensation
      // started no span of their own (not even a second root for the rollback).
      expect(asked).toBe(1);
      expect(exporter.getFinishedSpans()).toEqual([]);
    } finally {
      await rt.close();
    }
  });

  it("runs untraced, exporting nothing, when no SDK is registered", async () => {
    const exporter = new InMemorySpanExporter();
    // An SDK that exists but is not registered globally must see nothing.
    provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    w = await workspace();
    const rt = await w.open();
    try {
      const view = await rt.startRun({ specFile: await w.spec("wf.yaml", WRITE_THEN_ECHO) });
      expect(view.status).toBe("COMPLETED");
      expect(exporter.getFinishedSpans()).toEqual([]);
    } finally {
      await rt.close();
    }
  });
});
