#!/usr/bin/env bash
# run.sh - three `writ serve` replicas sharing their state through Redis
# against one replica on SQLite, both behind the same nginx, with wrk, in one
# run (issue 12: "the Redis-backed replicas' decision cost per request stays
# within 10% of SQLite's for requests that need no state change").
#
#   [WRIT_BIN=path/to/writ] [AUDIT=true|false] [TOKENS=8] [REVOKED=100] [SIDES="redis3 sqlite1 sqlite3"] \
#   [PERF_OUT=/tmp/p] bench/replicas/run.sh [SECONDS] [CONNECTIONS] [ROUNDS]   (default 4 s, 64, 5 rounds)
#
# Sides (SIDES): redisN is N replicas with `state = redis://...` (one Redis),
# sqliteN is N replicas with `state = sqlite` (each its own file); a suffix tT
# gives each replica T worker threads (default 2).  The default compares
# redis3 with sqlite1 (the issue's comparison) and adds sqlite3, three
# replicas without Redis, which tells the cost of Redis from the cost of
# running three processes on this machine's cores.
#
# Started here, on 127.0.0.1, temporary folders, free ports: redis-server,
# the replicas of every side, and one nginx with a server block and an
# upstream (keep-alive, the same settings) per side, so every side has the
# same proxy hop.  Every replica decides the example policies (examples/)
# with the audit log on (SQLite, each replica its own; AUDIT=false turns it
# off everywhere), and knows the same REVOKED revocations (random jtis, via
# `writ revoke`: --state on Redis, --db on each SQLite file) so that the set
# each replica consults is not empty.
#
# The requests need no state change: AuthZEN evaluations carrying a task
# token (6 kinds of request, TOKENS tokens minted for each, so consecutive
# requests differ in token and body; bench/server/bodies.lua), each verified and
# checked against the replica's revocation set; no limits configured, and no
# request reaches the one @approval policy.  Every request is first sent
# once to every replica: each must be answered 200 with a decision and no
# errors, and all must agree.
#
# Rounds run every side in turn (the order turning each round, so that a
# drift in the machine's load falls on all), wrk -t2 -cCONNECTIONS for
# SECONDS each.  The figure compared is the servers' CPU per request: user +
# system time of the side's writ processes (/proc/PID/stat, summed) over the
# round, divided by the requests answered; on a machine shared with other
# jobs the rates swing while this moves much less.  Also printed: rates,
# p99, nginx's CPU per request, context switches per request (all threads of
# the side's replicas), and Redis commands and Redis CPU per request during
# the round (the followers' XINFO + XREAD BLOCK, ~8 a second per Redis
# replica, whichever side is driven: nothing per request, the revocation set
# is in each replica's memory).  PERF_OUT=P records `perf record -g` of each
# side's replicas in each round (P.SIDE.ROUND).
#
# Prints the per-round ratios of CPU per request for every pair of sides and
# their medians, PASS or FAIL against "within 10%" for Redis / SQLite.  A
# benchmark, not a test: exit status 0 whatever the numbers, non-zero only
# when something could not run.
set -euo pipefail
secs=${1:-4}
conns=${2:-64}
rounds=${3:-5}
ntok=${TOKENS:-8}
nrev=${REVOKED:-100}
audit=${AUDIT:-true}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$(pwd)
. scripts/deps.sh
. scripts/nginx.sh
install_deps cmake gcc pkg-config libjansson-dev libssl-dev libsqlite3-dev libmicrohttpd-dev libcmocka-dev \
    libcurl4-openssl-dev libgnutls28-dev libhiredis-dev libpq-dev redis-server:redis-server \
    nginx-light:nginx wrk curl jq iproute2:ss procps:pgrep

writ=${WRIT_BIN:-"$repo/build/release/writ"}
if [ -z "${WRIT_BIN:-}" ] && { [ ! -x "$writ" ] || [ -n "$(find src include CMakeLists.txt -newer "$writ" -print -quit)" ]; }; then
    echo "== building build/release" >&2
    cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build/release -j "${WRIT_JOBS:-2}" --target writ >/dev/null
