// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are Airun templates.
/**
 * @module Generators for the fuzz suite, built from the real shapes (SPEC §4 and §6, the
 * standard capabilities' inputs) so that generated documents get past the parser and into the
 * compilers: valid native and seed specs, valid policies (all three formats), expressions from
 * the grammar, and the hostile material mixed into them (alias bombs, deep nesting, odd
 * scalars, keys that reach a prototype, invalid UTF-8).
 */
import fc from "fast-check";
import { stringify } from "yaml";
import { createStandardRegistry } from "../../src/capabilities/registry.js";
import { compileConfig } from "../../src/core/config.js";
import { declaredOutputKeys } from "../../src/core/spec-inputs.js";

/** A document as generated: the value, and where its mappings with closed key sets are. */
export interface GeneratedDoc {
  readonly value: Record<string, unknown>;
  /** Paths of mappings whose keys are checked (an unknown key there must be reported). */
  readonly closed: readonly (readonly (string | number)[])[];
  /** Paths of fields whose type is checked, with a value of the wrong type for each. */
  readonly typed: readonly { path: readonly (string | number)[]; wrong: unknown }[];
}

const ident = fc.stringMatching(/^[a-z][a-z0-9_]{0,10}$/);
const word = fc.stringMatching(/^[A-Za-z0-9 ._-]{1,20}$/).filter((s) => s.trim() === s && s !== "");
const relPath = fc
  .array(fc.stringMatching(/^[a-z0-9_-]{1,8}(\.[a-z]{1,4})?$/), { minLength: 1, maxLength: 4 })
  .map((parts) => parts.join("/"));

/** Scalars YAML and JSON read in surprising ways. */
export const oddScalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    "yes",
    "no",
    "on",
    "off",
    "~",
    "null",
    ".inf",
    "-.inf",
    ".nan",
    "0x1F",
    "0o17",
    "1e400",
    "-0",
    "2026-12-03",
    "12:30:00",
    "=",
    "<<",
    "!!binary aGVsbG8=",
    "\u0000",
    "\u202e",
    "\ufeff",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
  ),
  fc.double(),
  fc.constantFrom(
    Number.MAX_SAFE_INTEGER + 2,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    -Number.MAX_VALUE,
    1e308 * 10,
    2 ** 53,
    -(2 ** 63),
  ),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map((b) => b.toString()),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.boolean(),
  fc.constant(null),
);

/** Keys that reach a prototype, and their spellings. */
export const hostileKey = fc.constantFrom(
  "__proto__",
  "constructor",
  "prototype",
  "__defineGetter__",
  "hasOwnProperty",
  "toString",
  "valueOf",
  "__proto__ ",
  "Constructor",
);

// ---------------------------------------------------------------------------------------------
// Native specs

interface StepCtx {
  readonly ids: readonly string[];
  readonly inputs: readonly string[];
}

/** A template reading something that exists: an input, an earlier step's outputs, run.*. */
function reference(ctx: StepCtx): fc.Arbitrary<string> {
  const options: fc.Arbitrary<string>[] = [fc.constantFrom("run.id", "run.principal")];
  if (ctx.inputs.length > 0) options.push(fc.constantFrom(...ctx.inputs).map((i) => `inputs.${i}`));
  if (ctx.ids.length > 0) {
    options.push(
      fc.tuple(fc.constantFrom(...ctx.ids), ident).map(([s, k]) => `steps.${s}.outputs.${k}`),
    );
  }
  return fc.oneof(...options);
}

/** The outputs each standard capability declares (null: any key may be read). */
const DECLARED_OUTPUTS = (() => {
  const registry = createStandardRegistry({ llm: compileConfig(null, { cwd: "/", env: {} }).llm });
  return new Map(registry.names().map((n) => [n, declaredOutputKeys(registry.get(n))]));
})();

