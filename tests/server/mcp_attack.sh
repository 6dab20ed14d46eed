#!/usr/bin/env bash
# mcp_attack.sh - the MCP gateway attacked by one agent against another, with
# real upstreams: server-everything over stdio (one process every agent
# shares, with tasks: MCP 2025-11-25's task-augmented tools/call).
. "$(dirname "$0")/lib.sh"

PEERS="$REPO/tests/peers/node_modules"
EVERY="$PEERS/@modelcontextprotocol/server-everything/dist/index.js"
if ! command -v node >/dev/null || [ ! -f "$EVERY" ]; then
    echo "skip: node or the MCP peers are missing (cd tests/peers && npm ci)"; exit 77
fi

EPORT=$(free_port)
PORT=$EPORT node "$EVERY" streamableHttp >"$TMP/everything.log" 2>&1 &
PIDS+=("$!")
LIST_DELAY_MS=1000 node "$REPO/tests/mcp/session_upstream.mjs" >"$TMP/su.port" 2>"$TMP/su.err" &
PIDS+=("$!")
node "$REPO/tests/mcp/reflect_upstream.mjs" >"$TMP/refl.port" 2>"$TMP/refl.err" &
PIDS+=("$!")
for _ in $(seq 100); do
    grep -q "listening" "$TMP/everything.log" && [ -s "$TMP/su.port" ] && [ -s "$TMP/refl.port" ] && break
    sleep 0.1
done
printf 'refl-secret-0123456789\n' >"$TMP/refl.cred"
"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
cat >"$TMP/writ.conf" <<CONF
token_keys = $TMP/k.pem
token_leeway = 0
mcp_upstream = ev stdio node $EVERY stdio
mcp_upstream = evh http://127.0.0.1:$EPORT/mcp
mcp_upstream = su http://127.0.0.1:$(cat "$TMP/su.port")/mcp
mcp_upstream = refl http://127.0.0.1:$(cat "$TMP/refl.port")/mcp
mcp_credential = refl header X-Api-Key $TMP/refl.cred
mcp_upstream = reflt http://127.0.0.1:$(cat "$TMP/refl.port")/mcp
mcp_credential = reflt token https://reflt.example
CONF
# a policy that lets agents use tasks at all: the task methods are allowed to
# everyone, so only the gateway can keep one agent's tasks from another
cat "$EX/mcp.cedar" - >"$TMP/p.cedar" <<'CEDAR'
permit (principal, action in [Writ::Action::"su/add", Writ::Action::"su/slow", Writ::Action::"refl/json",
                              Writ::Action::"refl/sse", Writ::Action::"refl/err", Writ::Action::"refl/html",
                              Writ::Action::"reflt/json", Writ::Action::"reflt/sse", Writ::Action::"reflt/err",
                              Writ::Action::"reflt/parts", Writ::Action::"reflt/log"], resource);
permit (principal, action in [Writ::Action::"ev/simulate-research-query", Writ::Action::"ev/echo",
  Writ::Action::"ev/tasks/get", Writ::Action::"ev/tasks/result", Writ::Action::"ev/tasks/list",
  Writ::Action::"ev/tasks/cancel", Writ::Action::"evh/simulate-research-query", Writ::Action::"evh/tasks/get",
  Writ::Action::"evh/tasks/result", Writ::Action::"evh/tasks/list", Writ::Action::"evh/toggle-simulated-logging"],
  resource);
CEDAR
start_writ attack --policies "$TMP/p.cedar" --config "$TMP/writ.conf"
mint() { # mint AGENT [TTL]
    "$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ \
        --subject "spiffe://corp.example/agents/$1" --purpose demo --sensitivity restricted --txn "t-$1" \
        --action 'ev/*' --action 'evh/*' --action 'su/*' --action 'refl/*' --action 'reflt/*' --ttl "${2:-600}"
}
ALICE=$(mint alice)
BOB=$(mint bob)
H=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
rpc() { # rpc TOKEN BODY: the answer's body
    curl -s -m 20 -X POST "${H[@]}" -H "Authorization: Bearer $1" "http://$ADDR/mcp/ev" --data "$2"
}
rpc "$ALICE" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"a","version":"1"}}}' >/dev/null
rpc "$ALICE" '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null

