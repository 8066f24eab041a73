/**
 * @module Shared by the ledger tamper attacks: a reference run made through the built `airun`
 * (four steps, one of them approved by another user, a planned failure, a rollback), private
 * copies of its project folder to tamper with, direct edits of its database (as an attacker with
 * file access would make them), and evidence packs re-signed with the home's own key (what an
 * exporter that trusted the database would have written).
 */
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { expect } from "vitest";
import {
  type EvidencePack,
  type EvidencePackBody,
  writePack,
} from "../../src/core/evidence-pack.js";
import { type Project, project, type RunJson } from "../e2e/project.js";
import { airun, type CliResult } from "../support/cli.js";

export const POLICY = `version: 1
default: DENY
rules:
  - id: fs-ok
    principal: "agent:*"
    capability: "io.fs.*"
    decision: ALLOW
  - id: delete-needs-ok
    principal: "agent:*"
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
    approvers: ["user:*"]
  - id: sys-ok
    principal: "agent:*"
    capability: "sys.*"
    decision: ALLOW
`;

/**
 * The reference workflow: make a folder, write a file from an input, delete a file (needs a
 * person's approval), then fail on purpose: everything is undone, the run ends ROLLED_BACK.
 */
export const REFERENCE = `name: reference
version: 1
principal: agent:bot
inputs:
  greeting: { type: string }
steps:
  - id: mk
    capability: io.fs.make_dir
    inputs: { path: out }
  - id: write
    capability: io.fs.write_file
    depends_on: [mk]
    inputs: { path: out/a.txt, content: "\${{ inputs.greeting }}" }
  - id: remove
    capability: io.fs.delete
    depends_on: [write]
    inputs: { path: old.txt }
  - id: boom
    capability: sys.fail
    depends_on: [remove]
    inputs: { message: planned failure }
`;

/** A project holding one finished reference run. */
export interface Reference {
  readonly p: Project;
  readonly home: string;
  readonly runId: string;
}

/**
 * Runs the reference workflow through the CLI under `root` (audit level `level`), approves its
 * deletion as user:carol, and checks it ended ROLLED_BACK with a ledger that verifies.
 */
export async function referenceRun(
  root: string,
  level: "BASIC" | "DETAILED" | "FORENSIC" = "DETAILED",
): Promise<Reference> {
  const p = project(root, { policy: POLICY, config: `audit: { level: ${level} }\n` });
  p.write("ws/old.txt", "keep");
  p.write("wf.yaml", REFERENCE);
  const started = await p.json<RunJson>(["run", "wf.yaml", "--input", "greeting=hello"]);
  expect(started.body.status).toBe("WAITING_APPROVAL");
  const runId = started.body.id;
  const decided = await p.json<RunJson>([
    "workflow",
    "resume",
    runId,
    "--decision",
    "approve",
    "--as",
    "user:carol",
  ]);
  expect(decided.body.status).toBe("ROLLED_BACK");
  expect(decided.body.principal).toBe("agent:bot");
  const verified = await p.run(["ledger", "verify"]);
  expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  return { p, home: join(p.dir, "home"), runId };
}

let copies = 0;

/** A private copy of a project folder (config, policy, sandbox, home with database and keys). */
export function copyOf(ref: Reference): Reference & { run(args: string[]): Promise<CliResult> } {
  copies += 1;
  const dir = `${ref.p.dir}-copy${copies}`;
  cpSync(ref.p.dir, dir, { recursive: true });
  return {
    p: { ...ref.p, dir },
    home: join(dir, "home"),
    runId: ref.runId,
    run: (args) => airun(args, { cwd: dir }),
  };
}

/** Edits `<home>/airun.db` directly in one transaction; the edit must change something. */
export function editDb(home: string, edit: (db: Database.Database) => number): void {
  const db = new Database(join(home, "airun.db"));
  try {
    const changed = db.transaction(() => edit(db))();
    expect(changed, "the tampering changed no row").toBeGreaterThan(0);
  } finally {
    db.close();
  }
}

/** Runs one statement against `<home>/airun.db`; returns the rows it changed. */
export function sql(home: string, statement: string, ...params: unknown[]): void {
  editDb(home, (db) => db.prepare(statement).run(...params).changes);
}

/** Reads rows from `<home>/airun.db`. */
export function query<T>(home: string, statement: string, ...params: unknown[]): T[] {
  const db = new Database(join(home, "airun.db"), { readonly: true });
  try {
    return db.prepare(statement).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** The home's ledger key files. */
export function ledgerKeyFiles(home: string): { privateKey: string; publicKey: string } {
  return {
    privateKey: join(home, "keys", "ledger", "ledger.ed25519"),
    publicKey: join(home, "keys", "ledger", "ledger.ed25519.pub"),
  };
}

/**
 * A pack changed by `mutate` and signed again with the home's own private key: what an exporter
 * that believed an edited database would have written. Returns the pack's file text.
 */
export function resignedPack(
  packText: string,
  home: string,
  mutate: (body: DeepMutable<EvidencePackBody>) => void,
): string {
  const { signature: _old, ...body } = JSON.parse(packText) as EvidencePack;
  mutate(body as DeepMutable<EvidencePackBody>);
  return writePack(body, readFileSync(ledgerKeyFiles(home).privateKey, "utf8"));
}

/** `T` with every field, at every depth, writable. */
export type DeepMutable<T> = {
  -readonly [K in keyof T]: T[K] extends object ? DeepMutable<T[K]> : T[K];
};