/**
 * Steps whose templates read only outputs the step they read declares: a generated
 * `steps.<id>.outputs.<key>` (native) or `{{ <name>.<key> }}` (seed) of a step whose capability
 * declares its outputs reads its first declared key instead (validation refuses an undeclared
 * one; an approval step outputs `approved`, `decided_by`, `comment`).
 */
function readDeclaredOutputs<T extends object>(steps: readonly T[]): T[] {
  const outputsOf = new Map<string, readonly string[] | null>();
  for (const s of steps as readonly Record<string, unknown>[]) {
    const approval = s.type === "approval" || s.step_type === "HUMAN_APPROVAL";
    const capability = String(s.capability ?? s.capability_name);
    outputsOf.set(
      String(s.id ?? s.name),
      approval ? ["approved"] : (DECLARED_OUTPUTS.get(capability) ?? null),
    );
  }
  const declared = (id: string, key: string) => {
    const keys = outputsOf.get(id);
    return keys && keys.length > 0 && !keys.includes(key) ? keys[0]! : key;
  };
  const fix = (text: string) =>
    text
      .replace(
        /steps\.([A-Za-z0-9_]+)\.outputs\.([A-Za-z0-9_]+)/g,
        (_, id, key) => `steps.${id}.outputs.${declared(id, key)}`,
      )
      .replace(
        /\{\{ (step_\d+)\.([A-Za-z0-9_]+) \}\}/g,
        (_, id, key) => `{{ ${id}.${declared(id, key)} }}`,
      );
  const walk = (v: unknown): unknown =>
    typeof v === "string"
      ? fix(v)
      : Array.isArray(v)
        ? v.map(walk)
        : v !== null && typeof v === "object"
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
          : v;
  return steps.map((s) => walk(s) as T);
}

/** A string, sometimes with templates reading what exists. */
function textValue(ctx: StepCtx): fc.Arbitrary<string> {
  return fc.oneof(
    word,
    fc.tuple(word, reference(ctx)).map(([w, r]) => `${w}-\${{ ${r} }}`),
    reference(ctx).map((r) => `\${{ ${r} }}`),
  );
}

function pathValue(ctx: StepCtx): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: relPath },
    {
      weight: 1,
      arbitrary: fc.tuple(relPath, reference(ctx)).map(([p, r]) => `${p}-\${{ ${r} }}`),
    },
  );
}

const jsonLeaf = fc.oneof(word, fc.integer(), fc.boolean(), fc.constant(null));
const jsonish = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    jsonLeaf,
    fc.array(tie("v"), { maxLength: 3 }),
    fc.dictionary(ident, tie("v"), { maxKeys: 3 }),
  ),
})).v;

