import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type HttpRequestInput,
  type HttpRequestOutput,
  httpRequest,
} from "../../../src/capabilities/http/request.js";
import { CapabilityError, SandboxError } from "../../../src/core/errors.js";
import { makeCtx } from "../helpers.js";
import { startTestServer, type TestServer } from "./test-server.js";

let srv: TestServer;
beforeAll(async () => {
  srv = await startTestServer();
});
afterAll(async () => {
  await srv.close();
});

const local = { httpAllowHosts: ["127.0.0.1", "localhost"], httpAllowPrivate: true };

function call(raw: Record<string, unknown>, sandbox = local, signal?: AbortSignal) {
  const input = httpRequest.input.parse(raw) as HttpRequestInput;
  return httpRequest.execute(input, makeCtx({ sandbox, ...(signal ? { signal } : {}) }));
}

async function failure(p: Promise<unknown>): Promise<CapabilityError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CapabilityError);
  return err as CapabilityError;
}

describe("net.http.request against a real local server", () => {
  it("GETs JSON and returns status, lower-case headers, text body, parsed json and final url", async () => {
    const out = (await call({ url: `${srv.origin}/echo` })) as HttpRequestOutput;
    expect(out.status).toBe(200);
    expect(out.headers["content-type"]).toContain("application/json");
    expect(out.url).toBe(`${srv.origin}/echo`);
    expect(JSON.parse(out.body)).toEqual(out.json);
    expect(out.json).toMatchObject({ method: "GET", body: "" });
  });

  it("sends a JSON value as a JSON body with a JSON content type, and a string as is", async () => {
    const json = (await call({
      method: "post",
      url: `${srv.origin}/echo`,
      body: { a: [1, true, null] },
    })) as HttpRequestOutput;
    expect(json.json).toMatchObject({
      method: "POST",
      body: '{"a":[1,true,null]}',
      headers: { "content-type": "application/json" },
    });
    const text = (await call({
      method: "PUT",
      url: `${srv.origin}/echo`,
      headers: { "Content-Type": "text/plain", "X-Trace": "t1" },
      body: "raw text",
    })) as HttpRequestOutput;
    expect(text.json).toMatchObject({
      method: "PUT",
      body: "raw text",
      headers: { "content-type": "text/plain", "x-trace": "t1" },
    });
  });

  it("leaves json out for a non-JSON or unparsable body", async () => {
    const text = (await call({ url: `${srv.origin}/text` })) as HttpRequestOutput;
    expect(text.body).toBe("plain text");
    expect("json" in text).toBe(false);
    const bad = (await call({ url: `${srv.origin}/bad-json` })) as HttpRequestOutput;
    expect(bad.body).toBe("{not json");
    expect("json" in bad).toBe(false);
  });

  it("resolves a host name (localhost) through the pinned lookup when private addresses are allowed", async () => {
    const out = (await call({ url: `http://localhost:${srv.port}/text` })) as HttpRequestOutput;
    expect(out.body).toBe("plain text");
  });

  it("fails a 5xx and a 429 with a retryable HTTP_STATUS error carrying the status", async () => {
    for (const status of [500, 503, 429]) {
      const err = await failure(call({ url: `${srv.origin}/status/${status}` }));
      expect(err.code).toBe("HTTP_STATUS");
      expect(err.retryable).toBe(true);
      expect(err.context.status).toBe(status);
      expect(err.context.body).toBe(`status body ${status}`);
    }
  });

  it("fails other 4xx statuses with a non-retryable HTTP_STATUS error", async () => {
    for (const status of [400, 403, 404]) {
      const err = await failure(call({ url: `${srv.origin}/status/${status}` }));
      expect(err.code).toBe("HTTP_STATUS");
      expect(err.retryable).toBe(false);
    }
  });

  it("refuses a body larger than max_response_bytes, declared or streamed", async () => {
    const declared = await failure(call({ url: `${srv.origin}/big`, max_response_bytes: 1000 }));
    expect(declared.code).toBe("RESPONSE_TOO_LARGE");
    expect(declared.retryable).toBe(false);
    const streamed = await failure(
      call({ url: `${srv.origin}/big-chunked`, max_response_bytes: 4096 }),
    );
    expect(streamed.code).toBe("RESPONSE_TOO_LARGE");
    const fits = (await call({
      url: `${srv.origin}/big`,
      max_response_bytes: 64 * 1024,
    })) as HttpRequestOutput;
    expect(fits.body.length).toBe(64 * 1024);
  });

  it("fails with a retryable TIMEOUT when the call's signal aborts mid-request", async () => {
    const started = Date.now();
    const err = await failure(call({ url: `${srv.origin}/slow` }, local, AbortSignal.timeout(150)));
    expect(err.code).toBe("TIMEOUT");
    expect(err.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("fails a refused connection with a retryable NETWORK_ERROR", async () => {
    const closed = await startTestServer();
    const port = closed.port;
    await closed.close();
    const err = await failure(call({ url: `http://127.0.0.1:${port}/` }));
    expect(err.code).toBe("NETWORK_ERROR");
    expect(err.retryable).toBe(true);
    expect(err.context.errno).toBe("ECONNREFUSED");
  });
});

describe("net.http.request redirects", () => {
  it("follows redirects (up to 5) and reports the final url", async () => {
    const out = (await call({ url: `${srv.origin}/chain/4` })) as HttpRequestOutput;
    expect(out.status).toBe(200);
    expect(out.body).toBe("plain text");
    expect(out.url).toBe(`${srv.origin}/text`);
  });

  it("fails with TOO_MANY_REDIRECTS past 5 hops", async () => {
    const err = await failure(call({ url: `${srv.origin}/chain/5` }));
    expect(err.code).toBe("TOO_MANY_REDIRECTS");
    expect(err.retryable).toBe(false);
  });

  it("returns the 3xx response itself when follow_redirects is false", async () => {
    const out = (await call({
      url: `${srv.origin}/chain/1`,
      follow_redirects: false,
    })) as HttpRequestOutput;
    expect(out.status).toBe(302);
    expect(out.headers.location).toBe("/chain/0");
  });

  it("turns a POST into a GET without body on 303, and keeps method and body on 307", async () => {
    const to = encodeURIComponent("/echo");
    const see = (await call({
      method: "POST",
      url: `${srv.origin}/redirect?status=303&to=${to}`,
      body: { x: 1 },
    })) as HttpRequestOutput;
    expect(see.json).toMatchObject({ method: "GET", body: "" });
    const keep = (await call({
      method: "POST",
      url: `${srv.origin}/redirect?status=307&to=${to}`,
      body: { x: 1 },
    })) as HttpRequestOutput;
    expect(keep.json).toMatchObject({ method: "POST", body: '{"x":1}' });
  });

  it("drops credential headers when a redirect changes origin", async () => {
    const to = encodeURIComponent(`http://localhost:${srv.port}/echo`);
    const out = (await call({
      url: `${srv.origin}/redirect?to=${to}`,
      headers: { Authorization: "Bearer s3cret", Cookie: "a=b", "X-Keep": "yes" },
    })) as HttpRequestOutput;
    const headers = (out.json as { headers: Record<string, string> }).headers;
    expect(headers.authorization).toBeUndefined();
    expect(headers.cookie).toBeUndefined();
    expect(headers["x-keep"]).toBe("yes");
  });

  it("re-checks the allowlist on every hop: a redirect to a host not allowed is refused", async () => {
    const to = encodeURIComponent(`http://localhost:${srv.port}/text`);
    const before = srv.hits.get("/text") ?? 0;
    const err = await failure(
      call(
        { url: `${srv.origin}/redirect?to=${to}` },
        { httpAllowHosts: ["127.0.0.1"], httpAllowPrivate: true },
      ),
    );
    expect(err).toBeInstanceOf(SandboxError);
    expect(err.code).toBe("SANDBOX_VIOLATION");
    expect(err.context.host).toBe("localhost");
    expect(srv.hits.get("/text") ?? 0).toBe(before);
  });

  it("refuses a redirect to a non-HTTP scheme", async () => {
    const to = encodeURIComponent("file:///etc/passwd");
    const err = await failure(call({ url: `${srv.origin}/redirect?to=${to}` }));
    expect(err.code).toBe("SANDBOX_VIOLATION");
  });
});

describe("net.http.request sandbox", () => {
  it("refuses a host that is not in the allowlist before connecting", async () => {
    const before = srv.hits.get("/text") ?? 0;
    const err = await failure(
      call(
        { url: `${srv.origin}/text` },
        { httpAllowHosts: ["*.example.com"], httpAllowPrivate: true },
      ),
    );
    expect(err).toBeInstanceOf(SandboxError);
    expect(err.retryable).toBe(false);
    expect(srv.hits.get("/text") ?? 0).toBe(before);
  });

  it("refuses everything with an empty allowlist", async () => {
    const err = await failure(
      call({ url: `${srv.origin}/text` }, { httpAllowHosts: [], httpAllowPrivate: true }),
    );
    expect(err.code).toBe("SANDBOX_VIOLATION");
  });

  it("refuses loopback by IP literal and by name when private addresses are not allowed", async () => {
    const before = srv.hits.get("/text") ?? 0;
    const strict = { httpAllowHosts: ["127.0.0.1", "localhost"], httpAllowPrivate: false };
    const literal = await failure(call({ url: `${srv.origin}/text` }, strict));
    expect(literal).toBeInstanceOf(SandboxError);
    expect(literal.context.range).toBe("loopback");
    const named = await failure(call({ url: `http://localhost:${srv.port}/text` }, strict));
    expect(named).toBeInstanceOf(SandboxError);
    expect(srv.hits.get("/text") ?? 0).toBe(before);
  });

  it("refuses a private address given as an IPv4-mapped IPv6 literal", async () => {
    const err = await failure(
      call(
        { url: `http://[::ffff:127.0.0.1]:${srv.port}/text` },
        {
          httpAllowHosts: ["*"],
          httpAllowPrivate: false,
        },
      ),
    );
    expect(err.code).toBe("SANDBOX_VIOLATION");
  });

  it("refuses a Host header, which would bypass the allowlist", async () => {
    const err = await failure(call({ url: `${srv.origin}/echo`, headers: { host: "internal" } }));
    expect(err.code).toBe("SANDBOX_VIOLATION");
  });

  it("rejects a GET with a body and a non-HTTP URL at input validation", () => {
    expect(httpRequest.input.safeParse({ url: `${srv.origin}/`, body: "x" }).success).toBe(false);
    expect(httpRequest.input.safeParse({ url: "ftp://example.com/x" }).success).toBe(false);
    expect(httpRequest.input.safeParse({ url: "file:///etc/passwd" }).success).toBe(false);
  });
});

describe("net.http.request declaration", () => {
  it("classifies GET/HEAD/OPTIONS as LOW reads with no undo, others as MEDIUM network effects", () => {
    for (const method of ["GET", "HEAD", "OPTIONS"]) {
      expect(httpRequest.classify?.({ method } as HttpRequestInput)).toEqual({
        risk: "LOW",
        effect: "read",
        undo: "none",
        idempotent: true,
      });
    }
    for (const [method, idempotent] of [
      ["POST", false],
      ["PATCH", false],
      ["PUT", true],
      ["DELETE", true],
    ] as const) {
      expect(httpRequest.classify?.({ method } as HttpRequestInput)).toEqual({
        risk: "MEDIUM",
        effect: "network",
        undo: "compensation",
        idempotent,
      });
    }
  });

  it("is nondeterministic and marks credential headers as sensitive", () => {
    expect(httpRequest.nondeterministic).toBe(true);
    expect(httpRequest.sensitive).toEqual(
      expect.arrayContaining(["headers.authorization", "headers.cookie", "headers.x-api-key"]),
    );
  });
});