# ---- tasks: an agent's task is its own (the process keeps every agent's)
r=$(rpc "$ALICE" '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"simulate-research-query","arguments":{"topic":"alice-secret-topic"},"task":{"ttl":60000}}}')
TID=$(jq -r '.result.task.taskId // empty' <<<"$r")
[ -n "$TID" ] && ok "a task-augmented call answers with its task" || { bad "no task: $r"; finish; }
r=$(rpc "$BOB" '{"jsonrpc":"2.0","id":3,"method":"tasks/list","params":{}}')
check "tasks/list: another agent's task is not listed" "$(jq -c '[.result.tasks[]?.taskId]' <<<"$r")" '[]'
r=$(rpc "$ALICE" '{"jsonrpc":"2.0","id":4,"method":"tasks/list","params":{}}')
check "tasks/list: the agent's own task is" "$(jq -c '[.result.tasks[]?.taskId]' <<<"$r")" "[\"$TID\"]"
for m in tasks/get tasks/result tasks/cancel; do
    r=$(rpc "$BOB" "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"$m\",\"params\":{\"taskId\":\"$TID\"}}")
    check "$m of another agent's task: -32602" "$(jq -c '[.id, .error.code]' <<<"$r")" '[5,-32602]'
    case "$r" in *alice-secret-topic*) bad "$m of another agent's task shows its result" ;; *) ok "$m: nothing of the task shown" ;; esac
done
contains "... saying why" "$r" "no task of this agent"
# MCP's related-task metadata files a request's answer under that task, for
# whoever fetches its result: only the task's creator may name it
r=$(curl -s -m 5 -X POST "${H[@]}" -H "Authorization: Bearer $BOB" "http://$ADDR/mcp/ev" --data "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"message\":\"injected by bob\"},\"_meta\":{\"io.modelcontextprotocol/related-task\":{\"taskId\":\"$TID\"}}}}")
check "a call naming another agent's task as related: -32602" "$(jq -c '[.id, .error.code]' <<<"$r")" '[13,-32602]'
r=$(rpc "$ALICE" '{"jsonrpc":"2.0","id":6,"method":"tasks/get","params":{"taskId":"no-such-task"}}')
check "a task id the gateway never gave: -32602" "$(jq -c '.error.code' <<<"$r")" -32602
r=$(rpc "$ALICE" "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tasks/get\",\"params\":{\"taskId\":\"$TID\"}}")
check "tasks/get of the agent's own task: its status" "$(jq -r '.result.taskId' <<<"$r")" "$TID"
r=$(rpc "$ALICE" "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tasks/result\",\"params\":{\"taskId\":\"$TID\"}}")
contains "tasks/result of the agent's own task: its result" "$r" "alice-secret-topic"
case "$r" in *"injected by bob"*) bad "another agent's answer reached the task's result" ;; *) ok "nothing of another agent in the task's result" ;; esac
r=$(rpc "$BOB" '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"simulate-research-query","arguments":{"topic":"bob-topic"},"task":{"ttl":60000}}}')
BTID=$(jq -r '.result.task.taskId // empty' <<<"$r")
r=$(rpc "$BOB" '{"jsonrpc":"2.0","id":10,"method":"tasks/list","params":{}}')
check "tasks/list: each agent sees its own" "$(jq -c '[.result.tasks[]?.taskId]' <<<"$r")" "[\"$BTID\"]"
r=$(rpc "$ALICE" "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"tasks/cancel\",\"params\":{\"taskId\":\"$BTID\"}}")
check "tasks/cancel of another agent's task: -32602" "$(jq -c '.error.code' <<<"$r")" -32602
r=$(rpc "$BOB" "{\"jsonrpc\":\"2.0\",\"id\":12,\"method\":\"tasks/get\",\"params\":{\"taskId\":\"$BTID\"}}")
check "... and it went on" "$(jq -r '.result.status' <<<"$r")" working
# each refusal is in the audit log, as a policy's deny is: who, which action,
# and why (the answer says only that the agent has no such task)
q=$("$WRIT" audit query --state-dir "$TMP/attack.state" --decision deny)
refused() { # refused AGENT ACTION: the messages of its deny records
    jq -s -c --arg ag "$1" --arg ac "Writ::Action::\"$2\"" \
        'map(select((.agent | endswith("agents/" + $ag + "\"")) and .action == $ac) | .errors[].message)' <<<"$q"
}
for m in tasks/get tasks/result tasks/cancel; do
    contains "audit: $m of another agent's task, recorded with the agent and why" "$(refused bob "ev/$m")" "another agent's task"
    contains "... naming whose it is" "$(refused bob "ev/$m")" "agents/alice"
