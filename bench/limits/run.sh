#!/usr/bin/env bash
# run.sh - the decision rate of `writ serve` with 10 task-history limits
# against none (issue 10: >= 90%), then bench_limits (no HTTP): the cost
# per decision with 10 limits, and with 1,000,000 past events in the
# windows against 10 (flat).
#
#   [WRIT_BIN=path/to/writ] bench/limits/run.sh [SECONDS] [ROUNDS] [CONNECTIONS]
#                                     (default 5 s, 3 rounds, 32 connections)
#
# Both servers decide bench/server's workload (the 100-policy agent set of
# bench/gen_agents.mjs, its 300 AuthZEN bodies cycled by wrk, audit log on,
# 2 threads); one has the 10 limit lines below, all matching every action
# (3 of them sums of context.amount, a decimal), so every decision reads
# and counts 10 rings and the counts are written behind to SQLite.  Rounds
# alternate the two servers, so a change in the machine's load falls on
# both; the summary is the median.  Besides the request rate it prints the
# server CPU per request (user + system), steadier on a shared machine.
# Exit status 0 whatever the numbers, non-zero only when something could
# not run.
set -euo pipefail
secs=${1:-5}
rounds=${2:-3}
conns=${3:-32}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$(pwd)
. scripts/deps.sh
install_deps cmake gcc pkg-config libjansson-dev libssl-dev libsqlite3-dev libmicrohttpd-dev libcmocka-dev \
    libcurl4-openssl-dev libgnutls28-dev wrk curl nodejs:node
writ=${WRIT_BIN:-"$repo/build/release/writ"}
bl="$repo/build/release/bench_limits"
if [ -z "${WRIT_BIN:-}" ] && { [ ! -x "$writ" ] || [ ! -x "$bl" ] ||
    [ -n "$(find src include bench/limits CMakeLists.txt -newer "$writ" -print -quit)" ]; }; then
    echo "== building build/release" >&2
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build/release -j "${WRIT_JOBS:-2}" --target writ bench_limits >/dev/null
fi

tmp=$(mktemp -d /tmp/writ-bench-limits.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

node bench/gen_agents.mjs --policies 100 --out "$tmp/set" 2>/dev/null
node bench/server/gen_bodies.mjs --set "$tmp/set" --out "$tmp/bodies.jsonl" 2>/dev/null

cat >"$tmp/limits.conf" <<'CONF'
limit = l1  24h *                  per task
limit = l2  1h  *                  per agent
limit = l3  5m  *                  per root
limit = l4  24h *                  per agent
limit = l5  1h  * sum context.amount per root
limit = l6  24h * sum context.amount per agent
limit = l7  10m *                  per task
limit = l8  1d  *                  per agent
limit = l9  30m *                  per root
limit = l10 7d  * sum context.amount per task
CONF
: >"$tmp/none.conf"

start() {   # start NAME CONF: sets the global ADDR_NAME and PID_NAME
    "$writ" serve --listen 127.0.0.1:0 --ready-file "$tmp/$1.ready" --state-dir "$tmp/$1.state" --threads 2 \
        --policies "$tmp/set/policies.cedar" --entities "$tmp/set/entities.json" --schema "" --namespace "" \
        --audit true --config "$2" >"$tmp/$1.log" 2>&1 &
    pids+=($!)
    eval "PID_$1=$!"
    for _ in $(seq 100); do [ -s "$tmp/$1.ready" ] && break; sleep 0.1; done
    [ -s "$tmp/$1.ready" ] || { cat "$tmp/$1.log"; echo "writ did not start" >&2; exit 1; }
    eval "ADDR_$1=$(cat "$tmp/$1.ready")"
    node bench/server/gen_bodies.mjs --check "http://$(cat "$tmp/$1.ready")/access/v1/evaluation" \
        --bodies "$tmp/bodies.jsonl" >/dev/null || { echo "writ ($1) refused some bodies" >&2; exit 1; }
}
start none "$tmp/none.conf"
start ten "$tmp/limits.conf"
grep -q "10 task-history limits" "$tmp/ten.log" || { echo "the limits are not in force" >&2; exit 1; }

rate() { awk '/^Requests\/sec/ {print $2}' "$1"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
one() {   # one NAME ROUND: "rate cpu_us_per_req"
    local pid addr c0 c1 n
    pid=$(eval echo "\$PID_$1") addr=$(eval echo "\$ADDR_$1")
    c0=$(cpu "$pid")
    wrk -t2 -c"$conns" -d"${secs}s" -s bench/server/bodies.lua "http://$addr/access/v1/evaluation" -- \
        "$tmp/bodies.jsonl" >"$tmp/$1.$2.out" 2>&1
    c1=$(cpu "$pid")
    n=$(awk '/requests in/ {print $1}' "$tmp/$1.$2.out")
    echo "$(rate "$tmp/$1.$2.out") $(awk -v a="$c0" -v b="$c1" -v n="$n" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "%.1f", (n > 0) ? ((b - a) / hz * 1e6 / n) : 0}')"
}
: >"$tmp/rounds"
for r in $(seq "$rounds"); do
    a=$(one none "$r")
    b=$(one ten "$r")
    echo "$a $b" | awk '{printf "%s %s %s %s %.1f %.1f\n", $1, $2, $3, $4, 100 * $3 / $1, 100 * $2 / $4}' >>"$tmp/rounds"
    echo "== round $r: $(tail -n 1 "$tmp/rounds")" >&2
done
kill -TERM "$PID_ten"; wait "$PID_ten" 2>/dev/null || true
rows=$(sqlite3 "$tmp/ten.state/writ.db" "SELECT count(*) || ' rows, ' || sum(value) || ' total' FROM counters WHERE limit_id LIKE 'l1:%'" 2>/dev/null || echo "?")
col() { awk -v c="$1" '{print $c}' "$tmp/rounds" | median; }
echo
echo "round  no limits req/s  CPU us/req   10 limits req/s  CPU us/req   rate %   CPU ratio %"
awk '{printf "%5d  %15.0f  %10s  %16.0f  %10s  %6s%%  %10s%%\n", NR, $1, $2, $3, $4, $5, $6}' "$tmp/rounds"
echo "median of $rounds rounds ($secs s each, wrk -t2 -c$conns, writ 2 threads, audit on):"
printf 'no limits:  %8.0f req/s  %s us CPU/req\n' "$(col 1)" "$(col 2)"
printf '10 limits:  %8.0f req/s  %s us CPU/req\n' "$(col 3)" "$(col 4)"
echo "rate with 10 limits: $(col 5)% of the rate without (target >= 90%); CPU: none/ten = $(col 6)%"
echo "limit l1 in the store after the runs: $rows"
echo
"$bl" "${DECISIONS:-50000}"
