#!/usr/bin/env bash
# run.sh - Writ's AuthZEN evaluation against nginx returning a fixed 200,
# with wrk on 127.0.0.1, in one run.
#
#   [WRIT_BIN=path/to/writ] [BODIES=N] bench/server/run.sh [SECONDS] [CONNECTIONS] [ROUNDS]
#                                        (default 10 s, 64 connections, 1 round)
#
# Writ decides the 100-policy agent set of the Cedar benchmark (bench/gen_agents.mjs
# --policies 100: policies, entities, no schema, no namespace) with the audit log on
# (SQLite, WAL).  The requests are that set's 300 requests as AuthZEN bodies
# (gen_bodies.mjs: entity references, and in the context a decimal `__extn` value and
# a chain of `__entity` references; ~430 bytes), checked once against Writ (all
# answered, none an error) and then sent by wrk, each connection cycling through the
# pool so that consecutive requests differ (bodies.lua).  BODIES=N uses only the first
# N bodies (BODIES=1: one fixed body, for comparison).
# nginx answers a fixed JSON body and is sent the same bodies.  Both get 2 worker
# threads/processes; wrk runs 2 threads.  Prints both request rates, p99 latencies and
# the ratio (with ROUNDS > 1: Writ and nginx alternate, each round prints, and the
# summary is the median); the target is >= 60% of nginx (issue 8).  Also the CPU per
# request of Writ, nginx and wrk, and the ratio those predict when the cores are the
# limit (the figure to compare builds by on a shared machine; README.md).  Exit status 0
# whatever the numbers (a benchmark, not a test), non-zero only when something could
# not run.
set -euo pipefail
secs=${1:-10}
conns=${2:-64}
rounds=${3:-1}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$(pwd)
. scripts/deps.sh
install_deps cmake gcc pkg-config libjansson-dev libssl-dev libsqlite3-dev libmicrohttpd-dev libcmocka-dev \
    libcurl4-openssl-dev libgnutls28-dev nginx-light:nginx wrk curl nodejs:node iproute2:ss time procps:pgrep

# WRIT_BIN=path/to/writ benchmarks that binary as it is (e.g. an older build
# kept for a before/after comparison); else build/release/writ, rebuilt when stale.
writ=${WRIT_BIN:-"$repo/build/release/writ"}
if [ -z "${WRIT_BIN:-}" ] && { [ ! -x "$writ" ] || [ -n "$(find src include CMakeLists.txt -newer "$writ" -print -quit)" ]; }; then
    echo "== building build/release" >&2
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build/release -j "${WRIT_JOBS:-2}" --target writ >/dev/null
fi

tmp=$(mktemp -d /tmp/writ-bench.XXXXXX)
pids=()
cleanup() {
    local p
    # a server that died during the run says why before its folder goes
    if [ -n "${wpid:-}" ] && ! kill -0 "$wpid" 2>/dev/null; then
        wait "$wpid" 2>/dev/null && rc=0 || rc=$?
        echo "writ serve (pid $wpid) exited during the run, status $rc; the end of its log:" >&2
        tail -n 30 "$tmp/writ.log" >&2 || true
    fi
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    local p used
    used=$(ss -Htln 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}')
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 40000))
        grep -qx "$p" <<<"$used" || { echo "$p"; return; }
    done
    echo 0
}

# ---- the 100-policy agent set and its requests as AuthZEN bodies
node bench/gen_agents.mjs --policies 100 --out "$tmp/set" 2>/dev/null
node bench/server/gen_bodies.mjs --set "$tmp/set" --out "$tmp/all.jsonl"
npol=$(grep -c '^permit\|^forbid' "$tmp/set/policies.cedar")
nbodies=${BODIES:-0}
if [ "$nbodies" -gt 0 ]; then head -n "$nbodies" "$tmp/all.jsonl" >"$tmp/bodies.jsonl"; else cp "$tmp/all.jsonl" "$tmp/bodies.jsonl"; fi
nbodies=$(wc -l <"$tmp/bodies.jsonl")
avgbytes=$(awk '{n += length($0)} END {printf "%d", n / NR}' "$tmp/bodies.jsonl")

