/**
 * @module `llm.chat` inside real runs: a `Runtime` on a real SQLite file calls the loopback LLM
 * server, a later step uses the answer, the exchange is recorded with the step, and the API key
 * is nowhere in the database.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ValidationError } from "../../../src/core/errors.js";
import { type Workspace, workspace } from "../../engine/helpers.js";
import { type LlmServer, startLlmServer } from "../../support/llm-server.js";

const KEY = "sk-runtime-test-5f3a9c1e7b2d4a60";

let srv: LlmServer;
let w: Workspace | undefined;
beforeAll(async () => {
  srv = await startLlmServer();
});
afterAll(async () => {
  await srv.close();
});
afterEach(async () => {
  srv.reset();
  await w?.cleanup();
  w = undefined;
});

// The default audit.redact list holds "token", a key fragment that would also mask `max_tokens`
// and `usage.*_tokens` in the record; this project lists its own fragments.
const config = () => `audit: { redact: [password, secret, api_key, authorization] }
llm:
  providers:
    openai: { base_url: "${srv.origin}/v1", api_key_env: LLM_KEY }
  prices:
    gpt-x: { input_per_mtok: 2, output_per_mtok: 8 }
`;

const SPEC = `name: summarize
version: 1
inputs:
  topic: { type: string }
steps:
  - id: ask
    capability: llm.chat
    inputs:
      model: gpt-x
      messages: [{ role: user, content: "Summarize \${{ inputs.topic }}" }]
      max_tokens: 50
  - id: save
    capability: io.fs.write_file
    inputs: { path: answer.txt, content: "\${{ steps.ask.outputs.content }}" }
`;

describe("llm.chat in a run", () => {
  it("answers a step whose output the next step writes, records the exchange, and never stores the key", async () => {
    w = await workspace({ config: config() });
    srv.reply({ content: "Rust is memory safe.", usage: { input: 40, output: 6 }, id: "cmpl-7" });
    const rt = await w.open({ LLM_KEY: KEY });
    let runId: string;
    try {
      const spec = await w.spec("summarize.yaml", SPEC);
      const run = await rt.startRun({ specFile: spec, inputs: { topic: "Rust" } });
      expect(run.status).toBe("COMPLETED");
      runId = run.id;
      const ask = run.steps.find((s) => s.id === "ask");
      expect(ask?.outputs).toMatchObject({
        provider: "openai",
        model: "gpt-x",
        content: "Rust is memory safe.",
        response_id: "cmpl-7",
        priced: true,
      });
      expect(ask?.outputs).toMatchObject({
        usage: { input_tokens: 40, output_tokens: 6, total_tokens: 46 },
      });
      expect((ask!.outputs as { cost_usd: number }).cost_usd).toBeCloseTo(
        (40 * 2 + 6 * 8) / 1e6,
        12,
      );
    } finally {
      await rt.close();
    }
    expect(await readFile(join(w.ws, "answer.txt"), "utf8")).toBe("Rust is memory safe.");
    expect(srv.requests).toHaveLength(1);
    expect(srv.requests[0]?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(srv.requests[0]?.body).toMatchObject({
      messages: [{ role: "user", content: "Summarize Rust" }],
    });
    // Every byte the store wrote (database, WAL, anything else under home).
    const files = await readdir(w.home, { recursive: true, withFileTypes: true });
    let stored = "";
    for (const f of files) {
      if (f.isFile()) stored += (await readFile(join(f.parentPath, f.name))).toString("latin1");
    }
    expect(stored).toContain(runId);
    expect(stored).toContain("Rust is memory safe.");
    expect(stored).not.toContain(KEY);
  });

  it("refuses a workflow naming an unknown provider before anything runs, naming file and field", async () => {
    w = await workspace({ config: config() });
    const rt = await w.open({ LLM_KEY: KEY });
    try {
      const spec = await w.spec(
        "bad.yaml",
        SPEC.replace("model: gpt-x", "provider: mistral\n      model: gpt-x"),
      );
      const err = await rt.startRun({ specFile: spec, inputs: { topic: "x" } }).catch((e) => e);
      expect(err).toBeInstanceOf(ValidationError);
      const [p] = (err as ValidationError).problems;
      expect(p).toMatchObject({ file: spec, field: "steps[0].inputs.provider" });
      expect(p?.message).toContain('unknown LLM provider "mistral"');
      expect(await rt.listRuns()).toEqual([]);
    } finally {
      await rt.close();
    }
    expect(srv.requests).toHaveLength(0);
  });
});
