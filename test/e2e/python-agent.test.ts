/**
 * The Python example agent (`examples/http-agent/agent.py`, standard library only) drives a
 * session over HTTP against the built `airun serve`: one commits its writes, another rolls back
 * and its write is undone. Skipped, loudly, when `python3` is not installed.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { project, tempRoot } from "./project.js";
import { makeToken, startServer } from "./serve-support.js";

const run = promisify(execFile);
const AGENT = resolve("examples/http-agent/agent.py");
const root = tempRoot("python-agent");
afterAll(() => root.cleanup());

const python = await run("python3", ["--version"]).then(
  () => true,
  () => false,
);
if (!python)
  process.stderr.write("SKIPPED: python3 is not installed; the Python agent is untested\n");

describe.skipIf(!python)("the Python example agent over HTTP", () => {
  it("completes a session (two writes, commit) and rolls another back (its write undone)", async () => {
    const p = project(root.path, { files: { "ws/py/.keep": "" } });
    const token = (await makeToken(p, "agent:py", ["--scope", "read,run"])).token;
    const server = await startServer(p);
    try {
      const env = { ...process.env, AIRUN_URL: server.url, AIRUN_TOKEN: token };
      const committed = await run("python3", [AGENT, "commit"], { env });
      expect(JSON.parse(committed.stdout)).toMatchObject({
        status: "COMPLETED",
        outcome: "ACCEPT",
      });
      expect(readFileSync(join(p.ws, "py/summary.txt"), "utf8")).toBe("written from Python\n");
      expect(readFileSync(join(p.ws, "py/done.txt"), "utf8")).toBe("ok\n");

      const rolled = await run("python3", [AGENT, "rollback"], { env });
      expect(JSON.parse(rolled.stdout)).toMatchObject({ status: "ROLLED_BACK" });
      expect(existsSync(join(p.ws, "py/draft.txt"))).toBe(false);
      const view = (await p.json(["workflow", "show", JSON.parse(rolled.stdout).id])).body;
      expect(view.principal).toBe("agent:py");
    } finally {
      await server.stop();
    }
  }, 90_000);
});
