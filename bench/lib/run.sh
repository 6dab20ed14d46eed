#!/usr/bin/env bash
# bench/lib/run.sh [BUILD_DIR] - one decision (examples/requests/01, the
# example policy set) four ways, in one run, median and p99 per decision:
#   c           libwrit C API (bench_lib: writ_authorize_json, parse and decide)
#   python      the Python binding (bindings/python, ctypes), JSON text in
#   python-dict the binding with the request as dicts (json.dumps included)
#   http        `writ serve` AuthZEN over a keep-alive connection (wrk -c1)
#   cedar-wasm  the reference engine in Node, policies pre-parsed
# and each one's distance from the C call.  The target: python within 3 us
# of c.  Wall-clock: run it on a quiet machine.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$REPO/build/release}
EX=$REPO/examples
REQ=$EX/requests/01-analyst-reads-metrics.json
N=${N:-200000}
TMP=$(mktemp -d /tmp/writ-benchlib.XXXXXX)
trap 'kill $(cat "$TMP/pid" 2>/dev/null) 2>/dev/null; rm -rf "$TMP"' EXIT
cmake --build "$BUILD" --target bench_lib writ writ_shared -j2 >/dev/null
FILES=("$EX/policies.cedar" "$EX/entities.json" "$EX/schema.cedarschema" "$REQ")

"$BUILD/bench_lib" "${FILES[@]}" "$N" >"$TMP/out"
WRIT_LIBRARY=$BUILD/libwrit.so PYTHONPATH=$REPO/bindings/python /usr/bin/python3 "$REPO/bench/lib/bench_py.py" \
    "${FILES[@]}" $((N / 2)) >>"$TMP/out"
node "$REPO/bench/lib/bench_ref.mjs" "${FILES[@]}" $((N / 10)) >>"$TMP/out"

# HTTP: the same request as an AuthZEN body, one keep-alive connection.
"$BUILD/writ" serve --listen 127.0.0.1:0 --ready-file "$TMP/ready" --state-dir "$TMP/state" --threads 1 \
    --policies "$EX/policies.cedar" --entities "$EX/entities.json" --schema "$EX/schema.cedarschema" \
    >"$TMP/serve.log" 2>&1 & echo $! >"$TMP/pid"
for _ in $(seq 100); do [ -s "$TMP/ready" ] && break; sleep 0.05; done
body='{"subject":{"type":"Agent","id":"spiffe://corp.example/agents/analyst"},"action":{"name":"read"},"resource":{"type":"Dataset","id":"usage-metrics"},"context":{"task":{"id":"task-77","purpose":"weekly-report"},"chain_depth":0,"destination":"internal","time":"2025-06-02T14:05:00Z","source_ip":"10.20.0.7"}}'
printf 'wrk.method="POST"\nwrk.headers["Content-Type"]="application/json"\nwrk.body=[[%s]]\n' "$body" >"$TMP/post.lua"
curl -s -X POST -H 'Content-Type: application/json' --data "$body" "http://$(cat "$TMP/ready")/access/v1/evaluation" |
    grep -q '"decision":true' || { echo "bench/lib: the HTTP request is not allowed"; cat "$TMP/serve.log"; exit 1; }
wrk -t1 -c1 -d5s --latency -s "$TMP/post.lua" "http://$(cat "$TMP/ready")/access/v1/evaluation" >"$TMP/wrk"
# wrk prints "50%  123.00us" / "1.20ms"
to_ns() { awk -v v="$1" 'BEGIN { u = v; sub(/[0-9.]+/, "", u); x = v + 0;
    print int(x * (u == "us" ? 1e3 : u == "ms" ? 1e6 : u == "s" ? 1e9 : 1)) }'; }
p50=$(awk '$1 == "50%" {print $2}' "$TMP/wrk"); p99=$(awk '$1 == "99%" {print $2}' "$TMP/wrk")
reqs=$(awk '/requests in/ {print $1}' "$TMP/wrk")
echo "http $(to_ns "$p50") $(to_ns "$p99") $reqs $reqs" >>"$TMP/out"

awk 'NR == 1 { c50 = $2; c99 = $3 }
     { printf "%-12s median %9.2f us  p99 %9.2f us  (+%.2f us median over c)  %d decisions, %d allowed\n",
              $1, $2 / 1000, $3 / 1000, ($2 - c50) / 1000, $4, $5
       if ($1 == "python") py = $2 - c50 }
     END { printf "python binding - c call: %.2f us (target <= 3 us): %s\n", py / 1000, py <= 3000 ? "met" : "NOT met" }' "$TMP/out"
