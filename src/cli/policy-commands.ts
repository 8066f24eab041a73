/**
 * @module `airun policy check` (explain one decision) and `airun policy test` (table tests),
 * which never open the database (`engine/policy-tools.ts`), and `airun policy history` (the
 * policy's own ledger entries: reloads and refused edits).
 */
import type { Command } from "commander";
import { AirunError } from "../core/errors.js";
import type { JsonObject, JsonValue } from "../core/json.js";
import type { RiskLevel } from "../core/status.js";
import type { PolicyCheck, PolicyTools } from "../engine/runtime/policy-tools.js";
import {
  asPrincipal,
  type CliContext,
  type CommonOptions,
  collect,
  common,
  readingRuntime,
} from "./cli-kit.js";
import { ExitCode } from "./exit-codes.js";
import { printJson } from "./json-output.js";
import { describePolicyEntry } from "./timeline.js";

const RISKS = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];

/** The policy tools for one command; the policy's warnings go to stderr. */
async function openTools(opts: CommonOptions & { policy?: string }): Promise<PolicyTools> {
  const { PolicyTools } = await import("../engine/runtime/policy-tools.js");
  const tools = await PolicyTools.open(toolOptions(opts));
  for (const w of tools.warnings) process.stderr.write(`airun: warning: ${w}\n`);
  return tools;
}

/** Registers the `policy` command group on `program`. */
export function registerPolicyCommands(program: Command, cli: CliContext): void {
  const policy = program
    .command("policy")
    .description("explain and test the policy, and show its history");

  common(policy.command("history"))
    .description(
      "the policy's ledger entries: each hot reload (policy.loaded) and each refused edit (policy.reload_refused)",
    )
    .action(async (opts: CommonOptions) => {
      await readingRuntime(cli, opts, async (rt) => {
        const entries = await rt.policyHistory();
        if (opts.json) {
          printJson({ entries });
          return;
        }
        if (entries.length === 0) process.stdout.write("no policy reloads recorded\n");
        for (const e of entries) {
          const words = describePolicyEntry(e.type, (e.data ?? {}) as Record<string, unknown>);
          process.stdout.write(`#${e.seq}  ${new Date(e.at).toISOString()}  ${words}\n`);
        }
      });
    });

  common(policy.command("check"))
    .description("explain the decision for one call: which policy, which rules, why")
    .requiredOption("--as <principal>", "who acts (kind:id)")
    .requiredOption(
      "--capability <name>",
      "the capability called, e.g. io.fs.write_file (one no loaded plugin provides is answered with a warning)",
    )
    .option(
      "--input <key=value>",
      "an input value the conditions see (repeatable); JSON values (numbers, true, quoted strings) are parsed",
      collect,
    )
    .option("--risk <level>", "the step's declared risk (default: the capability's floor)")
    .option(
      "--compensation [capability]",
      "the step declares a compensation; name its capability to have it asked about too",
    )
    .option(
      "--compensation-input <key=value>",
      "an input value of the compensation (repeatable; as --input)",
      collect,
    )
    .option("--policy <file>", "policy file to use instead of the config's")
    .action(
      async (
        opts: CommonOptions & {
          capability: string;
          input?: string[];
          risk?: string;
          compensation?: boolean | string;
          compensationInput?: string[];
          policy?: string;
        },
      ) => {
        const principal = asPrincipal(opts) as string;
        const risk = parseRisk(opts.risk);
        const tools = await openTools(opts);
        const check = tools.check({
          principal,
          capability: opts.capability,
          inputs: parseCheckInputs(opts.input ?? []),
          risk,
          compensation:
            typeof opts.compensation === "string"
              ? {
                  capability: opts.compensation,
                  inputs: parseCheckInputs(opts.compensationInput ?? []),
                }
              : opts.compensation === true,
        });
        warnUnknown([check]);
        if (opts.json) {
          printJson(checkJson(check, tools.hookUrl));
        } else {
          const { explainDecision } = await import("../core/policy.js");
          process.stdout.write(`${checkText(check, tools.hookUrl, explainDecision)}\n`);
        }
        process.exitCode = ExitCode.OK;
      },
    );

  common(policy.command("test"))
    .description("run policy table tests; exit 0 when every case passes, 1 on any mismatch")
    .argument(
      "<file>",
      "YAML list of cases: {name?, principal, capability, inputs?, risk?, expect}",
    )
    .option("--policy <file>", "policy file to use instead of the config's")
    .action(async (file: string, opts: CommonOptions & { policy?: string }) => {
      const tools = await openTools(opts);
      const results = await tools.runCases(file);
      warnUnknown(results.map((r) => r.check));
      const failed = results.filter((r) => !r.pass).length;
      if (opts.json) {
        const body = {
          policy: { source: tools.policy.source, hash: tools.policy.hash },
          passed: results.length - failed,
          failed,
          results: results.map((r) => ({
            name: r.case.name,
            line: r.case.line,
            pass: r.pass,
            expect: r.case.expect,
            ...checkJson(r.check, null),
          })),
        };
        printJson(body);
      } else {
        process.stdout.write(`policy ${policyLabel(tools.policy)}\n`);
        for (const r of results) {
          const d = r.check.decision;
          if (r.pass) {
            process.stdout.write(`✓ ${r.case.name}: ${d.decision}\n`);
          } else {
            process.stdout.write(
              `✗ ${r.case.name} (${file}:${r.case.line}): expected ${r.case.expect}, got ${d.decision}\n` +
                `    rules: ${d.ruleIds.length > 0 ? d.ruleIds.join(", ") : "none (default)"}\n` +
                `    reason: ${d.reason}\n`,
            );
          }
        }
        process.stdout.write(
          `\n${results.length - failed} passed, ${failed} failed (${results.length} cases)\n`,
        );
      }
      process.exitCode = failed > 0 ? 1 : ExitCode.OK;
    });
}

