/**
 * @module Whether one absolute path lies inside another, compared on whole path components (the
 * sandbox's roots, a command's working directory, a database file inside a sandbox root).
 */
import path from "node:path";

/** True when `candidate` is `root` or lies beneath it, compared on whole path components. */
export function isWithin(root: string, candidate: string): boolean {
  if (candidate === root) return true;
  const rel = path.relative(root, candidate);
  return (
    rel !== "" &&
    rel !== ".." &&
    !rel.startsWith(`..${path.sep}`) &&
    !path.isAbsolute(rel) &&
    candidate.startsWith(root.endsWith(path.sep) ? root : root + path.sep)
  );
}
