#!/usr/bin/env bash
# cpu.sh - Writ's server CPU per decision (user and system time of the
# `writ serve` process over the requests it answered), for one or more
# builds, alternated, under the load of run.sh (the 100-policy agent set's
# AuthZEN bodies, wrk -t2 -c64, audit on).  On a machine shared with other
# jobs the request rate swings by 2x while the CPU per decision moves much
# less, so compare builds with this, in one run.
#
#   bench/server/cpu.sh [SECONDS] [ROUNDS] BIN [BIN...]      (default 4 s, 3 rounds)
#   SERVE_ARGS="--audit-commit-delay-us 0" bench/server/cpu.sh 4 3 build/release/writ
#
# Prints one line per build and round (req/s, p99, user, system and total µs
# per request) and then the median total per build.  Exit status 0 whatever
# the numbers; non-zero only when something could not run.
set -euo pipefail
secs=${1:-4}
rounds=${2:-3}
shift 2 || true
[ $# -ge 1 ] || { echo "usage: $0 [SECONDS] [ROUNDS] BIN [BIN...]" >&2; exit 2; }
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
for b in "$@"; do [ -x "$b" ] || { echo "cpu.sh: $b is not an executable" >&2; exit 1; }; done

tmp=$(mktemp -d /tmp/writ-cpu.XXXXXX)
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

node bench/gen_agents.mjs --policies 100 --out "$tmp/set" 2>/dev/null
node bench/server/gen_bodies.mjs --set "$tmp/set" --out "$tmp/bodies.jsonl" >/dev/null
hz=$(getconf CLK_TCK)

one() {   # one BIN ROUND: prints "name req/s p99 user sys total"
    local bin=$1 d="$tmp/run.$2"
    rm -rf "$d"
    mkdir -p "$d"
    # shellcheck disable=SC2086
    "$bin" serve --listen 127.0.0.1:0 --ready-file "$d/ready" --state-dir "$d/state" --threads 2 \
        --policies "$tmp/set/policies.cedar" --entities "$tmp/set/entities.json" --schema "" --namespace "" \
        --audit true ${SERVE_ARGS:-} >"$d/log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do [ -s "$d/ready" ] && break; sleep 0.1; done
    [ -s "$d/ready" ] || { kill "$pid"; cat "$d/log" >&2; echo "cpu.sh: $bin did not start" >&2; exit 1; }
    local url="http://$(cat "$d/ready")/access/v1/evaluation"
    wrk -t2 -c64 -d1s -s bench/server/bodies.lua "$url" -- "$tmp/bodies.jsonl" >/dev/null 2>&1 # warm up
    local u0 s0 u1 s1
    read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    wrk -t2 -c64 -d"${secs}s" --latency -s bench/server/bodies.lua "$url" -- "$tmp/bodies.jsonl" >"$d/wrk.out" 2>&1
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    grep -q 'Non-2xx' "$d/wrk.out" && { grep 'Non-2xx' "$d/wrk.out" >&2; echo "cpu.sh: $bin refused requests" >&2; exit 1; }
    awk -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v hz="$hz" -v b="$bin" '
        /requests in/ {n = $1} /^Requests\/sec/ {r = $2} $1 == "99%" {p = $2}
        END {printf "%s %.0f %s %.1f %.1f %.1f\n", b, r, p, u / hz * 1e6 / n, s / hz * 1e6 / n, (u + s) / hz * 1e6 / n}' \
        "$d/wrk.out"
}

echo "cpus $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %5s %9s %9s %8s %8s %8s\n' build round req/s p99 user_us sys_us total_us
: >"$tmp/all"
for r in $(seq "$rounds"); do
    for b in "$@"; do
        line=$(one "$b" "$r")
        echo "$line" >>"$tmp/all"
        read -r name rate p99 us ss tot <<<"$line"
        printf '%-28s %5d %9s %9s %8s %8s %8s\n' "$name" "$r" "$rate" "$p99" "$us" "$ss" "$tot"
    done
done
echo "median total µs per request (user + system), load now $(cut -d' ' -f1 /proc/loadavg):"
for b in "$@"; do
    awk -v b="$b" '$1 == b {print $6}' "$tmp/all" | sort -g |
        awk -v b="$b" '{a[NR] = $1} END {printf "  %-28s %s\n", b, (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
done
