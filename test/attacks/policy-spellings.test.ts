/**
 * Attack family: policy spellings. An agent writes the workflow; the policy author wrote
 * DENY rules the agent wants around. Every way of naming the denied thing differently is
 * tried through the built CLI, and each case checks the real effect, not only the answer:
 *
 * - a capability name in another case, with whitespace, a Cyrillic or fullwidth letter, a glob,
 *   another separator: refused before anything runs (an unknown capability);
 * - every path-typed input of every capability (`path`, `from`, `to`, a command's `cwd`), given
 *   relative, absolute, through a symlinked folder, with `.`/`..`/`//` segments: a DENY on
 *   `secret/**` must deny each, and the secret neither leaks nor changes;
 * - the same paths in a declared compensation (the rollback would make the call): the step is
 *   denied before it acts;
 * - a condition on a value the capability normalizes (an HTTP method in lower case, a number
 *   written another way): the policy must see the value the capability will use;
 * - rule order and a DENY among ALLOW and REQUIRE_APPROVAL rules: the most restrictive wins,
 *   wherever it is written; and a capability glob's segments (`sys.*` is not `sys.exec.run`).
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Project, project, type RunJson, tempRoot } from "../e2e/project.js";
import { tally } from "./tally.js";

const root = tempRoot("attack-policy-spell");
afterAll(() => root.cleanup());

const t = tally("policy spellings", "policy-spellings");

const SECRET = "policy-spelling-secret-v4lue";

const POLICY = `version: 1
default: DENY
rules:
  - id: ok
    principal: "*"
    capability: ["io.fs.*", "sys.*", "sys.exec.run", "net.http.request"]
    decision: ALLOW
  - id: no-secrets
    principal: "*"
    capability: ["io.fs.*", "sys.exec.run"]
    when: { path: "secret/**" }
    decision: DENY
    reason: secrets stay secret
  - id: no-http-delete
    principal: "*"
    capability: net.http.request
    when: { method: DELETE }
    decision: DENY
  - id: no-long-sleep
    principal: "*"
    capability: sys.sleep
    when: { ms: 60000 }
    decision: DENY
`;

/** Requests the loopback server received, as `METHOD path`. */
const received: string[] = [];
let server: Server;
let port = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    received.push(`${req.method} ${req.url}`);
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const CONFIG = `  exec: { allow: ["cat", "ls"] }
  http: { allow_hosts: ["127.0.0.1"], allow_private: true }
`;

/** A project with `ws/secret/x.txt`, a folder link `ws/alias -> secret`, and `ws/pub.txt`. */
function setUp(): Project {
  const p = project(root.path, { policy: POLICY, config: CONFIG });
  mkdirSync(join(p.ws, "secret"));
  writeFileSync(join(p.ws, "secret", "x.txt"), SECRET);
  writeFileSync(join(p.ws, "pub.txt"), "public");
  mkdirSync(join(p.ws, "pub"));
  symlinkSync("secret", join(p.ws, "alias"));
  return p;
}

function workflow(steps: readonly Record<string, unknown>[]): string {
  return `${JSON.stringify({ name: "probe", version: 1, principal: "agent:thief", steps }, null, 2)}\n`;
}

/** Runs `steps` in a fresh project; the run's view and the project. */
async function attempt(steps: readonly Record<string, unknown>[]) {
  const p = setUp();
  p.write("wf.json", workflow(steps));
  const { code, body } = await p.json<RunJson>(["run", "wf.json"]);
  return { p, code, view: body };
}

/** Whether the secret changed, vanished, or was read out (into the view or another file). */
function leakedOrChanged(p: Project, view: RunJson): string | null {
  let now: string;
  try {
    now = readFileSync(join(p.ws, "secret", "x.txt"), "utf8");
  } catch {
    return "secret/x.txt is gone";
  }
  if (now !== SECRET) return "secret/x.txt changed";
  if (JSON.stringify(view).includes(SECRET)) return "the secret appears in the run's view";
  for (const f of ["pub.txt", "copied.txt", "moved.txt"]) {
    try {
      if (readFileSync(join(p.ws, f), "utf8").includes(SECRET)) return `the secret is in ${f}`;
    } catch {
      // not there: nothing leaked into it
    }
  }
  return null;
}

