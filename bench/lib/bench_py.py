"""One decision through the Python binding, timed per call.
   WRIT_LIBRARY=... python3 bench_py.py POLICIES ENTITIES SCHEMA REQUEST [N]
Prints "python median_ns p99_ns decisions allow" for decide_json (the JSON
text as the C baseline takes it) and "python-dict ..." for decide() with
the request as dicts (json.dumps included)."""
import json
import sys
import time

import writ


def run(label, fn, n):
    ns = []
    allow = 0
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        d = fn()
        ns.append(clock() - t0)
        allow += d.allow
    ns.sort()
    print(f"{label} {ns[n // 2]} {ns[n * 99 // 100]} {n} {allow}")


def main():
    pol, ent, sch, req = (open(p).read() for p in sys.argv[1:5])
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 100000
    e = writ.Engine(policies=pol, entities=ent, schema=sch)
    body = req.encode()
    r = json.loads(req)
    for _ in range(1000):
        e.decide_json(body)
    run("python", lambda: e.decide_json(body), n)
    run("python-dict", lambda: e.decide(r["principal"], r["action"], r["resource"], r["context"]), n)


main()
