/**
 * Seed-format specs (the earlier Python implementation's YAML) run unchanged through the built
 * CLI: the fixtures in test/fixtures/specs/ are copied byte for byte into a temp project, given
 * the folders they write into, and run, waited on, approved and rejected across processes.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type ApprovalJson, type Project, project, type RunJson, tempRoot } from "./project.js";

const root = tempRoot("seed");
afterAll(() => root.cleanup());

const FIXTURES = resolve("test/fixtures/specs");

/** Copies a fixture unchanged into the project and returns its file name. */
function fixture(p: Project, name: string): string {
  copyFileSync(join(FIXTURES, name), join(p.dir, name));
  expect(readFileSync(join(p.dir, name))).toEqual(readFileSync(join(FIXTURES, name)));
  return name;
}

/** A project for seed-deploy.yaml: it writes conf/<env>.json and copies it to live/. */
function deployProject(): Project {
  const p = project(root.path);
  mkdirSync(join(p.ws, "conf"));
  mkdirSync(join(p.ws, "live"));
  fixture(p, "seed-deploy.yaml");
  return p;
}

async function pending(p: Project): Promise<ApprovalJson[]> {
  return (await p.json<{ approvals: ApprovalJson[] }>(["approvals", "list"])).body.approvals;
}

describe("seed-deploy.yaml, unchanged", () => {
  it("resolves {{ key }} templates from initial_state, runs max_retries: 0 once, and waits (exit 5) at the HUMAN_APPROVAL step with publish not run", async () => {
    const p = deployProject();
    const { code, body } = await p.json(["run", "seed-deploy.yaml"]);
    expect(code).toBe(5);
    expect(body).toMatchObject({ name: "deploy_web_service", status: "WAITING_APPROVAL" });
    expect(body.principal).toBe("agent:deployer");
    expect(p.step(body, "write_config")).toMatchObject({ status: "SUCCEEDED", attempts: 1 });
    expect(p.step(body, "approval_gate").status).toBe("WAITING_APPROVAL");
    expect(p.step(body, "publish")).toMatchObject({ status: "PENDING", attempts: 0 });
    expect(readFileSync(join(p.ws, "conf/staging.json"), "utf8")).toBe('{"replicas": 2}');
    expect(existsSync(join(p.ws, "live/staging.json"))).toBe(false);

    const approvals = await pending(p);
    expect(approvals).toHaveLength(1);
    expect(approvals[0]).toMatchObject({
      run_id: body.id,
      step_id: "approval_gate",
      requester: "agent:deployer",
    });
  });

  it("renders the {{ }} templates in a HUMAN_APPROVAL step's inputs.message", async () => {
    const p = deployProject();
    expect((await p.json(["run", "seed-deploy.yaml"])).code).toBe(5);
    const [approval] = await pending(p);
    expect(approval?.message).toBe("Deploy staging with 2 replicas?");
  });

  it("continues after `workflow resume --decision approve --as user:bob` in a new process: publish copies the file named by {{ write_config.path }} and the run completes (exit 0)", async () => {
    const p = deployProject();
    const run = await p.json(["run", "seed-deploy.yaml"]);
    expect(run.code).toBe(5);
    const resumed = await p.json([
      "workflow",
      "resume",
      run.body.id,
      "--decision",
      "approve",
      "--as",
      "user:bob",
    ]);
    expect(resumed.code).toBe(0);
    expect(resumed.body).toMatchObject({ id: run.body.id, status: "COMPLETED", outcome: "ACCEPT" });
    expect(p.step(resumed.body, "approval_gate").outputs).toMatchObject({
      approved: true,
      decided_by: "user:bob",
    });
    const publish = p.step(resumed.body, "publish");
    expect(publish.status).toBe("SUCCEEDED");
    expect(readFileSync(join(p.ws, "live/staging.json"), "utf8")).toBe('{"replicas": 2}');
    expect(await pending(p)).toEqual([]);
  });

  it("rolls back on reject (exit 3, APPROVAL_REJECTED): the written config is removed and nothing is published", async () => {
    const p = deployProject();
    const run = await p.json(["run", "seed-deploy.yaml"]);
    const rejected = await p.json([
      "workflow",
      "resume",
      run.body.id,
      "--decision",
      "reject",
      "--as",
      "user:bob",
      "--comment",
      "not today",
    ]);
    expect(rejected.code).toBe(3);
    expect(rejected.body).toMatchObject({ status: "ROLLED_BACK", reason: "APPROVAL_REJECTED" });
    expect(p.step(rejected.body, "write_config").status).toBe("COMPENSATED");
    expect(existsSync(join(p.ws, "conf/staging.json"))).toBe(false);
    expect(existsSync(join(p.ws, "live/staging.json"))).toBe(false);
  });
});

describe("seed max_retries", () => {
  const spec = (retries: number) => `name: seed_retries
version: 1.0.0
agent_name: retrier
steps:
  - name: flaky
    step_type: ACTION
    capability_name: sys.fail
    inputs: { message: "transient", retryable: true }
    max_retries: ${retries}
`;

  it.each([
    [0, 1],
    [2, 3],
  ])(
    "max_retries: %i makes exactly %i attempt(s) of a retryable failure",
    async (retries, attempts) => {
      const p = project(root.path);
      p.write("retries.yaml", spec(retries));
      const { code, body } = await p.json<RunJson>(["run", "retries.yaml"]);
      expect(code).toBe(3);
      expect(p.step(body, "flaky")).toMatchObject({ status: "FAILED", attempts });
    },
  );
});

describe("seed-onboarding.yaml, unchanged", () => {
  it("runs as metadata.owner, resolves {{customer_name}} from initial_state, and maps approver_role to an eligible role", async () => {
    const p = project(root.path, {
      config: "principals:\n  user:carol: { roles: [sales_director] }\n",
    });
    fixture(p, "seed-onboarding.yaml");
    // create_account is risk_level HIGH: the built-in policy asks for approval first.
    const run = await p.json(["run", "seed-onboarding.yaml"]);
    expect(run.code).toBe(5);
    expect(run.body.principal).toBe("user:daniel@example.com");
    expect(p.step(run.body, "create_account")).toMatchObject({
      status: "WAITING_APPROVAL",
      attempts: 0,
    });

    const first = await p.json([
      "workflow",
      "resume",
      run.body.id,
      "--decision",
      "approve",
      "--as",
      "user:bob",
    ]);
    expect(first.code).toBe(5);
    expect(p.step(first.body, "create_account").outputs).toEqual({
      customer_name: "Acme Corp",
      tier: "enterprise",
    });
    expect(p.step(first.body, "human_approval").status).toBe("WAITING_APPROVAL");
    const [gate] = await pending(p);
    expect(gate).toMatchObject({ step_id: "human_approval", approvers: ["role:sales_director"] });

    const bob = await p.run([
      "workflow",
      "resume",
      run.body.id,
      "--decision",
      "approve",
      "--as",
      "user:bob",
    ]);
    expect(bob.code).toBe(2);
    expect(bob.stderr).toContain("NOT_ELIGIBLE");

    const carol = await p.json([
      "workflow",
      "resume",
      run.body.id,
      "--decision",
      "approve",
      "--as",
      "user:carol",
    ]);
    expect(p.step(carol.body, "human_approval")).toMatchObject({
      status: "SUCCEEDED",
      outputs: { approved: true, decided_by: "user:carol" },
    });
  });
});
