import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPinnedDispatcher } from "../../../src/capabilities/http/pinned-dispatcher.js";
import { SandboxError } from "../../../src/core/errors.js";
import { startTestServer, type TestServer } from "./test-server.js";

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.close();
});

describe("createPinnedDispatcher", () => {
  it("connects to the address the resolver returns, whatever DNS says about the name", async () => {
    const asked: string[] = [];
    const dispatcher = await createPinnedDispatcher(async (host) => {
      asked.push(host);
      return [{ address: "127.0.0.1", family: 4 }];
    });
    expect(dispatcher).toBeDefined();
    try {
      // "pinned.invalid" has no DNS record: only the pinned answer can reach the server.
      const res = await fetch(`http://pinned.invalid:${srv.port}/text`, {
        dispatcher,
      } as RequestInit);
      expect(await res.text()).toBe("plain text");
      expect(asked).toEqual(["pinned.invalid"]);
    } finally {
      await dispatcher?.destroy();
    }
  });

  it("fails the connection with the resolver's SandboxError as the cause", async () => {
    const dispatcher = await createPinnedDispatcher(async (host) => {
      throw new SandboxError(`no ${host}`);
    });
    try {
      const err = await fetch(`http://blocked.invalid:${srv.port}/text`, {
        dispatcher,
      } as RequestInit).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as Error).cause).toBeInstanceOf(SandboxError);
    } finally {
      await dispatcher?.destroy();
    }
  });
});
