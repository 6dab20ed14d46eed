#!/usr/bin/env bash
# crash.sh - the audit log under load: kill -9 mid-write, restart, the chain
# verifies and keeps growing; SIGTERM under load loses no decision that was
# answered; tampering is caught by `writ audit verify`.
. "$(dirname "$0")/lib.sh"

eval_json analyst read Dataset usage-metrics >"$TMP/allow.json"

# ---- kill -9 during load
start_writ crash "${EXFILES[@]}"
wrk_eval 3 16 "$TMP/allow.json" "$TMP/wrk1.out" &
wrk_pid=$!
sleep 1.5
kill -KILL "$WPID"
wait "$wrk_pid"
v=$("$WRIT" audit verify --state-dir "$TMP/crash.state"); rc=$?
check "verify after kill -9" "$rc" 0
before=$(sed -n 's/^ok: \([0-9]*\) records.*/\1/p' <<<"$v")
[ "${before:-0}" -gt 0 ] && ok "records before the crash ($before)" || bad "no records before the crash: $v"

# ---- restart on the same state, more load, then SIGTERM under load
start_writ crash "${EXFILES[@]}"
wrk_eval 3 16 "$TMP/allow.json" "$TMP/wrk2.out" &
wrk_pid=$!
sleep 1.5
stop_writ "$WPID" TERM
wait "$wrk_pid"
check "exit status after SIGTERM under load" "$STOP_RC" 0
v=$("$WRIT" audit verify --state-dir "$TMP/crash.state"); rc=$?
check "verify after restart and SIGTERM" "$rc" 0
after=$(sed -n 's/^ok: \([0-9]*\) records.*/\1/p' <<<"$v")
answered=$(( $(wrk_total "$TMP/wrk2.out") - $(wrk_non2xx "$TMP/wrk2.out") ))
echo "   ($before records before the crash, $answered answered after the restart, $after records in all)"
[ "$((after - before))" -ge "$answered" ] && ok "every answered decision is in the log" \
    || bad "answered $answered, logged $((after - before))"
contains "drain logged" "$(cat "$TMP/crash.log")" "audit log closed"

# ---- tampering is caught
db="$TMP/crash.state/writ.db"
cp "$db" "$TMP/copy.db"
sqlite3 "$TMP/copy.db" "UPDATE audit SET resource = 'Writ::Dataset::\"other\"' WHERE seq = 3"
v=$("$WRIT" audit verify --db "$TMP/copy.db" --jwks "$TMP/crash.state/audit-keys.jwks"); rc=$?
check "edited record: exit 1" "$rc" 1
contains "edited record named" "$v" "BROKEN: record 3: hash does not match"
cp "$db" "$TMP/copy2.db"
sqlite3 "$TMP/copy2.db" "DELETE FROM audit WHERE seq = 5"
v=$("$WRIT" audit verify --db "$TMP/copy2.db" --jwks "$TMP/crash.state/audit-keys.jwks"); rc=$?
check "deleted record: exit 1" "$rc" 1
contains "deleted record named" "$v" "BROKEN: record 6: expected record 5"
finish
