#!/usr/bin/env bash
# ab.sh BIN_A BIN_B [ROUNDS] [SECONDS] [CONNS] - two builds of Writ side by side on
# bench/mcp/run.sh's workload (the same Node upstream, policies, credential,
# audit on): both servers run at once and each round runs wrk (1 thread,
# CONNS connections, keep-alive) directly against the upstream, then through
# A, then through B.  Per run: req/s, p50, p99/p99.9/max (us), and for A and
# B Writ's CPU per call (utime+stime from /proc).  On a shared machine the
# rounds move together with the load, so compare A and B round by round and
# by their medians, never against another sitting.
set -euo pipefail
A=$(readlink -f "$1"); B=$(readlink -f "$2"); rounds=${3:-5}; secs=${4:-2}; conns=${5:-1}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d /tmp/mcpab.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; sleep 0.3; rm -rf "$work"' EXIT
. "$repo/bench/mcp/lib.sh"
mcp_bench_setup "$work" "$A"
cat >>"$work/post.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("TAIL %d %d\n", latency:percentile(99.9), latency.max))
end
LUA
declare -A PID URL
for x in A B; do
  bin=${!x}
  "$bin" serve --listen 127.0.0.1:0 --ready-file "$work/ready$x" --state-dir "$work/state$x" "${MCP_SERVE_ARGS[@]}" \
      >"$work/log$x" 2>&1 & PID[$x]=$!
  for _ in $(seq 600); do [ -s "$work/ready$x" ] && break; sleep 0.1; done
  URL[$x]="http://$(cat $work/ready$x)/mcp/bench"
  wrk -t1 -c$conns -d1s -s "$work/post.lua" "${URL[$x]}" >/dev/null
done
URL[D]="http://127.0.0.1:$UP/mcp"
cpu() { awk '{print $14 + $15}' /proc/$1/stat; }
run() { wrk -t1 -c$conns -d${secs}s --latency -s "$work/post.lua" "$1" | awk 'function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1000000; return v }
  /Requests\/sec/ {rps = $2} /^ +50%/ {p50 = us($2)} /^ +99%/ {p99 = us($2)} /Non-2xx/ {bad=$NF} /^TAIL/ {t=$2; mx=$3} END {printf "%.0f %.0f %.0f/%.0f/%.0f %d\n", rps, p50, p99, t, mx, bad+0}'; }
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq $rounds); do
  line="round $i:"
  for x in D A B; do
    if [ $x != D ]; then t0=$(cpu ${PID[$x]}); fi
    read -r rps p50 p99 bad <<<"$(run "${URL[$x]}")"
    cpuc=""
    if [ $x != D ]; then t1=$(cpu ${PID[$x]}); cpuc=$(awk -v t=$((t1-t0)) -v r=$rps -v s=$secs -v hz=$(getconf CLK_TCK) 'BEGIN{printf " cpu %.0f", 1e6*t/hz/(r*s)}'); fi
    line="$line  $x $rps/s p50 $p50 p99 $p99${cpuc}$( [ $bad = 0 ] || echo " BAD $bad")"
  done
  echo "$line"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
