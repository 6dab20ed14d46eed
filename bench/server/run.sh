#!/usr/bin/env bash
# run.sh - Writ's AuthZEN evaluation against nginx returning a fixed 200,
# with wrk on 127.0.0.1, in one run.
#
#   [WRIT_BIN=path/to/writ] bench/server/run.sh [SECONDS] [CONNECTIONS] [ROUNDS]
#                                        (default 10 s, 64 connections, 1 round)
#
# Writ decides every request against a 100-policy agent set (the 14 example
# policies + 86 generated ones of the same shapes) with the audit log on
# (SQLite, WAL); nginx answers a fixed JSON body.  Both get 2 worker
# threads/processes and the same ~300-byte JSON POST.  Prints both request
# rates, p99 latencies and the ratio (with ROUNDS > 1: alternating rounds and
# their medians); the targets are >= 60% of nginx and
# p99 < 5 ms.  Exit status 0 whatever the numbers (a benchmark, not a test),
# non-zero only when something could not run.
set -euo pipefail
secs=${1:-10}
conns=${2:-64}
rounds=${3:-1}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$(pwd)
. scripts/deps.sh
install_deps cmake gcc pkg-config libjansson-dev libssl-dev libsqlite3-dev libmicrohttpd-dev libcmocka-dev \
    nginx-light:nginx wrk curl

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

# ---- the 100-policy set
{
    cat examples/policies.cedar
    for i in $(seq 0 85); do
        case $((i % 4)) in
        0) echo "@id(\"gen-invoke-$i\") permit (principal, action == Writ::Action::\"invoke\", resource == Writ::Tool::\"tool-$i\") when { principal.trust_level >= $((i % 5)) && context.task.purpose == \"purpose-$i\" };" ;;
        1) echo "@id(\"gen-read-$i\") permit (principal in Writ::Team::\"team-$i\", action == Writ::Action::\"read\", resource) when { resource.sensitivity <= principal.trust_level && context.destination == \"internal\" };" ;;
        2) echo "@id(\"gen-forbid-$i\") forbid (principal == Writ::Agent::\"spiffe://corp.example/agents/gen-$i\", action, resource) when { context.chain_depth > $((i % 3)) };" ;;
        3) echo "@id(\"gen-write-$i\") permit (principal, action == Writ::Action::\"write\", resource is Writ::Ticket) when { resource.owner_team == \"team-$i\" && principal.team == \"team-$i\" && context.task.purpose like \"triage*\" };" ;;
        esac
    done
} >"$tmp/policies.cedar"
npol=$(grep -c '^@id' "$tmp/policies.cedar")

# ---- the request (the same JSON body for both servers)
cat >"$tmp/body.json" <<'JSON'
{"subject":{"type":"Agent","id":"spiffe://corp.example/agents/analyst"},"action":{"name":"read"},"resource":{"type":"Dataset","id":"usage-metrics"},"context":{"task":{"id":"task-77","purpose":"weekly-report"},"chain_depth":0,"destination":"internal","time":"2025-06-02T14:05:00Z","source_ip":"10.20.0.7"}}
JSON
cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$tmp/body.json", "rb"); wrk.body = f:read("*a"); f:close()
LUA

# ---- Writ
"$writ" serve --listen 127.0.0.1:0 --ready-file "$tmp/writ.ready" --state-dir "$tmp/state" --threads 2 \
    --policies "$tmp/policies.cedar" --entities examples/entities.json --schema examples/schema.cedarschema \
    --audit true >"$tmp/writ.log" 2>&1 &
wpid=$!
pids+=("$wpid")
for _ in $(seq 100); do [ -s "$tmp/writ.ready" ] && break; sleep 0.1; done
[ -s "$tmp/writ.ready" ] || { cat "$tmp/writ.log"; echo "writ did not start" >&2; exit 1; }
waddr=$(cat "$tmp/writ.ready")
answer=$(curl -s -X POST -H 'Content-Type: application/json' --data-binary @"$tmp/body.json" "http://$waddr/access/v1/evaluation")
case "$answer" in '{"decision":true'*) ;; *) echo "unexpected answer from writ: $answer" >&2; exit 1 ;; esac

# ---- nginx with a fixed answer
port=$(free_port)
mkdir -p "$tmp/ngx"
cat >"$tmp/nginx.conf" <<CONF
worker_processes 2;
pid $tmp/ngx/nginx.pid;
error_log $tmp/ngx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $tmp/ngx/body; proxy_temp_path $tmp/ngx/proxy;
    fastcgi_temp_path $tmp/ngx/fastcgi; uwsgi_temp_path $tmp/ngx/uwsgi; scgi_temp_path $tmp/ngx/scgi;
    keepalive_requests 1000000;
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
nginx -c "$tmp/nginx.conf" -p "$tmp/ngx" -g 'daemon off;' >"$tmp/ngx/out.log" 2>&1 &
pids+=($!)
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
    wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$tmp/post.lua" "$2" >"$tmp/$1.out" 2>&1
    grep -E 'requests in|Non-2xx|Socket errors' "$tmp/$1.out" | sed 's/^/   /' >&2
}
# server CPU per request (user + system), steadier than the rate on a shared machine
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Rounds alternate Writ and nginx, so that a change in the machine's load
# falls on both; the summary is the median over the rounds.
: >"$tmp/rounds"
for r in $(seq "$rounds"); do
    c0=$(cpu "$wpid")
    bench "writ.$r" "http://$waddr/access/v1/evaluation"
    c1=$(cpu "$wpid")
    bench "nginx.$r" "http://127.0.0.1:$port/"
    wr=$(rate "$tmp/writ.$r.out"); nr=$(rate "$tmp/nginx.$r.out")
    wreq=$(awk '/requests in/ {print $1}' "$tmp/writ.$r.out")
    wcpu=$(awk -v a="$c0" -v b="$c1" -v n="$wreq" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", (n > 0) ? ((b - a) / hz * 1e6 / n) : 0}')
    ratio=$(awk -v a="$wr" -v b="$nr" 'BEGIN {printf "%.1f", (b > 0) ? (100 * a / b) : 0}')
    echo "$wr $(p99 "$tmp/writ.$r.out") $wcpu $nr $(p99 "$tmp/nginx.$r.out") $ratio" >>"$tmp/rounds"
done

kill -TERM "$wpid"; wait "$wpid" 2>/dev/null || true
audit=$("$writ" audit verify --state-dir "$tmp/state" || true)

col() { awk -v c="$1" '{print $c}' "$tmp/rounds" | median; }
echo
echo "policies:        $npol (audit on; $audit)"
if [ "$rounds" -gt 1 ]; then
    echo "round   writ req/s  p99 ms  CPU us/req   nginx req/s  p99 ms   ratio"
    awk '{printf "%5d  %11.0f  %6s  %10s  %12.0f  %6s  %5s%%\n", NR, $1, $2, $3, $4, $5, $6}' "$tmp/rounds"
    echo "median of $rounds rounds:"
fi
printf 'writ  AuthZEN:   %10.0f req/s   p99 %s ms   server CPU %s us/req\n' "$(col 1)" "$(col 2)" "$(col 3)"
printf 'nginx fixed 200: %10.0f req/s   p99 %s ms\n' "$(col 4)" "$(col 5)"
echo "ratio:           $(col 6)% of nginx (target >= 60%), writ p99 $(col 2) ms (target < 5 ms)"