/** A capability call with valid inputs, for the standard capabilities. */
function capabilityCall(ctx: StepCtx): fc.Arbitrary<{ capability: string; inputs: object }> {
  const t = textValue(ctx);
  const p = pathValue(ctx);
  const call = (capability: string, inputs: fc.Arbitrary<object>) =>
    inputs.map((i) => ({ capability, inputs: i }));
  return fc.oneof(
    call(
      "io.fs.write_file",
      fc.record({ path: p, content: t }, { requiredKeys: ["path", "content"] }),
    ),
    call("io.fs.append_file", fc.record({ path: p, content: t })),
    call(
      "io.fs.read_file",
      fc.record(
        { path: p, encoding: fc.constantFrom("utf8", "base64") },
        { requiredKeys: ["path"] },
      ),
    ),
    call(
      "io.fs.copy",
      fc.record({ from: p, to: p, overwrite: fc.boolean() }, { requiredKeys: ["from", "to"] }),
    ),
    call("io.fs.move", fc.record({ from: p, to: p })),
    call(
      "io.fs.delete",
      fc.record({ path: p, recursive: fc.boolean() }, { requiredKeys: ["path"] }),
    ),
    call("io.fs.make_dir", fc.record({ path: p })),
    call("io.fs.list_dir", fc.record({ path: p })),
    call("io.fs.exists", fc.record({ path: p })),
    call("io.fs.hash_file", fc.record({ path: p })),
    call("sys.echo", fc.dictionary(ident, fc.oneof(t, jsonish), { maxKeys: 4 })),
    call("sys.sleep", fc.record({ ms: fc.integer({ min: 0, max: 2_147_483_647 }) })),
    call("sys.fail", fc.record({ message: t }, { requiredKeys: ["message"] })),
    call(
      "sys.assert",
      fc.record(
        {
          that: fc.oneof(
            fc.boolean(),
            reference(ctx).map((r) => `\${{ ${r} != null }}`),
          ),
          message: t,
        },
        { requiredKeys: ["that"] },
      ),
    ),
    call("sys.exec.run", fc.record({ argv: fc.array(t, { minLength: 1, maxLength: 4 }) })),
    call(
      "net.http.request",
      fc
        .record(
          {
            url: fc.webUrl({ validSchemes: ["https"] }),
            method: fc.constantFrom("GET", "POST", "PUT", "DELETE"),
            headers: fc.dictionary(fc.stringMatching(/^x-[a-z]{1,8}$/), t, { maxKeys: 2 }),
            body: jsonish,
          },
          { requiredKeys: ["url", "method"] },
        )
        // Only POST and PUT carry a body.
        .map(({ body, ...r }) => (r.method === "POST" || r.method === "PUT" ? { ...r, body } : r)),
    ),
  );
}

const duration = fc.oneof(
  fc.integer({ min: 1, max: 3_600_000 }),
  fc
    .tuple(fc.integer({ min: 1, max: 999 }), fc.constantFrom("ms", "s", "m", "h"))
    .map(([n, u]) => `${n}${u}`),
);
const risk = fc.constantFrom("LOW", "MEDIUM", "HIGH", "CRITICAL");
const principal = fc
  .tuple(fc.constantFrom("agent", "user", "service"), ident)
  .map(([k, i]) => `${k}:${i}`);
const approver = fc.oneof(
  principal,
  ident.map((r) => `role:${r}`),
);

