/**
 * @module Global setup of the projects that run the built `airun` (e2e, crash): builds `dist/`
 * unless it is fresh, so a test never runs against code older than `src/`. Fresh means the stamp
 * that `npm run build` leaves in `dist/` matches a hash of the build's inputs taken now (see
 * `scripts/build-stamp.mjs`); `npm test` builds first, so its own build is not repeated here.
 * Then bundles the crash harness (`test/support/crash-bin.ts` → `dist-test/airun-crash.mjs`,
 * the same CLI with crash hooks injected) from the same sources, every time: it is quick.
 */
import { execFileSync } from "node:child_process";
import { buildInputsHash, readStamp } from "../scripts/build-stamp.mjs";

export default function setup(): void {
  buildIfStale();
  execFileSync(process.execPath, ["scripts/bundle.mjs", "--crash-harness"], { stdio: "inherit" });
}

function buildIfStale(): void {
  const stamp = readStamp();
  if (stamp !== undefined && stamp === buildInputsHash()) return;
  console.log(
    stamp === undefined
      ? "dist/ has no build stamp: building"
      : "dist/ is older than its sources: rebuilding",
  );
  execFileSync("npm", ["run", "build"], { stdio: "inherit" });
}
