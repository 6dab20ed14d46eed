#!/usr/bin/env bash
# audit_leave.sh - clients that leave before their answer: a decision is
# held until the pass that holds its record commits (durable.c), and a
# client may close its connection meanwhile.  Every such decision is still
# recorded once, the server keeps answering, the chain verifies and the
# server stops cleanly (under ASan: no use of the request after it is gone).
. "$(dirname "$0")/lib.sh"
LEAVE="$(dirname "$0")/clients/leave_early.py"

start_writ leave "${EXFILES[@]}"
jq -c '{subject: {type: .principal.type, id: .principal.id}, action: {name: .action.id},
        resource: {type: .resource.type, id: .resource.id}, context: .context}' \
    "$EX/requests/01-analyst-reads-metrics.json" >"$TMP/body.json"
sent=$(python3 "$LEAVE" "$ADDR" "$TMP/body.json" 8 150)
check "every request sent" "$sent" 1200
r=$(post /access/v1/evaluation "$(cat "$TMP/body.json")")
check "still answering" "${r%% *}" 200
# A request whose client has gone before libmicrohttpd hands it over (it
# read the end of the stream first) is never decided: count what was.
# (read until it stops moving: the last leavers may still be in a pass)
decided() { curl -s -m 5 "http://$ADDR/metrics" | awk '/^writ_decisions_total/ {n += $2} END {print n + 0}'; }
made=$(decided)
for _ in $(seq 20); do sleep 0.3; m2=$(decided); [ "$m2" = "$made" ] && break; made=$m2; done
[ "$made" -ge 1100 ] && [ "$made" -le 1201 ] && ok "decided: $made of 1201" || bad "decided: $made of 1201"
stop_writ "$WPID" TERM
check "stops cleanly" "$STOP_RC" 0
v=$("$WRIT" audit verify --state-dir "$TMP/leave.state"); rc=$?
check "verify" "$rc" 0
n=$("$WRIT" audit query --state-dir "$TMP/leave.state" | wc -l)
check "one record per decision, answered or not" "$n" "$made"
if grep -q -E "AddressSanitizer|LeakSanitizer|runtime error" "$TMP/leave.log"; then
    bad "sanitizer report"; sed -n '1,40p' "$TMP/leave.log"
else
    ok "no sanitizer report"
fi
finish