# ---- Writ
"$writ" serve --listen 127.0.0.1:0 --ready-file "$tmp/writ.ready" --state-dir "$tmp/state" --threads 2 \
    --policies "$tmp/set/policies.cedar" --entities "$tmp/set/entities.json" --schema "" --namespace "" \
    --audit true >"$tmp/writ.log" 2>&1 &
wpid=$!
pids+=("$wpid")
for _ in $(seq 100); do [ -s "$tmp/writ.ready" ] && break; sleep 0.1; done
[ -s "$tmp/writ.ready" ] || { cat "$tmp/writ.log"; echo "writ did not start" >&2; exit 1; }
waddr=$(cat "$tmp/writ.ready")
# every body once: all answered with a decision, none an error (else we would measure refusals)
mix=$(node bench/server/gen_bodies.mjs --check "http://$waddr/access/v1/evaluation" --bodies "$tmp/bodies.jsonl") ||
    { echo "writ refused some bodies: $mix" >&2; tail -n 5 "$tmp/writ.log" >&2; exit 1; }
echo "== $mix" >&2

# ---- nginx with a fixed answer
port=$(free_port)
. scripts/nginx.sh
{ nginx_head "$tmp/ngx"; cat <<CONF
    server {
        listen 127.0.0.1:$port;
        location / {
            default_type application/json;
            client_body_buffer_size 16k;
            return 200 '{"decision":true,"context":{"reasons":["policy0"],"errors":[]}}';
        }
    }
}
CONF
} >"$tmp/nginx.conf"
nginx -c "$tmp/nginx.conf" -p "$tmp/ngx" -g 'daemon off;' >"$tmp/ngx/out.log" 2>&1 &
npid=$!
pids+=("$npid")
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

