/**
 * @module Reading the files a runtime is given: `airun.yaml` (compiled, with every problem
 * located) and workflow specs. Each is size-limited before it is read (a workflow is a plan,
 * not a data set; `limits.spec_bytes`, and a fixed 1 MiB for the config) and decoded as strict
 * UTF-8 (a byte that is not UTF-8 is named, never replaced).
 */
import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { type AirunConfig, compileConfig } from "../../core/config.js";
import { ValidationError } from "../../core/errors.js";
import { tooLargeProblem } from "../../core/json-input.js";
import { CONFIG_FILE_BYTES, DEFAULT_LIMITS, LIMIT_KEYS } from "../../core/limits.js";
import { decodeUtf8 } from "../../core/utf8.js";

/**
 * Reads a text file of at most `maxBytes` as UTF-8. A missing, unreadable, oversized or
 * non-UTF-8 file is a ValidationError naming it; `what` names the file in messages ("spec").
 */
export async function readTextFile(
  file: string,
  what: string,
  maxBytes: number,
  limitKey: string,
): Promise<string> {
  const problem = (message: string) =>
    new ValidationError([{ file, line: 0, col: 0, field: "", message }]);
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    throw problem(`cannot read ${what}: ${(err as Error).message}`);
  }
  if (size > maxBytes) {
    throw new ValidationError([tooLargeProblem(file, what, size, maxBytes, limitKey)]);
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw problem(`cannot read ${what}: ${(err as Error).message}`);
  }
  return decodeUtf8(file, bytes);
}

/** Reads a spec file's text (at most `limits.spec_bytes`); any problem is a ValidationError. */
export function readSpec(file: string, maxBytes = DEFAULT_LIMITS.specBytes): Promise<string> {
  return readTextFile(file, "spec", maxBytes, LIMIT_KEYS.specBytes);
}

/** Reads and compiles the config (`airun.yaml` in `cwd` unless `configFile`); no store. */
export async function loadConfig(
  cwd: string,
  env: Readonly<Record<string, string | undefined>>,
  configFile: string | undefined,
  home: string | undefined,
): Promise<AirunConfig> {
  const file = configFile ? resolve(cwd, configFile) : resolve(cwd, "airun.yaml");
  let text: string | null = null;
  const exists = await stat(file).then(
    () => true,
    (err: NodeJS.ErrnoException) => err.code !== "ENOENT",
  );
  if (exists || configFile) {
    text = await readTextFile(file, "config", CONFIG_FILE_BYTES, "a fixed limit");
  }
  return compileConfig(text === null ? null : { file, text }, {
    cwd,
    env: env as Record<string, string | undefined>,
    ...(home ? { home: resolve(cwd, home) } : {}),
  });
}