/** One warning on stderr per capability asked about that nothing loaded provides. */
function warnUnknown(checks: readonly PolicyCheck[]): void {
  for (const line of new Set(checks.flatMap((c) => c.unknown))) {
    process.stderr.write(`airun: warning: ${line}\n`);
  }
}

function toolOptions(opts: CommonOptions & { policy?: string }) {
  return {
    ...(opts.config ? { configFile: opts.config } : {}),
    ...(opts.policy ? { policyFile: opts.policy } : {}),
  };
}

function parseRisk(value: string | undefined): RiskLevel | null {
  if (value === undefined) return null;
  const upper = value.trim().toUpperCase();
  if (!RISKS.includes(upper)) {
    throw new AirunError("USAGE", `--risk must be one of ${RISKS.join(", ")}, got "${value}"`);
  }
  return upper as RiskLevel;
}

/**
 * `--input key=value` pairs. A value that is valid JSON (number, boolean, null, quoted string,
 * array, object) is parsed; anything else is a string (`path=reports/a.txt`).
 */
function parseCheckInputs(pairs: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new AirunError("USAGE", `--input expects key=value, got "${pair}"`);
    const raw = pair.slice(eq + 1);
    let value: JsonValue = raw;
    try {
      value = JSON.parse(raw) as JsonValue;
    } catch {
      value = raw;
    }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}

function policyLabel(p: { source: string; hash: string }): string {
  return `${p.source === "builtin" ? "built-in default" : p.source} (sha256 ${p.hash})`;
}

function checkJson(c: PolicyCheck, hookUrl: string | null): JsonObject {
  const d = c.decision;
  return {
    principal: c.principal,
    roles: [...c.roles],
    capability: c.capability,
    risk: c.risk,
    risk_floor: c.riskFloor,
    effect: c.effect,
    undo: c.undo,
    has_compensation: c.hasCompensation,
    inputs: c.inputs,
    decision: d.decision,
    rule_ids: [...d.ruleIds],
    reason: d.reason,
    approvers: [...d.approvers],
    policy: { source: d.policySource, hash: d.policyHash },
    compensation: c.compensation
      ? {
          capability: c.compensation.capability,
          inputs: c.compensation.inputs,
          risk: c.compensation.risk,
          decision: c.compensation.decision.decision,
          rule_ids: [...c.compensation.decision.ruleIds],
          reason: c.compensation.decision.reason,
        }
      : null,
    ...(hookUrl ? { hook: hookUrl } : {}),
    ...(c.unknown.length > 0 ? { warnings: [...c.unknown] } : {}),
  };
}

function checkText(
  c: PolicyCheck,
  hookUrl: string | null,
  explainDecision: (d: PolicyCheck["decision"]) => string,
): string {
  const lines = [
    `Principal: ${c.principal}${c.roles.length > 0 ? ` (roles: ${c.roles.join(", ")})` : ""}`,
    `Call:     ${c.capability}, risk ${c.risk}${c.risk !== c.riskFloor ? ` (floor ${c.riskFloor})` : ""}, effect ${c.effect}, undo ${c.undo}${c.hasCompensation ? ", declared compensation" : ""}`,
    ...(c.compensation
      ? [
          `Undo:     ${c.compensation.capability}, risk ${c.compensation.risk}: ${c.compensation.decision.decision} (rules: ${c.compensation.decision.ruleIds.join(", ") || "none, default applied"})`,
        ]
      : []),
    explainDecision(c.decision),
    `Policy file hash: ${c.decision.policyHash}`,
  ];
  if (hookUrl) {
    lines.push(
      `Note:     at run time the decision hook ${hookUrl} may make this stricter (never looser)`,
    );
  }
  return lines.join("\n");
}