done
contains "audit: tasks/cancel of bob's task by alice, recorded" "$(refused alice ev/tasks/cancel)" "another agent's task"
contains "audit: a call naming another agent's task as related, recorded" "$(refused bob ev/echo)" "related task"
contains "... as another agent's" "$(refused bob ev/echo)" "another agent's task"
contains "audit: a task id the gateway never gave, recorded" "$(refused alice ev/tasks/get)" "no call through the gateway created"
check "audit: a task of the agent's own, never refused" "$(jq -s -c 'map(select(.agent | endswith("agents/alice\"")) | select(.action == "Writ::Action::\"ev/tasks/result\"")) | length' <<<"$q")" 0

# over Streamable HTTP (in a session: the answer is an SSE stream, the task
# noted from it)
curl -s -m 10 -D "$TMP/ih" -o /dev/null -X POST "${H[@]}" -H "Authorization: Bearer $ALICE" "http://$ADDR/mcp/evh" \
    --data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"a","version":"1"}}}'
SID=$(tr -d '\r' <"$TMP/ih" | awk -F': ' 'tolower($1) == "mcp-session-id" {print $2}')
hrpc() { curl -s -m 20 -X POST "${H[@]}" -H "Authorization: Bearer $ALICE" -H "Mcp-Session-Id: $SID" \
    -H 'MCP-Protocol-Version: 2025-11-25' "http://$ADDR/mcp/evh" --data "$1" | awk '/^data: / {sub(/^data: /, ""); print; next} /^\{/ {print}'; }
hrpc '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
r=$(hrpc '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"simulate-research-query","arguments":{"topic":"http-topic"},"task":{"ttl":60000}}}')
HTID=$(jq -r 'select(.id == 2) | .result.task.taskId // empty' <<<"$r")
[ -n "$HTID" ] && ok "HTTP: a task-augmented call answers with its task" || bad "HTTP: no task: $r"
r=$(hrpc "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tasks/get\",\"params\":{\"taskId\":\"$HTID\"}}")
check "HTTP: tasks/get of the agent's own task (noted from the SSE answer)" "$(jq -r 'select(.id == 3) | .result.taskId' <<<"$r")" "$HTID"
r=$(hrpc '{"jsonrpc":"2.0","id":4,"method":"tasks/list","params":{}}')
check "HTTP: tasks/list shows it" "$(jq -c 'select(.id == 4) | [.result.tasks[].taskId]' <<<"$r")" "[\"$HTID\"]"
r=$(hrpc "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tasks/get\",\"params\":{\"taskId\":\"$TID\"}}")
check "HTTP: a task of another upstream: -32602" "$(jq -c 'select(.id == 5) | .error.code' <<<"$r")" -32602

