/**
 * @module Reading the files a runtime is given: `airun.yaml` (compiled, with every problem
 * located) and workflow specs. Each is size-limited before it is read (a workflow is a plan,
 * not a data set; `limits.spec_bytes`, and a fixed 1 MiB for the config) and decoded as strict
 * UTF-8 (a byte that is not UTF-8 is named, never replaced).
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { type CapabilityDeclaration, compileDeclarationFile } from "../../core/capability-decl.js";
import { type AirunConfig, compileConfig } from "../../core/config.js";
import { type Problem, ValidationError } from "../../core/errors.js";
import { tooLargeProblem } from "../../core/json-input.js";
import { CONFIG_FILE_BYTES, DEFAULT_LIMITS, LIMIT_KEYS } from "../../core/limits.js";
import { decodeUtf8 } from "../../core/utf8.js";
import { parseYamlSource } from "../../core/yaml-source.js";

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
  const config = compileConfig(text === null ? null : { file, text }, {
    cwd,
    env: env as Record<string, string | undefined>,
    ...(home ? { home: resolve(cwd, home) } : {}),
  });
  if (text === null) return config;
  const fromFiles = await readCapabilityFiles(join(dirname(file), "capabilities"));
  if (fromFiles.length === 0) return config;
  return Object.freeze({
    ...config,
    capabilities: Object.freeze(uniqueDeclarations([...config.capabilities, ...fromFiles])),
  });
}

/** File names of capability declarations in a `capabilities/` folder. */
const CAPABILITY_FILE = /\.ya?ml$/;

/**
 * Compiles every `*.yaml` / `*.yml` file of `dir` (sorted by name; none when the folder does not
 * exist), each at most 1 MiB. Throws one ValidationError listing every problem of every file.
 */
export async function readCapabilityFiles(dir: string): Promise<CapabilityDeclaration[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => CAPABILITY_FILE.test(n)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const problems: Problem[] = [];
  const out: CapabilityDeclaration[] = [];
  for (const name of names) {
    const file = join(dir, name);
    const src = parseYamlSource(
      file,
      await readTextFile(file, "capability file", CONFIG_FILE_BYTES, "a fixed limit"),
    );
    if (src.syntaxProblems.length > 0) {
      problems.push(...src.syntaxProblems);
      continue;
    }
    const compiled = compileDeclarationFile(src);
    problems.push(...compiled.problems);
    out.push(...compiled.declarations);
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return out;
}

/** The declarations, refusing a name declared twice (the second names where the first is). */
function uniqueDeclarations(decls: CapabilityDeclaration[]): CapabilityDeclaration[] {
  const first = new Map<string, CapabilityDeclaration>();
  const problems: Problem[] = [];
  for (const d of decls) {
    const seen = first.get(d.name);
    if (seen) {
      problems.push({
        ...d.at,
        message: `capability "${d.name}" is declared twice (first at ${seen.at.file}:${seen.at.line})`,
      });
    } else first.set(d.name, d);
  }
  if (problems.length > 0) throw new ValidationError(problems);
  return decls;
}
