/**
 * @module The `io.fs.*` standard library: every file capability, sandboxed to the configured
 * roots, with byte-exact, drift-safe undo for those that change anything.
 */
import type { AnyCapability } from "../../core/capability.js";
import { appendFile } from "./append-file.js";
import { copy } from "./copy.js";
import { deletePath } from "./delete.js";
import { exists } from "./exists.js";
import { hashFile } from "./hash-file.js";
import { listDir } from "./list-dir.js";
import { makeDir } from "./make-dir.js";
import { move } from "./move.js";
import { readFile } from "./read-file.js";
import { writeBytes } from "./write-bytes.js";
import { writeFile } from "./write-file.js";

/** All `io.fs.*` capabilities, for the registry. */
export const fsCapabilities: readonly AnyCapability[] = Object.freeze([
  readFile,
  listDir,
  exists,
  hashFile,
  writeFile,
  writeBytes,
  appendFile,
  makeDir,
  move,
  copy,
  deletePath,
]);
