#!/usr/bin/env bash
# audit_pg.sh - audit_sink = postgresql://...: a real PostgreSQL started by
# this test (initdb/pg_ctl on a temporary folder, as an unprivileged user
# when run as root, a free port, its unix socket in the temporary folder):
#   - three replicas write one database, each its own chain; writ audit
#     verify checks every chain, query prints the replica, ordered by seq;
#   - PostgreSQL stopped for 30 s while a client keeps asking: every decision
#     answered has its record, in order, and every chain verifies afterwards;
#   - the spool bound: refuse (503) and drop (decisions go on, counted);
#   - a row edited in PostgreSQL: verify fails naming the replica and seq.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { bad "jq installed"; finish; }
OUTAGE=${AUDIT_PG_OUTAGE:-30}

start_pg
# an empty database and a user that may create tables in it
psql_admin -c "CREATE USER writ" -c "CREATE DATABASE writ OWNER writ" || { bad "database created"; finish; }
URL="postgresql://writ@127.0.0.1:$pport/writ?connect_timeout=2"

"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
cat >"$TMP/writ.conf" <<CONF
token_keys = $TMP/k.pem
audit_sink = $URL
audit_checkpoint_every = 50
CONF

declare -a ADDRS RP
for i in 0 1 2; do
    start_writ "r$i" "${EXFILES[@]}" --config "$TMP/writ.conf" --replica "r$i"
    ADDRS[$i]=$ADDR
    RP[$i]=$WPID
done
contains "the log says where" "$(cat "$TMP/r0.log")" "audit log in PostgreSQL (replica r0)"
DB=writ psql_admin -tA -c "\\dt" >"$TMP/tables"
contains "tables created by writ" "$(cat "$TMP/tables")" "writ_audit|table|writ"

# ask NAME ID: one decision on replica NAME (index), resource Dataset ID; prints the status
ask() {
    curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary "$(eval_json alice read Dataset "$2")" "http://${ADDRS[$1]}/access/v1/evaluation"
}
for i in 0 1 2; do
    for n in $(seq 1 60); do ask "$i" "r$i-$n" >/dev/null; done
done
v=$("$WRIT" audit verify --db "$URL"); rc=$?
check "verify: exit 0" "$rc" 0
for i in 0 1 2; do contains "verify: replica r$i whole" "$v" "replica r$i: ok: 60 records, chain whole"; done
q=$("$WRIT" audit query --db "$URL" --replica r1)
check "query: one replica's records" "$(jq -s length <<<"$q")" 60
check "query: ordered by seq" "$(jq -s '[.[].seq] == ([.[].seq] | sort)' <<<"$q")" true
check "query: the replica printed" "$(jq -r .replica <<<"$q" | sort -u)" r1
check "query: in request order" "$(jq -r .resource <<<"$q" | head -3 | tr '\n' ' ')" \
    'Writ::Dataset::"r1-1" Writ::Dataset::"r1-2" Writ::Dataset::"r1-3" '
all=$("$WRIT" audit query --db "$URL" | jq -r .replica | uniq | tr '\n' ' ')
check "query: every replica, by replica then seq" "$all" "r0 r1 r2 "

# ---- PostgreSQL down for $OUTAGE s under load: nothing answered is lost
echo "# PostgreSQL stopped for $OUTAGE s"
pg_stop
: >"$TMP/answered"
end=$((SECONDS + OUTAGE))
n=0
while [ "$SECONDS" -lt "$end" ]; do
    n=$((n + 1))
    i=$((n % 3))
    [ "$(ask "$i" "out-$n")" = 200 ] && echo "r$i out-$n" >>"$TMP/answered"
done
m=$(curl -s -m 5 "http://${ADDRS[0]}/metrics")
sp=$(awk '/^writ_audit_spooled / {print $2}' <<<"$m")
[ "${sp:-0}" -gt 0 ] && ok "records spooled while PostgreSQL is down ($sp on r0)" || bad "spooled: <$sp>"
total=$(wc -l <"$TMP/answered")
# every one answered (the spool has room), and enough of them to mean something
[ "$total" -eq "$n" ] && [ "$total" -ge 10 ] && ok "decisions answered while PostgreSQL was down: $total of $n" ||
    bad "answered: $total of $n"