fi

tmp=$(mktemp -d /tmp/writ-bench-replicas.XXXXXX)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    local p used
    used=$(ss -Htan 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}' | sort -u)
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 12000))
        grep -qx "$p" <<<"$used" || { echo "$p"; return; }
    done
    echo 0
}
load() { cut -d' ' -f1-3 /proc/loadavg; }
load0=$(load)

# ---- Redis
rport=$(free_port)
mkdir -p "$tmp/redis"
redis-server --port "$rport" --bind 127.0.0.1 --dir "$tmp/redis" --save "" --appendonly no \
    --daemonize no --loglevel warning >"$tmp/redis/out.log" 2>&1 &
rpid=$!
pids+=("$rpid")
for _ in $(seq 50); do [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
[ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] || { cat "$tmp/redis/out.log"; echo "redis-server did not start" >&2; exit 1; }

# ---- shared files, revocations on both sides
ex=$repo/examples
"$writ" keys generate --out "$tmp/k.pem" >/dev/null
common="policies = $ex/policies.cedar
entities = $ex/entities.json
schema = $ex/schema.cedarschema
token_keys = $tmp/k.pem
audit = $audit
reload_poll = 0"
printf '%s\nstate = redis://127.0.0.1:%s/0\n' "$common" "$rport" >"$tmp/redis.conf"
printf '%s\nstate = sqlite\n' "$common" >"$tmp/sqlite.conf"
for _ in $(seq "$nrev"); do head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo; done >"$tmp/revoked"
# the sides: NAME CONFIG REPLICAS
sides=()
for sd in ${SIDES:-redis3 sqlite1 sqlite3}; do
    [[ "$sd" =~ ^(redis|sqlite)([1-9])(t([1-9]))?$ ]] ||
        { echo "SIDES: $sd is not redisN[tT] or sqliteN[tT] (N replicas, T threads each, 1..9)" >&2; exit 2; }
    sides+=("$sd ${BASH_REMATCH[1]} ${BASH_REMATCH[2]} ${BASH_REMATCH[4]:-2}")
done
declare -A SPIDS SADDRS   # side -> "pid pid pid", "addr addr addr"
for sd in "${sides[@]}"; do
    read -r name conf nrep nthr <<<"$sd"
    for i in $(seq "$nrep"); do
        d="$tmp/$name.$i"
        mkdir -p "$d/state"
        if [ "$conf" = redis ]; then
            [ "$i" -gt 1 ] || while read -r j; do
                "$writ" revoke --state "redis://127.0.0.1:$rport/0" --jti "bench-$j" >/dev/null 2>&1
            done <"$tmp/revoked"
        else
            while read -r j; do "$writ" revoke --db "$d/state/writ.db" --jti "bench-$j" >/dev/null 2>&1; done <"$tmp/revoked"
        fi
        "$writ" serve --listen 127.0.0.1:0 --state-dir "$d/state" --ready-file "$d/ready" --threads "$nthr" \
            --config "$tmp/$conf.conf" --replica "$name-$i" >"$d/log" 2>&1 &
        pids+=($!)
        SPIDS[$name]="${SPIDS[$name]:-} $!"
    done
done
for sd in "${sides[@]}"; do
    read -r name conf nrep _ <<<"$sd"
    for i in $(seq "$nrep"); do
        d="$tmp/$name.$i"
        for _ in $(seq 100); do [ -s "$d/ready" ] && break; sleep 0.1; done
        [ -s "$d/ready" ] || { cat "$d/log"; echo "writ serve $name-$i did not start" >&2; exit 1; }
        SADDRS[$name]="${SADDRS[$name]:-} $(cat "$d/ready")"
    done
done

# ---- the requests: AuthZEN bodies without a subject (the token's holder is
# the principal), each with its own task token
A=spiffe://corp.example/agents
CTX='"destination":"internal","time":"2025-06-02T14:05:00Z","source_ip":"10.20.0.7"'
kinds=(
    "analyst|weekly-report|read|usage-*|confidential|read|Dataset|usage-metrics"
    "triage-bot|bugfix|write|writ|confidential|write|Repo|writ"
    "code-agent|bugfix|write|writ|confidential|write|Repo|writ"
    "triage-bot|triage|write|OPS-*|confidential|write|Ticket|OPS-101"
    "code-agent|research|invoke|web-search|confidential|invoke|Tool|web-search"
    "release-bot|release|deploy|api-staging|confidential|deploy|Service|api-staging"
)
: >"$tmp/requests.tsv"
for t in $(seq "$ntok"); do
    for k in "${kinds[@]}"; do
        IFS='|' read -r agent purpose act res sens action rtype rid <<<"$k"
        tok=$("$writ" token mint --key "$tmp/k.pem" --issuer https://writ.local --audience writ \
            --subject "$A/$agent" --purpose "$purpose" --action "$act" --resource "$res" \
            --sensitivity "$sens" --txn "bench-$t-$agent" --ttl 900)
        printf '%s\t{"action":{"name":"%s"},"resource":{"type":"%s","id":"%s"},"context":{%s}}\n' \
            "$tok" "$action" "$rtype" "$rid" "$CTX" >>"$tmp/requests.tsv"
    done
done
nreq=$(wc -l <"$tmp/requests.tsv")

# every request once on each replica: 200, a decision, no errors; the same
# decisions everywhere
for sd in "${sides[@]}"; do
    read -r name _ <<<"$sd"
    for addr in ${SADDRS[$name]}; do
        n=0
        while IFS=$'\t' read -r tok body; do
            out=$(curl -s -m 5 -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
                -H "Authorization: Bearer $tok" --data-binary "$body" "http://$addr/access/v1/evaluation")
            code=${out##*$'\n'}
            out=${out%$'\n'*}
            if [ "$code" != 200 ] || [ "$(jq -r '(.context.errors | length) == 0 and (.decision | type) == "boolean"' <<<"$out")" != true ]; then
                echo "$name ($addr) refused a request: $code $out" >&2
                exit 1
            fi
            [ "$(jq -r .decision <<<"$out")" = true ] && n=$((n + 1))
        done <"$tmp/requests.tsv"
        [ -z "${allows:-}" ] || [ "$allows" = "$n" ] || { echo "$name ($addr) allowed $n, another $allows" >&2; exit 1; }
        allows=$n
    done
done

# ---- nginx: one server block per side, the same upstream settings
declare -A GW
{
    nginx_head "$tmp/ngx"
    used=" "
    for sd in "${sides[@]}"; do
        read -r name _ <<<"$sd"
        p=$(free_port)
        while [[ "$used" == *" $p "* ]]; do p=$((p + 1)); done
        used="$used$p "
        GW[$name]=$p
        echo "    upstream $name {"
        for a in ${SADDRS[$name]}; do echo "        server $a max_fails=1 fail_timeout=5s;"; done
        cat <<CONF
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$p;
        location / {
            proxy_pass http://$name;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout http_502 http_503;
            proxy_connect_timeout 1s;
        }
    }
CONF
    done
    echo "}"
} >"$tmp/nginx.conf"
nginx -t -c "$tmp/nginx.conf" -p "$tmp/ngx" >"$tmp/ngx/t.log" 2>&1 || { cat "$tmp/ngx/t.log" >&2; exit 1; }
nginx -c "$tmp/nginx.conf" -p "$tmp/ngx" -g 'daemon off;' >"$tmp/ngx/out.log" 2>&1 &
npid=$!
pids+=("$npid")
for sd in "${sides[@]}"; do
    read -r name _ <<<"$sd"
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:${GW[$name]}/healthz" && break; sleep 0.1; done
done

# ---- measuring
hz=$(getconf CLK_TCK)
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
# context switches (voluntary + involuntary) of every thread of the processes
switches() { local p; for p in "$@"; do cat /proc/"$p"/task/*/status; done | awk '/ctxt_switches/ {n += $2} END {print n + 0}'; }
ngx_ticks() { ticks "$npid" $(pgrep -P "$npid"); }
redis_cmds() { redis-cli -p "$rport" info stats | awk -F: '/^total_commands_processed/ {print $2 + 0}'; }
per_req() { awk -v d="$1" -v n="$2" -v hz="$hz" 'BEGIN {printf "%.1f", (n > 0) ? (d / hz * 1e6 / n) : 0}'; }
rate() { awk '/^Requests\/sec/ {printf "%.0f", $2}' "$1"; }
total() { awk '/requests in/ {print $1}' "$1"; }
p99() {
    awk '$1 == "99%" {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
         m = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v; printf "%.2f", m}' "$1"
}
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
drive() {   # drive OUT PORT SECS
    wrk -t2 -c"$conns" -d"$3s" --latency -s bench/server/bodies.lua "http://127.0.0.1:$2/access/v1/evaluation" \
        -- "$tmp/requests.tsv" >"$1" 2>&1
    if grep -qE 'Non-2xx|Socket errors' "$1"; then
        grep -E 'Non-2xx|Socket errors' "$1" | sed "s|^|   $(basename "$1"): |" >&2
    fi
}
# one side's round, appended to $tmp/rounds:
#   "ROUND SIDE req/s p99 cpu_us ngx_us switches/req redis_cmds/req redis_us"
side() {   # side NAME ROUND
    local out="$tmp/$1.$2.out" who c0 c1 n0 n1 k0 k1 q0 q1 n x0 x1 perf=
    read -r -a who <<<"${SPIDS[$1]}"
    if [ -n "${PERF_OUT:-}" ]; then
        perf record -q -g -o "$PERF_OUT.$1.$2" -p "$(IFS=,; echo "${who[*]}")" -- sleep "$secs" >/dev/null 2>&1 &
        perf=$!
    fi
    c0=$(ticks "${who[@]}"); n0=$(ngx_ticks); k0=$(redis_cmds); q0=$(ticks "$rpid"); x0=$(switches "${who[@]}")
    drive "$out" "${GW[$1]}" "$secs"
    c1=$(ticks "${who[@]}"); n1=$(ngx_ticks); k1=$(redis_cmds); q1=$(ticks "$rpid"); x1=$(switches "${who[@]}")
    [ -z "$perf" ] || wait "$perf" || true
    n=$(total "$out")
    echo "$2 $1 $(rate "$out") $(p99 "$out") $(per_req $((c1 - c0)) "$n") $(per_req $((n1 - n0)) "$n")" \
        "$(awk -v x=$((x1 - x0)) -v n="$n" 'BEGIN {printf "%.2f", (n > 0) ? x / n : 0}')" \
        "$(awk -v k=$((k1 - k0 - 1)) -v n="$n" 'BEGIN {printf "%.4f", (n > 0) ? k / n : 0}')" \
        "$(per_req $((q1 - q0)) "$n")" >>"$tmp/rounds"
}

echo "== warm-up (1 s each side)" >&2
for sd in "${sides[@]}"; do read -r name _ <<<"$sd"; drive "$tmp/warm.$name" "${GW[$name]}" 1; done
: >"$tmp/rounds"
ns=${#sides[@]}
for r in $(seq "$rounds"); do
    echo "== round $r/$rounds: wrk -t2 -c$conns -d${secs}s, load $(load)" >&2
    # the order turns every round (with two sides: A B, B A, A B ...)
    for k in $(seq 0 $((ns - 1))); do
        read -r name _ <<<"${sides[$(((k + r - 1) % ns))]}"
        side "$name" "$r"
    done
done
load1=$(load)
lost=$(cat "$tmp"/redis*.*/log 2>/dev/null | grep -c 'feed lost' || true)

echo
echo "machine:   $(nproc) CPUs, load average $load0 at the start, $load1 at the end"
echo "requests:  $nreq token-bearing AuthZEN evaluations (6 kinds x $ntok tokens; $allows allowed," \
    "$((nreq - allows)) denied), $nrev revocations known, audit $audit, no approvals, no limits"
echo "sides:     redisN = N replicas, state = redis (one Redis); sqliteN = N replicas, state = sqlite (each its own file)"
echo "           2 threads per replica; one nginx in front (a server block and upstream per side)"
echo "load:      wrk -t2 -c$conns, ${secs} s per side per round, $rounds rounds, the order turning"
echo
echo "round  side        req/s   p99 ms  CPU us/req  nginx us/req  switches/req  redis cmd/req  redis us/req"
awk '{printf "%5d  %-8s %8s %8s %11s %13s %13s %14s %13s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}' "$tmp/rounds"
echo
echo "medians over $rounds rounds:"
for sd in "${sides[@]}"; do
    read -r name _ <<<"$sd"
    for c in 3 4 5 6 7 8; do awk -v s="$name" -v c="$c" '$2 == s {print $c}' "$tmp/rounds" | median; done |
        paste -sd' ' | awk -v s="$name" '{printf "       %-8s %8.0f %8s %11s %13s %13s %14s\n", s, $1, $2, $3, $4, $5, $6}'
done
# per-round ratios of CPU per request: ratio SIDE_A SIDE_B, "ROUND A/B" a line
ratio() {
    awk -v a="$1" -v b="$2" '$2 == a {x[$1] = $5} $2 == b {y[$1] = $5}
        END {for (r in x) if (y[r] > 0) printf "%d %.3f\n", r, x[r] / y[r]}' "$tmp/rounds" | sort -n
}
nrep() { [[ "$1" =~ ([1-9])(t[1-9])?$ ]] && echo "${BASH_REMATCH[1]}"; }
verdict() { awk -v x="$1" 'BEGIN {printf "x%.3f (%+.1f%%): %s", x, (x - 1) * 100, (x <= 1.10) ? "PASS" : "FAIL"}'; }
echo
echo "server CPU per request, A / B: per round, then the median (target for redis/sqlite: within +10%)"
for i in "${!sides[@]}"; do
    for j in "${!sides[@]}"; do
        [ "$i" -lt "$j" ] || continue # each pair once: Redis over SQLite, else more replicas over fewer
        a1=${sides[$i]%% *} b1=${sides[$j]%% *}
        if [[ "$a1" == sqlite* && "$b1" == redis* ]] || { [ "${a1%%[0-9]*}" = "${b1%%[0-9]*}" ] &&
            [ "$(nrep "$a1")" -lt "$(nrep "$b1")" ]; }; then
            t=$a1 a1=$b1 b1=$t
        fi
        case "$a1/$b1" in
            redis3/sqlite1) what="the issue's comparison" ;;
            redis?/sqlite?) [ "${a1#redis}" = "${b1#sqlite}" ] && what="as many replicas: Redis alone" || what= ;;
            sqlite?/sqlite?) what="more processes, no Redis" ;;
            *) what= ;;
        esac
        r=$(ratio "$a1" "$b1" | awk '{print $2}' | median)
        printf '  %-8s / %-8s %-36s median %s\n' "$a1" "$b1" "$(ratio "$a1" "$b1" | awk '{print $2}' | paste -sd' ')" \
            "$(if [[ "$a1" == redis* && "$b1" == sqlite* ]]; then verdict "$r"; else printf 'x%.3f' "$r"; fi)${what:+  ($what)}"
    done
done
if [ "$lost" != 0 ]; then
    echo "revocation feed lost during the run: $lost times (replica logs); the reasons:"
    cat "$tmp"/redis*.*/log | grep 'feed lost' | sed 's/^[^ ]* writ serve: state: revocation feed lost: /  /; s/ (token-bearing.*//' | sort | uniq -c
    echo "  (the replica refuses tokens only after state_stale_after, 5 s, without an answer)"
elif ls "$tmp"/redis*.*/log >/dev/null 2>&1; then
    echo "revocation feed lost during the run: never"
fi
exit 0
