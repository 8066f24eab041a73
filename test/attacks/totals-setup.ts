/**
 * @module Global setup of the attacks project: provides the file the attack tests append their
 * tallies to (`tally.ts`), and at the end prints the totals per family and overall (tried,
 * refused, stayed inside, escaped), and fails the run (exit code 1) if any attack escaped.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import type { TallyLine } from "./tally.js";

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), "airun-attack-tally-"));
  const file = join(dir, "tally.jsonl");
  writeFileSync(file, "");
  project.provide("attackTally", file);
  return () => {
    const lines = readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as TallyLine);
    rmSync(dir, { recursive: true, force: true });
    if (lines.length === 0) return;
    const { table, escapes } = totalsTable(lines);
    process.stdout.write(`\n${table}\n`);
    if (escapes.length > 0) {
      // A throw here is only logged by vitest ("error during close"): fail the run explicitly.
      process.stderr.write(
        `attack suite: ${escapes.length} attack(s) escaped:\n${escapes.join("\n")}\n`,
      );
      process.exitCode = 1;
    }
  };
}

/** The table of `lines` summed per family (sorted by name) and overall; and every escape. */
export function totalsTable(lines: readonly TallyLine[]): { table: string; escapes: string[] } {
  const families = new Map<string, { files: Set<string>; n: number[] }>();
  const escapes: string[] = [];
  for (const l of lines) {
    const f = families.get(l.family) ?? { files: new Set<string>(), n: [0, 0, 0, 0] };
    f.files.add(l.file);
    const add = [l.tried, l.refused, l.inside, l.escaped];
    f.n = f.n.map((v, i) => v + (add[i] as number));
    families.set(l.family, f);
    for (const e of l.escapes) escapes.push(`${l.family} (${l.file}): ${e}`);
  }
  const rows = [...families.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, f]) => [name, String(f.files.size), ...f.n.map(String)]);
  const total = [0, 1, 2, 3].map((i) => rows.reduce((s, r) => s + Number(r[i + 2]), 0));
  const files = rows.reduce((s, r) => s + Number(r[1]), 0);
  const all = [
    ["family", "files", "tried", "refused", "inside", "escaped"],
    ...rows,
    ["total", String(files), ...total.map(String)],
  ];
  const widths = all[0]!.map((_, i) => Math.max(...all.map((r) => (r[i] as string).length)));
  const fmt = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const body = all.map(fmt);
  const table = ["attack suite totals", body[0], rule, ...body.slice(1, -1), rule, body.at(-1)]
    .filter((x): x is string => x !== undefined)
    .join("\n");
  return { table, escapes };
}
