// `bench.echo`: `sys.echo` without `pure`. A pure step's completion rides with the run's next
// commit (RunState.defer), so a chain of sys.echo is written in two commits whatever its length;
// the per-step benches measure what the engine adds to a step that commits, as every effect-free
// call that is not pure (an HTTP GET, a file read) does, and use this one. The PostgreSQL bench
// shows both.
import { createStandardRegistry } from "../dist/capabilities/registry.js";
import { sysEcho } from "../dist/capabilities/sys/echo.js";

/** The standard registry plus `bench.echo` (its `register` adds more). */
export function benchRegistry() {
  const { pure: _pure, ...committed } = sysEcho;
  return createStandardRegistry().register({
    ...committed,
    name: "bench.echo",
    description: "sys.echo, committed step by step (not pure)",
  });
}
