#!/usr/bin/env bash
# irpercall.sh WRIT_BIN [SECONDS] [CONNS] [extra writ serve args...]
# The MCP gateway's cost per tools/call, repeatable on a loaded machine: the
# workload of bench/mcp/run.sh (a minimal Node upstream, examples/mcp.cedar +
# a policy on context.input, audit on, a header credential), driven by wrk.
#   default       user-space instructions per call of `writ serve` under
#                 callgrind (--instr-atstart=no, toggled around the wrk run),
#                 and the top functions (inclusive and self)
#   WITH_STRACE=1 syscalls per call (strace -c -f), not under callgrind
#   WITH_CSW=1    voluntary context switches and CPU per call (/proc), plain;
#                 with PERF_SYSCALLS=1 also syscalls per call counted by perf
#                 (kernel tracepoints: not slowed down as under strace, where
#                 the upstream's answer often comes before Writ is done)
# Compare two binaries in the same sitting; absolute numbers mean little.
set -euo pipefail
writ=$(readlink -f "$1"); secs=${2:-4}; conns=${3:-1}; shift 3 || shift $#
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d /tmp/mcpir.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; sleep 0.3; rm -rf "$work"' EXIT
. "$repo/bench/mcp/lib.sh"
mcp_bench_setup "$work" "$writ"
args=(serve --listen 127.0.0.1:0 --ready-file "$work/ready" --state-dir "$work/state" "${MCP_SERVE_ARGS[@]}" "$@")
start() { # start [wrapper...]
  "$@" "$writ" "${args[@]}" >"$work/log" 2>&1 & wp=$!
  for _ in $(seq 600); do [ -s "$work/ready" ] && break; sleep 0.1; done
  addr=$(cat "$work/ready")
  url="http://$addr/mcp/bench"
  r=$(curl -s -X POST "$url" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
      -H "Authorization: Bearer $TOK" --data "$BODY")
  [[ "$r" == *'"text":"3"'* ]] || { echo "the gateway does not answer: $r"; cat "$work/log"; exit 1; }
}
calls() { awk '/requests in/ {print $1}' "$1"; }
if [ "${WITH_STRACE:-0}" = 1 ] || [ "${WITH_CSW:-0}" = 1 ]; then
  start
  wrk -t1 -c"$conns" -d1s -s "$work/post.lua" "$url" >/dev/null
  if [ "${WITH_STRACE:-0}" = 1 ]; then
    timeout $((secs + 2)) strace -c -f -p $wp -o "$work/strace" & sp=$!
    sleep 0.5
  fi
  csw() { awk '/^voluntary_ctxt_switches/ {n += $2} END {print n}' /proc/$wp/task/*/status 2>/dev/null; }
  cpu() { awk '{print $14 + $15}' /proc/$wp/stat; }
  bytask() { for t in /proc/$wp/task/*; do echo "$(basename $t)/$(cat $t/comm)/$(cat $t/wchan) $(awk '/^voluntary_ctxt_switches/ {print $2}' $t/status 2>/dev/null)"; done; }
  c0=$(csw) t0=$(cpu); bytask >"$work/csw0"
  if [ "${PERF_SYSCALLS:-0}" = 1 ]; then
    ev=raw_syscalls:sys_enter
    for s in epoll_wait epoll_ctl ppoll poll write read futex fcntl sendto sendmsg recvfrom pwrite64 connect close; do
      ev="$ev,syscalls:sys_enter_$s"; done
    perf stat -e "$ev" -p $wp -o "$work/perf" -- sleep $((secs + 1)) & pp=$!
    sleep 0.2
  fi
  wrk -t1 -c"$conns" -d"${secs}s" -s "$work/post.lua" "$url" >"$work/wrk"
  c1=$(csw) t1=$(cpu); bytask >"$work/csw1"
  n=$(calls "$work/wrk")
  if [ "${PERF_SYSCALLS:-0}" = 1 ]; then
    wait $pp || true
    awk -v n="$n" '/sys_enter/ {gsub(",", "", $1); sub(/.*sys_enter_?/, "", $2); printf "  syscalls %-12s %7.3f per call\n", ($2 == "" ? "(all)" : $2), $1 / n}' "$work/perf"
  fi
  if [ "${WITH_STRACE:-0}" = 1 ]; then
    wait $sp || true
    echo "calls under strace: $n"
    awk -v n="$n" 'NR>2 && $4 ~ /^[0-9]+$/ {printf "  %-16s %8.3f per call\n", $NF, $4/n}' "$work/strace" | sort -k2 -gr | head -15
  else
    awk -v n="$n" -v c=$((c1 - c0)) -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
      'BEGIN {printf "calls: %d  voluntary ctx switches/call: %.2f  CPU us/call: %.0f\n", n, c / n, 1e6 * t / hz / n}'
    echo "  per thread (tid: switches/call): $(join "$work/csw0" "$work/csw1" | awk -v n="$n" '$3 > $2 {printf "%s: %.2f  ", $1, ($3 - $2) / n}')"
  fi
  kill $wp; wait $wp 2>/dev/null || true
  exit 0
fi
start valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" --instr-atstart=no
wrk -t1 -c"$conns" -d2s -s "$work/post.lua" "$url" >/dev/null  # warm up
callgrind_control -i on $wp >/dev/null
wrk -t1 -c"$conns" -d"${secs}s" -s "$work/post.lua" "$url" >"$work/wrk"
callgrind_control -i off $wp >/dev/null
n=$(calls "$work/wrk")
kill -TERM $wp; wait $wp 2>/dev/null || true
[ -n "${KEEP:-}" ] && cp "$work/cg.out" "$KEEP"
set +o pipefail
callgrind_annotate --inclusive=yes "$work/cg.out" 2>/dev/null >"$work/incl" || true
callgrind_annotate "$work/cg.out" 2>/dev/null >"$work/self" || true
tot=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}' "$work/self")
echo "calls: $n   Ir total: $tot   Ir/call: $(awk -v t="$tot" -v n="$n" 'BEGIN {printf "%.0f", t / n}')"
echo "-- inclusive (Ir/call, top ${TOP:-40})"
awk -v n="$n" '/^ *[0-9,]+ .*:/ {x = $1; gsub(",", "", x); $1 = ""; printf "%9.0f %s\n", x / n, $0}' "$work/incl" | head -"${TOP:-40}"
echo "-- self (Ir/call, top ${TOP:-30})"
awk -v n="$n" '/^ *[0-9,]+ .*:/ {x = $1; gsub(",", "", x); $1 = ""; printf "%9.0f %s\n", x / n, $0}' "$work/self" | head -"${TOP:-30}"
