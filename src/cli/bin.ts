#!/usr/bin/env node
/**
 * @module The `airun` executable: runs the CLI (`main.ts`) with the process's arguments and
 * exits with its code. It injects nothing: every runtime part comes from the config.
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
