/**
 * Attack family: secret canaries in every sink, extending test/e2e/secret-canary.test.ts (a
 * secret used through `${{ secrets.X }}`: files, headers, echo, approval messages, argv,
 * compensations, error messages, the live WAL) and test/attacks/secret-by-value.test.ts (a
 * secret written to a file and read back). Here the secret's value also arrives by value from
 * outside: an HTTP server answers with it (the workflow never templated it into that call),
 * and a step reads it back from a file; from there it flows into a later step's inputs, a
 * declared compensation, an approval step's message, a failing step's error message. Every
 * sink is then read: the stdout and stderr of every command (`run`, `workflow show`,
 * `approvals list|show`, `trace`, `replay`, `ledger export|verify|verify-pack`, each in human
 * and `--json` form), the signed webhook payloads (approval events and `run.finished`), every
 * file under the home (database, WAL, before-images, keys), the evidence pack, and, through
 * the SDK with an OpenTelemetry SDK registered, every span. The canary must appear in none,
 * raw or encoded (test/e2e/canary.ts).
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, sep } from "node:path";
import { trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Runtime } from "../../src/sdk/index.js";
import { CANARY, filesUnder, findCanary } from "../e2e/canary.js";
import { project, type RunJson, tempRoot } from "../e2e/project.js";
import { type Receiver, receiver } from "../engine/webhook-receiver.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-sinks");
afterAll(() => root.cleanup());

const t = tally("secret canaries", "secret-sinks");

/** Checks one sink: counts it, and asserts the canary is not in it. */
function sink(label: string, bytes: Uint8Array | string): void {
  const hit = findCanary(bytes);
  t.attempt(`${label}${hit ? ` (${hit.label} at ${hit.offset})` : ""}`, hit !== null);
  expect(hit, `the canary is in ${label}`).toBeNull();
}

