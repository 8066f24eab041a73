// Policy evaluation benchmark: decisions/s of the compiled evaluator (`compilePolicy(...)
// .evaluate`) for a generated 100-rule policy, against a naive scan of the SAME rules measured
// in the same run. The naive evaluator is what a straightforward implementation does: for every
// rule, test principal, capability, risk and conditions, building each RegExp (and picomatch
// matcher) per call, normalizing paths per call, collecting matches; the most restrictive wins.
// Both evaluators are first checked to agree on every generated request (decision and rule ids).
//
// Run from bench/run.mjs (after the build), or alone: `node bench/policy.mjs`.
import { posix } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import picomatch from "picomatch";
import { compilePolicy } from "../dist/core/policy-compile.js";

const RULES = 100;
const REQUESTS = 1000;
const fmt = (n) => n.toLocaleString("en-US", { maximumFractionDigits: 0 });

/** A deterministic PRNG (mulberry32) so every run benches the same policy and requests. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TEAMS = Array.from({ length: 20 }, (_, i) => `t${i}`);
const CAPS = [
  "io.fs.read_file",
  "io.fs.write_file",
  "io.fs.append_file",
  "io.fs.delete",
  "io.fs.list_dir",
  "io.fs.move",
  "net.http.request",
  "sys.exec.run",
  "sys.echo",
  "sys.sleep",
];

/** A realistic mix: per-team agents and folders, roles, globs, risk filters, path and method conditions. */
function generateRules(rand) {
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const rules = [
    {
      id: "deny-secrets",
      principal: "**",
      capability: "io.fs.**",
      when: { "inputs.path": ["secrets/**", "**/.env"] },
      decision: "DENY",
    },
    { id: "deny-exec-agents", principal: "agent:*", capability: "sys.exec.*", decision: "DENY" },
    {
      id: "sre-anything",
      principal: "role:sre",
      capability: "**",
      decision: "REQUIRE_APPROVAL",
      approvers: ["role:lead"],
    },
    { id: "echo-all", capability: "sys.echo", decision: "ALLOW" },
  ];
  for (let i = rules.length; i < RULES; i++) {
    const team = pick(TEAMS);
    const kind = i % 6;
    const rule = { id: `r${i}` };
    if (kind === 0) {
      rule.principal = `agent:${team}-*`;
      rule.capability = pick(["io.fs.read_*", "io.fs.list_dir", "io.fs.read_file"]);
      rule.when = { "inputs.path": `teams/${team}/**` };
      rule.decision = "ALLOW";
    } else if (kind === 1) {
      rule.principal = [`agent:${team}-writer`, `user:${team}-*`];
      rule.capabilities = ["io.fs.write_file", "io.fs.append_file"];
      rule.risk_level = ["LOW", "MEDIUM"];
      rule.when = { "inputs.path": [`teams/${team}/out/**`, `shared/${team}/*.md`] };
      rule.decision = "ALLOW";
    } else if (kind === 2) {
      rule.principal = `role:${pick(["dev", "ops", "analyst"])}`;
      rule.capability = "net.http.request";
      rule.when = { "inputs.method": { in: ["GET", "HEAD"] } };
      rule.decision = "ALLOW";
    } else if (kind === 3) {
      rule.principal = `agent:${team}-*`;
      rule.capability = "io.fs.delete";
      rule.when = { "inputs.path": `teams/${team}/tmp/**` };
      rule.decision = "REQUIRE_APPROVAL";
      rule.approvers = [`user:${team}-lead`];
    } else if (kind === 4) {
      rule.principal = "user:*";
      rule.capability = pick(["io.fs.*", "sys.*", "io.fs.move"]);
      rule.risk_level = pick([["HIGH", "CRITICAL"], "MEDIUM", ["LOW"]]);
      rule.decision = pick(["REQUIRE_APPROVAL", "ALLOW"]);
    } else {
      rule.principal = `agent:${team}-*`;
      rule.capability = pick(["io.fs.write_file", "io.fs.move", "io.fs.**"]);
      rule.when = { "inputs.path": `teams/${pick(TEAMS)}/private/**` };
      rule.decision = "DENY";
    }
    rules.push(rule);
  }
  return rules;
}

