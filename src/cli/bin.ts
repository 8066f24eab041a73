/**
 * @module The entry of the `airun` CLI bundle (`dist/airun.cjs`, started by `launcher.ts`): runs
 * the CLI (`main.ts`) with the process's arguments and exits with its code. It injects nothing:
 * every runtime part comes from the config.
 */
import { ExitCode } from "./exit-codes.js";
import { main } from "./main.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`airun: internal error: ${String(err)}\n`);
    process.exitCode = ExitCode.INTERNAL;
  },
);