# ---- a session's stream outlives no token: revoked (or, for the GET stream,
# expired), the stream is cut before the next message the upstream pushes
# (server-everything's simulated logging: one message every 5 s)
stream_session() { # stream_session NAME TOKEN: a session logging into its GET stream, read into $TMP/NAME.sse
    local tok=$2 sid
    curl -s -m 10 -D "$TMP/$1.ih" -o /dev/null -X POST "${H[@]}" -H "Authorization: Bearer $tok" "http://$ADDR/mcp/evh" \
        --data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"s","version":"1"}}}'
    sid=$(tr -d '\r' <"$TMP/$1.ih" | awk -F': ' 'tolower($1) == "mcp-session-id" {print $2}')
    local sh=(-H "Authorization: Bearer $tok" -H "Mcp-Session-Id: $sid" -H 'MCP-Protocol-Version: 2025-11-25')
    curl -s -m 5 -X POST "${H[@]}" "${sh[@]}" "http://$ADDR/mcp/evh" --data '{"jsonrpc":"2.0","method":"notifications/initialized"}'
    curl -s -N -m 14 -H 'Accept: text/event-stream' "${sh[@]}" "http://$ADDR/mcp/evh" >"$TMP/$1.sse" &
    eval "${1}_PID=\$!"
    sleep 0.5
    curl -s -m 5 -o /dev/null -X POST "${H[@]}" "${sh[@]}" "http://$ADDR/mcp/evh" \
        --data '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"toggle-simulated-logging","arguments":{}}}'
}
RV=$(mint revoked)
EXP=$(mint expiring 5)
LIVE=$(mint live)
stream_session rev "$RV"
stream_session exp "$EXP"
stream_session live "$LIVE"
sleep 1
r=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "http://$ADDR/oauth2/revoke" -H "Authorization: Bearer $RV" --data-urlencode "token=$RV")
check "the token revoked" "$r" 200
t0=$(date +%s)
wait "$rev_PID"; rrc=$?
wait "$exp_PID"; erc=$?
wait "$live_PID"
logs() { grep -c '"notifications/message"' "$TMP/$1.sse"; }
check "a live token's stream goes on: its messages keep coming" "$([ "$(logs live)" -ge 2 ] && echo yes)" yes
check "a revoked token's stream: the message before, none after" "$(logs rev)" 1
check "... the stream cut, not left open" "$([ "$rrc" != 28 ] && echo cut)" cut
check "an expired token's stream: none after its expiry" "$(logs exp)" 1
check "... the stream cut, not left open" "$([ "$erc" != 28 ] && echo cut)" cut

# ---- a list answer given to another request: an upstream that matches
# answers to requests by id alone (the SDK's transport, per session) gives
# the answer to a slow tools/list to a later call with the same id, a JSON
# answer the gateway passed on unfiltered (wipe, a destructive tool, shown)
curl -s -m 10 -D "$TMP/su.ih" -o /dev/null -X POST "${H[@]}" -H "Authorization: Bearer $ALICE" "http://$ADDR/mcp/su" \
    --data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"a","version":"1"}}}'
SUH=("${H[@]}" -H "Authorization: Bearer $ALICE" -H "Mcp-Session-Id: $(tr -d '\r' <"$TMP/su.ih" | awk -F': ' 'tolower($1) == "mcp-session-id" {print $2}')" \
     -H 'MCP-Protocol-Version: 2025-11-25')
curl -s -m 5 -o /dev/null -X POST "${SUH[@]}" "http://$ADDR/mcp/su" --data '{"jsonrpc":"2.0","method":"notifications/initialized"}'
r=$(curl -s -m 5 -X POST "${SUH[@]}" "http://$ADDR/mcp/su" --data '{"jsonrpc":"2.0","id":2,"method":"tools/list"}')
check "tools/list: the destructive tool hidden" "$(jq -c '[.result.tools[].name]' <<<"$r")" '["add","slow"]'
curl -s -m 4 -o /dev/null -X POST "${SUH[@]}" "http://$ADDR/mcp/su" --data '{"jsonrpc":"2.0","id":7,"method":"tools/list"}' &
lp=$!
sleep 0.3
r=$(curl -s -m 5 -X POST "${SUH[@]}" "http://$ADDR/mcp/su" --data '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow","arguments":{"ms":1500}}}')
wait "$lp"
check "a call given the list answer of the same id: filtered" "$(jq -c '[.result.tools[]?.name]' <<<"$r")" '["add","slow"]'

