/**
 * Builds `dist/` once before the suite when it is missing, so end-to-end and crash tests can
 * run the real `airun` binary even when vitest is started directly (npm test builds first).
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

export default function setup(): void {
  if (!existsSync("dist/airun.mjs")) {
    execFileSync("npm", ["run", "build"], { stdio: "inherit" });
  }
}