describe("attack: capability names spelled another way", () => {
  const NAMES = [
    "IO.FS.READ_FILE",
    "Io.fs.read_file",
    "io.fs.read_file ",
    " io.fs.read_file",
    "io.fs.read_file\t",
    "io.fs.read_file\u200b",
    "\u0456o.fs.read_file", // Cyrillic i
    "io.fs.read_fil\u0435", // Cyrillic e
    "\uff49o.fs.read_file", // fullwidth i
    "io.fs.*",
    "io.fs.read_fil?",
    "io.**",
    "io..fs.read_file",
    "io/fs/read_file",
    "io.fs.read-file",
    "io:fs:read_file",
  ];
  it("refuses each (exit 2, unknown capability) before anything runs or is recorded", async () => {
    const p = setUp();
    for (const name of NAMES) {
      p.write(
        "wf.json",
        workflow([{ id: "s", capability: name, inputs: { path: "secret/x.txt" } }]),
      );
      const r = await p.run(["run", "wf.json", "--json"]);
      const escaped = r.code !== 2 || r.stdout.includes(SECRET);
      t.attempt(`capability ${JSON.stringify(name)}`, escaped);
      expect(r.code, JSON.stringify(name)).toBe(2);
      expect(r.stderr, JSON.stringify(name)).toMatch(/unknown capability/);
    }
    const list = await p.json<{ runs: unknown[] }>(["workflow", "list"]);
    expect(list.body.runs).toEqual([]);
  }, 120_000);
});

/** A spelling of a path in `secret/`, for a field naming a file or a folder. */
type Spell = readonly [string, (p: Project, leaf: string) => string];
const SPELLINGS: readonly Spell[] = [
  ["relative", (_p, leaf) => `secret${leaf}`],
  ["absolute", (p, leaf) => join(p.ws, `secret${leaf}`)],
  ["through a folder symlink", (_p, leaf) => `alias${leaf}`],
  ["with . and .. and //", (_p, leaf) => `./pub/..//secret/.${leaf}`],
];

/** One path-typed input of one capability: the step, given a spelling of the denied path. */
type FieldCase = readonly [string, (at: (leaf: string) => string) => Record<string, unknown>];
const FIELDS: readonly FieldCase[] = [
  [
    "io.fs.read_file path",
    (at) => ({ capability: "io.fs.read_file", inputs: { path: at("/x.txt") } }),
  ],
  [
    "io.fs.hash_file path",
    (at) => ({ capability: "io.fs.hash_file", inputs: { path: at("/x.txt") } }),
  ],
  ["io.fs.exists path", (at) => ({ capability: "io.fs.exists", inputs: { path: at("/x.txt") } })],
  ["io.fs.list_dir path", (at) => ({ capability: "io.fs.list_dir", inputs: { path: at("") } })],
  [
    "io.fs.write_file path",
    (at) => ({ capability: "io.fs.write_file", inputs: { path: at("/x.txt"), content: "PWNED" } }),
  ],
  [
    "io.fs.append_file path",
    (at) => ({ capability: "io.fs.append_file", inputs: { path: at("/x.txt"), content: "PWNED" } }),
  ],
  [
    "io.fs.make_dir path",
    (at) => ({ capability: "io.fs.make_dir", inputs: { path: at("/made") } }),
  ],
  ["io.fs.delete path", (at) => ({ capability: "io.fs.delete", inputs: { path: at("/x.txt") } })],
  [
    "io.fs.copy from",
    (at) => ({ capability: "io.fs.copy", inputs: { from: at("/x.txt"), to: "copied.txt" } }),
  ],
  [
    "io.fs.copy to",
    (at) => ({
      capability: "io.fs.copy",
      inputs: { from: "pub.txt", to: at("/x.txt"), overwrite: true },
    }),
  ],
  [
    "io.fs.move from",
    (at) => ({ capability: "io.fs.move", inputs: { from: at("/x.txt"), to: "moved.txt" } }),
  ],
  [
    "io.fs.move to",
    (at) => ({
      capability: "io.fs.move",
      inputs: { from: "pub.txt", to: at("/x.txt"), overwrite: true },
    }),
  ],
  [
    "sys.exec.run cwd",
    (at) => ({ capability: "sys.exec.run", inputs: { argv: ["cat", "x.txt"], cwd: at("") } }),
  ],
];

