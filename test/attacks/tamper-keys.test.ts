/**
 * Attack: the ledger's key files removed or garbled (issue 13, finding 10, the ledger-key
 * parts). `airun ledger verify` created a new signing key when the key files were missing — a
 * verification that mints the key later checkpoints are signed with — and a garbled public key
 * (in the key folder, or given to `verify-pack --key`) was reported without naming the file.
 * A verification never creates a key: without one it still checks the chain and the state,
 * says the signatures could not be checked, and fails (exit 7) when there are checkpoints it
 * cannot check. A key file that is not a usable Ed25519 public key fails with exit 7, naming it.
 */
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempRoot } from "../e2e/project.js";
import { airun } from "../support/cli.js";
import { tally } from "./tally.js";
import { copyOf, ledgerKeyFiles, type Reference, referenceRun } from "./tamper-kit.js";

const root = tempRoot("attack-keys");
afterAll(() => root.cleanup());

const t = tally("tamper", "tamper-keys");

/** What `ledger verify --json` prints, as far as these tests read it. */
interface VerifyJson {
  ok: boolean;
  entries: number;
  chain: unknown;
  state: unknown[];
  checkpoints: { source: string; status: string; message: string }[];
  key: { status: string; file: string; fingerprint: string | null; message: string };
  problems: string[];
}

let ref: Reference;
let packText: string;
let entries: number;

beforeAll(async () => {
  ref = await referenceRun(root.path);
  const exported = await ref.p.run(["ledger", "export", ref.runId, "--out", "pack.json"]);
  expect(exported.code, exported.stderr).toBe(0);
  packText = readFileSync(join(ref.p.dir, "pack.json"), "utf8");
  const v = await ref.p.json<VerifyJson>(["ledger", "verify"]);
  expect(v.code).toBe(0);
  entries = v.body.entries;
});

/** A copy of the reference project whose home has no ledger key and no saved checkpoint. */
function bare(): ReturnType<typeof copyOf> {
  const c = copyOf(ref);
  rmSync(join(c.home, "keys", "ledger"), { recursive: true, force: true });
  rmSync(join(c.home, "checkpoints"), { recursive: true, force: true });
  return c;
}

const keyDir = (home: string) => join(home, "keys", "ledger");

