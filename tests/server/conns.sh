#!/usr/bin/env bash
# conns.sh - 10,000 concurrent keep-alive connections, and past the limit.
#
# A Node client (tests/server/clients/conns.mjs) opens 10,000 connections to
# one server (max_connections 10010), sends an AuthZEN evaluation on each,
# then a second one on each once all are open, and holds them.  Meanwhile:
# fresh requests get their right answers (allow and deny), and 300 more
# connections past the limit get a clear 503 too_many_connections (with
# Connection: close) instead of hanging; the held connections are
# unaffected.  Afterwards the server still answers and stops cleanly.
. "$(dirname "$0")/lib.sh"

N=${WRIT_CONNS:-10000}
command -v node >/dev/null || { echo "skip: node not found"; exit 77; }
need=$((N + 600))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
    echo "skip: the hard open-file limit is $hard, $need needed"; exit 77
fi
ulimit -n "$need" || { echo "skip: cannot raise ulimit -n to $need"; exit 77; }
CLIENT="$REPO/tests/server/clients/conns.mjs"

start_writ conns "${EXFILES[@]}" --timeout 60 --max-connections $((N + 10))
host=${ADDR%:*}; port=${ADDR##*:}
eval_json analyst read Dataset usage-metrics >"$TMP/allow.json"
deny=$(eval_json analyst write Dataset usage-metrics)

# ---- N connections, all open at once, two requests each
HOLD_MS=8000 timeout 240 node "$CLIENT" "$host" "$port" "$N" "$TMP/allow.json" '{"decision":true' 120000 \
    >"$TMP/c1.out" 2>&1 &
c1=$!
for _ in $(seq 2400); do grep -q holding "$TMP/c1.out" && break; kill -0 $c1 2>/dev/null || break; sleep 0.05; done
holding=$(grep -o '"holding":[0-9]*' "$TMP/c1.out" | cut -d: -f2)
check "$N connections open at once" "${holding:-0}" "$N"
rss=$(awk '/VmRSS/ {print $2}' "/proc/$WPID/status")
echo "     server RSS with $N connections: $((rss / 1024)) MiB"
[ "${rss:-0}" -lt $((2048 * 1024)) ] && ok "server memory bounded (${rss} kB)" || bad "server RSS ${rss} kB"

# ---- while they are held: fresh requests are answered correctly
r=$(post /access/v1/evaluation "$(cat "$TMP/allow.json")")
contains "allow answered with $N connections open" "$r" '200 {"decision":true'
r=$(post /access/v1/evaluation "$deny")
contains "deny answered with $N connections open" "$r" '200 {"decision":false'

# ---- 300 more past the limit: a clear refusal, no hang, no crash.  (The
# few that fit in the last free slots are served and held.)
HOLD_MS=4000 timeout 120 node "$CLIENT" "$host" "$port" 300 "$TMP/allow.json" '{"decision":true' 20000 \
    >"$TMP/c2.out" 2>&1 &
c2=$!
for _ in $(seq 600); do grep -q holding "$TMP/c2.out" && break; kill -0 $c2 2>/dev/null || break; sleep 0.05; done
r=$(curl -s -m 5 -i -X POST -H 'Content-Type: application/json' --data-binary @"$TMP/allow.json" \
    "http://$ADDR/access/v1/evaluation" | tr -d '\r')
contains "refusal is 503" "$r" 'HTTP/1.1 503'
contains "refusal closes the connection" "$r" 'Connection: close'
contains "refusal says when to retry" "$r" 'Retry-After: 1'
contains "refusal names the reason" "$r" '"code":"too_many_connections"'
wait $c2
over=$(tail -1 "$TMP/c2.out")
echo "     past the limit: $over"
refused=$(jq -r '.refused' <<<"$over" 2>/dev/null)
[ "${refused:-0}" -ge 250 ] && ok "connections past the limit refused with 503 ($refused)" || bad "refused: $over"
check "every connection past the limit answered, none wrongly" "$(jq -r '"\(.answered1) \(.wrong) \(.errors)"' <<<"$over")" \
    "300 0 0"

# ---- the held connections were never disturbed
wait $c1
res=$(tail -1 "$TMP/c1.out")
echo "     held connections: $res"
check "every held connection answered twice, rightly" "$(jq -r '"\(.right) \(.wrong) \(.refused) \(.closed) \(.errors)"' <<<"$res")" \
    "$((2 * N)) 0 0 0 0"

# ---- after: still serving, metrics sane, clean stop
for _ in $(seq 50); do r=$(req GET /healthz); [[ "$r" == 200* ]] && break; sleep 0.1; done
contains "healthy after" "$r" '200 {"status":"ok"'
r=$(post /access/v1/evaluation "$(cat "$TMP/allow.json")")
contains "allow answered after" "$r" '200 {"decision":true'
m=$(req GET /metrics)
nref=$(grep -o '^writ_connections_refused_total [0-9]*' <<<"$m" | cut -d' ' -f2)
[ "${nref:-0}" -ge "${refused:-1}" ] && ok "refusals counted in /metrics ($nref)" || bad "writ_connections_refused_total: <$nref>"
kill -0 "$WPID" 2>/dev/null && ok "server alive" || bad "server died"
stop_writ "$WPID" TERM
check "clean stop" "$STOP_RC" 0
finish
