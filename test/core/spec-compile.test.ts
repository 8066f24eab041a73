// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Airun templates.
/** @module Tests of the spec compiler (src/core/spec-compile.ts) on both spec formats. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { AnyCapability, CapabilityCatalog } from "../../src/core/capability.js";
import { ValidationError } from "../../src/core/errors.js";
import type { JsonValue } from "../../src/core/json.js";
import {
  compileSpec,
  computeSpecHash,
  planFromJson,
  validateSpec,
} from "../../src/core/spec-compile.js";

/** A tiny stand-in for the real registry: a few capabilities with their input schemas. */
function fakeCatalog(): CapabilityCatalog {
  const caps: Record<string, z.ZodType> = {
    "io.fs.write_file": z.object({
      path: z.string(),
      content: z.string().optional(),
      content_base64: z.string().optional(),
      create_dirs: z.boolean().optional(),
    }),
    "io.fs.read_file": z.strictObject({ path: z.string() }),
    "io.fs.delete": z.object({ path: z.string(), recursive: z.boolean().optional() }),
    "io.fs.copy": z.object({ from: z.string(), to: z.string() }),
    "io.fs.list_dir": z.object({ path: z.string() }),
    "net.http.request": z.object({
      url: z.string(),
      method: z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]).optional(),
      headers: z.record(z.string(), z.string()).optional(),
      body: z.unknown().optional(),
    }),
    "sys.echo": z.record(z.string(), z.unknown()),
    "sys.sleep": z.object({ ms: z.number().int().min(0) }),
    "sys.assert": z.object({ that: z.unknown(), message: z.string().optional() }),
    "sys.exec.run": z.object({ argv: z.array(z.string()).min(1) }),
  };
  const defs = new Map<string, AnyCapability>(
    Object.entries(caps).map(([name, input]) => [
      name,
      {
        name,
        description: name,
        input,
        risk: "LOW",
        effect: "read",
        idempotent: true,
        undo: "none",
        execute: async () => ({}),
      } as AnyCapability,
    ]),
  );
  return { get: (n) => defs.get(n), names: () => [...defs.keys()] };
}

const catalog = fakeCatalog();
const fixture = (name: string) => ({
  file: `test/fixtures/specs/${name}`,
  text: readFileSync(new URL(`../fixtures/specs/${name}`, import.meta.url), "utf8"),
});
const spec = (text: string) => ({ file: "wf.yaml", text });
const problems = (text: string) => validateSpec(spec(text), catalog).problems;
/** 1-based line of the first line containing `needle`. */
const lineOf = (text: string, needle: string, from = 0) => {
  const lines = text.split("\n");
  const i = lines.findIndex((l, j) => j >= from && l.includes(needle));
  if (i < 0) throw new Error(`"${needle}" not in text`);
  return i + 1;
};

