#!/usr/bin/env bash
# shadow.sh - what shadow policies cost the decision path: two `writ serve` on the
# 100-policy agent set (as run.sh), one plain, one with shadow configured, sent the
# same AuthZEN bodies by wrk in alternating rounds.
#
#   [SHADOW_KIND=both|mode|candidate] bench/server/shadow.sh [SECONDS] [CONNECTIONS] [ROUNDS]
#                                                             (default both, 5 s, 64, 3)
#
# "Shadow configured" is the heavy case: the live file with 5 extra @mode("shadow")
# forbids (evaluated alone beside the live 100 on every allow and default deny) and
# shadow_policies = a copy of the live file (the candidate: a whole 100-policy
# evaluation a decision).  Prints per round both rates, the
# server CPU per request (user + system over requests, steadier than the rate on a
# shared machine), and the medians with the ratio (shadow / plain; the issue's
# target is >= 90% with limits and shadow configured).
set -euo pipefail
secs=${1:-5}
conns=${2:-64}
rounds=${3:-3}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
writ=${WRIT_BIN:-"$PWD/build/release/writ"}
tmp=$(mktemp -d /tmp/writ-shadow-bench.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

node bench/gen_agents.mjs --policies 100 --out "$tmp/set" 2>/dev/null
node bench/server/gen_bodies.mjs --set "$tmp/set" --out "$tmp/bodies.jsonl"
cp "$tmp/set/policies.cedar" "$tmp/live.cedar"
for h in 19 20 21 22 23; do
    printf '\n@id("shadow-late-%s") @mode("shadow")\nforbid (principal, action, resource) when { context.hour >= %s && !context.mfa };\n' \
        "$h" "$h" >>"$tmp/live.cedar"
done
cp "$tmp/set/policies.cedar" "$tmp/candidate.cedar"

start() { # start NAME ARGS... ; prints the address, sets the pid in $tmp/NAME.pid
    local name=$1; shift
    "$writ" serve --listen 127.0.0.1:0 --ready-file "$tmp/$name.ready" --state-dir "$tmp/$name.state" \
        --threads 2 --entities "$tmp/set/entities.json" --schema "" --namespace "" --audit true "$@" \
        >"$tmp/$name.log" 2>&1 &
    echo $! >"$tmp/$name.pid"
    for _ in $(seq 100); do [ -s "$tmp/$name.ready" ] && break; sleep 0.1; done
    [ -s "$tmp/$name.ready" ] || { cat "$tmp/$name.log" >&2; echo "writ did not start" >&2; exit 1; }
}
start plain --policies "$tmp/set/policies.cedar"
# SHADOW_KIND=both (default) | mode (the @mode("shadow") policies only) | candidate (the set only)
kind=${SHADOW_KIND:-both}
# WITH_LIMITS=1: the shadow server also counts the 10 limits of bench/limits/run.sh
# (issue 10's target is measured with limits and shadow configured)
lim=()
if [ "${WITH_LIMITS:-0}" = 1 ]; then
    while read -r _ _ line; do lim+=(--limit "$line"); done < <(sed -n '/^limit = l1 /,/^limit = l10 /p' bench/limits/run.sh)
    [ ${#lim[@]} -eq 20 ] || { echo "WITH_LIMITS: expected 10 limit lines in bench/limits/run.sh" >&2; exit 1; }
fi
case $kind in
both) start shadow --policies "$tmp/live.cedar" --shadow_policies "$tmp/candidate.cedar" "${lim[@]}" ;;
mode) start shadow --policies "$tmp/live.cedar" "${lim[@]}" ;;
candidate) start shadow --policies "$tmp/set/policies.cedar" --shadow_policies "$tmp/candidate.cedar" "${lim[@]}" ;;
*) echo "SHADOW_KIND is both, mode or candidate" >&2; exit 2 ;;
esac
pids+=("$(cat "$tmp/plain.pid")" "$(cat "$tmp/shadow.pid")")
for n in plain shadow; do
    node bench/server/gen_bodies.mjs --check "http://$(cat "$tmp/$n.ready")/access/v1/evaluation" \
        --bodies "$tmp/bodies.jsonl" >&2
done

rate() { awk '/^Requests\/sec/ {print $2}' "$1"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
one() { # one NAME ROUND -> "rate cpu_us_per_req"
    local pid c0 c1 n
    pid=$(cat "$tmp/$1.pid")
    c0=$(cpu "$pid")
    wrk -t2 -c"$conns" -d"${secs}s" -s bench/server/bodies.lua "http://$(cat "$tmp/$1.ready")/access/v1/evaluation" \
        -- "$tmp/bodies.jsonl" >"$tmp/$1.$2.out" 2>&1
    c1=$(cpu "$pid")
    n=$(awk '/requests in/ {print $1}' "$tmp/$1.$2.out")
    echo "$(rate "$tmp/$1.$2.out") $(awk -v a="$c0" -v b="$c1" -v n="$n" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "%.1f", (n > 0) ? ((b - a) / hz * 1e6 / n) : 0}')"
}
: >"$tmp/rounds"
for r in $(seq "$rounds"); do
    # alternate which goes first
    if [ $((r % 2)) -eq 1 ]; then p=$(one plain "$r"); s=$(one shadow "$r"); else s=$(one shadow "$r"); p=$(one plain "$r"); fi
    echo "$p $s" >>"$tmp/rounds"
done
changes=$(curl -s "http://$(cat "$tmp/shadow.ready")/metrics" | grep -E '^writ_shadow_(changes|set)' | awk '{s += $2} END {print s + 0}')
echo "round   plain req/s  CPU us/req   shadow req/s  CPU us/req   rate ratio"
awk '{printf "%5d  %12.0f  %10s  %13.0f  %10s  %9.1f%%\n", NR, $1, $2, $3, $4, ($1 > 0) ? 100 * $3 / $1 : 0}' "$tmp/rounds"
col() { awk -v c="$1" '{print $c}' "$tmp/rounds" | median; }
ratio() { awk -v a="$1" -v b="$2" '{print ($b > 0) ? $a / $b : 0}' "$tmp/rounds" | median; }
printf 'median: plain %.0f req/s %s us/req; shadow (%s) %.0f req/s %s us/req;\n' \
    "$(col 1)" "$(col 2)" "$kind" "$(col 3)" "$(col 4)"
printf 'median of the per-round ratios: rate %.1f%% of plain, CPU per request x%.3f\n' \
    "$(awk -v r="$(ratio 3 1)" 'BEGIN {print 100 * r}')" "$(ratio 4 2)"
echo "shadow records counted during the run: $changes"
