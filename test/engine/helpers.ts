/**
 * @module Test helpers for the engine: a temp workspace with a config, a runtime on a real
 * SQLite file, and spec writing.
 */
import { mkdtemp, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Runtime } from "../../src/engine/runtime/runtime.js";

/** A temp workspace: `dir/ws` is the sandbox root, `dir/home` the state. */
export interface Workspace {
  readonly dir: string;
  readonly ws: string;
  readonly home: string;
  /** Writes a spec file into the workspace and returns its path. */
  spec(name: string, yaml: string): Promise<string>;
  open(env?: Record<string, string | undefined>): Promise<Runtime>;
  cleanup(): Promise<void>;
}

/** Creates a workspace with `airun.yaml` (extra YAML appended) and, optionally, a policy. */
export async function workspace(
  opts: { config?: string; policy?: string } = {},
): Promise<Workspace> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), "airun-engine-")));
  const ws = join(dir, "ws");
  const home = join(dir, "home");
  await import("node:fs/promises").then((fs) => fs.mkdir(ws, { recursive: true }));
  const policyLine = opts.policy ? "policy: policies.yaml\n" : "";
  if (opts.policy) await writeFile(join(dir, "policies.yaml"), opts.policy);
  await writeFile(
    join(dir, "airun.yaml"),
    `home: home\n${policyLine}sandbox:\n  fs: { roots: [ws] }\nengine: { heartbeat: 200ms, lease_ttl: 2s }\n${opts.config ?? ""}`,
  );
  return {
    dir,
    ws,
    home,
    async spec(name, yaml) {
      const path = join(dir, name);
      await writeFile(path, yaml);
      return path;
    },
    open(env) {
      return Runtime.open({ cwd: dir, env: env ?? {} });
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
