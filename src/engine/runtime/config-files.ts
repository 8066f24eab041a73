/**
 * @module Reading the files a runtime is given: `airun.yaml` (compiled, with every problem
 * located) and workflow specs (size-limited, so a workflow stays a plan and not a data set).
 */
import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { type AirunConfig, compileConfig } from "../../core/config.js";
import { ValidationError } from "../../core/errors.js";

/** Largest spec file accepted: a workflow is a plan, not a data set. */
const MAX_SPEC_BYTES = 4 * 1024 * 1024;

/** Reads a spec file's text; a missing, unreadable or oversized file is a ValidationError. */
export async function readSpec(file: string): Promise<string> {
  const problem = (message: string) =>
    new ValidationError([{ file, line: 0, col: 0, field: "", message }]);
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    throw problem(`cannot read spec: ${(err as Error).message}`);
  }
  if (size > MAX_SPEC_BYTES) {
    throw problem(`spec is ${size} bytes; the limit is ${MAX_SPEC_BYTES} bytes`);
  }
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw problem(`cannot read spec: ${(err as Error).message}`);
  }
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
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if (configFile || (err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new ValidationError([
        {
          file,
          line: 0,
          col: 0,
          field: "",
          message: `cannot read config: ${(err as Error).message}`,
        },
      ]);
    }
  }
  return compileConfig(text === null ? null : { file, text }, {
    cwd,
    env: env as Record<string, string | undefined>,
    ...(home ? { home: resolve(cwd, home) } : {}),
  });
}
