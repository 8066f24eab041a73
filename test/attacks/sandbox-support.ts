/**
 * @module Shared by the sandbox attack tests (`sandbox-*.test.ts`): a project whose policy
 * allows every call (so only the sandbox stands between a step and the disk), workflows
 * written as JSON (valid YAML, so NUL bytes and any Unicode pass through exactly), and a run
 * that approves whatever a HIGH-risk step asks until the run ends.
 */
import { lstatSync } from "node:fs";
import { type Project, project, type RunJson } from "../e2e/project.js";

/** Every call is allowed; HIGH risk still asks a person, and `runToEnd` approves it. */
export const ALLOW_ALL = "version: 1\ndefault: ALLOW\n";

/** One step of a generated workflow. */
export interface StepSpec {
  readonly id: string;
  readonly capability: string;
  readonly inputs: Record<string, unknown>;
  /**
   * Steps this one waits for. Give it explicitly: a step waiting for approval does not hold
   * back the steps listed after it.
   */
  readonly depends_on?: readonly string[];
}

/** A project under `root` whose policy allows every call (`config` appended to airun.yaml). */
export function openProject(
  root: string,
  files: Record<string, string | Buffer> = {},
  config = "",
): Project {
  return project(root, { policy: ALLOW_ALL, files, config });
}

/** A workflow of `steps` (in order), as JSON: the exact strings reach the capability. */
export function workflow(name: string, steps: readonly StepSpec[]): string {
  return `${JSON.stringify({ name, version: 1, principal: "agent:attacker", steps }, null, 2)}\n`;
}

/**
 * Runs the workflow file `file` and approves each step that waits for a person (as
 * `user:reviewer`) until the run ends; returns the final view.
 */
export async function runToEnd(p: Project, file: string): Promise<RunJson> {
  let { body } = await p.json<RunJson>(["run", file]);
  for (let i = 0; i < 10 && body.status === "WAITING_APPROVAL"; i++) {
    ({ body } = await p.json<RunJson>([
      "workflow",
      "resume",
      body.id,
      "--decision",
      "approve",
      "--as",
      "user:reviewer",
    ]));
  }
  return body;
}

/** Device and inode of `p` (a hard link shares them with its other names). */
export function inodeOf(p: string): string {
  const st = lstatSync(p);
  return `${st.dev}:${st.ino}`;
}