/** A valid native workflow spec, with where its closed mappings and typed fields are. */
export const nativeSpec: fc.Arbitrary<GeneratedDoc> = fc
  .record({
    name: ident,
    version: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constantFrom("1.0.0", "2")),
    description: fc.option(word, { nil: undefined }),
    principal: fc.option(principal, { nil: undefined }),
    inputs: fc.dictionary(
      ident,
      fc.oneof(
        jsonLeaf,
        fc.record(
          {
            type: fc.constantFrom("string", "any"),
            default: word,
            description: word,
          },
          { requiredKeys: ["type"] },
        ),
        fc.constant({ type: "number", required: true }),
      ),
      { maxKeys: 3 },
    ),
    stepCount: fc.integer({ min: 1, max: 6 }),
    budgets: fc.option(
      fc.record(
        {
          max_tool_calls: fc.integer({ min: 1, max: 100 }),
          max_duration: fc.constantFrom("5m", "1h"),
        },
        { requiredKeys: [] },
      ),
      { nil: undefined },
    ),
  })
  .chain((head) => {
    const inputs = Object.keys(head.inputs);
    const ids = Array.from({ length: head.stepCount }, (_, i) => `s${i}_${head.name}`.slice(0, 30));
    const steps = ids.map((id, i) => {
      const ctx: StepCtx = { ids: ids.slice(0, i), inputs };
      const action = fc
        .record(
          {
            call: capabilityCall(ctx),
            risk_level: risk,
            timeout: duration,
            retry: fc.record(
              {
                max_attempts: fc.integer({ min: 1, max: 5 }),
                backoff: fc.constantFrom("fixed", "exponential"),
                initial_delay: fc.constantFrom("10ms", "1s"),
              },
              { requiredKeys: [] },
            ),
            when: fc.oneof(
              fc.boolean(),
              reference(ctx).map((r) => `\${{ ${r} != 'x' }}`),
            ),
            compensation: fc.record({
              capability: fc.constant("io.fs.delete"),
              inputs: fc.record({ path: relPath }),
            }),
            depends_on: fc.subarray(ctx.ids as string[]),
          },
          { requiredKeys: ["call"] },
        )
        .map(({ call, ...rest }) => ({
          id,
          capability: call.capability,
          inputs: call.inputs,
          ...rest,
        }));
      const approval = fc
        .record(
          {
            message: textValue(ctx),
            approvers: fc.array(approver, { minLength: 1, maxLength: 3 }),
            timeout: duration,
            on_timeout: fc.constantFrom("approve", "reject"),
            depends_on: fc.subarray(ctx.ids as string[]),
          },
          { requiredKeys: ["message"] },
        )
        .map((rest) => ({ id, type: "approval", ...rest }));
      return fc.oneof({ weight: 4, arbitrary: action }, { weight: 1, arbitrary: approval });
    });
    return fc.tuple(...steps).map((generated) => {
      const stepValues = readDeclaredOutputs(generated);
      const value: Record<string, unknown> = {
        name: head.name,
        version: head.version,
        ...(head.description !== undefined ? { description: head.description } : {}),
        ...(head.principal !== undefined ? { principal: head.principal } : {}),
        ...(inputs.length > 0 ? { inputs: head.inputs } : {}),
        // A governance section requires rollback by default; not every generated step undoes.
        ...(head.budgets !== undefined
          ? { governance: { budgets: head.budgets, rollback: { required: false } } }
          : {}),
        steps: stepValues,
      };
      const closed: (string | number)[][] = [[]];
      const typed: { path: (string | number)[]; wrong: unknown }[] = [
        { path: ["name"], wrong: [1, 2] },
        { path: ["steps"], wrong: "not a list" },
      ];
      stepValues.forEach((s, i) => {
        closed.push(["steps", i]);
        typed.push({ path: ["steps", i, "depends_on"], wrong: 42 });
        if ("risk_level" in s) typed.push({ path: ["steps", i, "risk_level"], wrong: "EXTREME" });
        if ("retry" in s) closed.push(["steps", i, "retry"]);
        if ("compensation" in s) closed.push(["steps", i, "compensation"]);
        if ("type" in s) typed.push({ path: ["steps", i, "on_timeout"], wrong: "maybe" });
        else typed.push({ path: ["steps", i, "inputs"], wrong: ["a list"] });
      });
      for (const [k, v] of Object.entries(head.inputs)) {
        if (v !== null && typeof v === "object") closed.push(["inputs", k]);
      }
      if (head.budgets !== undefined) {
        closed.push(["governance"], ["governance", "budgets"], ["governance", "rollback"]);
      }
      return { value, closed, typed };
    });
  });

// ---------------------------------------------------------------------------------------------
// Seed specs

