#!/usr/bin/env bash
# audit_pg_attack.sh - the PostgreSQL audit sink against someone who can
# write the database, and against misconfiguration and a stalled database
# (a real PostgreSQL started by this test, as audit_pg.sh):
#   - a replica's history replaced by a writer with another key: verify
#     --jwks with the real key refuses it (the keys in the database would
#     vouch for anything);
#   - rows verify never looked at: a replica with records but no
#     registration, a row with seq 0;
#   - hostile column contents: query prints valid JSON lines, verify escapes
#     a replica name with a newline;
#   - two writers with one replica name, or one state_dir: the second is
#     refused at start; a seq taken by an inserted row, a trigger that drops
#     rows: decisions are denied (503), nothing spooled;
#   - a table locked by someone else: decisions are answered from the spool
#     after the bounded wait, not held for as long as the lock;
#   - rows deleted while a replica was stopped (a cut back to a checkpoint
#     with the checkpoints after it, the replica deleted whole): its anchor
#     makes it refuse to start.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { bad "jq installed"; finish; }

start_pg
psql_admin -c "CREATE USER writ" -c "CREATE DATABASE writ OWNER writ" || { bad "database created"; finish; }
URL="postgresql://writ@127.0.0.1:$pport/writ?connect_timeout=2"
wdb() { DB=writ psql_admin "$@"; }

"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
"$WRIT" keys generate --out "$TMP/evil.pem" >/dev/null || { bad "keys generate"; finish; }
"$WRIT" keys jwks --key "$TMP/k.pem" >"$TMP/real.jwks" || { bad "keys jwks"; finish; }
conf() { printf 'token_keys = %s\naudit_sink = %s\naudit_checkpoint_every = 10\n' "$1" "$URL"; }
conf "$TMP/k.pem" >"$TMP/writ.conf"
conf "$TMP/evil.pem" >"$TMP/evil.conf"

# ask ADDR ID [AGENT]: one decision; prints the status
ask() {
    curl -s -m "${ASK_WAIT:-5}" -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary "$(eval_json "${3:-alice}" read Dataset "$2")" "http://$1/access/v1/evaluation"
}
spooled() { curl -s -m 5 "http://$1/metrics" | awk '/^writ_audit_spooled / {print $2}'; }

start_writ r0 "${EXFILES[@]}" --config "$TMP/writ.conf" --replica r0
A0=$ADDR P0=$WPID
for n in $(seq 1 12); do ask "$A0" "r0-$n" >/dev/null; done
start_writ r1 "${EXFILES[@]}" --config "$TMP/writ.conf" --replica r1
A1=$ADDR P1=$WPID
for n in $(seq 1 12); do ask "$A1" "r1-$n" >/dev/null; done
stop_writ "$P1"

# ---- two writers, one name; two replicas, one state_dir
START_WAIT=30 "$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/dup.state" "${EXFILES[@]}" \
    --config "$TMP/writ.conf" --replica r0 >"$TMP/dup.log" 2>&1 &