describe("compileSpec: native format", () => {
  const plan = compileSpec(fixture("native-deploy.yaml"), catalog);

  it("compiles every top-level field", () => {
    expect(plan.name).toBe("deploy_web_service");
    expect(plan.version).toBe("2");
    expect(plan.description).toBe("Native format with every step feature");
    expect(plan.principal).toBe("agent:planner");
    expect(plan.format).toBe("native");
    expect(plan.governance).toBeNull();
    expect(plan.inputs).toEqual({
      env: { type: "string", required: false, default: "staging" },
      replicas: { type: "number", required: true, description: "How many replicas" },
      dry_run: { type: "boolean", required: false, default: false },
    });
  });

  it("compiles an action step with retry, timeout, when and compensation", () => {
    const s = plan.steps[0]!;
    expect(s).toEqual({
      id: "write_config",
      kind: "action",
      capability: "io.fs.write_file",
      inputs: { path: "conf/${{ inputs.env }}.json", content: "${{ inputs.replicas }}" },
      dependsOn: [],
      risk: "MEDIUM",
      retry: { maxAttempts: 3, backoff: "fixed", initialDelayMs: 100, maxDelayMs: 2000 },
      timeoutMs: 30_000,
      when: "${{ inputs.env != 'prod' && !inputs.dry_run }}",
      compensation: { capability: "io.fs.delete", inputs: { path: "conf/${{ inputs.env }}.json" } },
      approval: null,
      evidence: null,
      line: 10,
    });
  });

  it("infers dependencies from step references in templates", () => {
    const check = plan.steps.find((s) => s.id === "check")!;
    expect(check.dependsOn).toEqual(["write_config"]);
    const approve = plan.steps.find((s) => s.id === "approve_prod")!;
    // explicit `check` plus `write_config` read by the message
    expect(approve.dependsOn).toEqual(["write_config", "check"]);
  });

  it("compiles an approval step", () => {
    const s = plan.steps.find((x) => x.id === "approve_prod")!;
    expect(s.kind).toBe("approval");
    expect(s.capability).toBeNull();
    expect(s.approval).toEqual({
      message: "Approve ${{ inputs.env }} deployment of ${{ steps.write_config.outputs.path }}?",
      approvers: ["role:sre", "user:bob"],
      timeoutMs: 86_400_000,
      onTimeout: "approve",
      webhookUrl: null,
    });
    expect(s.retry.maxAttempts).toBe(1);
  });

  it("defaults retry to one attempt, exponential, 200ms..5s", () => {
    const s = plan.steps.find((x) => x.id === "notify")!;
    expect(s.retry).toEqual({
      maxAttempts: 1,
      backoff: "exponential",
      initialDelayMs: 200,
      maxDelayMs: 5000,
    });
    expect(s.timeoutMs).toBeNull();
    expect(s.when).toBeNull();
  });

  it("orders steps topologically, stable in declaration order", () => {
    expect(plan.steps.map((s) => s.id)).toEqual([
      "write_config",
      "check",
      "approve_prod",
      "notify",
    ]);
    const text = `name: t
steps:
  - id: c
    capability: sys.echo
    inputs: { v: "\${{ steps.b.outputs.x }}" }
  - id: a
    capability: sys.echo
    depends_on: []
  - id: b
    capability: sys.echo
    depends_on: []
  - id: d
    capability: sys.echo
`;
    // c reads b, listed later: a step that reads a later one needs the later one (and the
    // steps between) to declare depends_on, or the order they are listed in is a cycle.
    expect(compileSpec(spec(text), catalog).steps.map((s) => s.id)).toEqual(["a", "b", "c", "d"]);
  });

  it("deep-freezes the plan and hashes it", () => {
    expect(Object.isFrozen(plan)).toBe(true);
    expect(Object.isFrozen(plan.steps[0]!.inputs)).toBe(true);
    expect(Object.isFrozen(plan.steps[0]!.retry)).toBe(true);
    expect(plan.specHash).toMatch(/^[0-9a-f]{64}$/);
    expect(computeSpecHash(plan)).toBe(plan.specHash);
    // Same content, same hash; reformatting (lines moved) does not change it.
    const again = compileSpec(
      {
        ...fixture("native-deploy.yaml"),
        text: `# comment\n\n${fixture("native-deploy.yaml").text}`,
      },
      catalog,
    );
    expect(again.steps[0]!.line).toBe(12);
    expect(again.specHash).toBe(plan.specHash);
  });

  it("round-trips through JSON with planFromJson", () => {
    const back = planFromJson(JSON.parse(JSON.stringify(plan)) as JsonValue, { verifyHash: true });
    expect(back).toEqual(plan);
    expect(Object.isFrozen(back.steps[0]!.inputs)).toBe(true);
    const tampered = JSON.parse(JSON.stringify(plan));
    tampered.steps[0].capability = "io.fs.delete";
    expect(() => planFromJson(tampered, { verifyHash: true })).toThrow(/specHash/);
    expect(() => planFromJson({ name: 1 })).toThrow(/invalid/);
  });

  it("keeps governance raw and allows evidence.* only in evidence expressions", () => {
    const p = compileSpec(fixture("native-evidence.yaml"), catalog);
    expect(p.version).toBe("1.2");
    expect(p.governance).toMatchObject({
      objective: "Summarize incident and propose fix",
      budgets: { max_tool_calls: 20 },
    });
    expect(p.steps[0]!.evidence).toEqual({ source_refs: "${{ steps.search.outputs.entries }}" });
    // a step's evidence may read its own outputs without depending on itself
    expect(p.steps[1]!.dependsOn).toEqual(["search"]);
    const bad = `name: t
steps:
  - id: a
    capability: sys.echo
    inputs: { v: "\${{ evidence.x }}" }
`;
    expect(problems(bad)).toMatchObject([
      { line: 5, message: expect.stringMatching(/evidence\.\* may only/) },
    ]);
  });
});