describe.concurrent("attack: every path-typed input, spelled every way, against DENY secret/**", () => {
  const cases = FIELDS.flatMap(([field, make]) =>
    SPELLINGS.map(([how, spell]) => [`${field}, ${how}`, make, spell] as const),
  );
  it.each(cases)("%s: denied, the secret neither leaks nor changes", async (label, make, spell) => {
    const { p, code, view } = await attemptSpelled(make, spell);
    const step = view.steps[0];
    const harm = leakedOrChanged(p, view);
    const escaped = harm !== null || step?.error?.code !== "POLICY_DENIED";
    t.attempt(`${label}: ${harm ?? step?.status}`, escaped);
    expect(harm, label).toBeNull();
    expect(step?.error?.code, `${label}: ${step?.status} ${step?.error?.message}`).toBe(
      "POLICY_DENIED",
    );
    expect(step?.decision).toMatchObject({ decision: "DENY" });
    expect(code).toBe(4);
  });
});

/** `attempt` with the step built from a spelling resolved in the new project. */
async function attemptSpelled(
  make: FieldCase[1],
  spell: Spell[1],
): Promise<{ p: Project; code: number | null; view: RunJson }> {
  const p = setUp();
  const step = { id: "probe", ...make((leaf) => spell(p, leaf)) };
  p.write("wf.json", workflow([step]));
  const { code, body } = await p.json<RunJson>(["run", "wf.json"]);
  return { p, code, view: body };
}

describe.concurrent("attack: a denied path in a declared compensation, spelled every way", () => {
  // The same calls as above, declared as the undo of an allowed step.
  const UNDOS = FIELDS.filter(([field]) =>
    ["io.fs.write_file path", "io.fs.delete path", "io.fs.copy from"].includes(field),
  );
  const cases = UNDOS.flatMap(([field, make]) =>
    SPELLINGS.map(([how, spell]) => [`${field}, ${how}`, make, spell] as const),
  );
  it.each(cases)(
    "%s: the step is denied before it acts, and the rollback never makes the call",
    async (label, make, spell) => {
      const p = setUp();
      const undo = make((leaf) => spell(p, leaf));
      p.write(
        "wf.json",
        workflow([
          { id: "harmless", capability: "sys.echo", inputs: { hi: 1 }, compensation: undo },
          {
            id: "boom",
            capability: "sys.fail",
            depends_on: ["harmless"],
            inputs: { message: "roll back" },
          },
        ]),
      );
      let { code, body: view } = await p.json<RunJson>(["run", "wf.json"]);
      // A compensation that needs a person makes the step wait: approve, as a careless reviewer.
      for (let i = 0; i < 3 && view.status === "WAITING_APPROVAL"; i++) {
        ({ code, body: view } = await p.json<RunJson>([
          "workflow",
          "resume",
          view.id,
          "--decision",
          "approve",
          "--as",
          "user:reviewer",
        ]));
      }
      const step = p.step(view, "harmless");
      const harm = leakedOrChanged(p, view);
      const escaped = harm !== null || step.error?.code !== "POLICY_DENIED";
      t.attempt(`compensation ${label}: ${harm ?? step.status}`, escaped);
      expect(harm, label).toBeNull();
      expect(step.error?.code, `${label}: ${step.status}`).toBe("POLICY_DENIED");
      expect(code).toBe(4);
    },
  );
});