/** A valid seed-format spec (the earlier implementation's YAML). */
export const seedSpec: fc.Arbitrary<GeneratedDoc> = fc
  .record({
    name: ident,
    version: fc.constantFrom("1.0.0", "0.1"),
    agent_name: fc.option(ident, { nil: undefined }),
    owner: fc.option(ident, { nil: undefined }),
    state: fc.dictionary(
      fc.stringMatching(/^in_[a-z]{1,6}$/),
      fc.oneof(word, fc.integer(), fc.boolean()),
      { maxKeys: 3 },
    ),
    stepCount: fc.integer({ min: 1, max: 5 }),
    maxTime: fc.option(fc.integer({ min: 1, max: 86_400 }), { nil: undefined }),
  })
  .chain((head) => {
    const names = Array.from({ length: head.stepCount }, (_, i) => `step_${i}`);
    const inputs = Object.keys(head.state);
    const steps = names.map((name, i) => {
      const refs: string[] = [...inputs, ...names.slice(0, i).map((n) => `${n}.path`)];
      const text =
        refs.length === 0
          ? word
          : fc.oneof(
              word,
              fc.tuple(word, fc.constantFrom(...refs)).map(([w, r]) => `${w}/{{ ${r} }}`),
            );
      const action = fc
        .record(
          {
            capability_name: fc.constantFrom("io.fs.write_file", "io.fs.append_file"),
            path: text,
            content: text,
            risk_level: risk,
            max_retries: fc.integer({ min: 0, max: 5 }),
            timeout_seconds: fc.integer({ min: 1, max: 3600 }),
            compensate: fc.boolean(),
          },
          { requiredKeys: ["capability_name", "path", "content"] },
        )
        .map(({ path, content, compensate, ...rest }) => ({
          name,
          step_type: "ACTION",
          ...rest,
          inputs: { path, content },
          ...(compensate
            ? {
                compensation: {
                  capability_name: "io.fs.delete",
                  inputs: { path: `{{ ${name}.path }}` },
                },
              }
            : {}),
        }));
      const approval = fc
        .record({ message: text, timeout_seconds: fc.integer({ min: 1, max: 86_400 }) })
        .map(({ message, timeout_seconds }) => ({
          name,
          step_type: "HUMAN_APPROVAL",
          capability_name: "human.approve",
          inputs: { message, webhook_url: "https://hooks.example.com/approvals" },
          timeout_seconds,
        }));
      return fc.oneof({ weight: 3, arbitrary: action }, { weight: 1, arbitrary: approval });
    });
    return fc.tuple(...steps).map((generated) => {
      const stepValues = readDeclaredOutputs(generated);
      const value: Record<string, unknown> = {
        name: head.name,
        version: head.version,
        ...(head.agent_name !== undefined ? { agent_name: head.agent_name } : {}),
        ...(head.owner !== undefined ? { metadata: { owner: head.owner } } : {}),
        initial_state: head.state,
        ...(head.maxTime !== undefined ? { max_execution_time_seconds: head.maxTime } : {}),
        enable_auto_rollback: true,
        steps: stepValues,
      };
      const closed: (string | number)[][] = [[]];
      const typed: { path: (string | number)[]; wrong: unknown }[] = [
        { path: ["enable_auto_rollback"], wrong: "sometimes" },
        { path: ["initial_state"], wrong: "a string" },
      ];
      stepValues.forEach((s, i) => {
        closed.push(["steps", i]);
        typed.push({ path: ["steps", i, "step_type"], wrong: "SIDEWAYS" });
        if ("compensation" in s) closed.push(["steps", i, "compensation"]);
      });
      return { value, closed, typed };
    });
  });

// ---------------------------------------------------------------------------------------------
// Policies

const capPattern = fc.oneof(
  fc.constantFrom(
    "io.fs.*",
    "io.fs.read_file",
    "io.fs.write_file",
    "io.fs.delete",
    "sys.exec.*",
    "sys.echo",
    "net.http.request",
    "**",
    "io.**",
  ),
);
const principalPattern = fc.oneof(
  principal,
  fc.constantFrom("agent:*", "user:*", "*"),
  ident.map((r) => `role:${r}`),
);
const pathGlob = fc.oneof(
  relPath,
  relPath.map((p) => `${p}/**`),
  fc.constantFrom("**/*.env", "secret/**", "*.txt", "/etc/**", "ws/{a,b}/**"),
);

