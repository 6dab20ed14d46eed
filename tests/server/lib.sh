# lib.sh - sourced by the server tests: start and stop a real `writ serve`,
# HTTP helpers, checks.  Everything listens on 127.0.0.1 on a port the
# kernel picks (listen 127.0.0.1:0 + ready file); everything started is
# stopped on exit (trap), and every wait is bounded.
#
#   WRIT=path/to/writ  (first argument of each test script)
set -uo pipefail

WRIT=${1:?usage: $0 path/to/writ}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EX="$REPO/examples"
# The example set, passed explicitly: `writ serve` has no default policies.
EXFILES=(--policies "$EX/policies.cedar" --entities "$EX/entities.json" --schema "$EX/schema.cedarschema")
TMP=$(mktemp -d /tmp/writ-srvtest.XXXXXX)
PIDS=()
FAILS=0
PASSES=0

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

ok() { PASSES=$((PASSES + 1)); echo "ok   $*"; }
bad() { FAILS=$((FAILS + 1)); echo "FAIL $*"; }
# check NAME ACTUAL EXPECTED
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got <$2> want <$3>"; fi; }
# contains NAME HAYSTACK NEEDLE
contains() { if [[ "$2" == *"$3"* ]]; then ok "$1"; else bad "$1: <$2> lacks <$3>"; fi; }

finish() {
    echo "$PASSES passed, $FAILS failed"
    [ "$FAILS" -eq 0 ]
    exit $?
}

# start_writ NAME [ARGS...]: start a server with its own state dir; sets
# ADDR (host:port) and WPID.  Logs in $TMP/NAME.log.
start_writ() {
    local name=$1; shift
    rm -f "$TMP/$name.ready"
    "$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/$name.state" --ready-file "$TMP/$name.ready" \
        --threads 2 "$@" >"$TMP/$name.log" 2>&1 &
    WPID=$!
    PIDS+=("$WPID")
    for _ in $(seq "${START_WAIT:-100}"); do   # tenths of a second
        [ -s "$TMP/$name.ready" ] && break
        kill -0 "$WPID" 2>/dev/null || break
        sleep 0.1
    done
    if [ ! -s "$TMP/$name.ready" ]; then
        echo "writ serve did not start:"; cat "$TMP/$name.log"
        bad "start $name"; finish
    fi
    ADDR=$(cat "$TMP/$name.ready")
}

# stop_writ PID [SIGNAL]: signal and wait (bounded); sets STOP_RC.
stop_writ() {
    local pid=$1 sig=${2:-TERM}
    kill "-$sig" "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; wait "$pid" 2>/dev/null; STOP_RC=137; else
        wait "$pid" 2>/dev/null; STOP_RC=$?; fi
    # reaped: forget it, so that cleanup never signals a reused pid
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# post PATH JSON: prints "STATUS BODY"
post() {
    curl -s -m 5 -o "$TMP/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary "$2" "http://$ADDR$1" >"$TMP/code"
    echo "$(cat "$TMP/code") $(cat "$TMP/body")"
}
# req METHOD PATH [curl args...]: prints "STATUS BODY"
req() {
    local m=$1 p=$2; shift 2
    curl -s -m 5 -o "$TMP/body" -w '%{http_code}' -X "$m" "$@" "http://$ADDR$p" >"$TMP/code"
    echo "$(cat "$TMP/code") $(cat "$TMP/body")"
}

# An AuthZEN request for the example policies.
CTX='"context":{"task":{"id":"t1","purpose":"weekly-report"},"chain_depth":0,"destination":"internal","time":"2025-06-02T14:05:00Z","source_ip":"10.20.0.7"}'
eval_json() {   # eval_json AGENT ACTION RTYPE RID
    echo "{\"subject\":{\"type\":\"Agent\",\"id\":\"spiffe://corp.example/agents/$1\"},\"action\":{\"name\":\"$2\"},\"resource\":{\"type\":\"$3\",\"id\":\"$4\"},$CTX}"
}

# wrk_eval SECONDS CONNECTIONS BODY-FILE OUT: POST the body to the AuthZEN
# evaluation endpoint with wrk (1 thread); the report goes to OUT.
wrk_eval() {
    local secs=$1 conns=$2 body=$3 out=$4
    cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$body", "rb"); wrk.body = f:read("*a"); f:close()
LUA
    timeout $((secs + 20)) wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s -s "$TMP/post.lua" \
        "http://$ADDR/access/v1/evaluation" >"$out" 2>&1
}
# Counts from a wrk report.
wrk_total() { awk '/requests in/ {print $1}' "$1"; }
wrk_non2xx() { awk '/Non-2xx/ {print $NF}' "$1" | grep . || echo 0; }
wrk_sockerr() { awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$1" | grep . || echo 0; }

# free_port: a TCP port nothing listens on now (for servers that cannot be
# told to pick one, like nginx).  Taken below the kernel's ephemeral range
# when there is room, so it cannot be a client socket's port (conns.sh
# leaves thousands of those in TIME_WAIT).  Never one it gave before in
# this test ($TMP/ports), though nothing listens on that one yet: a=$(free_port);
# b=$(free_port) once made nginx serve two servers on one port.
free_port() {
    local p used lo span=40000
    used=$(ss -Htan 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}' | sort -u)
    [ -f "$TMP/ports" ] && used+=$'\n'$(cat "$TMP/ports")
    lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    [ "${lo:-0}" -gt 21000 ] && span=$((lo - 20000))
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % span))
        grep -qx "$p" <<<"$used" || { echo "$p" >>"$TMP/ports"; echo "$p"; return; }
    done
    echo 0
}

