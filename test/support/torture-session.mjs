// The session agent of the torture soak (test/support/torture.ts), TEST ONLY: an SDK session
// named t-N that appends to jN.log, writes wN.txt, then commits or rolls back. Run as
// `node torture-session.mjs <path of dist/sdk/index.js> N commit|rollback` in the project folder;
// the soak SIGKILLs it at random moments, and recovery (or a cancel) must leave the files as its
// run's status says.
import { pathToFileURL } from "node:url";

const [sdkPath, n, end] = process.argv.slice(2);
const { Runtime } = await import(pathToFileURL(sdkPath).href);
const rt = await Runtime.open();
try {
  const s = await rt.openSession({ principal: "agent:torture", name: `t-${n}` });
  await s.call("io.fs.append_file", { path: `j${n}.log`, content: `entry-${n}\n` });
  await s.call("io.fs.write_file", { path: `w${n}.txt`, content: `w-${n}` });
  if (end === "commit") await s.commit();
  else await s.rollback();
} finally {
  await rt.close();
}
