#!/usr/bin/env bash
# reload.sh - policies swap atomically under load: on file change and on
# SIGHUP, not one request fails; an invalid new set is refused with its
# error logged and the old one keeps deciding.
. "$(dirname "$0")/lib.sh"

cp "$EX/policies.cedar" "$TMP/policies.cedar"
start_writ reload "${EXFILES[@]}" --policies "$TMP/policies.cedar" --reload-poll 1
eval_json analyst read Dataset usage-metrics >"$TMP/allow.json"
decision() { post /access/v1/evaluation "$(cat "$TMP/allow.json")" | sed 's/^200 {"decision":\([a-z]*\).*/\1/'; }
check "before reload" "$(decision)" true

# An extra forbid, appended (written to a temp file and renamed in, as editors do).
forbid='@id("stop-analyst") forbid (principal == Writ::Agent::"spiffe://corp.example/agents/analyst", action, resource);'
swap_in() { cat "$1" >"$TMP/p.new"; mv "$TMP/p.new" "$TMP/policies.cedar"; }
{ cat "$EX/policies.cedar"; echo "$forbid"; } >"$TMP/with-forbid.cedar"

# Load for 6 s while the set changes four times (file change, SIGHUP).
wrk_eval 6 16 "$TMP/allow.json" "$TMP/wrk.out" &
wrk_pid=$!
sleep 1; swap_in "$TMP/with-forbid.cedar"
sleep 1.5; cp "$EX/policies.cedar" "$TMP/p.new"; mv "$TMP/p.new" "$TMP/policies.cedar"; kill -HUP "$WPID"
sleep 1; swap_in "$TMP/with-forbid.cedar"; kill -HUP "$WPID"
sleep 1; swap_in "$EX/policies.cedar"
wait "$wrk_pid"
total=$(wrk_total "$TMP/wrk.out")
echo "   (wrk: $total requests during reloads)"
[ "${total:-0}" -gt 100 ] && ok "load ran ($total requests)" || bad "load ran: $(cat "$TMP/wrk.out")"
check "no failed request during reloads (non-2xx)" "$(wrk_non2xx "$TMP/wrk.out")" 0
check "no socket errors during reloads" "$(wrk_sockerr "$TMP/wrk.out")" 0
n=$(grep -c 'reloaded' "$TMP/reload.log")
[ "$n" -ge 3 ] && ok "reloads happened ($n)" || bad "reloads happened: $n; $(cat "$TMP/reload.log")"

# The set in force now is the original: allow.  Then a forbid: deny.
sleep 1.5
check "after reloads" "$(decision)" true
swap_in "$TMP/with-forbid.cedar"; sleep 2.5
check "file change picked up" "$(decision)" false

# An invalid set is refused; the forbid stays in force.
printf 'permit (principal, action, resource) when { oops' >"$TMP/p.new"; mv "$TMP/p.new" "$TMP/policies.cedar"
sleep 2.5
check "invalid set keeps the old one" "$(decision)" false
contains "invalid set logged" "$(cat "$TMP/reload.log")" "refused, the previous policies stay in force: $TMP/policies.cedar:1:"
kill -HUP "$WPID"; sleep 0.5
check "SIGHUP with an invalid set keeps the old one" "$(decision)" false
m=$(curl -s -m 5 "http://$ADDR/metrics")
contains "metrics reload errors" "$m" 'writ_policy_reloads_total{result="error"} 2'
r=$(req GET /healthz); contains "healthy after a refused reload" "$r" '"status":"ok"'

# Fixed: picked up again.
cp "$EX/policies.cedar" "$TMP/policies.cedar"; kill -HUP "$WPID"; sleep 0.5
check "fixed set reloads" "$(decision)" true
finish
