#!/usr/bin/env bash
# approvals_cap.sh - approval_max_pending through the real server: with
# --approval-max-pending 2 an agent's third pending approval (other input)
# is refused with a deny saying why (AuthZEN context.errors, /authz/check
# 403 without X-Writ-Approval, the MCP gateway's deny error), while asking
# again for one already pending still answers it; another agent is not
# held back; deciding one frees a slot; each refusal is an audit record
# with the reason and step "full".  Then two replicas on one redis-server
# share the cap.  Needs node (the MCP upstream), redis-server, curl, jq.
source "$(dirname "$0")/lib.sh"
PEERS="$REPO/tests/peers"
if ! command -v node >/dev/null || [ ! -d "$PEERS/node_modules/@modelcontextprotocol/sdk" ]; then
    echo "approvals_cap: SKIPPED, node or $PEERS/node_modules/@modelcontextprotocol/sdk missing"; exit 77
fi
admin_secret

cat >"$TMP/policies.cedar" <<'CEDAR'
@id("deploy-production")
@approval("required")
permit (principal, action == Writ::Action::"deploy", resource is Writ::Service)
when { resource.environment == "production" };

@id("mcp-add")
@approval("required")
permit (principal, action == Writ::Action::"echo/add", resource == Writ::McpServer::"echo");
CEDAR
cat >"$TMP/entities.json" <<'JSON'
[{"uid":{"type":"Writ::Service","id":"payments"},"attrs":{"environment":"production"},"parents":[]}]
JSON
LOG="$TMP/echo.log" node "$REPO/tests/mcp/echo_upstream.mjs" >"$TMP/echo.port" 2>"$TMP/echo.err" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$TMP/echo.port" ] && break; sleep 0.1; done
XPORT=$(head -1 "$TMP/echo.port")
[ -n "$XPORT" ] || { bad "the MCP upstream did not start: $(cat "$TMP/echo.err")"; finish; }

cat >"$TMP/writ.conf" <<CONF
policies = $TMP/policies.cedar
entities = $TMP/entities.json
admin_token_file = $TMP/admin.secret
check_principal_header = X-Agent
route = POST /deploy/{svc} deploy Service {svc}
mcp_upstream = echo http://127.0.0.1:$XPORT/mcp
CONF
start_writ cap --config "$TMP/writ.conf" --approval-max-pending 2
CAP_PID=$WPID

# ask AGENT INPUT: an AuthZEN evaluation of AGENT's production deploy
ask() {
    post /access/v1/evaluation "{\"subject\":{\"type\":\"Agent\",\"id\":\"$1\"},\"action\":{\"name\":\"deploy\"},
      \"resource\":{\"type\":\"Service\",\"id\":\"payments\"},\"context\":{\"input\":$2}}"
}
body() { echo "${1#* }"; }
code() { echo "${1%% *}"; }
REASON='approval required, but agent Writ::Agent::\"ci-bot\" has 2 approvals pending (approval_max_pending = 2): decide some or let them expire first'

# ---- two pending, the third refused
r=$(ask ci-bot '{"v":1}')
check "1st input: pending" "$(body "$r" | jq -r .context.approval.status)" pending
A1=$(body "$r" | jq -r .context.approval.id)
r=$(ask ci-bot '{"v":2}')
check "2nd input: pending" "$(body "$r" | jq -r .context.approval.status)" pending
A2=$(body "$r" | jq -r .context.approval.id)
[ "$A1" != "$A2" ] && ok "two approvals" || bad "two approvals: $A1 $A2"
r=$(ask ci-bot '{"v":3}')
check "3rd input: HTTP 200" "$(code "$r")" 200
check "3rd input: denied" "$(body "$r" | jq -r .decision)" false
check "3rd input: no approval made" "$(body "$r" | jq -r .context.approval)" null
contains "3rd input: the reason says why" "$(body "$r" | jq -c .context.errors)" "$REASON"
npend() { req GET "/approvals?status=pending" -H "Authorization: Bearer $ADMIN" | cut -d' ' -f2- | jq '.approvals | length'; }
check "two pending approvals in all" "$(npend)" 2

# ---- at the cap: the same request still finds its approval; others are not held back
r=$(ask ci-bot '{"v":1}')
check "asked again at the cap: the same pending approval" "$(body "$r" | jq -r .context.approval.id)" "$A1"
r=$(ask other-bot '{"v":3}')
check "another agent: its own pending approval" "$(body "$r" | jq -r .context.approval.status)" pending
O1=$(body "$r" | jq -r .context.approval.id)

# ---- /authz/check at the cap: 403, no X-Writ-Approval, the reason in the body
c=$(curl -s -m 5 -D "$TMP/hdr" -o "$TMP/body" -w '%{http_code}' -X POST -H "X-Agent: ci-bot" "http://$ADDR/authz/check/deploy/payments")
check "check at the cap: 403" "$c" 403
check "check at the cap: no X-Writ-Approval" "$(tr -d '\r' <"$TMP/hdr" | grep -ci '^x-writ-approval:')" 0
contains "check at the cap: the reason" "$(jq -c .context.errors "$TMP/body")" "$REASON"