// A server that knows the secret on its own and answers with it: `/token` by value.
let server: Server;
let port = 0;
beforeAll(async () => {
  server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json", "x-token": CANARY });
    res.end(JSON.stringify({ path: req.url, token: CANARY }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/**
 * The workflow: `login` names the secret (so the run knows its value); `token` gets it back
 * from the server by value (a header and the JSON body); `stash` writes it to a file and
 * `peek`, naming no secret, reads it back; a compensation, an approval message and a failure
 * message carry what was read. (A step's outputs are masked before later steps see them, so
 * those carry `***`: the file read is where the value re-enters.)
 */
const SPEC = () => `name: sinks
version: 1
principal: agent:leaky
steps:
  - id: login
    capability: net.http.request
    inputs:
      url: "http://127.0.0.1:${port}/login"
      headers: { x-api-key: "\${{ secrets.CANARY }}" }
  - id: token
    capability: net.http.request
    depends_on: [login]
    inputs: { url: "http://127.0.0.1:${port}/token" }
  - id: stash
    capability: io.fs.write_file
    depends_on: [token]
    inputs: { path: stash.txt, content: "\${{ secrets.CANARY }}" }
  - id: peek
    capability: io.fs.read_file
    depends_on: [stash]
    inputs: { path: stash.txt }
  - id: note
    capability: sys.echo
    depends_on: [peek]
    inputs: { seen: "\${{ steps.peek.outputs.content }}" }
    compensation:
      capability: sys.echo
      inputs: { undoing: "\${{ steps.peek.outputs.content }}" }
  - id: ask
    type: approval
    depends_on: [note]
    message: "Use token \${{ steps.peek.outputs.content }}?"
  - id: boom
    capability: sys.fail
    depends_on: [ask]
    inputs: { message: "token \${{ steps.peek.outputs.content }} was refused" }
`;

const HOOK_SECRET = "hook-signing-secret-for-the-test";

describe("attack: a secret that arrives by value, in every sink", () => {
  let hooks: Receiver;
  beforeAll(async () => {
    hooks = await receiver();
  });
  afterAll(async () => {
    await hooks.close();
  });

  it("appears in no command's output, no webhook payload, no file under the home and no evidence pack", async () => {
    const p = project(root.path, {
      config: `  http: { allow_hosts: ["127.0.0.1"], allow_private: true }
principals:
  user:bob: { roles: [sre] }
approvals:
  webhook:
    url: "${hooks.url}"
    secret_env: HOOK_SECRET
    backoff: 10ms
    max_attempts: 2
    events: [approval.requested, approval.decided, approval.expired, approval.voided, run.finished]
`,
    });
    p.write("wf.yaml", SPEC());
    const env = { CANARY, HOOK_SECRET };
    const outputs: [string, string][] = [];
    const cli = async (args: string[]) => {
      const r = await p.run(args, env);
      outputs.push([`stdout of airun ${args.join(" ")}`, r.stdout]);
      outputs.push([`stderr of airun ${args.join(" ")}`, r.stderr]);
      return r;
    };

    const started = await cli(["run", "wf.yaml", "--json"]);
    expect(started.code, started.stderr).toBe(5);
    const id = (JSON.parse(started.stdout) as RunJson).id;
    // It really went through: the file holds the value the server sent.
    expect(readFileSync(join(p.ws, "stash.txt"), "utf8")).toBe(CANARY);
    for (const args of [
      ["approvals", "list"],
      ["approvals", "list", "--json"],
      ["approvals", "show", id],
      ["approvals", "show", id, "--json"],
    ]) {
      expect((await cli(args)).code).toBe(0);
    }
    const decided = await cli([
      "workflow",
      "resume",
      id,
      "--decision",
      "approve",
      "--as",
      "user:bob",
      "--json",
    ]);
    const view = JSON.parse(decided.stdout) as RunJson;
    expect(view.status).toBe("ROLLED_BACK");
    expect(p.step(view, "boom").error?.message).toBe("token *** was refused");
    expect(p.step(view, "note").compensation).toMatchObject({ status: "DONE" });
    await cli(["workflow", "resume", id]); // a human error message (the run has ended)
    const pack = join(p.dir, "pack.json");
    for (const args of [
      ["workflow", "show", id, "--events"],
      ["workflow", "show", id, "--events", "--json"],
      ["workflow", "show", id, "--timeline"],
      ["workflow", "list", "--json"],
      ["trace", id],
      ["trace", id, "--json"],
      ["replay", id],
      ["replay", id, "--json"],
      ["ledger", "verify"],
      ["ledger", "export", id, "--out", pack],
      ["ledger", "verify-pack", pack],
    ]) {
      const r = await cli(args);
      expect([0, 3], `${args.join(" ")}: ${r.stderr}`).toContain(r.code);
    }

    // The webhook payloads: approval.requested, approval.decided, run.finished at least.
    const types = hooks.bodies().map((b) => b.type);
    expect(types).toEqual(
      expect.arrayContaining(["approval.requested", "approval.decided", "run.finished"]),
    );
    for (const [n, q] of hooks.received.entries()) {
      sink(`webhook ${n} (${types[n]}) body`, q.raw);
      sink(`webhook ${n} (${types[n]}) headers`, JSON.stringify(q.headers));
    }
    for (const [label, text] of outputs) sink(label, text);
    sink("the evidence pack", readFileSync(pack));
    const files = filesUnder(join(p.dir, "home"));
    expect(files.map((f) => f.slice(p.dir.length + 1))).toEqual(
      expect.arrayContaining([join("home", "airun.db")]),
    );
    for (const f of files) sink(f.slice(p.dir.length + 1), readFileSync(f));
    // And nothing in the project outside the sandbox (where the workflow asked for it).
    for (const f of filesUnder(p.dir).filter((x) => !x.startsWith(p.ws + sep))) {
      if (!files.includes(f)) sink(f.slice(p.dir.length + 1), readFileSync(f));
    }
  }, 120_000);

  it("appears in no OpenTelemetry span (name, attribute, event, status) through the SDK", async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    expect(trace.setGlobalTracerProvider(provider)).toBe(true);
    const p = project(root.path, {
      config: `  http: { allow_hosts: ["127.0.0.1"], allow_private: true }\n`,
    });
    // Without the approval step: the run ends in one call (boom after note).
    const spec = p.write(
      "wf.yaml",
      SPEC()
        .replace(/ {2}- id: ask[\s\S]*?(?= {2}- id: boom)/, "")
        .replace("depends_on: [ask]", "depends_on: [note]"),
    );
    const rt = await Runtime.open({ cwd: p.dir, env: { CANARY } });
    try {
      const view = await rt.startRun({ specFile: spec });
      expect(view.status).toBe("ROLLED_BACK");
      const spans = exporter.getFinishedSpans();
      expect(spans.map((s) => s.name)).toEqual(
        expect.arrayContaining(["airun.run", "airun.step boom", "airun.compensate note"]),
      );
      for (const s of spans) {
        const seen = JSON.stringify({
          name: s.name,
          attributes: s.attributes,
          events: s.events,
          links: s.links,
          status: s.status,
        });
        sink(`span ${s.name}`, seen);
      }
      expect(JSON.stringify(spans.map((s) => s.attributes))).toContain(view.id);
    } finally {
      await rt.close();
      trace.disable();
      await provider.shutdown();
    }
  });
});
