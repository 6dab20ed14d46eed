#!/usr/bin/env python3
"""stdio_upstream.py LOG - a small JSON-RPC server on stdin/stdout standing in
for a stdio MCP upstream in tests/unit/test_mcp_upstream.c.  Appends the
method of every message it reads to LOG (one a line, with the pid), then for
a request "PID wire METHOD ID" and for a cancel "PID cancel REQUESTID".

  initialize      answers {"protocolVersion": ..., "pid": PID}
  echo            answers {"params": params, "pid": PID} with the same id
  slow            sleeps params.ms, then answers like echo
  chatty          first writes a notification and two requests of its own (one reusing the
                  id it got, and a ping with id "p1"), then answers
  an answer       (to its own requests) logged as "PID answer ID CODE", CODE the error's
                  code or "result"
  changed         writes notifications/tools/list_changed, and two messages that only look
                  like it (a request of that name, a longer name), then answers like echo
  long            writes a line of params.n bytes, then answers like echo
  big             sleeps params.ms, then answers {"pad": params.n bytes, "pid": PID}
  bigask          first writes a request of its own (id "q1") of params.n bytes, then answers like echo
  endless         writes a line that never ends (4000 bytes every 50 ms), answers nothing
  deaf            stops reading its stdin (sleeps 30 s), answers nothing
  exit            exits with status 3 without answering
  notifications   nothing is answered
"""
import json
import os
import sys
import time


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    log = open(sys.argv[1], "a") if len(sys.argv) > 1 else None
    pid = os.getpid()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        msg = json.loads(line)
        method = msg.get("method")
        if method is None and "id" in msg:  # an answer to one of its own requests
            if log:
                code = msg["error"]["code"] if "error" in msg else "result"
                log.write("%d answer %s %s\n" % (pid, json.dumps(msg["id"]), code))
                log.flush()
            continue
        if log:
            log.write("%d %s\n" % (pid, method))
            if "id" in msg:  # the id it got: "PID wire METHOD ID"
                log.write("%d wire %s %s\n" % (pid, method, json.dumps(msg["id"])))
            if method == "notifications/cancelled":  # "PID cancel REQUESTID"
                log.write("%d cancel %s\n" % (pid, json.dumps(msg.get("params", {}).get("requestId"))))
            log.flush()
        if "id" not in msg:
            continue
        mid = msg["id"]
        params = msg.get("params", {})
        if method == "initialize":
            out({"jsonrpc": "2.0", "id": mid, "result": {"protocolVersion": "2025-11-25", "pid": pid}})
        elif method == "deaf":
            time.sleep(30)
        elif method == "exit":
            sys.exit(3)
        elif method == "endless":
            while True:
                sys.stdout.write("x" * 4000)
                sys.stdout.flush()
                time.sleep(0.05)
        else:
            if method == "slow":
                time.sleep(params.get("ms", 100) / 1000.0)
            elif method == "big":
                time.sleep(params.get("ms", 0) / 1000.0)
                out({"jsonrpc": "2.0", "id": mid, "result": {"pad": "x" * params.get("n", 10), "pid": pid}})
                continue
            elif method == "chatty":
                out({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info"}})
                out({"jsonrpc": "2.0", "id": mid, "method": "sampling/createMessage", "params": {}})
                out({"jsonrpc": "2.0", "id": "p1", "method": "ping"})
            elif method == "bigask":
                out({"jsonrpc": "2.0", "id": "q1", "method": "sampling/createMessage",
                     "params": {"pad": "x" * params.get("n", 10)}})
            elif method == "changed":
                out({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
                out({"jsonrpc": "2.0", "id": "n1", "method": "notifications/tools/list_changed"})
                out({"jsonrpc": "2.0", "method": "notifications/tools/list_changed_not"})
            elif method == "long":
                sys.stdout.write("x" * params.get("n", 10) + "\n")
                sys.stdout.flush()
            out({"jsonrpc": "2.0", "id": mid, "result": {"params": params, "pid": pid}})


if __name__ == "__main__":
    main()