/** A valid policy in one of the accepted formats, with its rule count. */
export const policyDoc: fc.Arbitrary<GeneratedDoc & { rules: number }> = fc
  .record({
    version: fc.constantFrom(1, "1", undefined),
    name: fc.option(word, { nil: undefined }),
    default: fc.option(fc.constantFrom("ALLOW", "DENY", "REQUIRE_APPROVAL", "deny", " allow "), {
      nil: undefined,
    }),
    rules: fc.array(
      fc.record(
        {
          format: fc.constantFrom("native", "seed-capabilities", "seed-when"),
          principal: fc.oneof(
            principalPattern,
            fc.array(principalPattern, { minLength: 1, maxLength: 3 }),
          ),
          capability: fc.oneof(capPattern, fc.array(capPattern, { minLength: 1, maxLength: 3 })),
          risk_level: fc.oneof(risk, fc.array(risk, { minLength: 1, maxLength: 2 })),
          decision: fc.constantFrom("ALLOW", "DENY", "REQUIRE_APPROVAL"),
          approvers: fc.array(approver, { minLength: 1, maxLength: 2 }),
          reason: word,
          when: fc.dictionary(
            fc.oneof(
              fc.constantFrom("path", "inputs.path", "from", "to", "cwd"),
              ident,
              ident.map((i) => `inputs.${i}.x`),
            ),
            fc.oneof(
              pathGlob,
              fc.array(pathGlob, { minLength: 1, maxLength: 3 }),
              fc.record({ in: fc.array(pathGlob, { minLength: 1, maxLength: 3 }) }),
              fc.record({ equals: relPath }),
            ),
            { maxKeys: 2 },
          ),
        },
        { requiredKeys: ["format", "decision"] },
      ),
      { maxLength: 8 },
    ),
  })
  .map((head) => {
    const closed: (string | number)[][] = [[]];
    const typed: { path: (string | number)[]; wrong: unknown }[] = [
      { path: ["default"], wrong: "MAYBE" },
      { path: ["version"], wrong: 2 },
    ];
    const rules = head.rules.map((r, i) => {
      closed.push(["rules", i]);
      const { format, approvers, ...rest } = r;
      const rule: Record<string, unknown> = { id: `r${i}`, ...rest };
      // Path fields take strings (a value condition on another key takes any string too).
      if (r.decision !== "DENY" && approvers !== undefined) rule.approvers = approvers;
      if (format === "seed-capabilities") {
        if (rule.capability !== undefined) {
          rule.capabilities = rule.capability;
          delete rule.capability;
        }
        rule.action = rule.decision;
        delete rule.decision;
        typed.push({ path: ["rules", i, "action"], wrong: "PERMIT" });
      } else {
        typed.push({ path: ["rules", i, "decision"], wrong: "PERMIT" });
      }
      if (format === "seed-when" && r.capability !== undefined) {
        rule.when = { ...(r.when ?? {}), capability: r.capability };
        delete rule.capability;
      }
      if (rule.risk_level !== undefined)
        typed.push({ path: ["rules", i, "risk_level"], wrong: "SEVERE" });
      return rule;
    });
    const value: Record<string, unknown> = {
      ...(head.version !== undefined ? { version: head.version } : {}),
      ...(head.name !== undefined ? { name: head.name } : {}),
      ...(head.default !== undefined ? { default: head.default } : {}),
      rules,
    };
    return { value, closed, typed, rules: rules.length };
  });

/** A request to ask a compiled policy about. */
export const policyRequest = fc.record({
  principal,
  roles: fc.array(ident, { maxLength: 2 }),
  capability: fc.constantFrom(
    "io.fs.read_file",
    "io.fs.write_file",
    "io.fs.delete",
    "sys.exec.run",
    "sys.echo",
    "x.y",
  ),
  risk: risk,
  effect: fc.constantFrom("read", "write", "delete", "exec", "network"),
  undo: fc.constantFrom("none", "builtin", "compensation", "irreversible"),
  hasCompensation: fc.boolean(),
  inputs: fc.dictionary(
    fc.oneof(ident, fc.constantFrom("path", "from", "to", "cwd")),
    fc.oneof(relPath, jsonish),
    {
      maxKeys: 3,
    },
  ),
});

// ---------------------------------------------------------------------------------------------
// YAML text

