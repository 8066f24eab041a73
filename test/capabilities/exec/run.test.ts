import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type ExecRunInput,
  type ExecRunOutput,
  execRun,
} from "../../../src/capabilities/exec/run.js";
import { CapabilityError, SandboxError } from "../../../src/core/errors.js";
import { makeCtx, tempDir } from "../helpers.js";

async function run(
  raw: Record<string, unknown>,
  sandbox: { execAllow: string[]; fsRoots?: string[] },
  signal?: AbortSignal,
): Promise<ExecRunOutput> {
  const root = sandbox.fsRoots ?? [await tempDir()];
  const input = execRun.input.parse(raw) as ExecRunInput;
  return execRun.execute(
    input,
    makeCtx({ sandbox: { ...sandbox, fsRoots: root }, ...(signal ? { signal } : {}) }),
  );
}

async function failure(p: Promise<unknown>): Promise<CapabilityError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CapabilityError);
  return err as CapabilityError;
}

/** Live (non-zombie) processes whose command line is exactly `argv`. */
async function liveProcesses(argv: string[]): Promise<number[]> {
  const want = `${argv.join("\0")}\0`;
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline !== want) continue;
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state !== "Z" && state !== "X") found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

describe("sys.exec.run", () => {
  it("runs /bin/echo and returns exit code 0 and its stdout", async () => {
    const out = await run({ argv: ["/bin/echo", "hello", "world"] }, { execAllow: ["/bin/echo"] });
    expect(out).toEqual({ exit_code: 0, stdout: "hello world\n", stderr: "" });
  });

  it("resolves a bare name on PATH and matches it against an absolute allowlist entry", async () => {
    // /bin is a symlink to /usr/bin here: both spellings are the same binary.
    const out = await run({ argv: ["echo", "via PATH"] }, { execAllow: ["/bin/echo"] });
    expect(out.stdout).toBe("via PATH\n");
    const out2 = await run({ argv: ["/usr/bin/echo", "abs"] }, { execAllow: ["echo"] });
    expect(out2.stdout).toBe("abs\n");
  });

  it("fails /bin/false with a non-retryable EXEC_EXIT carrying the exit code", async () => {
    const err = await failure(run({ argv: ["/bin/false"] }, { execAllow: ["false"] }));
    expect(err.code).toBe("EXEC_EXIT");
    expect(err.retryable).toBe(false);
    expect(err.context.exit_code).toBe(1);
  });

  it("keeps a tail of stderr in the EXEC_EXIT context", async () => {
    const err = await failure(
      run({ argv: ["sh", "-c", "echo first >&2; echo oops >&2; exit 3"] }, { execAllow: ["sh"] }),
    );
    expect(err.context.exit_code).toBe(3);
    expect(err.context.stderr_tail).toBe("first\noops\n");
    expect(err.message).toContain("oops");
  });

  it("refuses a binary that is not allowlisted, without running it", async () => {
    const root = await tempDir();
    const err = await failure(
      run({ argv: ["touch", "made"] }, { execAllow: ["echo"], fsRoots: [root] }),
    );
    expect(err).toBeInstanceOf(SandboxError);
    expect(existsSync(join(root, "made"))).toBe(false);
  });

  it("refuses sh -c unless sh itself is allowlisted", async () => {
    const err = await failure(run({ argv: ["sh", "-c", "echo hi"] }, { execAllow: ["echo"] }));
    expect(err.code).toBe("SANDBOX_VIOLATION");
    const out = await run({ argv: ["sh", "-c", "echo hi"] }, { execAllow: ["sh"] });
    expect(out.stdout).toBe("hi\n");
  });

  it("refuses relative program paths and binaries that do not exist", async () => {
    expect((await failure(run({ argv: ["./echo"] }, { execAllow: ["echo"] }))).code).toBe(
      "SANDBOX_VIOLATION",
    );
    expect(
      (await failure(run({ argv: ["no-such-binary-xyz"] }, { execAllow: ["no-such-binary-xyz"] })))
        .code,
    ).toBe("SANDBOX_VIOLATION");
  });

  it("never interprets argv with a shell: '; rm' and $(...) are plain arguments", async () => {
    const root = await tempDir();
    await writeFile(join(root, "victim"), "keep me");
    const out = await run(
      { argv: ["echo", "hi; rm victim", "$(touch pwned)", "`touch pwned2`", "&&", "|"] },
      { execAllow: ["echo"], fsRoots: [root] },
    );
    expect(out.stdout).toBe("hi; rm victim $(touch pwned) `touch pwned2` && |\n");
    expect(await readFile(join(root, "victim"), "utf8")).toBe("keep me");
    expect(existsSync(join(root, "pwned"))).toBe(false);
    expect(existsSync(join(root, "pwned2"))).toBe(false);
  });

  it("kills a `sleep` on abort, fails with a retryable TIMEOUT, and leaves no process behind", async () => {
    const marker = ["sleep", "10.4242"];
    const ac = new AbortController();
    const pending = run({ argv: marker }, { execAllow: ["sleep"] }, ac.signal);
    for (let i = 0; i < 100 && (await liveProcesses(marker)).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await liveProcesses(marker)).length).toBe(1);
    const started = Date.now();
    ac.abort();
    const err = await failure(pending);
    expect(err.code).toBe("TIMEOUT");
    expect(err.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await liveProcesses(marker)).toEqual([]);
  });

  it("kills the whole process group on abort, grandchildren included", async () => {
    const root = await tempDir();
    const ac = new AbortController();
    const pending = run(
      { argv: ["sh", "-c", "echo $$ > parent.pid; sleep 10 & echo $! > child.pid; wait"] },
      { execAllow: ["sh"], fsRoots: [root] },
      ac.signal,
    );
    const childPidFile = join(root, "child.pid");
    for (let i = 0; i < 100 && !existsSync(childPidFile); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 50));
    const parent = Number(await readFile(join(root, "parent.pid"), "utf8"));
    const child = Number(await readFile(childPidFile, "utf8"));
    expect(await isAlive(child)).toBe(true);
    ac.abort();
    expect((await failure(pending)).code).toBe("TIMEOUT");
    // The orphaned grandchild is reaped by init asynchronously: give it a moment.
    for (let i = 0; i < 50 && (await isAlive(child)); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(await isAlive(parent)).toBe(false);
    expect(await isAlive(child)).toBe(false);
  });

  it("does not leave a background process behind when the command exits", async () => {
    const marker = ["sleep", "10.5151"];
    const out = await run(
      { argv: ["sh", "-c", `${marker.join(" ")} > /dev/null 2>&1 & echo started`] },
      { execAllow: ["sh"] },
    );
    expect(out.stdout).toBe("started\n");
    for (let i = 0; i < 50 && (await liveProcesses(marker)).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await liveProcesses(marker)).toEqual([]);
  });

  it("feeds stdin and passes only the allowed environment plus env", async () => {
    const out = await run({ argv: ["cat"], stdin: "from stdin" }, { execAllow: ["cat"] });
    expect(out.stdout).toBe("from stdin");
    process.env.AIRUN_TEST_PARENT_SECRET = "leak";
    try {
      const env = await run({ argv: ["env"], env: { FOO: "bar" } }, { execAllow: ["env"] });
      expect(env.stdout).toContain("FOO=bar\n");
      expect(env.stdout).not.toContain("AIRUN_TEST_PARENT_SECRET");
    } finally {
      delete process.env.AIRUN_TEST_PARENT_SECRET;
    }
  });

  it("runs in the sandbox root by default and in a cwd inside it", async () => {
    const root = await tempDir();
    await mkdir(join(root, "sub"));
    expect((await run({ argv: ["pwd"] }, { execAllow: ["pwd"], fsRoots: [root] })).stdout).toBe(
      `${root}\n`,
    );
    expect(
      (await run({ argv: ["pwd"], cwd: "sub" }, { execAllow: ["pwd"], fsRoots: [root] })).stdout,
    ).toBe(`${join(root, "sub")}\n`);
  });

  it("refuses a cwd outside the root: '..', a sibling sharing the prefix, a symlink out", async () => {
    const parent = await tempDir();
    const root = join(parent, "ws");
    await mkdir(root);
    await mkdir(join(parent, "ws_evil"));
    await symlink(parent, join(root, "escape"));
    for (const cwd of ["..", "../ws_evil", join(parent, "ws_evil"), "escape"]) {
      const err = await failure(
        run({ argv: ["pwd"], cwd }, { execAllow: ["pwd"], fsRoots: [root] }),
      );
      expect(err.code, cwd).toBe("SANDBOX_VIOLATION");
    }
  });

  it("kills a command that exceeds max_output_bytes and fails with OUTPUT_TOO_LARGE", async () => {
    const err = await failure(
      run(
        { argv: ["head", "-c", "100000", "/dev/zero"], max_output_bytes: 1000 },
        { execAllow: ["head"] },
      ),
    );
    expect(err.code).toBe("OUTPUT_TOO_LARGE");
    expect(err.retryable).toBe(false);
  });

  it("declares HIGH risk, exec effect, irreversible undo and sensitive env/stdin", () => {
    expect(execRun).toMatchObject({
      risk: "HIGH",
      effect: "exec",
      idempotent: false,
      undo: "irreversible",
      nondeterministic: true,
    });
    expect(execRun.sensitive).toEqual(["env", "stdin"]);
    expect(execRun.input.safeParse({ argv: [] }).success).toBe(false);
  });
});