pg_start
for _ in $(seq 100); do
    s=0
    for i in 0 1 2; do
        s=$((s + $(curl -s -m 5 "http://${ADDRS[$i]}/metrics" | awk '/^writ_audit_spooled / {print $2}')))
    done
    [ "$s" = 0 ] && break
    sleep 0.2
done
check "spools shipped" "$s" 0
v=$("$WRIT" audit verify --db "$URL"); rc=$?
check "verify after the outage: exit 0" "$rc" 0
for i in 0 1 2; do contains "verify after the outage: r$i whole" "$v" "replica r$i: ok"; done
missing=0 order=0
for i in 0 1 2; do
    "$WRIT" audit query --db "$URL" --replica "r$i" | jq -r '.resource' | sed -n 's/^Writ::Dataset::"\(out-[0-9]*\)"$/\1/p' \
        >"$TMP/logged.r$i"
    awk -v r="r$i" '$1 == r {print $2}' "$TMP/answered" >"$TMP/want.r$i"
    # every answered decision is logged, in the order answered (seq order)
    grep -vxFf "$TMP/logged.r$i" "$TMP/want.r$i" >"$TMP/miss.r$i"
    missing=$((missing + $(wc -l <"$TMP/miss.r$i")))
    grep -xFf "$TMP/want.r$i" "$TMP/logged.r$i" | cmp -s - "$TMP/want.r$i" || order=$((order + 1))
done
check "every decision answered during the outage has its record" "$missing" 0
check "in the order answered" "$order" 0

# ---- the spool bound
stop_writ "${RP[2]}"
cat >"$TMP/small.conf" <<CONF
token_keys = $TMP/k.pem
audit_sink = $URL
audit_spool_max = 20
CONF
start_writ refuse "${EXFILES[@]}" --config "$TMP/small.conf" --replica refuse
ADDRS[3]=$ADDR
printf 'audit_spool_full = drop\n' >>"$TMP/small.conf"
start_writ drop "${EXFILES[@]}" --config "$TMP/small.conf" --replica drop
ADDRS[4]=$ADDR
pg_stop
codes3="" codes4=""
for n in $(seq 1 40); do
    codes3+="$(ask 3 "full-$n") "
    codes4+="$(ask 4 "full-$n") "
done
c200=$(tr ' ' '\n' <<<"$codes3" | grep -c '^200$') c503=$(tr ' ' '\n' <<<"$codes3" | grep -c '^503$')
check "refuse: the first 20 answered (spooled)" "$c200" 20
check "refuse: then 503 (fail closed)" "$c503" 20
check "drop: every decision answered" "$(tr ' ' '\n' <<<"$codes4" | grep -c '^200$')" 40
m=$(curl -s -m 5 "http://${ADDRS[4]}/metrics")
contains "drop: the dropped records counted" "$m" "writ_audit_dropped_total 20"
pg_start
for _ in $(seq 100); do
    s=0
    for i in 3 4; do
        s=$((s + $(curl -s -m 5 "http://${ADDRS[$i]}/metrics" | awk '/^writ_audit_spooled / {print $2}')))
    done
    [ "$s" = 0 ] && break
    sleep 0.2
done
check "bounded spools shipped" "$s" 0
v=$("$WRIT" audit verify --db "$URL"); rc=$?
check "verify with the bounded replicas: exit 0" "$rc" 0
contains "refuse: 20 records" "$v" "replica refuse: ok: 20 records"
contains "drop: 20 records (the dropped ones never chained)" "$v" "replica drop: ok: 20 records"

# ---- tampering in PostgreSQL
DB=writ psql_admin -c "UPDATE writ_audit SET resource = 'Writ::Dataset::\"forged\"' WHERE replica = 'r1' AND seq = 7" ||
    bad "tamper"
v=$("$WRIT" audit verify --db "$URL"); rc=$?
check "tampered: exit 1" "$rc" 1
contains "tampered: names the replica and seq" "$v" "replica r1: BROKEN: record 7: hash does not match"
contains "tampered: the other chains still whole" "$v" "replica r0: ok"

# every replica stops cleanly (closing checkpoint; no sanitizer report)
for p in "${PIDS[@]}"; do stop_writ "$p"; done
for f in r0 r1 refuse drop; do
    grep -q "Sanitizer" "$TMP/$f.log" && bad "$f: sanitizer report: $(grep -m3 Sanitizer -A5 "$TMP/$f.log")"
done
contains "closing checkpoint written" "$(cat "$TMP/r0.log")" "audit log closed"
finish
