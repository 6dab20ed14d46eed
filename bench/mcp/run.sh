#!/usr/bin/env bash
# run.sh - MCP tools/call round trips through Writ's gateway and directly to
# the same upstream, side by side (issue 9), with wrk on 127.0.0.1, keep-alive.
#
#   [WRIT_BIN=path/to/writ] [WRIT_EXTRA="--audit off"] bench/mcp/run.sh [SECONDS]   (default 5 s per run)
#
# The upstream is a minimal Streamable HTTP MCP server in Node (a fixed
# JSON-RPC result for every tools/call, application/json), so that what is
# measured is the gateway: task token verification, Cedar (examples/mcp.cedar,
# a policy on context.input), the audit record (SQLite, WAL, group commit),
# the credential injected and the forward over a keep-alive curl connection.
# Four runs: 1 connection direct / through Writ, 32 connections direct /
# through Writ.  Prints requests/s and the latency percentiles wrk reports
# (p50, p99), and the ratios, and for the runs through Writ the server's
# CPU and voluntary context switches per call; PERF_OUT=/tmp/x also records
# `perf record -g` of the server during them (/tmp/x.1, /tmp/x.32; PERF_CG="--call-graph dwarf"
# instead of -g for libraries built without frame pointers).  Targets (issue 9): +150 us at the median and
# +1 ms at p99 with 1 client; >= 90% of the direct rate with 32.  Exit 0
# whatever the numbers (a benchmark, not a test).
set -euo pipefail
secs=${1:-5}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$(pwd)
WRIT=${WRIT_BIN:-$repo/build/release/writ}
for c in wrk node curl nginx; do command -v $c >/dev/null || { echo "need $c"; exit 1; }; done
TMP=$(mktemp -d /tmp/writ-mcpbench.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

. bench/mcp/lib.sh
mcp_bench_setup "$TMP" "$WRIT"
mcp_bench_nginx "$TMP"
# shellcheck disable=SC2086
"$WRIT" serve --listen 127.0.0.1:0 --ready-file "$TMP/ready" --state-dir "$TMP/state" "${MCP_SERVE_ARGS[@]}" \
    ${WRIT_EXTRA:-} >"$TMP/writ.log" 2>&1 &
WPID=$!
PIDS+=("$WPID")
for _ in $(seq 100); do [ -s "$TMP/ready" ] && break; sleep 0.1; done
ADDR=$(cat "$TMP/ready")
r=$(curl -s -X POST "http://$ADDR/mcp/bench" -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $TOK" --data "$BODY")
[[ "$r" == *'"text":"3"'* ]] || { echo "the gateway does not answer the call: $r"; cat "$TMP/writ.log"; exit 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$WPID/stat"; }
ngx_ticks() { # nginx's master and workers
    local m
    m=$(cat "$TMP/ngx/nginx.pid")
    for p in $m $(pgrep -P "$m"); do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{n += $1} END {print n}'
}
csw() { awk '/voluntary_ctxt_switches/ {n += $2} END {print n}' /proc/$WPID/task/*/status 2>/dev/null; }
up_ticks() { awk '{print $14 + $15}' "/proc/$UP_PID/stat"; }
run() { # run CONNS URL -> "rps p50_us p99_us non2xx wrk_cpu_us"
    wrk -t1 -c"$1" -d"${secs}s" --latency --timeout 5s -s "$TMP/post.lua" "$2" >"$TMP/wrk.out" 2>&1
    # wrk's own CPU: this subshell's only child so far (times, 2nd line)
    times >"$TMP/times" # (not in a pipe: that would be a subshell of its own, with no children)
    awk -v cpu="$(awk 'NR == 2 {gsub(/[ms]/, " "); print 1e6 * ($1 * 60 + $2 + $3 * 60 + $4)}' "$TMP/times")" 'function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1000000; return v }
         /Requests\/sec/ {rps = $2} /^ +50%/ {p50 = us($2)} /^ +99%/ {p99 = us($2)} /Non-2xx/ {bad = $NF}
         END {printf "%.0f %.0f %.0f %d %.0f\n", rps, p50, p99, bad + 0, cpu}' "$TMP/wrk.out"
}
printf "%-28s %10s %10s %10s %8s\n" "" "req/s" "p50 us" "p99 us" "non-2xx"
for c in 1 32; do
    u0=$(up_ticks)
    read -r dr d50 d99 dn dw <<<"$(run "$c" "http://127.0.0.1:$UP/mcp")"
    u1=$(up_ticks)
    q0=$(ngx_ticks)
    read -r nr n50 n99 nn _ <<<"$(run "$c" "http://127.0.0.1:$NGX/mcp")"
    q1=$(ngx_ticks)
    t0=$(cpu_ticks) s0=$(csw)
    if [ -n "${PERF_OUT:-}" ]; then
        perf record ${PERF_CG:--g} -o "$PERF_OUT.$c" -p "$WPID" -- sleep "$secs" >/dev/null 2>&1 &
        PPID_=$!
    fi
    read -r gr g50 g99 gn _ <<<"$(run "$c" "http://$ADDR/mcp/bench")"
    [ -n "${PPID_:-}" ] && { wait "$PPID_" || true; PPID_=; }
    t1=$(cpu_ticks) s1=$(csw)
    n=$(awk -v r="$gr" -v s="$secs" 'BEGIN {printf "%d", r * s}')
    printf "%-28s %10s %10s %10s %8s\n" "direct, $c connection(s)" "$dr" "$d50" "$d99" "$dn" \
        "through nginx (proxy), $c" "$nr" "$n50" "$n99" "$nn" "through Writ, $c" "$gr" "$g50" "$g99" "$gn"
    # The CPU a proxy may spend: the direct run's upstream and wrk share the
    # machine's CPUs with any proxy put between them, so at 90% of the
    # direct rate they leave NCPU s / (0.9 x rate) - (their CPU per call)
    # for it (if their CPU per call stays as it was).  Not a target of its
    # own: what makes the 32-client ratio a statement about this machine.
    [ "$c" -gt 1 ] && awk -v u="$((u1 - u0))" -v hz="$(getconf CLK_TCK)" -v w="$dw" -v r="$dr" -v s="$secs" -v p="$(nproc)" \
        'BEGIN {n = r * s; if (n > 0) {up = 1e6 * u / hz / n; wc = w / n;
                printf "  direct: the upstream %.0f us and wrk %.0f us of CPU per call; on %d CPUs a proxy keeps 90%% of this rate only at <= %.0f us per call\n",
                       up, wc, p, p * 1e6 / (0.9 * r) - up - wc}}'
    awk -v dr="$dr" -v nr="$nr" -v d50="$d50" -v n50="$n50" -v d99="$d99" -v n99="$n99" -v c="$c" \
        'BEGIN {printf "  %d conn: a plain proxy adds %+d us at p50, %+d us at p99; rate %.0f%% of direct\n", c, n50 - d50, n99 - d99, 100 * nr / dr}'
    awk -v t="$((q1 - q0))" -v hz="$(getconf CLK_TCK)" -v n="$(awk -v r="$nr" -v s="$secs" 'BEGIN {printf "%d", r * s}')" \
        'BEGIN {if (n > 0) printf "  nginx CPU %.0f us per call\n", 1e6 * t / hz / n}'
    awk -v dr="$dr" -v gr="$gr" -v d50="$d50" -v g50="$g50" -v d99="$d99" -v g99="$g99" -v c="$c" \
        'BEGIN {printf "  %d conn: gateway adds %+d us at p50, %+d us at p99; rate %.0f%% of direct\n", c, g50 - d50, g99 - d99, 100 * gr / dr}'
    awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$n" -v cs="$((s1 - s0))" \
        'BEGIN {if (n > 0) printf "  writ serve CPU %.0f us per call, %.1f voluntary context switches per call\n", 1e6 * t / hz / n, cs / n}'
done
echo "audit records written: $("$WRIT" audit tail -n 1 --state-dir "$TMP/state" 2>/dev/null | jq -r .seq)"
kill -TERM "$WPID"
wait "$WPID" && rc=0 || rc=$?
echo "writ serve exit status after SIGTERM: $rc; sanitizer reports in its log: $(grep -cE 'Sanitizer|runtime error' "$TMP/writ.log")"
grep -A30 -E 'Sanitizer|runtime error' "$TMP/writ.log" | head -40 || true
