/**
 * Attack: principal lookalikes through the TypeScript SDK (issue 13, finding 7). The Runtime
 * is the door every surface goes through: `startRun`, `decideApproval`, `resume`, `cancel`,
 * `rollback` refuse a principal that is not `kind:id` exactly (`INVALID_PRINCIPAL`), and
 * `openSession` reports it among the problems of the session's definition, before anything is
 * decided or recorded.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AirunError, ValidationError } from "../../src/core/errors.js";
import { type Workspace, workspace } from "../engine/helpers.js";
import { tally } from "./tally.js";

const t = tally("principal spellings", "principal-sdk");

let w: Workspace;
afterEach(async () => {
  await w?.cleanup();
});

const DELETE = `name: delete_victim
version: 1
steps:
  - id: remove
    capability: io.fs.delete
    inputs: { path: victim.txt }
`;

const LOOKALIKES = [
  "user:alice ",
  "user:Alice",
  "user:\u0430lice",
  "user:",
  "alice",
  "system:timeout",
];

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  return err instanceof AirunError ? err.code : `no error (${String(err)})`;
}

describe("attack: principal lookalikes through the SDK", () => {
  it("refuses them as the approver of alice's request; the approval stays pending", async () =>
    t.guard(
      "refuses them as the approver of alice's request; the approval stays pending",
      async () => {
        w = await workspace();
        const { writeFile } = await import("node:fs/promises");
        await writeFile(join(w.ws, "victim.txt"), "keep me");
        const rt = await w.open();
        try {
          const spec = await w.spec("del.yaml", DELETE);
          const run = await rt.startRun({ specFile: spec, principal: "user:alice" });
          expect(run.status).toBe("WAITING_APPROVAL");
          for (const principal of LOOKALIKES) {
            expect(
              await codeOf(rt.decideApproval(run.id, { decision: "approve", principal })),
              JSON.stringify(principal),
            ).toBe("INVALID_PRINCIPAL");
            expect(
              await codeOf(rt.resume(run.id, { decision: "approve", principal })),
              JSON.stringify(principal),
            ).toBe("INVALID_PRINCIPAL");
          }
          expect((await rt.getRun(run.id)).status).toBe("WAITING_APPROVAL");
          expect(existsSync(join(w.ws, "victim.txt"))).toBe(true);
          for (const principal of LOOKALIKES) {
            expect(await codeOf(rt.cancel(run.id, principal)), principal).toBe("INVALID_PRINCIPAL");
          }
          expect((await rt.getRun(run.id)).status).toBe("WAITING_APPROVAL");
        } finally {
          await rt.close();
        }
      },
    ));

  it("refuses them as who starts a run, undoes one or opens a session; nothing is recorded", async () =>
    t.guard(
      "refuses them as who starts a run, undoes one or opens a session; nothing is recorded",
      async () => {
        w = await workspace();
        const rt = await w.open();
        try {
          const spec = await w.spec("del.yaml", DELETE.replace("io.fs.delete", "sys.echo"));
          for (const principal of LOOKALIKES) {
            expect(await codeOf(rt.startRun({ specFile: spec, principal })), principal).toBe(
              "INVALID_PRINCIPAL",
            );
            // A session reports every problem of its definition at once, the principal among them.
            const opened = await rt.openSession({ principal }).catch((e: unknown) => e);
            expect(opened, principal).toBeInstanceOf(ValidationError);
            expect(
              (opened as ValidationError).problems.map((p) => p.field),
              principal,
            ).toContain("principal");
          }
          expect(await rt.listRuns()).toEqual([]);
          const done = await rt.startRun({ specFile: spec, principal: "agent:ok" });
          expect(done.status).toBe("COMPLETED");
          for (const principal of LOOKALIKES) {
            expect(await codeOf(rt.rollback(done.id, { principal })), principal).toBe(
              "INVALID_PRINCIPAL",
            );
          }
          expect((await rt.getRun(done.id)).status).toBe("COMPLETED");
        } finally {
          await rt.close();
        }
      },
    ));
});
