#!/usr/bin/env python3
"""audit_load.py - decisions with a unique id each, and what was answered.

    audit_load.py ADDR SECONDS THREADS OUT [--tag T] [--admin SECRET] [--revoke-every N]

THREADS keep-alive connections POST AuthZEN evaluations for the example
policies (analyst reads usage-metrics: an allow), each with a unique task id
<T>k<thread>-<n> in context.task.id, which the audit record keeps as its task.
With --admin, one connection in N (by request count) is an /oauth2/revoke of
a unique task <T>r<thread>-<n> with the admin secret instead.

Every answer is written to OUT as "allow ID", "deny ID" (a 200 with decision
false, or a 403/5xx) or "revoked ID" (200 from /oauth2/revoke), one line
each, so the test can match answers against audit records.  A request whose
answer never came (connection reset, the server killed) is not written.  Runs
until SECONDS pass or the server is gone (every connection failing for 2 s).
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse

addr, secs, nthreads, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
admin = None
tag = ""
revoke_every = 0
args = sys.argv[5:]
while args:
    if args[0] == "--admin":
        admin = args[1]
    elif args[0] == "--tag":
        tag = args[1]
    elif args[0] == "--revoke-every":
        revoke_every = int(args[1])
    args = args[2:]

host, port = addr.rsplit(":", 1)
lock = threading.Lock()
lines = []
deadline = time.time() + secs


def body(tid):
    return json.dumps({
        "subject": {"type": "Agent", "id": "spiffe://corp.example/agents/analyst"},
        "action": {"name": "read"},
        "resource": {"type": "Dataset", "id": "usage-metrics"},
        "context": {"task": {"id": tid, "purpose": "weekly-report"}, "chain_depth": 0,
                    "destination": "internal", "time": "2025-06-02T14:05:00Z", "source_ip": "10.20.0.7"},
    })


def worker(t):
    conn = None
    n = 0
    failing_since = None
    mine = []
    while time.time() < deadline:
        n += 1
        if conn is None:
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
        revoke = admin and revoke_every and n % revoke_every == 0
        try:
            if revoke:
                rid = "%sr%d-%d" % (tag, t, n)
                conn.request("POST", "/oauth2/revoke", urllib.parse.urlencode({"task": rid}),
                             {"Content-Type": "application/x-www-form-urlencoded",
                              "Authorization": "Bearer " + admin})
            else:
                rid = "%sk%d-%d" % (tag, t, n)
                conn.request("POST", "/access/v1/evaluation", body(rid), {"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            failing_since = None
        except (OSError, http.client.HTTPException):
            try:
                conn.close()
            except OSError:
                pass
            conn = None
            now = time.time()
            if failing_since is None:
                failing_since = now
            elif now - failing_since > 2:
                break
            time.sleep(0.01)
            continue
        if revoke:
            mine.append(("revoked " if r.status == 200 else "refused ") + rid)
        else:
            ok = r.status == 200 and json.loads(data).get("decision") is True
            mine.append(("allow " if ok else "deny ") + rid)
    with lock:
        lines.extend(mine)


threads = [threading.Thread(target=worker, args=(t,)) for t in range(nthreads)]
for th in threads:
    th.start()
for th in threads:
    th.join()
with open(out, "w") as f:
    f.write("\n".join(lines) + ("\n" if lines else ""))
