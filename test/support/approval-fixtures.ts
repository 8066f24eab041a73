/**
 * @module The approval fixture several suites share: writes and `sys.*` are allowed, deletes
 * need a person with role `sre`; alice and sam are SREs, bob is a developer.
 */

/** Policy: writes and `sys.*` allowed, `io.fs.delete` needs an approver with role `sre`. */
export const SRE_APPROVAL_POLICY = `version: 1
default: DENY
rules:
  - id: writes
    principal: "*"
    capability: ["io.fs.write_file", "sys.*"]
    decision: ALLOW
  - id: deletes-need-sre
    principal: "*"
    capability: io.fs.delete
    decision: REQUIRE_APPROVAL
    approvers: ["role:sre"]
`;

/** Config: alice and sam are SREs, bob is a developer. */
export const SRE_PRINCIPALS = `principals:
  user:alice: { roles: [sre] }
  user:sam: { roles: [sre] }
  user:bob: { roles: [dev] }
`;

/**
 * A workflow that writes a note, then deletes `victim` (the delete needs an SRE under
 * `SRE_APPROVAL_POLICY`); run by `principal` when given, else by whoever starts it.
 */
export function cleanupSpec(
  opts: { name?: string; principal?: string; victim?: string; note?: string } = {},
): string {
  return `name: ${opts.name ?? "cleanup"}
version: 1
${opts.principal ? `principal: ${opts.principal}\n` : ""}steps:
  - id: note
    capability: io.fs.write_file
    inputs: { path: ${opts.note ?? "note.txt"}, content: "about to delete" }
  - id: remove
    capability: io.fs.delete
    depends_on: [note]
    inputs: { path: ${opts.victim ?? "victim.txt"} }
`;
}
