/**
 * Capabilities declared in config (SPEC §5, issue 14), through the built CLI: a command wrapped
 * with typed inputs and a declared compensation (itself a declared capability, in a
 * `capabilities/*.yaml` file) is undone when its workflow fails; an HTTP endpoint with a secret
 * header is called on a local server through the same allowlist and SSRF guard as
 * `net.http.request`, its secret masked in every record, and compensated; a DENY rule on a
 * declared capability stops it before any effect; a bad declaration is refused naming file,
 * line and field.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../capabilities/http/test-server.js";
import { project, type RunJson, tempRoot } from "./project.js";

const root = tempRoot("declared");
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
  root.cleanup();
});

const MARKERS = `capabilities:
  demo.marker.create:
    description: Creates a marker file
    inputs:
      name: { type: string }
      suffix: { type: string, default: ".mark" }
    risk: MEDIUM
    effect: write
    command:
      argv: [touch, "\${{ inputs.name }}\${{ inputs.suffix }}"]
    compensation:
      capability: demo.marker.remove
      inputs: { name: "{{ inputs.name }}{{ inputs.suffix }}" }
`;

// The original's capability-spec shape: id, parameters list, risk.level, operation_type.
const REMOVE = `id: demo.marker.remove
description: Removes a marker file
parameters:
  - name: name
    type: string
    required: true
risk: { level: MEDIUM }
operation_type: DELETE
command:
  argv: [rm, -f, "{{ inputs.name }}"]
`;

function markerSpec(fail: boolean): string {
  return `name: markers
version: 1
principal: agent:bot
inputs:
  who: { type: string, default: alice }
steps:
  - id: mark
    capability: demo.marker.create
    inputs: { name: "m-\${{ inputs.who }}" }
${
  fail
    ? `  - id: boom
    capability: sys.fail
    depends_on: [mark]
    inputs: { message: "failing on purpose" }
`
    : ""
}`;
}

const SANDBOX = "  exec: { allow: [touch, rm] }\n";

function markerProject(extra: { policy?: string } = {}) {
  return project(root.path, {
    config: `${SANDBOX}${MARKERS}`,
    files: {
      "capabilities/remove.yaml": REMOVE,
      "ok.yaml": markerSpec(false),
      "fail.yaml": markerSpec(true),
    },
    ...extra,
  });
}

describe("a declared command capability", () => {
  it("is listed by airun capabilities with its risk, effect and undo", async () => {
    const p = markerProject();
    const { body } = await p.json<{
      capabilities: { name: string; risk: string; effect: string; undo: string }[];
    }>(["capabilities", "demo.**"]);
    expect(body.capabilities).toEqual([
      expect.objectContaining({
        name: "demo.marker.create",
        risk: "MEDIUM",
        effect: "write",
        undo: "compensation",
      }),
      expect.objectContaining({
        name: "demo.marker.remove",
        risk: "MEDIUM",
        effect: "delete",
        undo: "irreversible",
      }),
    ]);
  });

  it("runs its argv template in the sandbox root, its input default applied", async () => {
    const p = markerProject();
    const { code, body } = await p.json<RunJson>(["run", "ok.yaml", "--input", "who=bob"]);
    expect(code).toBe(0);
    expect(body.status).toBe("COMPLETED");
    expect(existsSync(join(p.ws, "m-bob.mark"))).toBe(true);
    expect(p.step(body, "mark").compensation).toMatchObject({ kind: "declared", status: "ARMED" });
  });

  it("is undone by its declared compensation (another declared capability) when the workflow fails", async () => {
    const p = markerProject();
    const { body } = await p.json<RunJson>(["run", "fail.yaml"]);
    expect(body.status).toBe("ROLLED_BACK");
    expect(p.step(body, "mark")).toMatchObject({
      status: "COMPENSATED",
      compensation: { kind: "declared", status: "DONE" },
    });
    expect(readdirSync(p.ws)).toEqual([]);
    const trace = await p.run(["trace", body.id]);
    expect(trace.stdout).toMatch(/demo\.marker\.remove/);
    // The compensation's resolved inputs are the step's own: what the undo removed.
    const events = await p.run(["workflow", "show", body.id, "--events", "--json"]);
    expect(events.stdout).toContain("m-alice.mark");
  });

  it("is stopped before any effect by a DENY rule naming it", async () => {
    const p = markerProject({
      policy: `version: 1
default: ALLOW
rules:
  - id: no-markers
    capability: demo.marker.create
    decision: DENY
`,
    });
    const { body } = await p.json<RunJson>(["run", "ok.yaml"]);
    expect(body.status).not.toBe("COMPLETED");
    expect(body.reason).toBe("POLICY_DENIED");
    expect(p.step(body, "mark").decision).toMatchObject({ decision: "DENY" });
    expect(readdirSync(p.ws)).toEqual([]);
    const check = await p.run([
      "policy",
      "check",
      "--as",
      "agent:bot",
      "--capability",
      "demo.marker.create",
      "--input",
      "name=x",
    ]);
    expect(check.stdout + check.stderr).toMatch(/DENY/);
  });

  it("whose binary is not on the exec allowlist fails at its gate", async () => {
    const p = project(root.path, {
      config: `  exec: { allow: [rm] }\n${MARKERS}`,
      files: { "capabilities/remove.yaml": REMOVE, "ok.yaml": markerSpec(false) },
    });
    const { body } = await p.json<RunJson>(["run", "ok.yaml"]);
    expect(body.status).not.toBe("COMPLETED");
    expect(p.step(body, "mark").error).toMatchObject({ code: "SANDBOX_VIOLATION" });
    expect(p.step(body, "mark").error?.message).toMatch(/sandbox\.exec\.allow/);
  });
});

describe("a declared HTTP capability", () => {
  const TOKEN = "tok-7c1e55aa93d2";

  function httpProject(allowHosts: string) {
    return project(root.path, {
      config: `  http: { allow_hosts: [${allowHosts}], allow_private: true }
capabilities:
  api.ticket.create:
    inputs:
      title: { type: string }
      priority: { type: integer, default: 3 }
    risk: MEDIUM
    http:
      method: POST
      url: "${server.origin}/echo?kind=ticket"
      headers: { Authorization: "Bearer \${{ secrets.API_TOKEN }}" }
      body: { title: "\${{ inputs.title }}", priority: "\${{ inputs.priority }}" }
    compensation:
      capability: api.ticket.delete
      inputs: { ref: "\${{ outputs.json.method }}-\${{ inputs.title }}" }
  api.ticket.delete:
    inputs: { ref: string }
    risk: MEDIUM
    http:
      method: DELETE
      url: "${server.origin}/status/204?ref=\${{ inputs.ref }}"
`,
      files: {
        "wf.yaml": `name: tickets
version: 1
principal: agent:bot
steps:
  - id: open
    capability: api.ticket.create
    inputs: { title: "disk full" }
  - id: boom
    capability: sys.fail
    depends_on: [open]
    inputs: { message: "failing on purpose" }
`,
      },
    });
  }

  it("calls the endpoint with its templated body and secret header, masks the secret, and is compensated", async () => {
    const p = httpProject("127.0.0.1");
    const deletesBefore = server.hits.get("/status/204") ?? 0;
    const r = await p.run(["run", "wf.yaml", "--json"], { API_TOKEN: TOKEN });
    const run = JSON.parse(r.stdout) as RunJson;
    expect(run.status).toBe("ROLLED_BACK");
    const open = p.step(run, "open");
    expect(open.status).toBe("COMPENSATED");
    const echoed = (open.outputs?.json ?? {}) as {
      method: string;
      headers: Record<string, string>;
      body: string;
    };
    expect(echoed.method).toBe("POST");
    expect(JSON.parse(echoed.body)).toEqual({ title: "disk full", priority: 3 });
    // The server received the token; the record holds the mask (the whole value: an
    // `authorization` key is redacted by default, audit.redact).
    expect(echoed.headers.authorization).toBe("***");
    expect(server.hits.get("/status/204")).toBe(deletesBefore + 1);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    for (const e of readdirSync(join(p.dir, "home"), { recursive: true, withFileTypes: true })) {
      if (e.isFile()) {
        const file = join(e.parentPath, e.name);
        expect(readFileSync(file).includes(TOKEN), file).toBe(false);
      }
    }
  });

  it("is refused for a host outside sandbox.http.allow_hosts, like net.http.request", async () => {
    const p = httpProject("api.example.com");
    const before = server.hits.get("/echo") ?? 0;
    const r = await p.run(["run", "wf.yaml", "--json"], { API_TOKEN: TOKEN });
    const body = JSON.parse(r.stdout) as RunJson;
    expect(p.step(body, "open").error).toMatchObject({ code: "SANDBOX_VIOLATION" });
    expect(p.step(body, "open").error?.message).toMatch(/allow_hosts/);
    expect(server.hits.get("/echo") ?? 0).toBe(before);
  });
});

describe("a bad declaration", () => {
  it("is refused naming the file, line and field", async () => {
    const p = project(root.path, {
      config: `capabilities:
  demo.bad.one:
    risk: MEDIUM
    inputs: { name: { type: strin } }
    command:
      argv: [touch, "\${{ inputs.nmae }}"]
`,
      files: {
        "wf.yaml": "name: x\nversion: 1\nsteps: []\n",
      },
    });
    const r = await p.run(["validate", "wf.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /airun\.yaml:7:\d+: capabilities\.demo\.bad\.one\.inputs\.name\.type: type must be one of/,
    );
    expect(r.stderr).toMatch(
      /airun\.yaml:9:\d+: capabilities\.demo\.bad\.one\.command\.argv\[1\]: unresolved reference "inputs\.nmae"/,
    );

    const q = project(root.path, {
      files: {
        "capabilities/other.yaml": `name: demo.bad.two
risk: EXTREME
http: { method: GET, url: "http://x", bdy: 1 }
`,
        "wf.yaml": "name: x\nversion: 1\nsteps: []\n",
      },
    });
    const r2 = await q.run(["validate", "wf.yaml"]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/capabilities\/other\.yaml:2:\d+: risk: risk must be one of/);
    expect(r2.stderr).toMatch(/capabilities\/other\.yaml:3:\d+: http\.bdy: unknown http key "bdy"/);
  });

  it("whose compensation names no capability is refused at the compensation's field", async () => {
    const p = project(root.path, {
      config: `  exec: { allow: [touch] }
capabilities:
  demo.mark.one:
    risk: MEDIUM
    command: { argv: [touch, x] }
    compensation: { capability: demo.nowhere }
`,
      files: { "wf.yaml": "name: x\nversion: 1\nsteps: []\n" },
    });
    const r = await p.run(["validate", "wf.yaml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /airun\.yaml:9:\d+: capabilities\.demo\.mark\.one\.compensation\.capability: the compensation of demo\.mark\.one names "demo\.nowhere"/,
    );
  });
});
