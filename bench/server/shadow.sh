#!/usr/bin/env bash
# shadow.sh - what task-history limits and shadow policies cost the decision
# path (issue 10: the rate with them configured >= 90% of the rate without):
# two `writ serve` on the 100-policy agent set (as run.sh), one plain, one
# configured, sent the same AuthZEN bodies by wrk in alternating rounds.
#
#   [SHADOW_KIND=both|mode|candidate|none] [WITH_LIMITS=1|0] [CANDIDATE=next|copy]
#       bench/server/shadow.sh [SECONDS] [CONNECTIONS] [ROUNDS]   (default both, 1, next; 5 s, 64, 3)
#
# "Configured" (the defaults) is what a team running issue 10 would have:
#   - WITH_LIMITS=1: the 10 limit lines of bench/limits/run.sh (all match every
#     action, 3 of them sums of context.amount), and 3 forbids in the live set
#     that read them (context.history.l1, .l2, .l6, with bounds the run never
#     reaches, so the answers stay those of the plain set);
#   - 5 @mode("shadow") forbids in the live file (evaluated beside it on every
#     allow and default deny; they hold on about 1 request in 8);
#   - shadow_policies = the candidate: CANDIDATE=next is the live file as a
#     team would change it (one permit's condition tightened, one forbid
#     added: it disagrees with the live set on some requests), copy is the
#     live file unchanged.
# Prints per round both rates, the server CPU per request (user + system over
# requests, steadier than the rate on a shared machine), wrk's CPU per request
# against each, and the CPU model (plain + its wrk) / (configured + its wrk):
# the rate ratio when the two cores are the limit, as they are whenever other
# jobs run.  Then the medians.  PERF_OUT=FILE also records `perf record -g`
# of the configured server during its runs (FILE.plain for the plain one).
set -euo pipefail
secs=${1:-5}
conns=${2:-64}
rounds=${3:-3}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
writ=${WRIT_BIN:-"$PWD/build/release/writ"}
kind=${SHADOW_KIND:-both}
with_limits=${WITH_LIMITS:-1}
cand=${CANDIDATE:-next}
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
lim=()
if [ "$with_limits" = 1 ]; then
    while read -r _ _ line; do lim+=(--limit "$line"); done < <(sed -n '/^limit = l1 /,/^limit = l10 /p' bench/limits/run.sh)
    [ ${#lim[@]} -eq 20 ] || { echo "WITH_LIMITS: expected 10 limit lines in bench/limits/run.sh" >&2; exit 1; }
    # the policies that read them (bounds never reached in a run: the answers stay the plain set's)
    cat >>"$tmp/live.cedar" <<'CEDAR'

@id("limit-task-day")
forbid (principal, action, resource) when { context.history.l1 >= 1000000000 };

@id("limit-agent-hour")
forbid (principal, action, resource) when { context.history.l2 >= 1000000000 };

@id("limit-agent-spend")
forbid (principal, action, resource) when { context.history.l6.greaterThan(decimal("900000000000.0")) };
CEDAR
fi
cp "$tmp/live.cedar" "$tmp/candidate.cedar"
if [ "$cand" = next ]; then
    # the next version of the live file: a permit tightened, a forbid added
    sed -i '0,/principal.trust >= 39/s//principal.trust >= 60/' "$tmp/candidate.cedar"
    printf '\n@id("next-export-needs-mfa")\nforbid (principal, action == Action::"export", resource) unless { context.mfa };\n' \
        >>"$tmp/candidate.cedar"
    cmp -s "$tmp/live.cedar" "$tmp/candidate.cedar" && { echo "CANDIDATE=next: the candidate did not change" >&2; exit 1; }
fi
for h in 19 20 21 22 23; do
    printf '\n@id("shadow-late-%s") @mode("shadow")\nforbid (principal, action, resource) when { context.hour >= %s && !context.mfa };\n' \
        "$h" "$h" >>"$tmp/live.cedar"
done

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
case $kind in
both) start shadow --policies "$tmp/live.cedar" --shadow_policies "$tmp/candidate.cedar" "${lim[@]}" ;;
mode) start shadow --policies "$tmp/live.cedar" "${lim[@]}" ;;
candidate)
    grep -v '@mode("shadow")' "$tmp/live.cedar" | sed '/^forbid (principal, action, resource) when { context.hour/d' >"$tmp/live0.cedar"
    start shadow --policies "$tmp/live0.cedar" --shadow_policies "$tmp/candidate.cedar" "${lim[@]}" ;;
none)
    grep -v '@mode("shadow")' "$tmp/live.cedar" | sed '/^forbid (principal, action, resource) when { context.hour/d' >"$tmp/live0.cedar"
    start shadow --policies "$tmp/live0.cedar" "${lim[@]}" ;;
