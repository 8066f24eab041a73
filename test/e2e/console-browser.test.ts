/**
 * The web console in a real browser: Debian's `chromium` driven by `playwright-core` (installed
 * with apt by this setup when absent; never a downloaded browser) against the built `airun
 * serve`. A person signs in with a token, sees a pending approval with the diff of the file
 * write it gates, approves it and watches the run complete live on its run page (SSE); rejects
 * another and watches the undo. The screenshots in docs/ (shown in the README) come from here
(`AIRUN_UPDATE_SCREENSHOTS=1 npx vitest run test/e2e/console-browser.test.ts`).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { project, tempRoot } from "./project.js";
import { makeToken, type Server, startServer } from "./serve-support.js";

const CHROMIUM = "/usr/bin/chromium";
const root = tempRoot("console");
/** Screenshots go to docs/ with AIRUN_UPDATE_SCREENSHOTS=1 (a test run leaves the tree clean). */
const SHOTS = process.env.AIRUN_UPDATE_SCREENSHOTS === "1" ? resolve("docs") : root.path;

const POLICY = `version: 1
default: DENY
rules:
  - id: config-needs-sre
    principal: "*"
    capability: io.fs.write_file
    when: { "inputs.path": "config/**" }
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
    reason: configuration changes need an SRE
  - id: notes-free
    principal: "*"
    capability: io.fs.write_file
    when: { "inputs.path": "notes/**" }
    decision: ALLOW
`;

const DEPLOY = `name: raise-port
version: 1
principal: agent:deployer
steps:
  - id: edit
    capability: io.fs.write_file
    inputs: { path: config/app.conf, content: "port: 8080\\nmode: prod\\n" }
`;

const RISKY = `name: wipe-mode
version: 1
principal: agent:deployer
steps:
  - id: log
    capability: io.fs.write_file
    inputs: { path: notes/log.txt, content: "switching to debug" }
  - id: edit
    capability: io.fs.write_file
    depends_on: [log]
    inputs: { path: config/app.conf, content: "port: 80\\nmode: debug\\n" }
`;

let browser: Browser;

beforeAll(() => {
  if (!existsSync(CHROMIUM)) {
    execFileSync("apt-get", ["install", "-y", "chromium"], { stdio: "inherit" });
  }
}, 600_000);

afterAll(async () => {
  await browser?.close();
  root.cleanup();
});

describe("the web console", () => {
  it("signs in, shows a pending file write with its diff, approves it (run completes live), rejects another (undo shown)", async () => {
    const p = project(root.path, {
      policy: POLICY,
      config: "principals:\n  user:alice: { roles: [sre] }\n",
      files: {
        "ws/config/app.conf": "port: 80\nmode: prod\n",
        "ws/notes/README": "notes\n",
        "deploy.yaml": DEPLOY,
        "risky.yaml": RISKY,
      },
    });
    const alice = (await makeToken(p, "user:alice")).token;
    const server: Server = await startServer(p);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const deploy = await p.json(["run", "deploy.yaml"]);
      expect(deploy.code).toBe(5);
      const ctx = await browser.newContext({ viewport: { width: 1000, height: 1100 } });
      ctx.setDefaultTimeout(10_000);
      const page = await ctx.newPage();
      await page.goto(`${server.url}/`);
      await expect.poll(() => page.url()).toContain("/signin");
      await page.getByLabel("Token").fill(alice);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(`${server.url}/`);
      const cookie = (await ctx.cookies()).find((c) => c.name === "airun_session");
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict" });

      // The inbox: exactly what will happen.
      const card = page.locator("article.approval").first();
      await expect.poll(() => card.locator("h2").textContent()).toContain("io.fs.write_file");
      expect(await card.locator(".diff .ddel").allTextContents()).toContain("- port: 80");
      expect(await card.locator(".diff .dadd").allTextContents()).toContain("+ port: 8080");
      const text = (await card.textContent()) ?? "";
      expect(text).toContain("agent:deployer");
      expect(text).toContain("config-needs-sre");
      expect(text).toContain("configuration changes need an SRE");
      expect(text).toMatch(/[0-9a-f]{64}/);
      await page.screenshot({ path: join(SHOTS, "console-inbox.png"), fullPage: true });

      // The run page, open in a second tab, follows the run live.
      const watcher = await ctx.newPage();
      await watcher.goto(`${server.url}/runs/${deploy.body.id}`);
      expect(await watcher.locator("#run-status").textContent()).toBe("WAITING_APPROVAL");
      await card.getByLabel("Comment").fill("port change agreed in #ops");
      await card.getByRole("button", { name: "Approve" }).click();
      // A locator wait, not a string predicate: the console's CSP forbids eval in the page.
      await watcher.locator("#run-status", { hasText: /^COMPLETED$/ }).waitFor({ timeout: 10_000 });
      expect(readFileSync(join(p.ws, "config/app.conf"), "utf8")).toBe("port: 8080\nmode: prod\n");
      await watcher.screenshot({ path: join(SHOTS, "console-run.png"), fullPage: true });

      // Reject another: its earlier write is undone, and the run page says so.
      const risky = await p.json(["run", "risky.yaml"]);
      expect(risky.code).toBe(5);
      expect(existsSync(join(p.ws, "notes/log.txt"))).toBe(true);
      await page.goto(`${server.url}/`);
      const second = page.locator("article.approval").first();
      expect(await second.locator(".diff .dadd").allTextContents()).toContain("+ mode: debug");
      await second.getByRole("button", { name: "Reject" }).click();
      await page.waitForURL(`**/runs/${risky.body.id}`);
      expect(await page.locator("#run-status").textContent()).toBe("ROLLED_BACK");
      expect(await page.locator("ol.undo").textContent()).toContain("log");
      expect(existsSync(join(p.ws, "notes/log.txt"))).toBe(false);

      // A form without the session's CSRF token is refused.
      const forged = await page.evaluate(async (id) => {
        const r = await fetch(`/runs/${id}/rollback`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: "",
        });
        return r.status;
      }, deploy.body.id);
      expect(forged).toBe(403);

      // Phone-sized screen: the inbox still fits without sideways scrolling.
      const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
      await phone.addCookies((await ctx.cookies()).map((c) => ({ ...c })));
      const small = await phone.newPage();
      await small.goto(`${server.url}/runs`);
      const overflow = await small.evaluate<number>(
        "document.documentElement.scrollWidth - window.innerWidth",
      );
      expect(overflow).toBeLessThanOrEqual(0);
      await phone.close();
      await ctx.close();
    } finally {
      await server.stop();
    }
  }, 120_000);
});