# ---- deciding one frees a slot: a new input gets its approval, then the cap holds again
r=$(req POST "/approvals/$A2" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    --data-binary '{"decision":"deny","reason":"no"}')
check "admin denies A2: 200" "$(code "$r")" 200
r=$(ask ci-bot '{"v":3}')
check "after a decision: the 3rd input is pending" "$(body "$r" | jq -r .context.approval.status)" pending
A3=$(body "$r" | jq -r .context.approval.id)
[ -n "$A3" ] && [ "$A3" != null ] && [ "$A3" != "$A1" ] && [ "$A3" != "$A2" ] && ok "after a decision: a new approval" ||
    bad "after a decision: <$A3>"
r=$(ask ci-bot '{"v":4}')
contains "then the cap holds again" "$(body "$r" | jq -c .context.errors)" "$REASON"
r=$(ask ci-bot '{"v":2}')
check "the denial of A2 still holds at the cap" "$(body "$r" | jq -r .context.approval.id)/$(body "$r" | jq -r .context.approval.status)" "$A2/denied"

# ---- the MCP gateway: the deny error (-32001) with the reason
TASKTOK=$("$WRIT" token mint --key "$TMP/cap.state/token-key.pem" --issuer https://writ.local --audience writ \
    --subject spiffe://corp.example/agents/helper --purpose demo --sensitivity restricted --txn t-mcp \
    --action 'echo/*')
H=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $TASKTOK")
call() { req POST /mcp/echo "${H[@]}" --data "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"tools/call\",\"params\":{\"name\":\"add\",\"arguments\":$2}}"; }
r=$(call 1 '{"a":1,"b":1}')
check "mcp 1st arguments: held, -32002" "$(body "$r" | jq -r .error.code)" -32002
r=$(call 2 '{"a":1,"b":2}')
check "mcp 2nd arguments: held, -32002" "$(body "$r" | jq -r .error.code)" -32002
r=$(call 3 '{"a":1,"b":3}')
check "mcp 3rd arguments: denied, -32001" "$(body "$r" | jq -c '[.id, .error.code]')" '[3,-32001]'
contains "mcp 3rd arguments: the reason" "$(body "$r" | jq -r .error.message)" \
    'approval required, but agent Writ::Agent::"spiffe://corp.example/agents/helper" has 2 approvals pending (approval_max_pending = 2)'
check "mcp: the upstream saw no call" "$(grep -c '"add"' "$TMP/echo.log" 2>/dev/null)" 0

# ---- the refusals are audit records: the reason and the step
stop_writ "$CAP_PID"
q=$("$WRIT" audit query --state-dir "$TMP/cap.state")
full=$(jq -c 'select(any(.errors[]?; .approval?.step == "full"))' <<<"$q")
check "audit: one record per refusal (2 AuthZEN, 1 check, 1 MCP)" "$(grep -c . <<<"$full")" 4
check "audit: each a deny" "$(jq -r .decision <<<"$full" | sort -u)" deny
check "audit: the step names the cap" "$(jq -c '[.errors[] | select(.approval?) | .approval]' <<<"$full" | sort -u)" \
    '[{"step":"full","max_pending":2}]'
contains "audit: the reason" "$(jq -c '.errors[0].message' <<<"$full" | head -1)" "$REASON"
check "audit: other-bot's request was not refused" "$(jq -r '.agent' <<<"$full" | grep -c other-bot)" 0

# ---- two replicas on one Redis: the cap is the agent's, whichever replica asks
start_redis_plain # sets rport
start_writ r0 --config "$TMP/writ.conf" --state "redis://127.0.0.1:$rport/0" --approval-max-pending 2
R0=$ADDR
start_writ r1 --config "$TMP/writ.conf" --state "redis://127.0.0.1:$rport/0" --approval-max-pending 2
R1=$ADDR
r=$(ADDR=$R0 ask ci-bot '{"v":1}')
check "redis: 1st input on r0: pending" "$(body "$r" | jq -r .context.approval.status)" pending
r=$(ADDR=$R1 ask ci-bot '{"v":2}')
check "redis: 2nd input on r1: pending" "$(body "$r" | jq -r .context.approval.status)" pending
B2=$(body "$r" | jq -r .context.approval.id)
r=$(ADDR=$R0 ask ci-bot '{"v":3}')
contains "redis: 3rd input on r0: refused" "$(body "$r" | jq -c .context.errors)" "$REASON"
check "redis: 3rd input: no approval made" "$(body "$r" | jq -r .context.approval)" null
r=$(ADDR=$R1 req POST "/approvals/$B2" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
    --data-binary '{"decision":"approve"}')
check "redis: approved on r1" "$(code "$r")" 200
r=$(ADDR=$R0 ask ci-bot '{"v":3}')
check "redis: after the decision, the 3rd input on r0: pending" "$(body "$r" | jq -r .context.approval.status)" pending
r=$(ADDR=$R1 ask ci-bot '{"v":4}')
contains "redis: then the cap holds again on r1" "$(body "$r" | jq -c .context.errors)" "$REASON"
r=$(ADDR=$R0 ask ci-bot '{"v":2}')
check "redis: the approved request is allowed at the cap" "$(body "$r" | jq -r .decision)" true
finish