*) echo "SHADOW_KIND is both, mode, candidate or none" >&2; exit 2 ;;
esac
pids+=("$(cat "$tmp/plain.pid")" "$(cat "$tmp/shadow.pid")")
for n in plain shadow; do
    node bench/server/gen_bodies.mjs --check "http://$(cat "$tmp/$n.ready")/access/v1/evaluation" \
        --bodies "$tmp/bodies.jsonl" >&2
done
if [ "$with_limits" = 1 ]; then
    grep -q "10 task-history limits" "$tmp/shadow.log" || { echo "the limits are not in force" >&2; exit 1; }
fi

rate() { awk '/^Requests\/sec/ {print $2}' "$1"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
one() { # one NAME ROUND -> "rate server_cpu_us_per_req wrk_cpu_us_per_req"
    local pid c0 c1 n perf=
    pid=$(cat "$tmp/$1.pid")
    if [ -n "${PERF_OUT:-}" ]; then
        local f=$PERF_OUT
        [ "$1" = plain ] && f=$PERF_OUT.plain
        [ "$2" = 1 ] || f=$f.$2
        perf record -g -q -o "$f" -p "$pid" >/dev/null 2>&1 &
        perf=$!
        sleep 0.2
    fi
    c0=$(cpu "$pid")
    /usr/bin/time -f '%U %S' -o "$tmp/$1.$2.time" \
        wrk -t2 -c"$conns" -d"${secs}s" -s bench/server/bodies.lua "http://$(cat "$tmp/$1.ready")/access/v1/evaluation" \
        -- "$tmp/bodies.jsonl" >"$tmp/$1.$2.out" 2>&1
    c1=$(cpu "$pid")
    if [ -n "$perf" ]; then kill -INT "$perf"; wait "$perf" || true; fi
    n=$(awk '/requests in/ {print $1}' "$tmp/$1.$2.out")
    echo "$(rate "$tmp/$1.$2.out") $(awk -v a="$c0" -v b="$c1" -v n="$n" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "%.1f", (n > 0) ? ((b - a) / hz * 1e6 / n) : 0}') $(awk -v n="$n" \
        '{printf "%.1f", (n > 0) ? (($1 + $2) * 1e6 / n) : 0}' "$tmp/$1.$2.time")"
}
: >"$tmp/rounds"
load0=$(cut -d' ' -f1 /proc/loadavg)
for r in $(seq "$rounds"); do
    # alternate which goes first
    if [ $((r % 2)) -eq 1 ]; then p=$(one plain "$r"); s=$(one shadow "$r"); else s=$(one shadow "$r"); p=$(one plain "$r"); fi
    echo "$p $s $(cut -d' ' -f1 /proc/loadavg)" >>"$tmp/rounds"
done
curl -s "http://$(cat "$tmp/shadow.ready")/metrics" >"$tmp/metrics" || true
changes=$(awk '/^writ_shadow_changes/ {s += $2} END {print s + 0}' "$tmp/metrics")
sets=$(awk '/^writ_shadow_set_disagreements_total/ {s += $2} END {print s + 0}' "$tmp/metrics")
counted=$(awk '/^writ_limits_counted_total/ {s += $2} END {print s + 0}' "$tmp/metrics")
# columns: 1 plain rate, 2 plain CPU, 3 its wrk CPU, 4 conf rate, 5 conf CPU, 6 its wrk CPU, 7 load
echo "round  plain req/s  CPU us/req  wrk us/req   conf req/s  CPU us/req  wrk us/req  rate ratio  CPU model  load"
awk '{printf "%5d  %11.0f  %10s  %10s  %11.0f  %10s  %10s  %9.1f%%  %8.1f%%  %s\n", NR, $1, $2, $3, $4, $5, $6,
      ($1 > 0) ? 100 * $4 / $1 : 0, ($5 + $6 > 0) ? 100 * ($2 + $3) / ($5 + $6) : 0, $7}' "$tmp/rounds"
col() { awk -v c="$1" '{print $c}' "$tmp/rounds" | median; }
printf 'median: plain %.0f req/s %s us/req (wrk %s); configured (shadow %s, limits %s, candidate %s) %.0f req/s %s us/req (wrk %s)\n' \
    "$(col 1)" "$(col 2)" "$(col 3)" "$kind" "$with_limits" "$cand" "$(col 4)" "$(col 5)" "$(col 6)"
printf 'median of the per-round ratios: rate %.1f%% of plain; CPU per request plain/configured %.1f%%; CPU model %.1f%%\n' \
    "$(awk '{print ($1 > 0) ? 100 * $4 / $1 : 0}' "$tmp/rounds" | median)" \
    "$(awk '{print ($5 > 0) ? 100 * $2 / $5 : 0}' "$tmp/rounds" | median)" \
    "$(awk '{print ($5 + $6 > 0) ? 100 * ($2 + $3) / ($5 + $6) : 0}' "$tmp/rounds" | median)"
echo "load average: $load0 at the start, $(cut -d' ' -f1 /proc/loadavg) at the end; $(nproc) cores"
echo "during the run: shadow changes counted $changes, candidate disagreements $sets, limit counts $counted"
