#!/usr/bin/env bash
# run.sh - the decision rate of `writ serve` with the audit log in
# PostgreSQL (audit_sink = postgresql://..., a local PostgreSQL started here
# on a temporary folder) against the SQLite sink (the default), one server
# of each, the example policy set, the same AuthZEN body, wrk.  Rounds
# alternate the two servers, so a change in the machine's load falls on
# both; the summary is the median of each and their ratio.  A third server,
# SQLite with audit_fsync (every commit fsynced, as PostgreSQL's commits
# are by default), is the like-for-like durability comparison.
#
#   [WRIT_BIN=path/to/writ] bench/audit/run.sh [SECONDS] [ROUNDS] [CONNECTIONS]
#                                     (default 5 s, 3 rounds, 32 connections)
# Exit status 0 whatever the numbers, non-zero only when something could
# not run.
set -euo pipefail
secs=${1:-5}
rounds=${2:-3}
conns=${3:-32}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$(pwd)
WRIT=${WRIT_BIN:-$repo/build/release/writ}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$WRIT" ] || { echo "build writ first (cmake --build build/release)" >&2; exit 2; }
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL not installed (scripts/test.sh installs it)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 2; }
TMP=$(mktemp -d /tmp/writ-auditbench.XXXXXX)
PIDS=()
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
    chmod 755 "$TMP"
    as_pg() { runuser -u postgres -- "$@"; }
fi
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    as_pg "$PGBIN/pg_ctl" -D "$TMP/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$TMP/pg/sock"
[ "$(id -u)" = 0 ] && chown -R postgres "$TMP/pg"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PGBIN/initdb" -D "$TMP/pg/data" -A trust -U admin >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$TMP/pg/data" -l "$TMP/pg/log" -w \
    -o "-p $port -k $TMP/pg/sock -c listen_addresses=127.0.0.1" start >/dev/null
psql -X -q -h "$TMP/pg/sock" -p "$port" -U admin -d postgres -c "CREATE DATABASE writ" >/dev/null
EX=(--policies examples/policies.cedar --entities examples/entities.json --schema examples/schema.cedarschema)
start() { # NAME ARGS...: sets ADDR
    local n=$1; shift
    "$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/$n.state" --ready-file "$TMP/$n.ready" --threads 2 \
        "${EX[@]}" "$@" >"$TMP/$n.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do [ -s "$TMP/$n.ready" ] && break; sleep 0.1; done
    [ -s "$TMP/$n.ready" ] || { cat "$TMP/$n.log"; exit 2; }
    ADDR=$(cat "$TMP/$n.ready")
}
start sqlite
A_SQL=$ADDR
start sqlfs --audit-fsync true
A_SQLFS=$ADDR
start pg --audit-sink "postgresql://admin@127.0.0.1:$port/writ" --replica bench
A_PG=$ADDR
cat >"$TMP/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"subject":{"type":"Agent","id":"spiffe://corp.example/agents/alice"},"action":{"name":"read"},"resource":{"type":"Dataset","id":"d1"},"context":{"task":{"id":"t1","purpose":"weekly-report"},"chain_depth":0,"destination":"internal","time":"2025-06-02T14:05:00Z","source_ip":"10.20.0.7"}}'
LUA
rate() { # ADDR: requests/s (non-2xx counted as failures)
    local out
    out=$(timeout $((secs + 20)) wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s -s "$TMP/post.lua" \
        "http://$1/access/v1/evaluation" 2>&1)
    if grep -q Non-2xx <<<"$out"; then echo "non-2xx answers: $out" >&2; fi
    awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out"
}
S=() F=() P=()
for r in $(seq "$rounds"); do
    s=$(rate "$A_SQL"); f=$(rate "$A_SQLFS"); p=$(rate "$A_PG")
    S+=("$s"); F+=("$f"); P+=("$p")
    echo "round $r: sqlite $s/s, sqlite+fsync $f/s, postgresql $p/s"
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms=$(med "${S[@]}"); mf=$(med "${F[@]}"); mp=$(med "${P[@]}")
written=$("$WRIT" audit verify --db "postgresql://admin@127.0.0.1:$port/writ" | head -1)
echo "median: sqlite sink $ms decisions/s, postgresql sink $mp decisions/s, ratio pg/sqlite $(awk -v a="$mp" -v b="$ms" 'BEGIN {printf "%.2f", a / b}')"
echo "        (both fsynced per commit: sqlite audit_fsync $mf decisions/s, ratio pg/sqlite-fsync $(awk -v a="$mp" -v b="$mf" 'BEGIN {printf "%.2f", a / b}'))"
echo "postgresql chain: $written"