# ---- the upstream's credential never reaches the agent, even when the
# upstream shows it (a debug page, a careless error message): each answer,
# JSON, SSE or any other body, has it masked, also when it arrives cut in two
for t in json sse err; do
    r=$(curl -s -m 5 -X POST "${H[@]}" -H "Authorization: Bearer $ALICE" "http://$ADDR/mcp/refl" \
        --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$t\"}}")
    case "$r" in *refl-secret*|*0123456789*) bad "$t answer: the credential shown: $r" ;; *) ok "$t answer: the credential not shown" ;; esac
    contains "... masked where the upstream put it" "$r" "**********************"
done

# ---- nor the token Writ mints for an upstream per call (mcp_credential NAME
# token AUDIENCE): good for 60 s, an agent shown it could call the upstream
# with it without Writ.  That call's token is masked in that call's answer,
# whole, and its signature on its own (an echo that splits it at '.'), also
# when it arrives cut in two inside the signature
for t in json sse err parts; do
    r=$(curl -s -m 5 -X POST "${H[@]}" -H "Authorization: Bearer $ALICE" "http://$ADDR/mcp/reflt" \
        --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$t\"}}")
    tok=$(awk '$1 == "bearer" {t = $2} END {print t}' "$TMP/refl.err") # this call's: the last one sent
    sig=${tok##*.}
    if [ -z "$tok" ] || [ "$sig" = "$tok" ]; then bad "$t: the upstream got no minted token"; continue; fi
    case "$r" in *"$sig"*) bad "$t answer: the minted token shown: $r" ;; *) ok "$t answer: the minted token not shown" ;; esac
    want=$tok
    [ "$t" = parts ] && want=$sig # split at its dots: the signature, masked on its own
    contains "... masked where the upstream put it, all of it" "$r" "$(tr -c '\n' '*' <<<"$want")"
done