describe("attack: a value the capability normalizes, spelled so the DENY condition misses it", () => {
  it.each(["DELETE", "delete", "Delete", "dElEtE"])(
    "HTTP method %s: denied, and no DELETE reaches the server",
    async (method) => {
      const before = received.length;
      const { code, view } = await attempt([
        {
          id: "call",
          capability: "net.http.request",
          inputs: { url: `http://127.0.0.1:${port}/victim/${method}`, method },
        },
      ]);
      const sent = received.slice(before).filter((r) => r.startsWith("DELETE"));
      const step = view.steps[0];
      const escaped = sent.length > 0 || step?.error?.code !== "POLICY_DENIED";
      t.attempt(`method ${method}: ${sent.join(", ") || step?.status}`, escaped);
      expect(sent).toEqual([]);
      expect(step?.error?.code, `${step?.status} ${step?.error?.message}`).toBe("POLICY_DENIED");
      expect(code).toBe(4);
    },
  );

  // `ms: 60000` is denied; the step's timeout makes an escape end quickly (TIMEOUT, not a hang).
  it.each([
    ["the number itself", "60000"],
    ["an exponent", "6e4"],
    ["a decimal point", "60000.0"],
    ["hexadecimal", "0xEA60"],
    ["a quoted string", '"60000"'],
    ["a string with spaces", '" 60000 "'],
  ])("sys.sleep ms as %s: denied or refused, never slept", async (_, ms) => {
    const p = setUp();
    p.write(
      "wf.yaml",
      `name: nap\nversion: 1\nprincipal: agent:thief\nsteps:\n  - id: nap\n    capability: sys.sleep\n    timeout: 3s\n    inputs: { ms: ${ms} }\n`,
    );
    const r = await p.run(["run", "wf.yaml", "--json"]);
    // Literal inputs are checked before the run starts: a string is refused there (exit 2).
    if (r.code === 2) {
      expect(r.stderr).toMatch(/wf\.yaml:\d+:\d+: steps\[0\]\.inputs\.ms: .*expected number/);
      t.refused(`sleep ms ${ms}: refused by validation`);
      return;
    }
    const step = (JSON.parse(r.stdout) as RunJson).steps[0];
    const code = step?.error?.code;
    const escaped = code !== "POLICY_DENIED";
    t.attempt(`sleep ms ${ms}: ${code ?? step?.status}`, escaped);
    expect(code, `${ms}: ${step?.status}`).toBe("POLICY_DENIED");
  });
});

describe("attack: rule order and the most restrictive answer", () => {
  const RULES = {
    allow: `  - id: allow-fs
    capability: "io.fs.*"
    decision: ALLOW
`,
    approve: `  - id: approve-fs
    capability: "io.fs.**"
    decision: REQUIRE_APPROVAL
    approvers: ["user:*"]
`,
    deny: `  - id: deny-secret
    capability: "**"
    when: { path: "secret/**" }
    decision: DENY
`,
  } as const;
  const ORDERS: readonly (keyof typeof RULES)[][] = [
    ["allow", "approve", "deny"],
    ["allow", "deny", "approve"],
    ["approve", "allow", "deny"],
    ["approve", "deny", "allow"],
    ["deny", "allow", "approve"],
    ["deny", "approve", "allow"],
  ];
  it("a DENY wins over ALLOW and REQUIRE_APPROVAL in every order; without the DENY, approval wins over ALLOW", async () => {
    for (const order of ORDERS) {
      const policy = `version: 1\ndefault: ALLOW\nrules:\n${order.map((k) => RULES[k]).join("")}`;
      const p = project(root.path, { policy });
      for (const [path, want] of [
        ["secret/x.txt", "DENY"],
        ["./pub/../secret//x.txt", "DENY"],
        ["pub/x.txt", "REQUIRE_APPROVAL"],
      ] as const) {
        const r = await p.json<{ decision: string }>([
          "policy",
          "check",
          "--as",
          "agent:thief",
          "--capability",
          "io.fs.read_file",
          "--input",
          `path=${path}`,
        ]);
        const label = `${order.join(" > ")}: read ${path}`;
        t.attempt(`${label}: ${r.body.decision}`, r.body.decision !== want);
        expect(r.body.decision, label).toBe(want);
      }
    }
  }, 120_000);

  it("a capability glob keeps to its segments: DENY sys.* does not reach sys.exec.run, sys.** and sys.exec.* do", async () => {
    for (const [pattern, want] of [
      ["sys.*", "REQUIRE_APPROVAL"],
      ["sys.**", "DENY"],
      ["sys.exec.*", "DENY"],
      ["**", "DENY"],
      ["*", "DENY"],
    ] as const) {
      const policy = `version: 1\ndefault: ALLOW\nrules:\n  - id: no-sys\n    capability: "${pattern}"\n    decision: DENY\n`;
      const p = project(root.path, { policy });
      const r = await p.json<{ decision: string }>([
        "policy",
        "check",
        "--as",
        "agent:thief",
        "--capability",
        "sys.exec.run",
        "--compensation", // else the built-in rule denies an irreversible call under default ALLOW
      ]);
      // Not an attack that can escape: it pins the documented meaning of `*` (one segment).
      expect(r.body.decision, pattern).toBe(want);
    }
  }, 120_000);
});