# start_redis_plain: a redis-server of the test's own on a free port (rport),
# nothing persisted, stopped with the test.
start_redis_plain() {
    command -v redis-server >/dev/null || { bad "redis-server installed (scripts/test.sh installs it)"; finish; }
    rport=$(free_port)
    mkdir -p "$TMP/redis"
    redis-server --port "$rport" --bind 127.0.0.1 --dir "$TMP/redis" --save "" --appendonly no \
        --daemonize no --loglevel warning >"$TMP/redis/out.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
    [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] || { cat "$TMP/redis/out.log"; bad "redis-server started"; finish; }
}

# admin_secret: a random admin secret in $TMP/admin.secret (admin_token_file),
# and in ADMIN.
admin_secret() {
    head -c 48 /dev/urandom | base64 | tr -d '\n/+=' >"$TMP/admin.secret"
    ADMIN=$(cat "$TMP/admin.secret")
}

# start_pg: a PostgreSQL of the test's own (initdb/pg_ctl on $TMP/pg, as an
# unprivileged user when run as root, a free port pport, its unix socket in
# the folder), stopped on exit; pg_start / pg_stop restart it, psql_admin
# runs psql as its superuser (DB=NAME: on that database).
start_pg() {
    PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
    [ -x "$PGBIN/initdb" ] || { bad "PostgreSQL installed (scripts/test.sh installs it)"; finish; }
    # PostgreSQL refuses to run as root: as the postgres user (the
    # package's) or nobody, in a folder it owns.
    PGD="$TMP/pg"
    mkdir -p "$PGD/sock"
    as_pg() { "$@"; }
    if [ "$(id -u)" = 0 ]; then
        PG_RUN_AS=postgres
        id -u postgres >/dev/null 2>&1 || PG_RUN_AS=nobody
        chmod 755 "$TMP"
        chown -R "$PG_RUN_AS" "$PGD"
        as_pg() { runuser -u "$PG_RUN_AS" -- "$@"; }
    fi
    pport=$(free_port)
    as_pg "$PGBIN/initdb" -D "$PGD/data" -A trust -U admin >"$TMP/initdb.log" 2>&1 ||
        { cat "$TMP/initdb.log"; bad "initdb"; finish; }
    # stopped on exit whatever happens
    trap 'pg_stop 2>/dev/null; cleanup' EXIT
    pg_start
}
pg_start() {
    as_pg "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/log" -w -t 30 \
        -o "-p $pport -k $PGD/sock -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null ||
        { cat "$PGD/log"; bad "PostgreSQL started"; finish; }
}
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$PGD/data" -m fast -w -t 30 stop >/dev/null; }
psql_admin() { psql -X -q -h "$PGD/sock" -p "$pport" -U admin -d "${DB:-postgres}" -v ON_ERROR_STOP=1 "$@"; }