# rate FILE / p99 FILE (in ms)
rate() { awk '/^Requests\/sec/ {print $2}' "$1"; }
p99() {
    awk '$1 == "99%" {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
         m = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v; printf "%.2f", m}' "$1"
}
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
bench() {   # bench NAME URL
    echo "== $1: wrk -t2 -c$conns -d${secs}s --latency POST $2" >&2
    /usr/bin/time -f '%U %S' -o "$tmp/$1.time" \
        wrk -t2 -c"$conns" -d"${secs}s" --latency -s bench/server/bodies.lua "$2" -- "$tmp/bodies.jsonl" \
        >"$tmp/$1.out" 2>&1
    grep -E 'requests in|Non-2xx|Socket errors' "$tmp/$1.out" | sed 's/^/   /' >&2
}
# server CPU per request (user + system), steadier than the rate on a shared machine
cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }   # 0: gone meanwhile
# the machine's idle and total ticks (all cores; idle + iowait): what the
# cores left unused while a server ran, which the CPU model assumes is none
stat_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t}' /proc/stat; }
idle_pct() { awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" 'BEGIN {printf "%.1f", (d > b) ? (100 * (c - a) / (d - b)) : 0}'; }
# nginx's CPU: its master and workers
ngx_cpu() { local t=0 p; for p in "$npid" $(pgrep -P "$npid"); do t=$((t + $(cpu "$p"))); done; echo "$t"; }
# µs of CPU per request: per_req TICKS_BEFORE TICKS_AFTER REQUESTS
per_req() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", (n > 0) ? ((b - a) / hz * 1e6 / n) : 0}'; }
# wrk's own CPU per request (user + system seconds from time(1))
wrk_cpu() { awk -v n="$(awk '/requests in/ {print $1}' "$tmp/$1.out")" '{printf "%.1f", (n > 0) ? (($1 + $2) * 1e6 / n) : 0}' "$tmp/$1.time"; }

# Rounds alternate Writ and nginx, so that a change in the machine's load
# falls on both; the summary is the median over the rounds.
: >"$tmp/rounds"
for r in $(seq "$rounds"); do
    c0=$(cpu "$wpid"); read -r i0 t0 < <(stat_ticks)
    bench "writ.$r" "http://$waddr/access/v1/evaluation"
    c1=$(cpu "$wpid"); read -r i1 t1 < <(stat_ticks)
    n0=$(ngx_cpu)
    bench "nginx.$r" "http://127.0.0.1:$port/"
    n1=$(ngx_cpu); read -r i2 t2 < <(stat_ticks)
    wi=$(idle_pct "$i0" "$t0" "$i1" "$t1"); ni=$(idle_pct "$i1" "$t1" "$i2" "$t2")
    wr=$(rate "$tmp/writ.$r.out"); nr=$(rate "$tmp/nginx.$r.out")
    wcpu=$(per_req "$c0" "$c1" "$(awk '/requests in/ {print $1}' "$tmp/writ.$r.out")")
    ncpu=$(per_req "$n0" "$n1" "$(awk '/requests in/ {print $1}' "$tmp/nginx.$r.out")")
    ww=$(wrk_cpu "writ.$r"); wn=$(wrk_cpu "nginx.$r")
    ratio=$(awk -v a="$wr" -v b="$nr" 'BEGIN {printf "%.1f", (b > 0) ? (100 * a / b) : 0}')
    # the ratio the CPU costs predict when the cores are the limit (server
    # and wrk share them): (nginx + its wrk) / (Writ + its wrk), per request
    model=$(awk -v w="$wcpu" -v n="$ncpu" -v ww="$ww" -v wn="$wn" 'BEGIN {printf "%.1f", (w + ww > 0) ? (100 * (n + wn) / (w + ww)) : 0}')
    echo "$wr $(p99 "$tmp/writ.$r.out") $wcpu $nr $(p99 "$tmp/nginx.$r.out") $ratio $ncpu $ww $wn $model $wi $ni" >>"$tmp/rounds"
done

kill -TERM "$wpid"; wait "$wpid" 2>/dev/null || true
wpid= # stopped here on purpose (cleanup reports only an unexpected exit)
audit=$("$writ" audit verify --state-dir "$tmp/state" || true)

col() { awk -v c="$1" '{print $c}' "$tmp/rounds" | median; }
echo
echo "policies:        $npol (agent set of bench/gen_agents.mjs; audit on; $audit)"
echo "bodies:          $nbodies distinct, ~$avgbytes bytes ($mix)"
if [ "$rounds" -gt 1 ]; then
    echo "round   writ req/s  p99 ms  CPU us/req   nginx req/s  p99 ms   ratio  nginx CPU  wrk CPU w/n  CPU model  idle w/n"
    awk '{printf "%5d  %11.0f  %6s  %10s  %12.0f  %6s  %5s%%  %9s  %5s/%-5s  %8s%%  %4s/%-4s\n", NR, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12}' "$tmp/rounds"
    echo "median of $rounds rounds:"
fi
printf 'writ  AuthZEN:   %10.0f req/s   p99 %s ms   server CPU %s us/req\n' "$(col 1)" "$(col 2)" "$(col 3)"
printf 'nginx fixed 200: %10.0f req/s   p99 %s ms   server CPU %s us/req\n' "$(col 4)" "$(col 5)" "$(col 7)"
echo "wrk CPU:         $(col 8) us/req against Writ, $(col 9) against nginx"
echo "CPU model:       $(col 10)% = (nginx + wrk) / (Writ + wrk) CPU per request: the ratio when the cores are the limit"
echo "idle cores:      $(col 11)% of the machine's CPU time unused while Writ ran, $(col 12)% while nginx ran"
echo "ratio:           $(col 6)% of nginx (target >= 60%), writ p99 $(col 2) ms (issue 4 target < 5 ms)"