describe("attack: the ledger key files removed", () => {
  it("ledger verify creates no key: the chain and state verify (exit 0) and it says no signature could be checked", async () =>
    t.guard(
      "ledger verify creates no key: the chain and state verify (exit 0) and it says no signature could be checked",
      async () => {
        const c = bare();
        const r = await c.run(["ledger", "verify"]);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^✓ ledger verifies: ${entries} entries`));
        expect(r.stdout).toContain(`no ledger key in ${keyDir(c.home)}`);
        expect(existsSync(keyDir(c.home))).toBe(false);
        const json = await c.run(["ledger", "verify", "--json"]);
        expect(json.code).toBe(0);
        const report = JSON.parse(json.stdout) as VerifyJson;
        expect(report).toMatchObject({
          ok: true,
          entries,
          chain: null,
          state: [],
          checkpoints: [],
        });
        expect(report.key).toMatchObject({ status: "missing", fingerprint: null });
        expect(existsSync(keyDir(c.home))).toBe(false);
      },
    ));

  it("with saved checkpoints it cannot check, ledger verify exits 7 naming each, still checks the chain and state, and creates no key", async () =>
    t.guard(
      "with saved checkpoints it cannot check, ledger verify exits 7 naming each, still checks the chain and state, and creates no key",
      async () => {
        const c = copyOf(ref);
        const cp = await c.run(["ledger", "checkpoint", "--out", "kept.txt"]);
        expect(cp.code, cp.stderr).toBe(0);
        rmSync(keyDir(c.home), { recursive: true });
        const r = await c.run(["ledger", "verify", "--json"]);
        expect(r.code, r.stdout + r.stderr).toBe(7);
        const report = JSON.parse(r.stdout) as VerifyJson;
        expect(report.ok).toBe(false);
        expect(report.entries).toBe(entries);
        expect(report.chain).toBeNull();
        expect(report.state).toEqual([]);
        expect(report.key.status).toBe("missing");
        expect(report.checkpoints.length).toBeGreaterThanOrEqual(2); // export's and checkpoint's
        for (const check of report.checkpoints) {
          expect(check.status).toBe("unchecked");
          expect(check.message).toContain(check.source);
          expect(check.message).toContain("signature not checked");
        }
        expect(existsSync(keyDir(c.home))).toBe(false);

        // An external checkpoint alone (the saved ones deleted too) is not checked either: exit 7.
        rmSync(join(c.home, "checkpoints"), { recursive: true });
        const ext = await c.run(["ledger", "verify", "--checkpoint", "kept.txt"]);
        expect(ext.code).toBe(7);
        expect(ext.stdout).toContain("✗ kept.txt: signature not checked");
        expect(existsSync(keyDir(c.home))).toBe(false);
      },
    ));

  it("a missing public key file with the private key present: verify uses the private key's public half and checks every checkpoint", async () =>
    t.guard(
      "a missing public key file with the private key present: verify uses the private key's public half and checks every checkpoint",
      async () => {
        const c = copyOf(ref);
        rmSync(ledgerKeyFiles(c.home).publicKey);
        const r = await c.run(["ledger", "verify", "--json"]);
        expect(r.code, r.stdout).toBe(0);
        const report = JSON.parse(r.stdout) as VerifyJson;
        expect(report.checkpoints.length).toBeGreaterThan(0);
        for (const check of report.checkpoints) expect(check.status).toBe("consistent");
        expect(existsSync(ledgerKeyFiles(c.home).publicKey)).toBe(false);
      },
    ));
});

/** Garbled public keys: text, an empty file, a cut PEM, and a key of another algorithm. */
function garbles(): [string, string][] {
  const good = readFileSync(ledgerKeyFiles(ref.home).publicKey, "utf8");
  const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({
    type: "spki",
    format: "pem",
  }) as string;
  return [
    ["text", "this is not a key\n"],
    ["an empty file", ""],
    ["a cut PEM", good.slice(0, 60)],
    ["an RSA key", rsa],
    ["a PEM with a damaged body", good.replace(/[A-Za-z](?=[A-Za-z0-9+/=]*\n-----END)/, "!")],
  ];
}

describe("attack: a garbled public key", () => {
  it("in the key folder: ledger verify exits 7 naming the file (and still reports the chain), for every kind of garble", async () =>
    t.guard(
      "in the key folder: ledger verify exits 7 naming the file (and still reports the chain), for every kind of garble",
      async () => {
        for (const [what, text] of garbles()) {
          const c = copyOf(ref);
          const file = ledgerKeyFiles(c.home).publicKey;
          writeFileSync(file, text);
          const r = await c.run(["ledger", "verify"]);
          expect(r.code, `${what}: ${r.stdout}${r.stderr}`).toBe(7);
          expect(r.stdout + r.stderr, what).toContain(file);
          expect(r.stdout, what).toContain(`${entries} entries`);
          expect(readFileSync(file, "utf8"), `${what}: the file was left alone`).toBe(text);
        }
      },
    ));

  it("given to verify-pack --key: exit 7 naming the file, for every kind of garble", async () =>
    t.guard(
      "given to verify-pack --key: exit 7 naming the file, for every kind of garble",
      async () => {
        const dir = join(root.path, "offline");
        mkdirSync(dir);
        writeFileSync(join(dir, "pack.json"), packText);
        for (const [i, [what, text]] of garbles().entries()) {
          const name = `garbled-${i}.pub`;
          writeFileSync(join(dir, name), text);
          for (const args of [[], ["--json"]]) {
            const r = await airun(["ledger", "verify-pack", "pack.json", "--key", name, ...args], {
              cwd: dir,
            });
            expect(r.code, `${what}: ${r.stdout}${r.stderr}`).toBe(7);
            expect(r.stdout + r.stderr, what).toContain(name);
          }
        }
      },
    ));
});
