// The incident example's tools, as an Airun plugin (named in airun.yaml `plugins:`). All three
// run offline and deterministically, so the example needs no network and no model:
//   incident.logs.retrieve   lines of incidents/<id>/* matching the query, each with a source ref
//   incident.text.summarize  an extractive "model": symptom, cause, runbook advice, proposed fix;
//                            it declares token usage, so `budgets.max_tokens` governs it
//   incident.checks.validate the summary cites at least two retrieved sources and proposes a fix
// None has a side effect (undo "none"); the ticket itself is written with io.fs.write_file.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { defineCapability } from "airun";
import { z } from "zod";

const passage = z.object({ ref: z.string(), text: z.string() });
const words = (s) => s.split(/\s+/).filter(Boolean).length;

export const retrieve = defineCapability({
  name: "incident.logs.retrieve",
  description: "Lines of an incident's logs and runbook that match a query, with source refs",
  input: z.object({
    incident: z.string().regex(/^INC-\d+$/, "an incident id like INC-1042"),
    query: z.string().min(1),
    limit: z.number().int().positive().default(20),
  }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  async execute(input, ctx) {
    const dir = join(ctx.sandbox.fsRoots[0], "incidents", input.incident);
    let files = [];
    try {
      files = readdirSync(dir).sort();
    } catch {
      return { incident: input.incident, refs: [], passages: [] }; // no such incident: nothing
    }
    const terms = input.query.toLowerCase().split(/\s+/).filter(Boolean);
    const passages = [];
    for (const file of files) {
      const lines = readFileSync(join(dir, file), "utf8").split("\n");
      lines.forEach((text, i) => {
        const lower = text.toLowerCase();
        if (text.trim() && terms.some((t) => lower.includes(t))) {
          passages.push({ ref: `incidents/${input.incident}/${file}:${i + 1}`, text: text.trim() });
        }
      });
    }
    const kept = passages.slice(0, input.limit);
    return { incident: input.incident, refs: kept.map((p) => p.ref), passages: kept };
  },
});

export const summarize = defineCapability({
  name: "incident.text.summarize",
  description: "Summarizes passages (extractive, offline) and proposes a fix, citing its sources",
  input: z.object({
    incident: z.string(),
    passages: z.array(passage),
    max_tokens: z.number().int().positive(),
  }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  // What a budget reserves before the call, and settles after it (like llm.chat).
  estimateUsage: (i) => ({
    tokens: i.max_tokens + i.passages.reduce((n, p) => n + words(p.text), 0),
  }),
  actualUsage: (o) => ({ tokens: o.usage.input_tokens + o.usage.output_tokens }),
  async execute(input) {
    const find = (re) => input.passages.filter((p) => re.test(p.text));
    const errors = find(/\bERROR\b/);
    const warnings = find(/\bWARN\b/);
    const changes = find(/\bdeploy\b|->/);
    const advice = find(/^- /);
    const lines = [];
    const cite = (ps) => `(${ps.map((p) => p.ref).join(", ")})`;
    if (errors.length > 0)
      lines.push(
        `- Symptom: ${errors.length} errors like "${errors[0].text.replace(/^\S+\s+ERROR\s+/, "")}" ${cite(errors)}`,
      );
    if (warnings.length > 0)
      lines.push(
        `- Pressure: ${warnings.at(-1).text.replace(/^\S+\s+WARN\s+/, "")} ${cite(warnings)}`,
      );
    if (changes.length > 0)
      lines.push(
        `- Change just before: ${changes[0].text.replace(/^\S+\s+/, "")} ${cite(changes.slice(0, 1))}`,
      );
    if (advice.length > 0)
      lines.push(`- Runbook: ${advice[0].text.replace(/^- /, "")} ${cite(advice.slice(0, 1))}`);
    const pool = /pool\.max (\d+) -> (\d+)/.exec(changes[0]?.text ?? "");
    const fix = pool
      ? `Restore pool.max to ${pool[1]} in config/db.yaml (it was lowered to ${pool[2]} by the last deploy) and alert when the pool stays saturated.`
      : "Not enough evidence to propose a fix.";
    const summary = lines.length > 0 ? lines.join("\n") : "- No evidence found.";
    const cited = [
      ...new Set(
        [...errors, ...warnings, ...changes.slice(0, 1), ...advice.slice(0, 1)].map((p) => p.ref),
      ),
    ];
    const markdown = `# ${input.incident}\n\n## Summary\n${summary}\n\n## Proposed fix\n${fix}\n\n## Sources\n${cited.map((r) => `- ${r}`).join("\n") || "- none"}\n`;
    const input_tokens = input.passages.reduce((n, p) => n + words(p.text), 0);
    return {
      summary,
      fix,
      cited,
      markdown,
      usage: { input_tokens, output_tokens: Math.min(words(markdown), input.max_tokens) },
    };
  },
});

export const validate = defineCapability({
  name: "incident.checks.validate",
  description: "Checks a summary: at least two cited sources, all of them retrieved, and a fix",
  input: z.object({ cited: z.array(z.string()), refs: z.array(z.string()), fix: z.string() }),
  risk: "LOW",
  effect: "read",
  idempotent: true,
  undo: "none",
  async execute(input) {
    const problems = [];
    if (input.cited.length < 2) problems.push(`cites ${input.cited.length} source(s); 2 needed`);
    for (const r of input.cited)
      if (!input.refs.includes(r)) problems.push(`cites ${r}, which was not retrieved`);
    if (/not enough evidence/i.test(input.fix)) problems.push("proposes no fix");
    return { pass: problems.length === 0, problems };
  },
});
