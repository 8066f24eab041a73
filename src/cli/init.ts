/**
 * @module `airun init`: writes a starter config, policy and workflow into a folder, never
 * overwriting an existing file.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

const CONFIG = `# Airun configuration. Every key is optional; paths are relative to this file.
home: .airun                 # state: database, before-images
store: sqlite                # embedded default
policy: policies.yaml        # the gatekeeper's rules
sandbox:
  fs: { roots: ["."] }       # file capabilities are confined here
  http: { allow_hosts: [] }  # hosts net.http.request may reach
  exec: { allow: [] }        # binaries sys.exec.run may start
principals:
  user:alice: { roles: [sre] }
audit: { redact: ["password", "token", "secret"] }
`;

const POLICY = `# Policy: every matching rule is collected; the most restrictive wins
# (DENY > REQUIRE_APPROVAL > ALLOW). HIGH and CRITICAL risk is never plain ALLOW.
version: 1
default: DENY
rules:
  - id: read-anything
    principal: "*"
    capabilities: [io.fs.read_file, io.fs.list_dir, io.fs.exists, io.fs.hash_file]
    decision: ALLOW
  - id: agents-write-out
    principal: "agent:*"
    capability: "io.fs.*"
    when: { path: "out/**" }
    decision: ALLOW
  - id: helpers
    principal: "*"
    capability: "sys.*"
    decision: ALLOW
  - id: deletes-need-sre
    principal: "*"
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
`;

const WORKFLOW = `name: hello
version: 1
principal: agent:starter
inputs:
  who: { type: string, default: world }
steps:
  - id: make_out
    capability: io.fs.make_dir
    inputs: { path: out }
  - id: greet
    capability: io.fs.write_file
    depends_on: [make_out]
    inputs: { path: out/hello.txt, content: "hello, \${{ inputs.who }}\\n" }
`;

/** One starter file: where, and whether this call wrote it (false: it existed and was kept). */
export interface InitFile {
  readonly path: string;
  readonly created: boolean;
}

/**
 * Creates the starter files in `dir`, keeping any that exist; returns every starter file and
 * whether it was written.
 */
export async function initProject(dir: string): Promise<InitFile[]> {
  await mkdir(join(dir, "workflows"), { recursive: true });
  const files: [string, string][] = [
    [join(dir, "airun.yaml"), CONFIG],
    [join(dir, "policies.yaml"), POLICY],
    [join(dir, "workflows", "hello.yaml"), WORKFLOW],
  ];
  const out: InitFile[] = [];
  for (const [path, text] of files) {
    try {
      await writeFile(path, text, { flag: "wx" });
      out.push({ path, created: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      out.push({ path, created: false });
    }
  }
  return out;
}

/**
 * The first command to try after `init dir`, run from the current folder: it names the new
 * config (`--config dir/airun.yaml`), whose relative paths (home, sandbox, policy) are read
 * against `dir`, so the run happens there whatever the current folder is.
 */
export function initNextCommand(dir: string): string {
  if (dir === "." || dir === "./") return "airun run workflows/hello.yaml";
  const d = dir.replace(/\/+$/, "");
  return `airun run ${join(d, "workflows", "hello.yaml")} --config ${join(d, "airun.yaml")}`;
}