describe("compileSpec: seed format", () => {
  it("compiles the seed deploy fixture", () => {
    const p = compileSpec(fixture("seed-deploy.yaml"), catalog);
    expect(p.format).toBe("seed");
    expect(p.name).toBe("deploy_web_service");
    expect(p.version).toBe("1.0.0");
    expect(p.principal).toBe("agent:deployer");
    expect(p.inputs).toEqual({
      env: { type: "string", required: false, default: "staging" },
      replicas: { type: "number", required: false, default: 2 },
    });
    const [write, gate, publish] = p.steps;
    expect(write).toMatchObject({
      id: "write_config",
      capability: "io.fs.write_file",
      inputs: {
        path: "conf/${{ inputs.env }}.json",
        content: '{"replicas": ${{ inputs.replicas }}}',
      },
      risk: "MEDIUM",
      timeoutMs: 30_000,
      compensation: {
        capability: "io.fs.delete",
        inputs: { path: "${{ steps.write_config.outputs.path }}" },
      },
      dependsOn: [],
    });
    expect(write!.retry.maxAttempts).toBe(1);
    expect(gate).toMatchObject({
      id: "approval_gate",
      kind: "approval",
      capability: null,
      dependsOn: ["write_config"],
      timeoutMs: null,
      approval: {
        message: "Deploy ${{ inputs.env }} with ${{ inputs.replicas }} replicas?",
        webhookUrl: "https://hooks.example.com/approvals",
        timeoutMs: 3_600_000,
        onTimeout: "reject",
        approvers: [],
      },
    });
    expect(publish).toMatchObject({
      id: "publish",
      inputs: { from: "${{ steps.write_config.outputs.path }}", to: "live/${{ inputs.env }}.json" },
      dependsOn: ["write_config", "approval_gate"],
    });
    expect(publish!.retry.maxAttempts).toBe(3);
    const text = fixture("seed-deploy.yaml").text;
    expect(p.steps.map((s) => s.line)).toEqual([
      lineOf(text, "- name: write_config"),
      lineOf(text, "- name: approval_gate"),
      lineOf(text, "- name: publish"),
    ]);
  });

  it("regression: max_retries: 0 means ONE attempt (the seed made 3)", () => {
    const text = `name: t
steps:
  - name: a
    capability_name: sys.echo
    max_retries: 0
`;
    expect(compileSpec(spec(text), catalog).steps[0]!.retry.maxAttempts).toBe(1);
  });

  it("compiles the seed onboarding fixture (metadata.owner, approver_role, single-name templates)", () => {
    const p = compileSpec(fixture("seed-onboarding.yaml"), catalog);
    expect(p.principal).toBe("user:daniel@example.com");
    expect(p.governance).toEqual({ budgets: { max_duration: "3600s" } });
    const [create, approval, send] = p.steps;
    expect(create!.inputs).toEqual({
      customer_name: "${{ inputs.customer_name }}",
      tier: "${{ inputs.customer_tier }}",
    });
    expect(create!.risk).toBe("HIGH");
    expect(create!.compensation).toEqual({
      capability: "sys.echo",
      inputs: { account_id: "${{ steps.create_account.outputs.account_id }}" },
    });
    expect(approval!.approval).toEqual({
      message:
        "New ${{ inputs.customer_tier }} customer ${{ inputs.customer_name }} requires approval",
      approvers: ["role:sales_director"],
      timeoutMs: 1_800_000,
      onTimeout: "reject",
      webhookUrl: null,
    });
    expect(send!.dependsOn).toEqual(["create_account", "human_approval"]);
    expect(send!.timeoutMs).toBe(60_000);
    expect(send!.retry.maxAttempts).toBe(4);
  });

  it("turns a bare seed owner into user:<owner> when there is no agent_name", () => {
    const text = `name: t
metadata: { owner: alice }
steps:
  - name: a
    capability_name: sys.echo
`;
    expect(compileSpec(spec(text), catalog).principal).toBe("user:alice");
    expect(compileSpec(spec(`principal: service:ci\n${text}`), catalog).principal).toBe(
      "service:ci",
    );
  });

  it("rejects a seed name that is both a step and an input; an undeclared name resolves at run time (issue 14)", () => {
    const text = `name: t
initial_state: { a: 1 }
steps:
  - name: a
    capability_name: sys.echo
  - name: b
    capability_name: sys.echo
    inputs:
      x: "{{ a.v }}"
      y: "{{ nobody }}"
`;
    const ps = problems(text);
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({
      line: 9,
      field: "steps[1].inputs.x",
      message: expect.stringMatching(/both a step and an input/),
    });
    // Without the ambiguity, {{ nobody }} is read at run time as step b's undeclared name: an
    // input when given, else the output of a step listed before (sys.echo may output it).
    const plan = compileSpec(
      spec(text.replace('"{{ a.v }}"', '"{{ steps.a.outputs.v }}"')),
      catalog,
    );
    expect(plan.steps[1]!.inputs).toMatchObject({ y: "${{ seed.b.nobody }}" });
    expect(plan.inputs.nobody).toEqual({ type: "any", required: false, undeclared: true });
    // Nothing listed before can give it: an input the run needs.
    const alone = compileSpec(
      spec(
        'name: t\nagent_name: x\nsteps:\n  - name: b\n    capability_name: sys.echo\n    inputs: { y: "{{ nobody }}" }\n',
      ),
      catalog,
    );
    expect(alone.inputs.nobody).toEqual({ type: "any", required: true, undeclared: true });
  });

  it("reads seed shorthand only in {{ }} templates, never in ${{ }}", () => {
    const text = `name: t
initial_state: { env: dev }
steps:
  - name: a
    capability_name: sys.echo
    inputs: { x: "{{ inputs.env }}", y: "{{ env }}", z: "\${{ env }}" }
`;
    const ps = problems(text);
    expect(ps).toMatchObject([
      { line: 6, field: "steps[0].inputs.z", message: expect.stringMatching(/unknown root "env"/) },
    ]);
    const ok = compileSpec(spec(text.replace(', z: "${{ env }}"', "")), catalog);
    expect(ok.steps[0]!.inputs).toEqual({ x: "${{ inputs.env }}", y: "${{ inputs.env }}" });
  });

  it("keeps seed per-agent policies and disabled rollback in the plan (issue 14: they work now)", () => {
    const text = `name: t
steps:
  - name: a
    capability_name: sys.echo
policy:
  - agent_name: x
    allowed_capabilities: [sys.echo]
enable_auto_rollback: false
`;
    const plan = compileSpec(spec(text), catalog);
    expect(plan.autoRollback).toBe(false);
    expect(plan.specPolicy).toEqual([{ principal: "agent:x", allowed_capabilities: ["sys.echo"] }]);
    const bad = text.replace("allowed_capabilities: [sys.echo]", "allowed_capabilities: sys.echo");
    expect(problems(bad).map((p) => [p.line, p.field])).toEqual([
      [7, "policy[0].allowed_capabilities"],
    ]);
    expect(
      problems(text.replace("enable_auto_rollback: false", "enable_auto_rollback: nope")).map(
        (p) => [p.line, p.field],
      ),
    ).toEqual([[8, "enable_auto_rollback"]]);
  });
});

