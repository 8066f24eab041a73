/**
 * The worker duties of `airun serve` (the built CLI, a real process): an approval nobody decides
 * expires on time with nobody touching the run (its `on_timeout` applied within 1 s of the
 * deadline, read from the ledger's own timestamps), a run whose process was SIGKILLed is
 * recovered when the server starts, a session idle past its limit is rolled back, and SIGTERM
 * stops the server cleanly with an open session handed back (resumable by the next server).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupSpec, SRE_APPROVAL_POLICY, SRE_PRINCIPALS } from "../support/approval-fixtures.js";
import { background, project, type RunJson, tempRoot, waitFor } from "./project.js";
import { call, makeToken, openStream, startServer } from "./serve-support.js";

const root = tempRoot("serve-duties");
afterAll(() => root.cleanup());

const CLEANUP = cleanupSpec({ principal: "agent:janitor" });

describe("airun serve: worker duties", () => {
  it("applies an approval's on_timeout within 1 s of its deadline with nobody touching the run", async () => {
    const p = project(root.path, {
      policy: SRE_APPROVAL_POLICY,
      config: `${SRE_PRINCIPALS}approvals: { timeout: 3s, on_timeout: reject }\n`,
      files: { "ws/victim.txt": "v", "cleanup.yaml": CLEANUP },
    });
    const reader = (await makeToken(p, "user:bob", ["--scope", "read"])).token;
    const server = await startServer(p);
    try {
      // The run is started by another process, which exits waiting.
      const started = await p.json(["run", "cleanup.yaml"]);
      expect(started.code).toBe(5);
      const runId = started.body.id;
      // Only listen: a stream reads the ledger and never touches the run.
      const stream = openStream(server, `/api/v1/events?run_id=${runId}`, reader, {
        "last-event-id": "0",
      });
      const events = await waitFor(
        "the run to end",
        async () =>
          stream.events.some((e) => e.event === "run.rolled_back") ? stream.events : undefined,
        15_000,
      );
      stream.close();
      const parsed = events.map(
        (e) => JSON.parse(e.data) as { type: string; at: number; data: Record<string, unknown> },
      );
      const requested = parsed.find((e) => e.type === "approval.requested")!;
      const expired = parsed.find(
        (e) =>
          e.type === "approval.expired" ||
          (e.type === "approval.decided" && e.data.decision === "expired"),
      );
      expect(expired, JSON.stringify(parsed.map((e) => e.type))).toBeDefined();
      const deadline = requested.data.expires_at as number;
      expect(expired!.at).toBeGreaterThan(deadline);
      expect(expired!.at - deadline).toBeLessThanOrEqual(1000);
      const view = (await p.json<RunJson>(["workflow", "show", runId])).body;
      expect(view).toMatchObject({ status: "ROLLED_BACK" });
      expect(existsSync(join(p.ws, "note.txt"))).toBe(false);
      expect(readFileSync(join(p.ws, "victim.txt"), "utf8")).toBe("v");
    } finally {
      await server.stop();
    }
  }, 90_000);

  it("recovers at start a run whose process was SIGKILLed mid-step", async () => {
    const p = project(root.path, {
      files: {
        "slow.yaml": `name: slow
version: 1
steps:
  - id: nap
    capability: sys.sleep
    inputs: { ms: 60000 }
  - id: write
    capability: io.fs.write_file
    depends_on: [nap]
    inputs: { path: after.txt, content: done }
`,
      },
    });
    const bg = background(["run", "slow.yaml"], p.dir);
    const runId = await waitFor("the run to start", async () => {
      const list = await p.json<{ runs: RunJson[] }>(["workflow", "list"]);
      return list.body.runs?.[0]?.id;
    });
    await waitFor("the run to be running", async () => {
      const v = (await p.json<RunJson>(["workflow", "show", runId])).body;
      return v.status === "RUNNING" ? true : undefined;
    });
    bg.kill();
    await bg.done;
    const server = await startServer(p);
    try {
      // The sleep (no side effect) is run again by the server; cancel it through the API.
      const token = (await makeToken(p, "user:alice")).token;
      await waitFor("the server to take the run over", async () => {
        const r = await call<{ events: { type: string }[] }>(
          server,
          "GET",
          `/api/v1/runs/${runId}/events`,
          { token },
        );
        return r.body.events.some((e) => e.type === "run.recovered") ? true : undefined;
      });
      const cancelled = await call<RunJson>(server, "POST", `/api/v1/runs/${runId}/cancel`, {
        token,
      });
      expect(cancelled.body.status).toBe("ROLLED_BACK");
    } finally {
      await server.stop();
    }
  }, 90_000);

  it("rolls back a session idle past its limit, undoing what it wrote", async () => {
    const p = project(root.path);
    const agent = (await makeToken(p, "agent:bot")).token;
    const server = await startServer(p, ["--session-idle", "1s"]);
    try {
      const opened = await call<{ session: RunJson }>(server, "POST", "/api/v1/sessions", {
        token: agent,
        body: {},
      });
      const id = opened.body.session.id;
      await call(server, "POST", `/api/v1/sessions/${id}/calls`, {
        token: agent,
        body: {
          capability: "io.fs.write_file",
          inputs: { path: "left.txt", content: "abandoned" },
        },
      });
      expect(existsSync(join(p.ws, "left.txt"))).toBe(true);
      const ended = await waitFor("the idle session to be rolled back", async () => {
        const r = await call<{ session: RunJson }>(server, "GET", `/api/v1/sessions/${id}`, {
          token: agent,
        });
        return r.body.session.status === "ROLLED_BACK" ? r.body.session : undefined;
      });
      expect(ended.status).toBe("ROLLED_BACK");
      expect(existsSync(join(p.ws, "left.txt"))).toBe(false);
      expect(server.log()).toContain(`session ${id} idle`);
    } finally {
      await server.stop();
    }
  }, 90_000);

  it("stops on SIGTERM handing its open session back, and the next server continues it", async () => {
    const p = project(root.path);
    const agent = (await makeToken(p, "agent:bot")).token;
    const first = await startServer(p);
    const opened = await call<{ session: RunJson }>(first, "POST", "/api/v1/sessions", {
      token: agent,
      body: {},
    });
    const id = opened.body.session.id;
    await call(first, "POST", `/api/v1/sessions/${id}/calls`, {
      token: agent,
      body: { capability: "io.fs.write_file", inputs: { path: "one.txt", content: "1" } },
    });
    const stopped = await first.stop();
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain("stopped");
    const shown = (await p.json<RunJson>(["workflow", "show", id])).body;
    expect(shown.status).toBe("RUNNING");

    const second = await startServer(p);
    try {
      const call2 = await call(second, "POST", `/api/v1/sessions/${id}/calls`, {
        token: agent,
        body: { capability: "io.fs.write_file", inputs: { path: "two.txt", content: "2" } },
      });
      expect(call2.status).toBe(200);
      const done = await call<RunJson>(second, "POST", `/api/v1/sessions/${id}/commit`, {
        token: agent,
        body: {},
      });
      expect(done.body).toMatchObject({ status: "COMPLETED" });
      expect(done.body.steps.map((s) => s.id)).toHaveLength(2);
      expect(readFileSync(join(p.ws, "two.txt"), "utf8")).toBe("2");
    } finally {
      await second.stop();
    }
  }, 90_000);
});

describe("airun serve: sweeps beside live runs", () => {
  it("never takes over a run this server is driving (a sweep every 200 ms during a 2 s step)", async () => {
    const p = project(root.path);
    const token = (await makeToken(p, "user:alice")).token;
    const server = await startServer(p, ["--sweep-every", "200ms"]);
    try {
      const run = await call<RunJson>(server, "POST", "/api/v1/runs", {
        token,
        body: {
          spec: `name: long
version: 1
steps:
  - id: nap
    capability: sys.sleep
    inputs: { ms: 2000 }
  - id: write
    capability: io.fs.write_file
    depends_on: [nap]
    inputs: { path: once.txt, content: once }
`,
        },
      });
      expect(run.body.status).toBe("COMPLETED");
      const events = await call<{ events: { type: string; stepId: string | null }[] }>(
        server,
        "GET",
        `/api/v1/runs/${run.body.id}/events`,
        { token },
      );
      const types = events.body.events.map((e) => e.type);
      expect(types).not.toContain("run.recovered");
      expect(types.filter((t) => t === "run.completed")).toHaveLength(1);
      expect(p.step(run.body, "nap").attempts).toBe(1);
    } finally {
      await server.stop();
    }
  }, 90_000);
});