/** Writes a generated value as YAML in one of several styles. */
export function toYaml(value: unknown, style: number): string {
  // Shared objects are written out each time (no anchors): a problem is then on the line that
  // holds its key. Aliases have their own properties (alias bombs).
  const plain = { aliasDuplicateObjects: false } as const;
  switch (style % 4) {
    case 0:
      return stringify(value, plain);
    case 1:
      return stringify(value, { ...plain, collectionStyle: "flow" });
    case 2:
      return stringify(value, { ...plain, defaultStringType: "QUOTE_DOUBLE", indent: 4 });
    default:
      return stringify(value, {
        ...plain,
        defaultKeyType: "PLAIN",
        indentSeq: false,
        lineWidth: 0,
      });
  }
}

/** An edit of a text: at an offset (modulo its length), delete some characters, insert a piece. */
export type Edit = readonly [at: number, del: number, ins: string];

/** Between `minLength` and `maxLength` edits, each inserting one of `pieces`. */
export function edits(
  pieces: readonly string[],
  minLength: number,
  maxLength: number,
): fc.Arbitrary<Edit[]> {
  return fc.array(fc.tuple(fc.nat(), fc.nat(8), fc.constantFrom(...pieces)), {
    minLength,
    maxLength,
  });
}

/** `text` with `es` applied in order. */
export function applyEdits(text: string, es: readonly Edit[]): string {
  let t = text;
  for (const [at, del, ins] of es) {
    const i = at % (t.length + 1);
    t = t.slice(0, i) + ins + t.slice(i + del);
  }
  return t;
}

/** A YAML alias bomb ("billion laughs"): `levels` anchors each aliasing the one before `width` times. */
export const aliasBomb = fc
  .record({
    levels: fc.integer({ min: 2, max: 12 }),
    width: fc.integer({ min: 2, max: 12 }),
    flow: fc.boolean(),
    at: fc.constantFrom("top", "inputs", "step"),
  })
  .map(({ levels, width, flow, at }) => {
    const lines: string[] = [];
    const ind = at === "top" ? "" : "  ";
    if (at === "top") lines.push("name: bomb");
    else lines.push("name: bomb", at === "inputs" ? "inputs:" : "governance:");
    lines.push(`${ind}l0: &l0 "lol"`);
    for (let l = 1; l < levels; l++) {
      const refs = Array.from({ length: width }, () => `*l${l - 1}`);
      lines.push(
        flow
          ? `${ind}l${l}: &l${l} [${refs.join(", ")}]`
          : `${ind}l${l}: &l${l}\n${refs.map((r) => `${ind}  - ${r}`).join("\n")}`,
      );
    }
    lines.push(
      "steps:",
      "  - id: a",
      "    capability: sys.echo",
      `    inputs: { x: *l${levels - 1} }`,
    );
    return { text: `${lines.join("\n")}\n`, expansion: width ** (levels - 1) };
  });

/** Text nested `depth` deep, in one of several YAML spellings of nesting. */
export const deepNesting = fc
  .record({
    depth: fc.integer({ min: 1, max: 20_000 }),
    kind: fc.integer({ min: 0, max: 5 }),
    at: fc.constantFrom("", "steps:\n  - id: a\n    capability: sys.echo\n    inputs:\n      x: "),
  })
  .map(({ depth, kind, at }) => {
    let body: string;
    switch (kind) {
      case 0:
        body = `${"[".repeat(depth)}1${"]".repeat(depth)}`;
        break;
      case 1:
        body = `${"{a: ".repeat(depth)}1${"}".repeat(depth)}`;
        break;
      case 2:
        body = `${"- ".repeat(depth)}x`;
        break;
      case 3: {
        const base = at === "" ? 0 : 8;
        const lines = Array.from(
          { length: Math.min(depth, 2000) },
          (_, i) => `${" ".repeat(base + i)}k${i}:`,
        );
        body = `${at === "" ? "" : "\n"}${lines.join("\n")} 1`;
        break;
      }
      case 4:
        body = `${"? ".repeat(depth)}x`;
        break;
      default:
        body = `${"[{a: ".repeat(Math.ceil(depth / 2))}1${"}]".repeat(Math.ceil(depth / 2))}`;
    }
    return { text: at === "" ? body : `name: deep\n${at}${body}\n`, depth };
  });

