/**
 * @module The governance envelope of `airun mcp` sessions (SovDef): `--governance FILE` or
 * `mcp.governance` in the config (a file, or the block inline). A file holds a `governance:`
 * block (as in a workflow spec) or the block itself; every problem is reported with its file,
 * line and field before the server starts.
 */
import { ValidationError } from "../core/errors.js";
import { compileGovernance } from "../core/governance.js";
import { isPlainObject, type JsonObject } from "../core/json.js";
import type { Limits } from "../core/limits.js";
import { parseYamlSource } from "../core/yaml-source.js";
import { readSpec } from "../engine/runtime/config-files.js";
import type { GovernanceInput } from "../engine/sessions/session-plan.js";

/** Reads and checks a governance file. */
export async function readGovernanceFile(file: string, limits: Limits): Promise<GovernanceInput> {
  const src = parseYamlSource(file, await readSpec(file, limits.specBytes), limits);
  if (src.syntaxProblems.length > 0)
    throw new ValidationError(src.syntaxProblems, { location: file });
  const wrapped = isPlainObject(src.value) && Object.hasOwn(src.value, "governance");
  const block = wrapped ? (src.value as Record<string, unknown>).governance : src.value;
  if (!isPlainObject(block)) {
    throw new ValidationError([
      src.problem(
        wrapped ? ["governance"] : [],
        "a governance envelope must be a mapping (objective, tools, evidence, budgets, rollback, drift)",
      ),
    ]);
  }
  const problems: ReturnType<typeof src.problem>[] = [];
  compileGovernance(block as JsonObject, (path, message) =>
    problems.push(src.problem(wrapped ? ["governance", ...path] : path, message)),
  );
  if (problems.length > 0) throw new ValidationError(problems, { location: file });
  return block as GovernanceInput;
}