dpid=$!
for _ in $(seq 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$dpid" 2>/dev/null && { bad "a second writer named r0 started"; kill "$dpid"; }
wait "$dpid" 2>/dev/null
contains "a second writer with the same name: refused at start" "$(cat "$TMP/dup.log")" \
    "replica r0 is already writing to this database"
"$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/r0.state" "${EXFILES[@]}" \
    --config "$TMP/writ.conf" --replica r9 >"$TMP/share.log" 2>&1 &
dpid=$!
for _ in $(seq 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$dpid" 2>/dev/null && { bad "a second writer on r0's state_dir started"; kill "$dpid"; }
wait "$dpid" 2>/dev/null
contains "a second replica on the same state_dir: refused at start" "$(cat "$TMP/share.log")" \
    "is in use by another writ serve"

# ---- a table locked by someone else: the bounded wait, then the spool
wdb -c "BEGIN; LOCK TABLE writ_audit IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(9); COMMIT;" >/dev/null &
lpid=$!
sleep 0.5
t0=$(date +%s%N)
code=$(ASK_WAIT=20 ask "$A0" locked)
ms=$((($(date +%s%N) - t0) / 1000000))
check "table locked: answered" "$code" 200
[ "$ms" -lt 8000 ] && ok "table locked: answered after the bounded wait ($ms ms), not the lock's 9 s" ||
    bad "table locked: answered after $ms ms"
check "table locked: the record spooled" "$(spooled "$A0")" 1
wait "$lpid"
for _ in $(seq 50); do [ "$(spooled "$A0")" = 0 ] && break; sleep 0.2; done
check "lock released: the spool shipped" "$(spooled "$A0")" 0

# ---- writes the database refuses: denied, not spooled
wdb -c "INSERT INTO writ_audit SELECT replica, seq + 1, time_ms, agent, chain, task, action, resource, decision,
    policies, errors, prev, hash, shadow FROM writ_audit WHERE replica = 'r0' ORDER BY seq DESC LIMIT 1" ||
    bad "row inserted"
check "seq taken by an inserted row: 503" "$(ask "$A0" taken)" 503
check "seq taken: nothing spooled" "$(spooled "$A0")" 0
wdb -c "DELETE FROM writ_audit WHERE replica = 'r0' AND seq = (SELECT max(seq) FROM writ_audit WHERE replica = 'r0')"
check "the inserted row removed: answered again" "$(ask "$A0" free)" 200
wdb -c 'CREATE FUNCTION drop_row() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$' \
    -c "CREATE TRIGGER drop_row BEFORE INSERT ON writ_audit FOR EACH ROW EXECUTE FUNCTION drop_row()" ||
    bad "trigger created"
check "a trigger that drops rows: 503" "$(ask "$A0" dropped)" 503
check "dropped rows: nothing spooled" "$(spooled "$A0")" 0
contains "dropped rows: said why" "$(cat "$TMP/r0.log")" "PostgreSQL stored 0 of 1 records"
wdb -c "DROP TRIGGER drop_row ON writ_audit"
check "the trigger dropped: answered again" "$(ask "$A0" after)" 200
stop_writ "$P0"
v=$("$WRIT" audit verify --jwks "$TMP/real.jwks" --db "$URL"); rc=$?
check "after all that: verify exit 0" "$rc" 0
contains "r0 whole" "$v" "replica r0: ok: 15 records"

# from here on the database is tampered with: each case on a copy
psql_admin -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'writ'" >/dev/null
n=0
copy() {
    n=$((n + 1))
    psql_admin -c "CREATE DATABASE c$n TEMPLATE writ OWNER writ" || bad "copy $n"
    CURL="postgresql://writ@127.0.0.1:$pport/c$n"
}

# ---- r0's history replaced by a writer with another key
copy
DB=c$n psql_admin -c "DELETE FROM writ_audit WHERE replica = 'r0'" \
    -c "DELETE FROM writ_audit_checkpoint WHERE replica = 'r0'" -c "DELETE FROM writ_audit_replica WHERE replica = 'r0'"
conf "$TMP/evil.pem" | sed "s#^audit_sink = .*#audit_sink = $CURL#" >"$TMP/evil.conf"
start_writ evil "${EXFILES[@]}" --config "$TMP/evil.conf" --replica r0
for k in 1 2 3; do ask "$ADDR" "forged-$k" >/dev/null; done
stop_writ "$WPID"
"$WRIT" audit verify --db "$CURL" >/dev/null 2>"$TMP/err"
contains "keys from the database: verify says what that proves" "$(cat "$TMP/err")" "--jwks FILE"
v=$("$WRIT" audit verify --jwks "$TMP/real.jwks" --db "$CURL"); rc=$?
check "history re-signed by another key: verify --jwks exit 1" "$rc" 1
contains "history re-signed: names the key" "$v" "replica r0: BROKEN: checkpoint 0: signed by key"
contains "history re-signed: r1 still whole" "$v" "replica r1: ok"

# ---- rows deleted while r0 was stopped.  verify cannot see a cut back to a
# checkpoint together with the checkpoints after it, nor a replica deleted
# whole; r0's anchor (the last checkpoint it wrote, kept in its state_dir)
# makes it refuse to start on such a database.
a=$(cat "$TMP/r0.state/audit-anchor.json" 2>/dev/null)
check "r0's anchor: its last checkpoint" "$(jq -r .seq <<<"$a" 2>/dev/null)" 15
refused_start() { # refused_start CONF LOGNAME: r0 on its own state_dir must not start
    "$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/r0.state" "${EXFILES[@]}" \
        --config "$1" --replica r0 >"$TMP/$2.log" 2>&1 &
    local p=$!
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && { bad "$2: r0 started"; kill "$p"; }
    wait "$p" 2>/dev/null
}
copy
DB=c$n psql_admin -c "DELETE FROM writ_audit WHERE replica = 'r0' AND seq > 10" \
    -c "DELETE FROM writ_audit_checkpoint WHERE replica = 'r0' AND seq > 10" >/dev/null
"$WRIT" audit verify --jwks "$TMP/real.jwks" --db "$CURL" >/dev/null 2>&1
check "cut back to checkpoint 10, checkpoints and all: verify cannot tell (exit 0)" "$?" 0
conf "$TMP/k.pem" | sed "s#^audit_sink = .*#audit_sink = $CURL#" >"$TMP/cut.conf"
refused_start "$TMP/cut.conf" cut
contains "the cut: r0 refuses to start, naming its anchor" "$(cat "$TMP/cut.log")" \
    "this server wrote checkpoint 15 (anchor $TMP/r0.state/audit-anchor.json), but the log ends at record 10"
check "the cut: nothing written meanwhile" "$(DB=c$n psql_admin -tAc "SELECT count(*) FROM writ_audit WHERE replica = 'r0'")" 10
copy
DB=c$n psql_admin -c "DELETE FROM writ_audit WHERE replica = 'r0'" -c "DELETE FROM writ_audit_checkpoint WHERE replica = 'r0'" \
    -c "DELETE FROM writ_audit_replica WHERE replica = 'r0'" >/dev/null
conf "$TMP/k.pem" | sed "s#^audit_sink = .*#audit_sink = $CURL#" >"$TMP/gone.conf"
refused_start "$TMP/gone.conf" gone
contains "r0 deleted whole: it refuses to start" "$(cat "$TMP/gone.log")" "but the log ends at record 0"
check "a checkpoint it made: no record of r0 written" "$(DB=c$n psql_admin -tAc "SELECT count(*) FROM writ_audit WHERE replica = 'r0'")" 0
echo garbage >"$TMP/bad-anchor.json"
cp "$TMP/r0.state/audit-anchor.json" "$TMP/anchor.keep"
cp "$TMP/bad-anchor.json" "$TMP/r0.state/audit-anchor.json"
refused_start "$TMP/writ.conf" badanchor
contains "a damaged anchor: refused, naming it" "$(cat "$TMP/badanchor.log")" "anchor $TMP/r0.state/audit-anchor.json:1:1: not an anchor"
cp "$TMP/anchor.keep" "$TMP/r0.state/audit-anchor.json"

# ---- rows of an unregistered replica
copy
DB=c$n psql_admin -c "INSERT INTO writ_audit SELECT 'ghost', seq, time_ms, agent, chain, task, action, resource,
    'allow', policies, errors, prev, hash, shadow FROM writ_audit WHERE replica = 'r1'"
v=$("$WRIT" audit verify --jwks "$TMP/real.jwks" --db "$CURL"); rc=$?
check "records of an unregistered replica: exit 1" "$rc" 1
contains "unregistered replica: verified (and broken)" "$v" "replica ghost: BROKEN"

# ---- a row with seq 0
copy
DB=c$n psql_admin -c "INSERT INTO writ_audit SELECT replica, 0, time_ms, agent, chain, task, action, resource,
    'allow', policies, errors, prev, hash, shadow FROM writ_audit WHERE replica = 'r1' AND seq = 1"
v=$("$WRIT" audit verify --jwks "$TMP/real.jwks" --db "$CURL"); rc=$?
check "a row with seq 0: exit 1" "$rc" 1
contains "seq 0: named" "$v" "replica r1: BROKEN: record 0: expected record 1 here"

# ---- hostile contents: query stays JSON lines, verify escapes names
copy
DB=c$n psql_admin -c "UPDATE writ_audit SET policies = '[\"x\"],\"decision\":\"allow\"', errors = E'\\x1b]0;pwned\\x07',
    chain = '{', shadow = E'{\\n\"a\": 1}' WHERE replica = 'r1' AND seq = 2" \
    -c "UPDATE writ_audit_replica SET replica = E'r1\\nreplica r7: ok: 99 records' WHERE replica = 'r1'"
q=$("$WRIT" audit query --db "$CURL" --replica r1)
check "query: one valid JSON object per line" "$(jq -c . <<<"$q" 2>/dev/null | wc -l)" "$(wc -l <<<"$q")"
check "query: no raw control character" "$(tr -d '\n' <<<"$q" | LC_ALL=C grep -c $'[\x01-\x1f]')" 0
check "query: no key injected" "$(sed -n 2p <<<"$q" | jq -r .decision)" deny
check "query: the edited columns as they are" "$(sed -n 2p <<<"$q" | jq -c '[.chain, .policies, .errors, .shadow]')" \
    '["{","[\"x\"],\"decision\":\"allow\"","\u001b]0;pwned\u0007",{"a":1}]'
v=$("$WRIT" audit verify --jwks "$TMP/real.jwks" --db "$CURL"); rc=$?
check "a name with a newline: exit 1" "$rc" 1
check "a name with a newline: no line forged" "$(grep -c '^replica r7' <<<"$v")" 0
contains "a name with a newline: escaped" "$v" 'replica r1\x0areplica r7'

# ---- a replica name PostgreSQL refuses: the reason is logged
"$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/bad.state" "${EXFILES[@]}" \
    --config "$TMP/writ.conf" --replica $'bad\xff' >"$TMP/badname.log" 2>&1
contains "an invalid name: PostgreSQL's reason logged" "$(cat "$TMP/badname.log")" "invalid byte sequence"

for f in r0 r1 evil; do
    grep -q "Sanitizer" "$TMP/$f.log" && bad "$f: sanitizer report: $(grep -m3 Sanitizer -A5 "$TMP/$f.log")"
done
finish