describe("validateSpec: problems", () => {
  it("reports every problem at once, each with its line", () => {
    const text = `name: broken
versoin: 1
inputs:
  env: staging
steps:
  - id: a
    capability: io.fs.writ_file
    inputs: { path: x }
  - id: a
    capability: sys.echo
  - id: b
    capability: sys.echo
    depends_on: [a, ghost]
    risk_level: EXTREME
    retry: { max_attempts: 0 }
    timeout: soon
    when: "\${{ inputs.env == }}"
    inputs:
      v: "\${{ inputs.nope }}"
      w: "\${{ steps.a.result }}"
      x: "\${{ run.whatever }}"
      y: "\${{ env.HOME }}"
    frobnicate: true
`;
    const ps = problems(text);
    const at = (line: number) => ps.filter((p) => p.line === line).map((p) => p.message);
    expect(at(2)[0]).toMatch(/unknown workflow key "versoin" \(did you mean "version"\?\)/);
    expect(at(7)[0]).toMatch(
      /unknown capability "io.fs.writ_file" \(did you mean "io.fs.write_file"\?\)/,
    );
    expect(at(9)[0]).toMatch(/duplicate step id "a"/);
    expect(at(13)[0]).toMatch(/unknown step "ghost"/);
    expect(at(14)[0]).toMatch(/risk_level must be one of/);
    expect(at(15)[0]).toMatch(/max_attempts must be an integer >= 1/);
    expect(at(16)[0]).toMatch(/timeout must be a duration/);
    expect(at(17)[0]).toMatch(/EXPRESSION_SYNTAX|expression/);
    expect(at(19)[0]).toMatch(/unresolved reference "inputs.nope": no declared input/);
    expect(at(20)[0]).toMatch(/steps.a.outputs/);
    expect(at(21)[0]).toMatch(/unresolved reference "run.whatever"/);
    expect(at(22)[0]).toMatch(/unknown root "env"/);
    expect(at(23)[0]).toMatch(/unknown step key "frobnicate"/);
    expect(ps.every((p) => p.file === "wf.yaml")).toBe(true);
    expect(ps).toHaveLength(13);
  });

  it("throws a ValidationError carrying all problems", () => {
    const text =
      "name: t\nsteps:\n  - id: a\n    capability: nope.nope.nope\n  - id: b\n    capability: sys.echo\n    depends_on: [zz]\n";
    try {
      compileSpec(spec(text), catalog);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ValidationError);
      const ve = err as ValidationError;
      expect(ve.problems.map((p) => p.line)).toEqual([4, 7]);
      expect(ve.message).toContain("wf.yaml:4:17: steps[0].capability: unknown capability");
    }
  });

  it("names the cycle path, for explicit and inferred dependencies", () => {
    const text = `name: t
steps:
  - id: a
    capability: sys.echo
    depends_on: [c]
  - id: b
    capability: sys.echo
    depends_on: [a]
  - id: c
    capability: sys.echo
    inputs: { v: "\${{ steps.b.outputs.x }}" }
`;
    const ps = problems(text);
    expect(ps).toHaveLength(1);
    expect(ps[0]).toMatchObject({ line: 3, message: "dependency cycle: a -> b -> c -> a" });
  });

  it("reports a step reading its own outputs, or depending on itself, as a cycle", () => {
    const text = `name: t
steps:
  - id: a
    capability: sys.echo
    inputs: { v: "\${{ steps.a.outputs.x }}" }
  - id: b
    capability: sys.echo
    depends_on: [b]
`;
    expect(problems(text).map((p) => [p.line, p.message.includes("cycle")])).toEqual([
      [5, true],
      [8, true],
    ]);
  });

  it("reports a reference to a step that depends on this step as a cycle", () => {
    const text = `name: t
steps:
  - id: a
    capability: sys.echo
    when: "\${{ steps.b.outputs.ok }}"
  - id: b
    capability: sys.echo
    depends_on: [a]
`;
    expect(problems(text)).toMatchObject([{ line: 3, message: "dependency cycle: a -> b -> a" }]);
  });

  it("validates capability inputs against the schema, skipping templated values", () => {
    const text = `name: t
inputs: { n: 5 }
steps:
  - id: a
    capability: io.fs.write_file
    inputs:
      content: 42
      pth: x
  - id: b
    capability: sys.sleep
    inputs: { ms: "\${{ inputs.n }}" }
  - id: c
    capability: io.fs.read_file
    inputs:
      path: ok
      extra: 1
  - id: d
    capability: sys.sleep
    inputs:
      ms: "soon"
`;
    const ps = problems(text);
    expect(ps.map((p) => [p.line, p.field])).toEqual([
      [7, "steps[0].inputs.path"],
      [7, "steps[0].inputs.content"],
      [8, "steps[0].inputs.pth"],
      [16, "steps[2].inputs.extra"],
      [20, "steps[3].inputs.ms"],
    ]);
    expect(ps[0]!.message).toMatch(/missing required input "path" for io.fs.write_file/);
    expect(ps[2]!.message).toMatch(/unknown input "pth"/);
    expect(ps[3]!.message).toMatch(/unknown input "extra"/);
  });

  it("validates compensation inputs too", () => {
    const text = `name: t
steps:
  - id: a
    capability: sys.echo
    compensation:
      capability_name: io.fs.delete
      inputs: { paht: x }
`;
    expect(problems(text).map((p) => [p.line, p.message])).toEqual([
      [7, expect.stringMatching(/missing required input "path"/)],
      [7, expect.stringMatching(/unknown input "paht"/)],
    ]);
  });

  it("records a risk_level below the capability floor as declared (the floor still applies)", () => {
    const text =
      "name: t\nsteps:\n  - id: a\n    capability: sys.exec.run\n    inputs: { argv: [ls] }\n    risk_level: LOW\n";
    expect(compileSpec(spec(text), catalog).steps[0]!.risk).toBe("LOW");
  });

  it("rejects action-only keys on approval steps and approval keys on action steps", () => {
    const text = `name: t
steps:
  - id: gate
    type: approval
    retry: { max_attempts: 2 }
    on_timeout: maybe
  - id: act
    capability: sys.echo
    message: hi
`;
    expect(problems(text).map((p) => [p.line, p.field])).toEqual([
      [5, "steps[0].retry"],
      [6, "steps[0].on_timeout"],
      [9, "steps[1].message"],
    ]);
  });

  it("reports YAML syntax errors with their position", () => {
    const ps = problems("name: t\nsteps:\n  - id: a\n   capability: [\n");
    expect(ps.length).toBeGreaterThan(0);
    expect(ps[0]!.line).toBeGreaterThanOrEqual(3);
  });

  it("reports a missing name and empty steps", () => {
    expect(problems("version: 1\nsteps: []\n").map((p) => p.message)).toEqual([
      "the workflow needs a non-empty name",
      "a workflow needs a non-empty list of steps",
    ]);
  });

  it("rejects a bad principal and a template in a when with surrounding text", () => {
    const text = `name: t
principal: planner
steps:
  - id: a
    capability: sys.echo
    when: "x \${{ true }}"
`;
    expect(problems(text).map((p) => p.line)).toEqual([2, 6]);
  });
});