function generateRequests(rand) {
  const pick = (xs) => xs[Math.floor(rand() * xs.length)];
  const out = [];
  for (let i = 0; i < REQUESTS; i++) {
    const team = pick(TEAMS);
    const principal = pick([
      `agent:${team}-reader`,
      `agent:${team}-writer`,
      `user:${team}-bob`,
      "user:alice",
      "service:ci",
    ]);
    const roles =
      principal === "user:alice" ? ["sre"] : pick([[], [], ["dev"], ["ops", "analyst"]]);
    const capability = pick(CAPS);
    const path = pick([
      `teams/${team}/report-${i % 7}.txt`,
      `teams/${team}/out/data-${i % 13}.csv`,
      `shared/${team}/notes.md`,
      `teams/${team}/tmp/scratch/x${i % 5}`,
      `teams/${pick(TEAMS)}/private/key`,
      `teams/${team}//out/./../private/key`,
      `secrets/db.txt`,
      `app/.env`,
      `../escape/${i}`,
    ]);
    const inputs =
      capability === "net.http.request"
        ? { url: "https://api.example.com/x", method: pick(["GET", "POST", "HEAD"]) }
        : capability.startsWith("sys.")
          ? { argv: ["ls"], ms: 1 }
          : { path, content: "x" };
    const risk = pick(["LOW", "LOW", "MEDIUM", "HIGH"]);
    out.push({
      principal,
      roles,
      capability,
      risk,
      effect: "write",
      undo: "builtin",
      hasCompensation: false,
      inputs,
    });
  }
  return out;
}

// --------------------------------------------------------------------------------------------
// The naive evaluator: a straightforward scan, everything built per call.
// --------------------------------------------------------------------------------------------

const RANK = { ALLOW: 0, REQUIRE_APPROVAL: 1, DENY: 2 };
const asList = (v) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

function nameRegExp(pattern, sep) {
  if (pattern === "*" || pattern === "**") return /^.*$/u;
  let src = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        while (pattern[i + 1] === "*") i++;
        src += ".*";
      } else src += `[^${sep}]*`;
    } else if (ch === "?") src += `[^${sep}]`;
    else src += /[\\^$+.()|{}[\]]/.test(ch) ? `\\${ch}` : ch;
  }
  return new RegExp(`${src}$`, "u");
}

function naivePath(value) {
  if (typeof value !== "string" || value.includes("\0")) return null;
  const nfc = value.normalize("NFC");
  const abs = nfc.startsWith("/");
  const out = [];
  for (const seg of nfc.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length > 0) out.pop();
      else if (!abs) return null;
      continue;
    }
    out.push(seg);
  }
  const joined = posix.join(...(out.length ? out : ["."]));
  return abs ? `/${joined}` : joined;
}

function isPathKey(key) {
  const k = key.toLowerCase();
  return ["path", "from", "to", "cwd"].includes(k) || k.endsWith("path");
}

