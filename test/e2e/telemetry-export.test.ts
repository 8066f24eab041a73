/**
 * OpenTelemetry from the command line (issue 14): with `telemetry:` in `airun.yaml`, the spans
 * the engine creates for a run reach an OTLP/HTTP receiver (a tiny local HTTP server here, that
 * checks what arrives): the run span and one span per step, under the configured service name,
 * with the configured headers (a value read from the environment). Off by default, and the
 * exporter is not part of the CLI bundle every command parses.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { project, tempRoot } from "./project.js";

const root = tempRoot("otel");

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}
const received: Received[] = [];
let server: Server;
let port = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = "";
    req.on("data", (d: Buffer) => {
      text += d.toString();
    });
    req.on("end", () => {
      received.push({ path: req.url ?? "", headers: req.headers, body: JSON.parse(text) });
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  root.cleanup();
});

interface OtlpSpan {
  name: string;
  traceId: string;
  parentSpanId?: string;
  spanId: string;
  attributes: { key: string; value: { stringValue?: string } }[];
}
interface OtlpBody {
  resourceSpans: {
    resource: { attributes: { key: string; value: { stringValue?: string } }[] };
    scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[];
  }[];
}

const SPEC = `name: traced
version: 1
principal: agent:a
steps:
  - id: first
    capability: sys.echo
    inputs: { message: one }
  - id: second
    capability: sys.echo
    depends_on: [first]
    inputs: { message: two }
`;

describe("telemetry: in airun.yaml", () => {
  it("exports the run's spans over OTLP/HTTP to the configured endpoint, service name and headers", async () => {
    const p = project(root.path, {
      config: `telemetry:\n  endpoint: http://127.0.0.1:${port}/v1/traces\n  headers: { x-api-key: "\${OTEL_TEST_KEY}" }\n  service_name: airun-e2e\n`,
      files: { "wf.yaml": SPEC },
    });
    const run = await p.run(["run", "wf.yaml", "--json"], { OTEL_TEST_KEY: "k-123" });
    expect(run.code).toBe(0);
    const id = JSON.parse(run.stdout).id as string;

    const posts = received.filter((r) => r.path === "/v1/traces");
    expect(posts.length).toBeGreaterThan(0);
    expect(posts[0]?.headers["x-api-key"]).toBe("k-123");
    expect(posts[0]?.headers["content-type"]).toContain("application/json");
    const bodies = posts.map((r) => r.body as OtlpBody);
    const service = bodies[0]?.resourceSpans[0]?.resource.attributes.find(
      (a) => a.key === "service.name",
    );
    expect(service?.value.stringValue).toBe("airun-e2e");
    const spans = bodies.flatMap((b) =>
      b.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)),
    );
    const byName = new Map(spans.map((s) => [s.name, s]));
    const runSpan = byName.get("airun.run");
    expect(runSpan).toBeDefined();
    expect(runSpan?.attributes.find((a) => a.key === "airun.run.id")?.value.stringValue).toBe(id);
    for (const step of ["airun.step first", "airun.step second"]) {
      expect(byName.get(step)?.parentSpanId).toBe(runSpan?.spanId);
      expect(byName.get(step)?.traceId).toBe(runSpan?.traceId);
    }
  });

  it("is off without the key, and the exporter is not in the bundle every command parses", async () => {
    const before = received.length;
    const p = project(root.path, { files: { "wf.yaml": SPEC } });
    expect((await p.run(["run", "wf.yaml"])).code).toBe(0);
    expect(received.length).toBe(before);
    const bundle = readFileSync(resolve("dist/airun.cjs"), "utf8");
    expect(bundle).not.toContain("OTLPTraceExporter");
    expect(readFileSync(resolve("dist/airun-otel.cjs"), "utf8")).toContain("OTLPTraceExporter");
  });

  it("a collector that is down is a warning, not a failed run", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const p = project(root.path, {
      config: `telemetry: { endpoint: "http://127.0.0.1:${deadPort}/v1/traces" }\n`,
      files: { "wf.yaml": SPEC },
    });
    const r = await p.run(["run", "wf.yaml"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("airun: warning: telemetry:");
  });
});