# ---- nor the tokens Writ minted for other calls, other agents' included: an
# upstream that shows its request log (a tool reading it) hands bob alice's
# tokens, each good for 60 s on that upstream.  Every JWT with the header of
# Writ's signing key is masked whole, also cut in two inside its header,
# payload or signature, in an SSE answer and in a streamed text one
for as in sse text; do
    for cut in head payload sig; do
        r=$(curl -s -m 5 -X POST "${H[@]}" -H "Authorization: Bearer $BOB" "http://$ADDR/mcp/reflt" \
            --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"log\",\"arguments\":{\"cut\":\"$cut\",\"as\":\"$as\"}}}")
        mapfile -t toks < <(awk '$1 == "bearer" {print $2}' "$TMP/refl.err")
        shown=0 whole=0
        for tok in "${toks[@]:0:${#toks[@]}-1}"; do # all but this call's own
            case "$r" in *"${tok##*.}"*) shown=$((shown + 1)) ;; esac
            case "$r" in *"Bearer $(tr -c '\n' '*' <<<"$tok")"*) whole=$((whole + 1)) ;; esac
        done
        n=$((${#toks[@]} - 1))
        [ "$n" -ge 4 ] && [ "$shown" = 0 ] && [ "$whole" = "$n" ] &&
            ok "a request log ($as, cut in a token's $cut): the $n earlier tokens each masked whole" ||
            bad "a request log ($as, cut in a token's $cut): $shown of $n shown, $whole masked whole: $r"
    done
done

# ---- an upstream's page is never a page on Writ's origin (where the approvals
# console runs): every answer of the gateway says nosniff and sandboxes itself
curl -s -m 5 -D "$TMP/html.h" -o "$TMP/html.out" -X POST "${H[@]}" -H "Authorization: Bearer $ALICE" "http://$ADDR/mcp/refl" \
    --data '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"html"}}'
contains "an upstream's text/html: passed on as it is" "$(cat "$TMP/html.out")" "<script>"
hs=$(tr -d '\r' <"$TMP/html.h" | tr 'A-Z' 'a-z')
contains "... with nosniff" "$hs" "x-content-type-options: nosniff"
contains "... and a sandboxing CSP" "$hs" "content-security-policy: sandbox; default-src 'none'"
curl -s -m 5 -D "$TMP/json.h" -o /dev/null -X POST "${H[@]}" -H "Authorization: Bearer $ALICE" "http://$ADDR/mcp/refl" \
    --data '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"json"}}'
contains "a JSON answer: sandboxed too" "$(tr 'A-Z' 'a-z' <"$TMP/json.h")" "content-security-policy: sandbox"

# ---- one agent's share: with max_connections = 8 an agent may have 2 requests
# open (a quarter); a third waits its turn (429), another agent is served
stop_writ "$WPID"
printf 'max_connections = 8\n' >>"$TMP/writ.conf"
echo 'permit (principal, action == Writ::Action::"ev/trigger-long-running-operation", resource);' >>"$TMP/p.cedar"
start_writ share --policies "$TMP/p.cedar" --config "$TMP/writ.conf"
HOG=$(mint hog)
long() { curl -s -m 15 -o "$TMP/long.$1" -w '%{http_code}' -X POST "${H[@]}" -H "Authorization: Bearer $HOG" "http://$ADDR/mcp/ev" \
    --data "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"tools/call\",\"params\":{\"name\":\"trigger-long-running-operation\",\"arguments\":{\"duration\":4,\"steps\":2}}}" >"$TMP/long.$1.code"; }
long 1 & l1=$!
long 2 & l2=$!
sleep 1
code=$(curl -s -m 3 -D "$TMP/429.h" -o "$TMP/429.out" -w '%{http_code}' -X POST "${H[@]}" -H "Authorization: Bearer $HOG" "http://$ADDR/mcp/ev" \
    --data '{"jsonrpc":"2.0","id":3,"method":"ping"}')
check "an agent's third request while two are open: 429" "$code" 429
contains "... saying why" "$(cat "$TMP/429.out")" "mcp_agent_requests"
contains "... and when to come back" "$(tr -d '\r' <"$TMP/429.h")" "Retry-After: 1"
check "another agent meanwhile: served" "$(curl -s -m 3 -o /dev/null -w '%{http_code}' -X POST "${H[@]}" -H "Authorization: Bearer $BOB" \
    "http://$ADDR/mcp/ev" --data '{"jsonrpc":"2.0","id":4,"method":"ping"}')" 200
wait "$l1" "$l2"
check "the two open ones: answered" "$(cat "$TMP/long.1.code") $(jq -c 'has("result")' "$TMP/long.1") $(cat "$TMP/long.2.code") $(jq -c 'has("result")' "$TMP/long.2")" "200 true 200 true"
check "once they ended, the agent is served again" "$(curl -s -m 3 -o /dev/null -w '%{http_code}' -X POST "${H[@]}" -H "Authorization: Bearer $HOG" \
    "http://$ADDR/mcp/ev" --data '{"jsonrpc":"2.0","id":5,"method":"ping"}')" 200

stop_writ "$WPID"
check "clean shutdown" "$STOP_RC" 0
if grep -qE "AddressSanitizer|LeakSanitizer|runtime error" "$TMP/attack.log" "$TMP/share.log"; then
    bad "sanitizer report in the server's log"; grep -A20 -E "Sanitizer|runtime error" "$TMP/attack.log" "$TMP/share.log" | head -60
else ok "no sanitizer report in the server's log"; fi
finish
