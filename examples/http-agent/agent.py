#!/usr/bin/env python3
"""An agent in Python driving an Airun session over HTTP, with the standard library only.

    airun token create --principal agent:py --scope read,run   # prints the token
    airun serve &
    AIRUN_URL=http://127.0.0.1:7420 AIRUN_TOKEN=airun_... python3 agent.py commit
    AIRUN_URL=http://127.0.0.1:7420 AIRUN_TOKEN=airun_... python3 agent.py rollback

"commit" writes two files in one session and commits (COMPLETED, ACCEPT); "rollback" writes
one and abandons the session: Airun undoes the write (ROLLED_BACK). The session is the
transaction; the principal is the token's. Errors are RFC 9457 problem details with a stable
"code" (raised here as AirunError). Prints the session's final status as JSON.
"""
import json
import os
import sys
import urllib.error
import urllib.request


class AirunError(Exception):
    """A problem answer of the API: its HTTP status and stable code."""

    def __init__(self, status, problem):
        self.status = status
        self.code = problem.get("code", "HTTP_%d" % status)
        self.problem = problem
        super().__init__("%s: %s" % (self.code, problem.get("detail", "")))


class Client:
    def __init__(self, base_url, token):
        self.base = base_url.rstrip("/") + "/api/v1"
        self.token = token

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as res:
                return json.loads(res.read().decode("utf-8"))
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8")
            try:
                problem = json.loads(text)
            except ValueError:
                problem = {"detail": text[:200]}
            raise AirunError(err.code, problem) from None


class Session:
    def __init__(self, client, governance=None, name="python-agent"):
        self.client = client
        body = {"name": name}
        if governance is not None:
            body["governance"] = governance
        self.id = client.request("POST", "/sessions", body)["session"]["id"]

    def call(self, capability, inputs):
        path = "/sessions/%s/calls" % self.id
        return self.client.request("POST", path, {"capability": capability, "inputs": inputs})["outputs"]

    def commit(self, evidence=None):
        return self.client.request("POST", "/sessions/%s/commit" % self.id, {"evidence": evidence} if evidence else {})

    def rollback(self, reason):
        return self.client.request("POST", "/sessions/%s/rollback" % self.id, {"reason": reason})


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "commit"
    client = Client(os.environ.get("AIRUN_URL", "http://127.0.0.1:7420"), os.environ["AIRUN_TOKEN"])
    session = Session(client, governance={"budgets": {"max_tool_calls": 5}})
    try:
        if mode == "commit":
            session.call("io.fs.write_file", {"path": "py/summary.txt", "content": "written from Python\n"})
            session.call("io.fs.write_file", {"path": "py/done.txt", "content": "ok\n"})
            view = session.commit()
        else:
            session.call("io.fs.write_file", {"path": "py/draft.txt", "content": "not wanted\n"})
            view = session.rollback("the agent changed its mind")
    except AirunError as err:
        session.rollback("error: " + err.code)
        raise
    print(json.dumps({"id": view["id"], "status": view["status"], "outcome": view["outcome"]}))


if __name__ == "__main__":
    main()
