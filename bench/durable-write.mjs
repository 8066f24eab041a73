// The file write a careful program does without Airun, and what io.fs.write_file does: a temp
// file, fsync, rename over the target, fsync of the directory. Shared by the benches' baselines.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/** Writes `content` to `target` durably through `tmp` (its own name where writers race). */
export function durableWrite(target, content, tmp = `${target}.tmp`) {
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, target);
  const dfd = openSync(dirname(target), "r");
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
