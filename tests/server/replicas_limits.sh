#!/usr/bin/env bash
# replicas_limits.sh - approvals and task-history limits across three
# `writ serve` replicas sharing one real redis-server (state = redis://...):
#   - 32 concurrent identical requests, spread over the three replicas,
#     consume ONE approval once: exactly one is allowed;
#   - an approval asked on one replica is seen pending on another and
#     approved on a third;
#   - a limit counted across replicas: 5 allowed, then denied, whichever
#     replica answers; its context.history value grows on every replica;
#     40 requests at once over the three: exactly 5 allowed;
#   - a request denied anyway takes nothing: a flood of payments over the
#     cap (each denied by another forbid) never denies the agent's small
#     payments under a sum limit;
#   - a limit survives a replica's kill -9 and restart on an EMPTY state
#     folder (the count is in Redis alone, nothing in the replica);
#   - the MCP gateway's -32002: held on one replica, approved on another,
#     forwarded once, then held again on the third (single use);
#   - /metrics shows the limits (backend, events counted).
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { bad "jq installed"; finish; }

start_redis_plain # sets rport

# an MCP upstream (the SDK's server) for the gateway's -32002, when node is there
PEERS="$REPO/tests/peers"
XPORT=
if command -v node >/dev/null && [ -d "$PEERS/node_modules/@modelcontextprotocol/sdk" ]; then
    LOG="$TMP/echo.log" node "$REPO/tests/mcp/echo_upstream.mjs" >"$TMP/echo.port" 2>"$TMP/echo.err" &
    PIDS+=($!)
    for _ in $(seq 100); do [ -s "$TMP/echo.port" ] && break; sleep 0.1; done
    XPORT=$(head -1 "$TMP/echo.port")
fi

"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
admin_secret
cat >"$TMP/p.cedar" <<'CEDAR'
@id("deploy-production")
@approval("required")
permit (principal, action == Writ::Action::"deploy", resource is Writ::Service);

@id("write-all")
permit (principal, action == Writ::Action::"write", resource);

@id("writes-per-task")
forbid (principal, action == Writ::Action::"write", resource)
when { context.history.writes_per_task >= 5 };

@id("pay-all")
permit (principal, action == Writ::Action::"pay", resource);

@id("paid-today")
forbid (principal, action == Writ::Action::"pay", resource)
when { context.history.paid_today.greaterThanOrEqual(decimal("1000.0")) };

@id("amount-cap")
forbid (principal, action == Writ::Action::"pay", resource)
when { context.amount.greaterThan(decimal("100.0")) };

@id("mcp-add")
@approval("required")
permit (principal, action == Writ::Action::"echo/add", resource == Writ::McpServer::"echo");
CEDAR
echo '[]' >"$TMP/e.json"
cat >"$TMP/writ.conf" <<CONF
policies = $TMP/p.cedar
entities = $TMP/e.json
token_keys = $TMP/k.pem
admin_token_file = $TMP/admin.secret
state = redis://127.0.0.1:$rport/0
public_url = https://writ.example/
limit = writes_per_task 1h write per task
limit = paid_today 1d pay sum context.amount per agent
CONF
[ -n "$XPORT" ] && echo "mcp_upstream = echo http://127.0.0.1:$XPORT/mcp" >>"$TMP/writ.conf"
declare -a ADDRS RPIDS
for i in 0 1 2; do
    start_writ "r$i" --config "$TMP/writ.conf" --replica "r$i" --threads 8
    ADDRS[$i]=$ADDR
    RPIDS[$i]=$WPID
done
contains "limits on the shared state" "$(cat "$TMP/r0.log")" "2 task-history limits (state redis)"

code() { echo "${1%% *}"; }
body() { echo "${1#* }"; }
# at N PATH JSON: POST to replica N
at() { ADDR=${ADDRS[$1]} post "$2" "$3"; }
dec() { # dec N ID JSON: decide approval ID on replica N as admin
    ADDR=${ADDRS[$1]} req POST "/approvals/$2" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' --data "$3"
}

# ---- one approval, 32 concurrent identical requests over three replicas
DEPLOY='{"subject":{"type":"Agent","id":"ci-bot"},"action":{"name":"deploy"},"resource":{"type":"Service","id":"payments"},"context":{"task":{"id":"t1","purpose":"release"},"chain":["root-bot","ci-bot"],"input":{"version":"1.2.3"}}}'
r=$(at 0 /access/v1/evaluation "$DEPLOY")
check "held on r0: pending" "$(body "$r" | jq -r .context.approval.status)" pending
A1=$(body "$r" | jq -r .context.approval.id)
r=$(at 1 /access/v1/evaluation "$DEPLOY")
check "asked on r1: the same pending approval" "$(body "$r" | jq -r .context.approval.id)" "$A1"
r=$(dec 2 "$A1" '{"decision":"approve","reason":"ok"}')
check "approved on r2" "$(code "$r") $(body "$r" | jq -r .status)" "200 approved"
mkdir -p "$TMP/race"
CURLS=()
for i in $(seq 0 31); do
    curl -s -m 10 -X POST -H 'Content-Type: application/json' --data-binary "$DEPLOY" \
        "http://${ADDRS[$((i % 3))]}/access/v1/evaluation" >"$TMP/race/$i" &
    CURLS+=($!)