/** Random bytes, UTF-8 with a few bytes damaged, or a valid spec with invalid bytes in it. */
export function damagedBytes(valid: fc.Arbitrary<string>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 2048 }),
    fc
      .tuple(
        valid,
        fc.array(
          fc.tuple(fc.nat(), fc.constantFrom(0x80, 0xbf, 0xc0, 0xc1, 0xed, 0xf5, 0xff, 0xfe)),
          { minLength: 1, maxLength: 4 },
        ),
      )
      .map(([text, hits]) => {
        const bytes = new TextEncoder().encode(text);
        const out = new Uint8Array(bytes);
        for (const [at, b] of hits) if (out.length > 0) out[at % out.length] = b;
        return out;
      }),
    valid.map((t) => new Uint8Array([...new TextEncoder().encode(t), 0xed, 0xa0, 0x80])), // an encoded surrogate
  );
}

// ---------------------------------------------------------------------------------------------
// Expressions

const exprLeaf = fc.oneof(
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => String(Math.abs(d))),
  fc.constantFrom(
    "1e308",
    "1e999",
    "0.0000001",
    "9007199254740993",
    "true",
    "false",
    "null",
    "''",
    "'a\\'b'",
    '"x"',
  ),
  fc.constantFrom(
    "inputs.a",
    "inputs.b.c",
    "inputs['k']",
    "inputs.list[0]",
    "inputs.list[99]",
    "steps.s.outputs.x",
    "run.id",
    "inputs.__proto__",
    "inputs.constructor",
    "inputs.a.length",
  ),
  fc.string({ maxLength: 8 }).map((s) => `'${s.replace(/[\\']/g, "")}'`),
);

/** An expression from the grammar (binary, unary, calls, grouping), possibly deep. */
export const expression: fc.Arbitrary<string> = fc.letrec((tie) => ({
  e: fc.oneof(
    { depthSize: "medium", withCrossShrink: true },
    exprLeaf,
    fc
      .tuple(tie("e"), fc.constantFrom("==", "!=", "<", "<=", ">", ">=", "&&", "||"), tie("e"))
      .map(([a, op, b]) => `${a} ${op} ${b}`),
    tie("e").map((a) => `!${a}`),
    tie("e").map((a) => `-${a}`),
    tie("e").map((a) => `(${a})`),
    tie("e").map((a) => `len(${a})`),
  ),
})).e as fc.Arbitrary<string>;

/** Expressions nested far deeper than anyone writes. */
export const deepExpression = fc
  .record({ depth: fc.integer({ min: 100, max: 50_000 }), kind: fc.integer({ min: 0, max: 6 }) })
  .map(({ depth, kind }) => {
    switch (kind) {
      case 0:
        return `${"(".repeat(depth)}1${")".repeat(depth)}`;
      case 1:
        return `${"!".repeat(depth)}true`;
      case 2:
        return `${"-".repeat(depth)}1`;
      case 3:
        return `${"len(".repeat(depth)}'x'${")".repeat(depth)}`;
      case 4:
        return Array.from({ length: depth }, () => "1").join(" == ");
      case 5:
        return Array.from({ length: depth }, () => "true").join(" && ");
      default:
        return `${"!(".repeat(depth)}true${")".repeat(depth)}`;
    }
  });

/** Values a scope may hold, including odd numbers and hostile keys. */
export const scopeValue = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: "small" },
    fc.oneof(
      fc.string({ maxLength: 10 }),
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
    ),
    fc.array(tie("v"), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(fc.constantFrom("a", "b", "c", "x", "list", "k", "length"), hostileKey),
      tie("v"),
      { maxKeys: 4 },
    ),
  ),
})).v;