function naiveEvaluate(policy, req) {
  const matched = [];
  for (const rule of policy.rules) {
    const principals = asList(rule.principal);
    if (principals) {
      const ok = principals.some((p) =>
        p.startsWith("role:")
          ? req.roles.some((r) => nameRegExp(p.slice(5), ":").test(r))
          : nameRegExp(p, ":").test(req.principal),
      );
      if (!ok) continue;
    }
    const caps = asList(rule.capability ?? rule.capabilities) ?? ["**"];
    if (!caps.some((c) => nameRegExp(c, ".").test(req.capability))) continue;
    const risks = asList(rule.risk_level);
    if (risks && !risks.includes(req.risk)) continue;
    let ok = true;
    for (const [key, cond] of Object.entries(rule.when ?? {})) {
      const field = key.replace(/^inputs\./, "").split(".");
      let value = req.inputs;
      for (const f of field) value = value?.[f];
      if (value === undefined || value === null) {
        ok = false;
        break;
      }
      const operands = Array.isArray(cond) ? cond : (cond?.in ?? [cond]);
      if (isPathKey(field[field.length - 1])) {
        const norm = naivePath(value);
        if (norm === null) {
          ok = rule.decision !== "ALLOW";
        } else {
          ok = operands.some((g) => picomatch.isMatch(norm, g, { dot: true }));
        }
      } else {
        ok = operands.includes(value);
      }
      if (!ok) break;
    }
    if (ok) matched.push(rule);
  }
  const high = req.risk !== "LOW" && req.risk !== "MEDIUM";
  if (matched.length === 0) {
    const d = policy.default ?? "DENY";
    return { decision: d === "ALLOW" && high ? "REQUIRE_APPROVAL" : d, ruleIds: [] };
  }
  let best = "ALLOW";
  for (const r of matched) {
    const eff = r.decision === "ALLOW" && high ? "REQUIRE_APPROVAL" : r.decision;
    if (RANK[eff] > RANK[best]) best = eff;
  }
  return { decision: best, ruleIds: matched.map((r) => r.id) };
}

// --------------------------------------------------------------------------------------------

function measure(fn, requests, minMs) {
  let n = 0;
  let sink = 0;
  const t0 = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < requests.length; i++) sink += fn(requests[i]).decision.length;
    n += requests.length;
    elapsed = performance.now() - t0;
  } while (elapsed < minMs);
  if (sink === 0) throw new Error("unreachable");
  return (n / elapsed) * 1000;
}

/** Runs the policy benchmark and prints its figures. */
export async function runPolicyBench() {
  const rand = rng(0xa1e0);
  const doc = { version: 1, default: "DENY", rules: generateRules(rand) };
  const requests = generateRequests(rand);
  // JSON is YAML: the compiled evaluator reads the very rules the naive one scans.
  const compiled = compilePolicy("bench-policy.yaml", JSON.stringify(doc, null, 1));

  let agree = 0;
  const counts = { ALLOW: 0, DENY: 0, REQUIRE_APPROVAL: 0 };
  for (const req of requests) {
    const a = compiled.evaluate(req);
    const b = naiveEvaluate(doc, req);
    counts[a.decision] += 1;
    if (a.decision === b.decision && a.ruleIds.join() === b.ruleIds.join()) agree += 1;
    else if (agree + 1 === 0) console.log(req, a, b);
  }

  // Warm up both, then measure.
  measure((r) => compiled.evaluate(r), requests, 300);
  measure((r) => naiveEvaluate(doc, r), requests, 300);
  const fast = measure((r) => compiled.evaluate(r), requests, 1500);
  const naive = measure((r) => naiveEvaluate(doc, r), requests, 1500);

  console.log(
    `\n5. policy decisions, ${compiled.ruleCount}-rule generated policy, ${REQUESTS} distinct requests`,
  );
  console.log(
    `   decisions: ${counts.ALLOW} ALLOW, ${counts.REQUIRE_APPROVAL} REQUIRE_APPROVAL, ${counts.DENY} DENY; both evaluators agree on ${agree}/${REQUESTS}`,
  );
  console.log(`   naive scan (per-call RegExp/picomatch): ${fmt(naive)} decisions/s`);
  console.log(
    `   compiled evaluator:                     ${fmt(fast)} decisions/s   (target >= 1,000,000)`,
  );
  console.log(`   ratio: ${(fast / naive).toFixed(1)}x   (target >= 10x)`);
  if (agree !== REQUESTS)
    throw new Error(`policy bench: evaluators disagree on ${REQUESTS - agree} requests`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await runPolicyBench();