done
wait "${CURLS[@]}"
check "32 answers" "$(cat "$TMP"/race/* | jq -s length)" 32
check "32 concurrent over 3 replicas: exactly one allowed" \
    "$(cat "$TMP"/race/* | jq -s '[.[] | select(.decision == true)] | length')" 1
check "the allowed one consumed A1" \
    "$(cat "$TMP"/race/* | jq -r -s '.[] | select(.decision == true) | .context.approval.id')" "$A1"
A2=$(cat "$TMP"/race/* | jq -r -s '[.[] | select(.decision == false) | .context.approval.id] | unique | .[]')
[ "$(wc -w <<<"$A2")" = 1 ] && [ "$A2" != "$A1" ] && ok "the other 31 wait on one new approval" ||
    bad "the other 31 wait on <$A2>"
for i in 0 1 2; do
    r=$(ADDR=${ADDRS[$i]} req GET "/approvals/$A1" -H "Authorization: Bearer $ADMIN")
    check "A1 consumed, as r$i sees it" "$(body "$r" | jq -r .status)" consumed
done
r=$(dec 0 "$A1" '{"decision":"approve"}')
check "approving A1 again on r0: 409" "$(code "$r")" 409

# ---- a limit counted across replicas: 5 allowed then denied, whichever answers
write() { # write N TASK
    at "$1" /access/v1/evaluation "{\"subject\":{\"type\":\"Agent\",\"id\":\"ci-bot\"},\"action\":{\"name\":\"write\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"d\"},\"context\":{\"task\":{\"id\":\"$2\",\"purpose\":\"etl\"}}}"
}
seen=
for k in 0 1 2 3 4 5 6 7; do
    r=$(write $((k % 3)) w1)
    seen="$seen $(body "$r" | jq -r '.decision')"
done
check "8 writes over r0 r1 r2 r0 ...: 5 allowed, then denied" "$seen" \
    " true true true true true false false false"
contains "the deny names the limit's forbid" "$(body "$r")" "writes-per-task"
r=$(write 2 w2)
check "another task has its own count" "$(body "$r" | jq -r .decision)" true
# the count is in Redis: one key per bucket, summed
n=$(redis-cli -p "$rport" --scan --pattern 'writ:c:*writes_per_task*:w1:*' | while read -r k; do
    redis-cli -p "$rport" get "$k"; done | awk '{s += $1} END {print s + 0}')
check "Redis holds the 5 counted writes of w1" "$n" 5

# ---- 40 writes at once over the three replicas: each take is one script
# in Redis (the sum read and this request's count added together), so
# exactly 5 are let through, never one more per replica or per request
: >"$TMP/many.cfg"
for i in $(seq 0 39); do
    printf 'url = "http://%s/access/v1/evaluation"\nrequest = "POST"\nheader = "Content-Type: application/json"\ndata-binary = "%s"\n%s\n' \
        "${ADDRS[$((i % 3))]}" \
        '{\"subject\":{\"type\":\"Agent\",\"id\":\"ci-bot\"},\"action\":{\"name\":\"write\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"d\"},\"context\":{\"task\":{\"id\":\"w3\",\"purpose\":\"etl\"}}}' \
        "$([ "$i" -lt 39 ] && echo next)" >>"$TMP/many.cfg"
done
curl -s -m 20 --parallel --parallel-immediate --parallel-max 40 -K "$TMP/many.cfg" >"$TMP/many.out"
check "40 writes at once over 3 replicas: exactly 5 allowed, 35 denied" \
    "$(grep -o '"decision":true' "$TMP/many.out" | wc -l) $(grep -o '"decision":false' "$TMP/many.out" | wc -l)" "5 35"
n=$(redis-cli -p "$rport" --scan --pattern 'writ:c:*writes_per_task*:w3:*' | while read -r k; do
    redis-cli -p "$rport" get "$k"; done | awk '{s += $1} END {print s + 0}')
check "Redis holds 5 for w3: the 35 denied gave their takes back" "$n" 5

# ---- a request that is denied anyway takes nothing: payments over the cap
# (each denied by amount-cap) flood r1 while the same agent pays 0.01 on r0,
# far under its daily 1000.0.  Were each held in the sum while decided (its
# 900000000000.0 read by the others), most small payments would be denied.
pay() { echo "{\"subject\":{\"type\":\"Agent\",\"id\":\"payer\"},\"action\":{\"name\":\"pay\"},\"resource\":{\"type\":\"Account\",\"id\":\"acct\"},\"context\":{\"amount\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"$1\"}}}}"; }
pay 900000000000.0 >"$TMP/big.json"
check "a payment over the cap: denied by amount-cap" \
    "$(body "$(at 1 /access/v1/evaluation "$(cat "$TMP/big.json")")" | jq -c '[.decision, .context.reasons]')" \
    '[false,["amount-cap"]]'
ADDR=${ADDRS[1]} wrk_eval 4 16 "$TMP/big.json" "$TMP/flood.out" &
FLOOD=$!
sleep 0.5
seen=
for _ in $(seq 30); do
    seen+=$(body "$(at 0 /access/v1/evaluation "$(pay 0.01)")" | jq -r 'if .decision then "a" else "d" end')
done
wait "$FLOOD"
check "30 payments of 0.01 during the flood: all allowed" "$seen" "$(printf 'a%.0s' $(seq 30))"
[ "$(wrk_total "$TMP/flood.out")" -gt 100 ] && ok "the flood ran ($(wrk_total "$TMP/flood.out") payments)" ||
    bad "the flood did not run: $(cat "$TMP/flood.out")"
n=$(redis-cli -p "$rport" --scan --pattern 'writ:c:*paid_today*:payer:*' | while read -r k; do
    redis-cli -p "$rport" get "$k"; done | awk '{s += $1} END {print s + 0}')
check "Redis holds the 30 small payments (0.3000 in 10^-4)" "$n" 3000

# ---- the limit survives a replica's kill -9 and restart
stop_writ "${RPIDS[0]}" KILL
start_writ r0b --config "$TMP/writ.conf" --replica r0 --threads 8
ADDRS[0]=$ADDR
RPIDS[0]=$WPID
r=$(write 0 w1)
check "after kill -9 and restart of r0 (a fresh state folder): still denied" "$(body "$r" | jq -r .decision)" false
r=$(write 0 w2)
check "after restart: w2's count went on (2nd allowed)" "$(body "$r" | jq -r .decision)" true
stop_writ "${RPIDS[1]}" TERM
start_writ r1b --config "$TMP/writ.conf" --replica r1 --threads 8
ADDRS[1]=$ADDR
RPIDS[1]=$WPID
r=$(write 1 w1)
check "after a clean restart of r1: still denied" "$(body "$r" | jq -r .decision)" false

m=$(curl -s -m 5 "http://${ADDRS[2]}/metrics")
contains "metrics: limits in force" "$m" "writ_limits_in_force 2"
contains "metrics: counted on the shared store" "$m" 'writ_limits_store_info{state="redis"} 1'
grep -Eq '^writ_limits_counted_total [1-9]' <<<"$m" && ok "metrics: counted events" || bad "metrics: counted events"
contains "metrics: no rings held locally on Redis" "$m" "writ_limits_keys 0"
contains "metrics: no take kept for want of a give-back" "$m" "writ_limits_giveback_failures_total 0"

# ---- the MCP gateway's -32002 across replicas: single use
if [ -n "$XPORT" ]; then
    TOK=$("$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ \
        --subject spiffe://corp.example/agents/helper --purpose demo --sensitivity restricted --txn t-mcp \
        --action 'echo/*')
    H=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $TOK")
    call() { ADDR=${ADDRS[$1]} req POST /mcp/echo "${H[@]}" \
        --data "{\"jsonrpc\":\"2.0\",\"id\":$2,\"method\":\"tools/call\",\"params\":{\"name\":\"add\",\"arguments\":{\"a\":1,\"b\":2}}}"; }
    r=$(call 0 1)
    check "mcp on r0: held, -32002" "$(body "$r" | jq -r .error.code)" -32002
    M1=$(body "$r" | jq -r .error.data.id)
    r=$(call 1 2)
    check "mcp on r1: the same approval" "$(body "$r" | jq -r .error.data.id)" "$M1"
    r=$(dec 2 "$M1" '{"decision":"approve"}')
    check "mcp: approved on r2" "$(code "$r")" 200
    before=$(grep -c '"add"' "$TMP/echo.log" 2>/dev/null)
    CURLS=()
    for i in $(seq 0 11); do # curl itself: req's files are shared
        curl -s -m 10 -X POST "${H[@]}" "http://${ADDRS[$((i % 3))]}/mcp/echo" -o "$TMP/mcp.$i" \
            --data "{\"jsonrpc\":\"2.0\",\"id\":$((10 + i)),\"method\":\"tools/call\",\"params\":{\"name\":\"add\",\"arguments\":{\"a\":1,\"b\":2}}}" &
        CURLS+=($!)
    done
    wait "${CURLS[@]}"
    fwd=0 held=0
    for i in $(seq 0 11); do
        grep -q '"result"' "$TMP/mcp.$i" && fwd=$((fwd + 1))
        grep -q -- '-32002' "$TMP/mcp.$i" && held=$((held + 1))
    done
    check "mcp: 12 concurrent calls over 3 replicas: one forwarded, 11 held" "$fwd $held" "1 11"
    check "mcp: the upstream saw it once" "$(grep -c '"add"' "$TMP/echo.log" 2>/dev/null)" $((before + 1))
    r=$(ADDR=${ADDRS[0]} req GET "/approvals/$M1" -H "Authorization: Bearer $ADMIN")
    check "mcp: the approval consumed" "$(body "$r" | jq -r .status)" consumed
else
    echo "note: node or the MCP SDK missing: the gateway's -32002 across replicas not run"
fi
finish
