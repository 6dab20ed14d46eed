#!/usr/bin/env bash
# mcp.sh - writ serve as an MCP gateway (issue 9) with real MCP peers from
# npm (tests/peers): the official SDK client, server-everything over
# Streamable HTTP, server-filesystem over stdio, and a small header-echo
# upstream (tests/mcp/echo_upstream.mjs, the SDK's server) that logs every
# message reaching it.
. "$(dirname "$0")/lib.sh"

PEERS="$REPO/tests/peers/node_modules"
EVERY="$PEERS/@modelcontextprotocol/server-everything/dist/index.js"
FSRV="$PEERS/@modelcontextprotocol/server-filesystem/dist/index.js"
if ! command -v node >/dev/null || [ ! -f "$EVERY" ] || [ ! -f "$FSRV" ] || [ ! -d "$PEERS/@modelcontextprotocol/sdk" ]; then
    echo "skip: node or the MCP peers are missing (cd tests/peers && npm ci)"; exit 77
fi
CLIENT="$REPO/tests/server/mcp_client.mjs"

# upstreams
EPORT=$(free_port)
PORT=$EPORT node "$EVERY" streamableHttp >"$TMP/everything.log" 2>&1 &
PIDS+=("$!")
LOG="$TMP/echo.log" node "$REPO/tests/mcp/echo_upstream.mjs" >"$TMP/echo.port" 2>"$TMP/echo.err" &
PIDS+=("$!")
FLIP=1 LOG="$TMP/flip.log" node "$REPO/tests/mcp/echo_upstream.mjs" >"$TMP/flip.port" 2>"$TMP/flip.err" &
PIDS+=("$!")
for _ in $(seq 100); do
    [ -s "$TMP/echo.port" ] && [ -s "$TMP/flip.port" ] && grep -q "listening" "$TMP/everything.log" && break
    sleep 0.1
done
XPORT=$(head -1 "$TMP/echo.port")
FPORT=$(head -1 "$TMP/flip.port")
node "$REPO/tests/mcp/bad_upstream.mjs" >"$TMP/bad.port" 2>&1 &
PIDS+=("$!")
for _ in $(seq 50); do [ -s "$TMP/bad.port" ] && break; sleep 0.1; done
BPORT=$(head -1 "$TMP/bad.port")
mkdir -p "$TMP/files" && echo "hello from a file" >"$TMP/files/a.txt"
DEAD=$(free_port) # nothing listens there

"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
printf 'upstream-secret-42\n' >"$TMP/cred"
cat >"$TMP/writ.conf" <<CONF
token_keys = $TMP/k.pem
max_body = 1048576
mcp_upstream = everything http://127.0.0.1:$EPORT/mcp
mcp_upstream = echo http://127.0.0.1:$XPORT/mcp
mcp_upstream = files stdio node $FSRV $TMP/files
mcp_upstream = dead http://127.0.0.1:$DEAD/mcp
mcp_upstream = bad http://127.0.0.1:$BPORT/mcp
mcp_upstream = badnul http://127.0.0.1:$BPORT/nul
mcp_upstream = badutf http://127.0.0.1:$BPORT/utf
mcp_upstream = bad203 http://127.0.0.1:$BPORT/s203
mcp_upstream = echotok http://127.0.0.1:$XPORT/mcp
mcp_upstream = flip http://127.0.0.1:$FPORT/mcp
mcp_credential = echo header X-Api-Key $TMP/cred
mcp_credential = echotok token https://echo.example
CONF
# the example MCP policies, and one for the misbehaving upstream
cat "$EX/mcp.cedar" - >"$TMP/policies.cedar" <<'CEDAR'
permit (principal, action in [Writ::Action::"flip/add", Writ::Action::"flip/flip", Writ::Action::"flip/whoami"], resource);
// a limit written for Longs; 5000.5 is a decimal, on which `>` fails
@id("add-limit")
forbid (principal, action == Writ::Action::"flip/add", resource) when { context.input.a > 100 };
// a forbid that fails whatever the input (the tool declares no such hint)
@id("whoami-guard")
forbid (principal, action == Writ::Action::"flip/whoami", resource) when { context.tool.annotations.auditHint };
permit (principal, action in [Writ::Action::"bad/garbage", Writ::Action::"bad/close",
                              Writ::Action::"bad/sseclose", Writ::Action::"bad/hang",
                              Writ::Action::"badnul/garbage", Writ::Action::"badutf/garbage",
                              Writ::Action::"bad/resources/read", Writ::Action::"bad/sselist"], resource);
// another method, decided on its params as input
permit (principal, action == Writ::Action::"echo/completion/complete", resource)
when { context.input.argument.value == "ok" };
// prompts by name, and by argument
permit (principal, action == Writ::Action::"everything/prompts/get", resource)
when { context.input.name == "simple-prompt" ||
       (context.input.name == "args-prompt" && context.input has arguments &&
        context.input.arguments has city && context.input.arguments.city == "Paris") };
CEDAR
start_writ mcp --policies "$TMP/policies.cedar" --config "$TMP/writ.conf"
URL="http://$ADDR/mcp"
mint() { # mint TXN ACTION...
    local txn=$1; shift
    local a=() x
    for x in "$@"; do a+=(--action "$x"); done
    "$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ \
        --subject spiffe://corp.example/agents/helper --purpose demo --sensitivity restricted --txn "$txn" "${a[@]}"
}
TOK=$(mint t-main 'everything/*' 'echo/*' 'files/*' 'dead/*' 'echotok/*' 'bad/*' 'badnul/*' 'badutf/*' 'bad203/*')
mcp() { timeout 60 node "$CLIENT" "$@" 2>"$TMP/client.err"; }
field() { jq -c --arg s "$1" "select(.step == \$s) | $2" <<<"$OUT"; }

# ---- authentication and metadata
r=$(req POST /mcp/everything -H 'Content-Type: application/json' -D "$TMP/h" --data '{"jsonrpc":"2.0","id":1,"method":"ping"}')
check "no token: 401" "${r%% *}" 401
contains "WWW-Authenticate names the resource metadata" "$(tr -d '\r' <"$TMP/h")" \
    "WWW-Authenticate: Bearer resource_metadata=\"http://$ADDR/.well-known/oauth-protected-resource/mcp/everything\""
r=$(req POST /mcp/everything -H 'Content-Type: application/json' -H 'Authorization: Bearer nope' --data '{"jsonrpc":"2.0","id":1,"method":"ping"}')
check "bad token: 401" "${r%% *}" 401
r=$(req GET /.well-known/oauth-protected-resource/mcp/everything)
check "RFC 9728 resource" "$(jq -r .resource <<<"${r#* }")" "http://$ADDR/mcp/everything"
check "RFC 9728 authorization_servers" "$(jq -c .authorization_servers <<<"${r#* }")" '["https://writ.local"]'
r=$(req GET /.well-known/oauth-authorization-server)
check "RFC 8414 token_endpoint" "$(jq -r .token_endpoint <<<"${r#* }")" "http://$ADDR/oauth2/token"
check "RFC 8414 issuer" "$(jq -r .issuer <<<"${r#* }")" "https://writ.local"
r=$(req POST /mcp/everything -H 'Content-Type: application/json' -H "Authorization: Bearer $TOK" -H 'Origin: http://evil.example' --data '{"jsonrpc":"2.0","id":1,"method":"ping"}')
check "foreign Origin: 403" "${r%% *}" 403
for o in http://127.evil.example http://127.0.0.1.nip.io; do
    r=$(req POST /mcp/everything -H 'Content-Type: application/json' -H "Authorization: Bearer $TOK" -H "Origin: $o" --data '{"jsonrpc":"2.0","id":1,"method":"ping"}')
    check "an Origin named like loopback ($o): 403" "${r%% *}" 403
done
r=$(req POST /mcp/everything -H 'Content-Type: application/json' -H "Authorization: Bearer $TOK" -H "Host: 127.evil.example:${ADDR##*:}" --data '{"jsonrpc":"2.0","id":1,"method":"ping"}')
check "a Host named like loopback: 403" "${r%% *}" 403
r=$(req POST /mcp/everything -H 'Content-Type: application/json' -H "Authorization: Bearer $TOK" -H 'Accept: application/json, text/event-stream' -H 'Origin: http://localhost:5173' --data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}')
check "loopback Origin while listening on loopback: served" "${r%% *}" 200
# DNS rebinding without an Origin (a same-origin GET in the browser): the
# Host then names the attacker's domain, which a loopback listener refuses
r=$(req POST /mcp/everything -H 'Content-Type: application/json' -H "Authorization: Bearer $TOK" -H 'Host: evil.example' --data '{"jsonrpc":"2.0","id":1,"method":"ping"}')
check "foreign Host while listening on loopback: 403" "${r%% *}" 403
contains "the refusal says why" "${r#* }" "Host not allowed"
r=$(req POST /mcp/everything -H 'Content-Type: application/json' -H "Authorization: Bearer $TOK" -H 'Accept: application/json, text/event-stream' -H "Host: localhost:${ADDR##*:}" --data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}')
check "loopback Host name: served" "${r%% *}" 200
r=$(req POST /mcp/nosuch -H 'Content-Type: application/json' -H "Authorization: Bearer $TOK" --data '{}')
check "unknown upstream: 404" "${r%% *}" 404

# ---- sessions: Mcp-Session-Id and MCP-Protocol-Version both ways; DELETE ends a session
IH=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $TOK")
req POST /mcp/everything "${IH[@]}" -D "$TMP/ih" --data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}' >/dev/null
SID=$(tr -d '\r' <"$TMP/ih" | awk -F': ' 'tolower($1) == "mcp-session-id" {print $2}')
[ -n "$SID" ] && ok "the upstream's Mcp-Session-Id reaches the client" || bad "no Mcp-Session-Id"
r=$(req POST /mcp/everything "${IH[@]}" -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-06-18' --data '{"jsonrpc":"2.0","id":2,"method":"ping"}')
check "the session carries on through the gateway" "${r%% *}" 200
# a session is bound to the agent that opened it (src/mcp/session.h): the
# client sees Writ's id, and another agent's token, another upstream or a
# changed id is a session the gateway does not know (404), before any upstream
case "$SID" in w1.*.*) ok "the client's session id is Writ's, bound to the agent" ;;
    *) bad "session id not bound: $SID" ;; esac
OTHER=$("$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ \
    --subject spiffe://corp.example/agents/other --purpose demo --sensitivity restricted --txn t-other --action 'everything/*' --action 'echo/*')
OH=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $OTHER" -H 'MCP-Protocol-Version: 2025-06-18')
r=$(req POST /mcp/everything "${OH[@]}" -H "Mcp-Session-Id: $SID" --data '{"jsonrpc":"2.0","id":2,"method":"ping"}')
check "another agent's POST in the session: 404" "${r%% *}" 404
contains "the 404 says why" "$r" "session_not_found"
r=$(req GET /mcp/everything -H "Authorization: Bearer $OTHER" -H 'Accept: text/event-stream' -H "Mcp-Session-Id: $SID")
check "another agent's GET of the session's stream: 404" "${r%% *}" 404
r=$(req DELETE /mcp/everything -H "Authorization: Bearer $OTHER" -H "Mcp-Session-Id: $SID")
check "another agent's DELETE of the session: 404" "${r%% *}" 404
r=$(req POST /mcp/echo "${IH[@]}" -H "Mcp-Session-Id: $SID" --data '{"jsonrpc":"2.0","id":2,"method":"ping"}')
check "the session's id on another upstream: 404" "${r%% *}" 404
r=$(req POST /mcp/everything "${IH[@]}" -H "Mcp-Session-Id: ${SID%?}x" --data '{"jsonrpc":"2.0","id":2,"method":"ping"}')
check "a changed session id: 404" "${r%% *}" 404
r=$(req POST /mcp/everything "${IH[@]}" -H "Mcp-Session-Id: $(head -c 600 /dev/zero | tr '\0' a)" --data '{"jsonrpc":"2.0","id":2,"method":"ping"}')
check "an over-long session id: 404" "${r%% *}" 404
r=$(req POST /mcp/everything "${IH[@]}" -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-06-18' --data '{"jsonrpc":"2.0","id":2,"method":"ping"}')
check "the owner's session lives on after the others' tries" "${r%% *}" 200
# a stream resumed with Last-Event-ID replays the session's earlier answers
# (server-everything keeps them): a tools/list among them is filtered too
SH=("${IH[@]}" -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-06-18')
curl -s -X POST "${SH[@]}" "http://$ADDR/mcp/everything" --data '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}' >"$TMP/ev1"
EID=$(tr -d '\r' <"$TMP/ev1" | awk '/^id:/ {print $2; exit}')
r=$(curl -s -X POST "${SH[@]}" "http://$ADDR/mcp/everything" --data '{"jsonrpc":"2.0","id":5,"method":"tools/list"}')
contains "tools/list in the session: filtered" "$r" '"echo"'
case "$r" in *'"get-env"'*) bad "tools/list in the session lists get-env" ;; *) ok "tools/list in the session: get-env hidden" ;; esac
curl -s -N -m 3 "${SH[@]}" -H "Last-Event-ID: $EID" "http://$ADDR/mcp/everything" >"$TMP/replay"
contains "GET with Last-Event-ID: the list answer replayed" "$(cat "$TMP/replay")" '"id":5'
case "$(cat "$TMP/replay")" in *'"get-env"'*) bad "the replayed tools/list shows get-env" ;;
    *) ok "the replayed tools/list is filtered: get-env hidden" ;; esac
# resource templates: listed when reading some resource may be allowed
r=$(curl -s -X POST "${SH[@]}" "http://$ADDR/mcp/everything" --data '{"jsonrpc":"2.0","id":6,"method":"resources/templates/list"}')
check "resources/templates/list: listed where reads may be allowed" "$(sed -n 's/^data: //p' <<<"$r" | jq '.result.resourceTemplates | length')" 2
NOREAD=$(mint t-noread 'everything/echo')
r=$(curl -s -X POST "${IH[@]/$TOK/$NOREAD}" -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-06-18' "http://$ADDR/mcp/everything" --data '{"jsonrpc":"2.0","id":7,"method":"resources/templates/list"}')
check "resources/templates/list: none for a token that reads nothing" "$(sed -n 's/^data: //p' <<<"$r" | jq '.result.resourceTemplates | length')" 0
r=$(req DELETE /mcp/everything -H "Authorization: Bearer $TOK" -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-06-18')
check "DELETE ends the session" "${r%% *}" 200
r=$(req POST /mcp/everything "${IH[@]}" -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-06-18' --data '{"jsonrpc":"2.0","id":3,"method":"ping"}')
case "${r%% *}" in 400 | 404) ok "an ended session: the upstream's ${r%% *} passed through" ;;
    *) bad "an ended session: got $r" ;; esac

# ---- a client gone mid-stream: the upstream request is cancelled, the gateway serves on
req POST /mcp/everything "${IH[@]}" -D "$TMP/ih2" --data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}' >/dev/null
SID2=$(tr -d '\r' <"$TMP/ih2" | awk -F': ' 'tolower($1) == "mcp-session-id" {print $2}')
CUTS=()
for i in 1 2 3; do
    curl -s -N -m 2 -o "$TMP/cut.$i" -X POST "${IH[@]}" -H "Mcp-Session-Id: $SID2" -H 'MCP-Protocol-Version: 2025-06-18' \
        --data "{\"jsonrpc\":\"2.0\",\"id\":$((40 + i)),\"method\":\"tools/call\",\"params\":{\"name\":\"trigger-long-running-operation\",\"arguments\":{\"duration\":3,\"steps\":6},\"_meta\":{\"progressToken\":\"p$i\"}}}" \
        "http://$ADDR/mcp/everything" &
    CUTS+=("$!")
done
wait "${CUTS[@]}"
contains "a piece of the stream arrived before the client left" "$(cat "$TMP/cut.1")" "notifications/progress"
sleep 1
r=$(req POST /mcp/everything "${IH[@]}" -H "Mcp-Session-Id: $SID2" -H 'MCP-Protocol-Version: 2025-06-18' --data '{"jsonrpc":"2.0","id":6,"method":"ping"}')
check "serving on after clients left mid-stream" "${r%% *}" 200

# ---- server-everything through the SDK
OUT=$(mcp "$URL/everything" "$TOK" list 'call:echo:{"message":"hi"}' 'call:get-sum:{"a":1,"b":2}' \
    'call:get-sum:{"a":500,"b":2}' 'call:get-env' 'progress:trigger-long-running-operation:{"duration":2,"steps":4}')
check "tools/list: only what some policy may allow" "$(field list .tools)" \
    '["echo","get-sum","trigger-long-running-operation"]'
check "allowed call: the upstream's answer" "$(field 'call:echo:{"message":"hi"}' .text)" '"Echo: hi"'
check "input.a < 100: allowed" "$(field 'call:get-sum:{"a":1,"b":2}' .text)" '"The sum of 1 and 2 is 3."'
check "input.a >= 100: McpError -32001" "$(field 'call:get-sum:{"a":500,"b":2}' '[.mcp,.code]')" '[true,-32001]'
contains "no policy allows, named" "$(field 'call:get-sum:{"a":500,"b":2}' .message)" 'no policy allows Writ::Action::\"everything/get-sum\"'
contains "forbid named by its @id" "$(field 'call:get-env' .message)" "denied by policy no-environment"
P=$(field 'progress:trigger-long-running-operation:{"duration":2,"steps":4}' .)
check "SSE answer: 4 progress notifications" "$(jq '.progress | length' <<<"$P")" 4
check "SSE answer arrives in pieces (first progress >= 1 s before the result)" \
    "$(jq '(.done - .progress[0]) >= 1000' <<<"$P")" true
grep -c '"get-env"' "$TMP/everything.log" >/dev/null && bad "server-everything saw get-env" || ok "denied call never reached server-everything"

# ---- resources: listed when reading the uri may be allowed, read decided on input.uri
OUT=$(mcp "$URL/everything" "$TOK" resources 'read:demo://resource/static/document/architecture.md' 'read:demo://resource/dynamic/text/1')
check "resources/list: only the static documents" \
    "$(field resources '[(.uris | length) > 0, (.uris | map(select(startswith("demo://resource/static/document/") | not)) | length)]')" '[true,0]'
check "resources/read allowed by input.uri" "$(field 'read:demo://resource/static/document/architecture.md' .ok)" true
check "resources/read denied: -32001" "$(field 'read:demo://resource/dynamic/text/1' .code)" -32001

# ---- a call before any listing: the gateway asks the upstream for its tools
# first, so a forbid on what a tool declares holds (it failed open until
# some client had listed)
EH=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $TOK")
r=$(req POST /mcp/echo "${EH[@]}" --data '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"wipe","arguments":{}}}')
contains "a destructive tool called before any listing: denied" "$r" "denied by policy no-destructive-tools"
check "the gateway asked the upstream for its tools" "$(jq -r 'select(.method == "tools/list") | .method' "$TMP/echo.log" | head -1)" tools/list
check "the tool never reached the upstream" "$(jq -r 'select(.tool == "wipe") | .tool' "$TMP/echo.log" | wc -l)" 0
r=$(req POST /mcp/echo "${EH[@]}" --data '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}')
contains "an allowed tool in the same state: its answer" "$r" '"3"'

# ---- an upstream that says its tools changed (notifications/tools/list_changed
# in a stream): what the gateway knew of them is forgotten and asked anew, so
# add, now declaring itself destructive, is no longer decided as readOnly
FT=$(mint t-flip 'flip/*')
FH=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $FT")
fcall() { req POST /mcp/flip "${FH[@]}" --data "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"tools/call\",\"params\":{\"name\":\"$2\",\"arguments\":$3}}"; }
flists() { jq -r 'select(.method == "tools/list") | .method' "$TMP/flip.log" | wc -l | tr -d ' '; }
contains "add, declared readOnly: allowed" "$(fcall 1 add '{"a":1,"b":2}')" '"3"'
check "... after one ask" "$(flists)" 1
# ---- a forbid that cannot be evaluated denies (forbid_error_denies, the
# default): Cedar skips it, so an argument of another type than the policy
# expects got round it (5000.5 is a decimal to Cedar, on which `>` fails)
contains "over the limit as a Long: denied" "$(fcall 11 add '{"a":5000,"b":1}')" "denied by policy add-limit"
# 5000.0 and 5e3 are the upstream's 5000: Longs to Cedar too, so the forbid applies
contains "over the limit spelled 5000.0: denied by the forbid itself" "$(fcall 15 add '{"a":5000.0,"b":1}')" "denied by policy add-limit"
contains "... and spelled 5e3" "$(fcall 16 add '{"a":5e3,"b":1}')" "denied by policy add-limit"
r=$(fcall 12 add '{"a":5000.5,"b":1}')
contains "over the limit as a decimal: denied, naming the forbid" "$r" "forbid add-limit could not be evaluated, so it may apply"
contains "... and why" "$r" "cannot compare decimal with long"
check "neither reached the upstream" "$(jq -r 'select(.tool == "add") | .tool' "$TMP/flip.log" | wc -l | tr -d ' ')" 1
contains "under the limit: allowed" "$(fcall 13 add '{"a":50,"b":1}')" '"51"'
contains "a tool whose forbid fails whatever the input: denied" "$(fcall 14 whoami '{}')" "forbid whoami-guard could not be evaluated"
OUT=$(mcp "$URL/flip" "$FT" list)
check "... and not listed; add (a forbid on some inputs) is" "$(field list .tools)" '["add","flip"]'
n0=$(flists) # the asks and listings so far
r=$(fcall 2 flip '{}')
contains "the notification passes to the client" "$r" "notifications/tools/list_changed"
contains "... and the answer" "$r" "flipped"
contains "add, now declared destructive: denied" "$(fcall 3 add '{"a":1,"b":2}')" "denied by policy no-destructive-tools"
check "... after a new ask, at once (not 10 s after the first)" "$(flists)" $((n0 + 1))
check "the denied call never reached the upstream" "$(jq -r 'select(.tool == "add") | .tool' "$TMP/flip.log" | wc -l | tr -d ' ')" 2
contains "still denied: what the ask found is kept" "$(fcall 4 add '{"a":1,"b":2}')" "denied by policy no-destructive-tools"
check "... without asking again" "$(flists)" $((n0 + 1))

# ---- the token's scope bounds the gateway: outside it is a -32001, and not listed
ST=$(mint t-scope 'echo/add')
OUT=$(mcp "$URL/echo" "$ST" list 'call:add:{"a":1,"b":2}' call:whoami)
check "out-of-scope tools not listed" "$(field list .tools)" '["add"]'
check "in scope: allowed" "$(field 'call:add:{"a":1,"b":2}' .text)" '"3"'
contains "out of scope: -32001 naming the scope" "$(field call:whoami '[.code, .message]')" "outside the task token's scope"
# an upstream the token reaches nothing on: nothing goes there, not even
# initialize, ping, a notification or a GET of its stream (they would carry
# the upstream's credential), and each refusal is recorded
n0=$(wc -l <"$TMP/flip.log")
init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
for body in "$init" '{"jsonrpc":"2.0","id":2,"method":"ping"}' '{"jsonrpc":"2.0","method":"notifications/exfil","params":{"x":1}}' \
            '{"jsonrpc":"2.0","id":"u","result":{}}'; do
    code=$(curl -s -o "$TMP/reach.out" -D "$TMP/reach.hdr" -w '%{http_code}' -X POST "$URL/flip" -H "Authorization: Bearer $ST" \
        -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' --data "$body")
    check "out of reach, $(jq -r '.method // "a response"' <<<"$body"): 403" "$code" 403
done
contains "... insufficient_scope, naming why" "$(cat "$TMP/reach.out")" "no action under flip/"
contains "... and where to get another token" "$(tr -d '\r' <"$TMP/reach.hdr" | grep -i '^WWW-Authenticate')" 'error="insufficient_scope", resource_metadata="'
for m in GET DELETE; do
    check "out of reach, $m: 403" "$(curl -s -o /dev/null -w '%{http_code}' -X "$m" "$URL/flip" -H "Authorization: Bearer $ST" \
        -H 'Accept: text/event-stream' -H 'Mcp-Session-Id: x')" 403
done
check "none of it reached the upstream" "$(wc -l <"$TMP/flip.log")" "$n0"
check "each refusal recorded" "$("$WRIT" audit query --state-dir "$TMP/mcp.state" --action 'Writ::Action::"flip/*"' | jq -s 'map(select(.decision == "deny")) | length')" 6
for item in 'flip/' 'Writ::Action::"flip/"'; do
    ET=$(mint t-empty "$item")
    check "an item naming no tool ($item) reaches nothing: 403" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/flip" \
        -H "Authorization: Bearer $ET" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' --data "$init")" 403
done
PT=$(mint t-prefix 'fl*')
check "a pattern that may cover an action under flip/ reaches it" "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/flip" \
    -H "Authorization: Bearer $PT" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' --data "$init")" 200

# ---- a tools/call param beside name, arguments, _meta and task would reach the
# upstream with no decision covering it: -32602, not forwarded
EH=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $TOK")
n0=$(jq -r 'select(.tool == "add") | .tool' "$TMP/echo.log" | wc -l | tr -d ' ')
r=$(req POST /mcp/echo "${EH[@]}" --data '{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2},"dry_run":false}}')
check "tools/call with another params member: -32602" "$(jq -c '[.id,.error.code]' <<<"${r#* }")" '[31,-32602]'
contains "... naming it" "$r" 'params member \"dry_run\" is not MCP'"'"'s'
r=$(req POST /mcp/echo "${EH[@]}" --data '{"jsonrpc":"2.0","id":32,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2},"_meta":{"progressToken":7}}}')
contains "... _meta is MCP's: forwarded" "$r" '"3"'
check "the other was not forwarded" "$(jq -r 'select(.tool == "add") | .tool' "$TMP/echo.log" | wc -l | tr -d ' ')" $((n0 + 1))

# ---- the header-echo upstream: credential injected, agent token never forwarded
OUT=$(mcp "$URL/echo" "$TOK" list call:whoami 'call:add:{"a":2,"b":3}' call:wipe)
check "annotation forbid hides the destructive tool" "$(field list .tools)" '["add","whoami"]'
# (the upstream echoes its headers; the client gets its credential masked)
check "the upstream sees no agent token; the client sees its credential masked" "$(field call:whoami .text | jq -r . | jq -c .)" \
    '{"authorization":null,"x-api-key":"******************"}'
check "echo add" "$(field 'call:add:{"a":2,"b":3}' .text)" '"5"'
contains "destructive tool denied" "$(field call:wipe .message)" "denied by policy no-destructive-tools"
check "the denied tool never reached the upstream" "$(jq -r 'select(.tool == "wipe") | .tool' "$TMP/echo.log" | wc -l)" 0
check "no agent token ever reached the upstream" "$(grep -c "$TOK" "$TMP/echo.log")" 0
check "every upstream request carried the credential" \
    "$(jq -r '."x-api-key"' "$TMP/echo.log" | sort -u)" "upstream-secret-42"

# ---- mcp_credential token: a JWT minted per call, verified with Writ's JWKS
# (read where the upstream logged it: the answer that shows it to the agent
# has it masked, mcp_attack.sh)
OUT=$(mcp "$URL/echotok" "$TOK" call:whoami)
jwt=$(jq -r 'select(.tool == "whoami" and .authorization != null) | .authorization' "$TMP/echo.log" | tail -1 | sed 's/^Bearer //')
check "minted token: masked in the answer that echoes it" "$(field call:whoami .text | jq -r . | jq -r .authorization)" \
    "Bearer $(tr -c '\n' '*' <<<"$jwt")"
curl -s "http://$ADDR/.well-known/jwks.json" >"$TMP/jwks.json"
claims=$(cd "$REPO/tests/peers" && node --input-type=module -e '
import * as jose from "jose"; import { readFileSync } from "node:fs";
const jwks = jose.createLocalJWKSet(JSON.parse(readFileSync(process.argv[1], "utf8")));
const { payload } = await jose.jwtVerify(process.argv[2], jwks, { issuer: "https://writ.local", audience: "https://echo.example" });
console.log(JSON.stringify(payload));' "$TMP/jwks.json" "$jwt" 2>&1)
check "minted token: signed by Writ, aud, sub, txn, scope" \
    "$(jq -c '[.sub, .txn, .scope]' <<<"$claims" 2>&1)" '["spiffe://corp.example/agents/helper","t-main","echotok/whoami"]'
check "minted token: exp <= 60 s" "$(jq '.exp - .iat <= 60' <<<"$claims" 2>&1)" true
[ "$jwt" != "$TOK" ] && ok "the agent's token is not what the upstream got" || bad "agent token forwarded"
# a ping is no decided action: its minted token carries what the task token
# may do on the upstream, not the whole upstream
WT=$(mint t-whoami 'echotok/whoami' 'echo/add')
req POST /mcp/echotok -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -H "Authorization: Bearer $WT" --data '{"jsonrpc":"2.0","id":41,"method":"ping"}' >/dev/null
pj=$(jq -r 'select(.method == "ping") | .authorization' "$TMP/echo.log" | tail -1 | sed 's/^Bearer //')
check "a ping's minted token: scope is the task token's items on the upstream" \
    "$(python3 -c 'import sys, base64, json; p = sys.argv[1].split(".")[1]; print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["scope"])' "$pj" 2>&1)" "echotok/whoami"

# ---- a revoked token is refused on the very next message
RT=$(mint t-revoke 'echo/*')
# (in-process, RFC 7009 at /oauth2/revoke: effective at once; `writ revoke` from
# another process is picked up within 250 ms, see tokens.sh)
( for _ in $(seq 300); do [ -e "$TMP/called" ] && break; sleep 0.05; done; curl -s -m 5 -o "$TMP/revoke.out" -w '%{http_code}' -X POST "http://$ADDR/oauth2/revoke" \
      -H 'Content-Type: application/x-www-form-urlencoded' -H "Authorization: Bearer $RT" \
      --data-urlencode "token=$RT" >"$TMP/revoke.code"; touch "$TMP/revoked" ) &
OUT=$(mcp "$URL/echo" "$RT" 'call:add:{"a":1,"b":1}' "touch:$TMP/called" "wait:$TMP/revoked" 'call:add:{"a":1,"b":1}')
check "revoked at /oauth2/revoke" "$(cat "$TMP/revoke.code")" 200
check "before revocation" "$(jq -s -c '.[0].text' <<<"$OUT")" '"2"'
check "after revocation: refused" "$(jq -s -c '.[3].ok' <<<"$OUT")" false
contains "refused with 401" "$(jq -s -r '.[3].message' <<<"$OUT")" "401"

# ---- stdio upstream killed mid-session: restarted, a call 1 s later works
CH=$(pgrep -P "$WPID" | head -1)
# (killed once the first call is answered, however long the client took to get there)
OUT=$(mcp "$URL/files" "$TOK" list "call:read_text_file:{\"path\":\"$TMP/files/a.txt\"}" "touch:$TMP/stdio-called" \
    "wait:$TMP/killed" sleep:1000 \
    "call:read_text_file:{\"path\":\"$TMP/files/a.txt\"}" "call:write_file:{\"path\":\"$TMP/files/b.txt\",\"content\":\"x\"}" &
    for _ in $(seq 300); do [ -e "$TMP/stdio-called" ] && break; sleep 0.1; done
    kill "$CH"; touch "$TMP/killed"; wait)
check "stdio tools/list filtered" "$(jq -s -c '.[0].tools' <<<"$OUT")" '["list_directory","read_text_file"]'
check "stdio call" "$(jq -s -c '.[1].text' <<<"$OUT")" '"hello from a file\n"'
check "after kill + 1 s: the restarted process answers" "$(jq -s -c '.[5].text' <<<"$OUT")" '"hello from a file\n"'
check "stdio write denied" "$(jq -s -c '.[6].code' <<<"$OUT")" -32001
[ -e "$TMP/files/b.txt" ] && bad "denied write reached the filesystem" || ok "denied write never happened"
NEW=$(pgrep -P "$WPID" | head -1)
[ -n "$NEW" ] && [ "$NEW" != "$CH" ] && ok "a new stdio process ($NEW after $CH)" || bad "no new stdio process"

# ---- bad input: an error to the client, nothing forwarded, the gateway keeps serving
H=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $TOK")
# A call's answer is sent as soon as the upstream's is in: the worker whose
# connection it is gets woken (loop.c), not served at its next timeout
# (100 ms a call when that wake-up was missing).
times=$(for i in $(seq 15); do
    curl -s -m 5 -o /dev/null -w '%{time_total}\n' -X POST "${H[@]}" "http://$ADDR/mcp/echo" \
        --data "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/call\",\"params\":{\"name\":\"add\",\"arguments\":{\"a\":1,\"b\":2}}}"
done | sort -n | sed -n 8p)
awk -v t="$times" 'BEGIN {exit !(t < 0.08)}' && ok "15 calls one after another: median ${times}s (< 80 ms: no missed wake-up)" ||
    bad "15 calls one after another: median ${times}s, not under 80 ms (a missed wake-up?)"
# A lone call's worker waits for the upstream's answer itself (upstream_http.c,
# hold_wait): the answer wakes that worker, not the upstream's thread first.
# Over 60 calls one after another the upstreams' threads (writ-mcp-http, one
# per HTTP upstream, each also up about once a second for its timers) wake
# far fewer times than there are calls, and every answer is its own.
upsw() { local n=0 t; for t in /proc/$WPID/task/*; do [ "$(cat "$t/comm" 2>/dev/null)" = writ-mcp-http ] &&
    n=$((n + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status"))); done; echo $n; }
nup=$(for t in /proc/$WPID/task/*; do cat "$t/comm"; done | grep -c '^writ-mcp-http$' || true)
check "one thread per HTTP upstream (writ-mcp-http)" "$nup" 9
sw0=$(upsw) t0=$(date +%s%N)
for i in $(seq 60); do
    curl -s -m 5 -X POST "${H[@]}" "http://$ADDR/mcp/echo" \
        --data "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/call\",\"params\":{\"name\":\"add\",\"arguments\":{\"a\":$i,\"b\":1000}}}"; echo
done >"$TMP/lone"
sw=$(($(upsw) - sw0)) ms=$((($(date +%s%N) - t0) / 1000000))
# every upstream thread's timers: about one wake-up each a second, so a slow
# (loaded) machine gets a higher bound; woken per call is still 60 more
lim=$((30 + (nup + 1) * (ms / 1000 + 1)))
n=0; i=0
while read -r line; do i=$((i + 1)); [ "$(jq -r '[.id, .result.content[0].text] | join(" ")' <<<"$line")" = "$i $((i + 1000))" ] && n=$((n + 1)); done <"$TMP/lone"
check "60 lone calls, each its own answer" "$n" 60
[ "$sw" -lt "$lim" ] && ok "60 lone calls in $ms ms: the upstreams' threads woke $sw times (< $lim)" ||
    bad "60 lone calls in $ms ms: the upstreams' threads woke $sw times (not < $lim: woken per call?)"
# then 32 calls at once (the upstream's thread reads the answers), each its own
# answer, then lone calls again
PAR=()
for i in $(seq 32); do
    curl -s -m 10 -X POST "${H[@]}" "http://$ADDR/mcp/echo" \
        --data "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/call\",\"params\":{\"name\":\"add\",\"arguments\":{\"a\":$i,\"b\":100}}}" >"$TMP/par.$i" &
    PAR+=("$!")
done
wait "${PAR[@]}"
n=0; for i in $(seq 32); do [ "$(jq -r '[.id, .result.content[0].text] | join(" ")' <"$TMP/par.$i" 2>/dev/null)" = "$i $((i + 100))" ] && n=$((n + 1)); done
check "32 calls at once, each its own answer" "$n" 32
for i in 1 2 3; do
    r=$(req POST /mcp/echo "${H[@]}" --data "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/call\",\"params\":{\"name\":\"add\",\"arguments\":{\"a\":$i,\"b\":5}}}")
    check "a lone call after them ($i)" "$(jq -r '.result.content[0].text' <<<"${r#* }")" $((i + 5))
done
before=$(wc -l <"$TMP/echo.log")
r=$(req POST /mcp/echo "${H[@]}" --data '{"jsonrpc":"2.0","id":1,"method":')
check "malformed JSON: 400" "${r%% *}" 400
check "malformed JSON: -32700" "$(jq .error.code <<<"${r#* }")" -32700
r=$(req POST /mcp/echo "${H[@]}" --data '[{"jsonrpc":"2.0","id":1,"method":"ping"}]')
check "batch refused: -32600" "$(jq .error.code <<<"${r#* }")" -32600
r=$(req POST /mcp/echo "${H[@]}" --data '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}}')
check "tools/call without a name: -32602" "$(jq -c '[.id,.error.code]' <<<"${r#* }")" '[7,-32602]'
deep=$(printf '{"a":%.0s' $(seq 200))1$(printf '}%.0s' $(seq 200))
r=$(req POST /mcp/echo "${H[@]}" --data "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{\"name\":\"add\",\"arguments\":$deep}}")
check "deep nesting: -32600" "$(jq .error.code <<<"${r#* }")" -32600
head -c 10485760 /dev/zero | tr '\0' 'x' | sed 's/^/{"jsonrpc":"2.0","id":9,"method":"tools\/call","params":{"name":"add","arguments":{"s":"/; s/$/"}}}/' >"$TMP/big.json"
r=$(req POST /mcp/echo "${H[@]}" --data-binary "@$TMP/big.json")
check "10 MB arguments: 413" "${r%% *}" 413
r=$(req POST /mcp/echo "${H[@]}" --data '{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"add","arguments":{"__entity":{"type":"Writ::Agent","id":"x"}}}}')
check "forged entity in arguments: -32602" "$(jq .error.code <<<"${r#* }")" -32602
r=$(req POST /mcp/echo "${H[@]}" --data '{"jsonrpc":"2.0","id":11,"method":"sampling/other","params":{}}')
check "an unknown method is denied: -32001" "$(jq .error.code <<<"${r#* }")" -32001
# tool and method actions never meet: a tool named like a method, a method
# named like a tool, a request sent as a notification
r=$(req POST /mcp/echo "${H[@]}" --data '{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"resources/read","arguments":{"uri":"x://y"}}}')
check "a tool name with '/': -32602" "$(jq -c '[.id,.error.code]' <<<"${r#* }")" '[14,-32602]'
r=$(req POST /mcp/echo "${H[@]}" --data '{"jsonrpc":"2.0","id":15,"method":"add","params":{"a":1,"b":2}}')
check "a method without '/' (the tool add's action): -32601" "$(jq -c '[.id,.error.code]' <<<"${r#* }")" '[15,-32601]'
contains "a method without '/': refused by Writ, not the upstream" "$r" "would be a tool's"
r=$(req POST /mcp/echo "${H[@]}" --data '{"jsonrpc":"2.0","method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}')
check "a tools/call without an id (a notification): 400" "${r%% *}" 400
contains "a tools/call without an id: says why" "$r" "needs an id"
# the stdio process's own requests never reach a client: an answer to one is
# forged (a roots/list answer would widen the roots of a process every agent shares)
r=$(req POST /mcp/files "${H[@]}" --data '{"jsonrpc":"2.0","id":0,"result":{"roots":[{"uri":"file:///"}]}}')
check "an answer to a stdio upstream: 400" "${r%% *}" 400
contains "an answer to a stdio upstream: says why" "$r" "never reach a client"
check "nothing of the bad input was forwarded" "$(wc -l <"$TMP/echo.log")" "$before"
# another method's params are its input (without _meta): a policy reads them
cc() { req POST /mcp/echo "${H[@]}" --data "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"completion/complete\",\"params\":{\"ref\":{\"type\":\"ref/prompt\",\"name\":\"p\"},\"argument\":{\"name\":\"a\",\"value\":\"$2\"},\"_meta\":{\"progressToken\":1}}}"; }
r=$(cc 33 bad)
check "completion/complete, a value the policy does not allow: -32001" "$(jq .error.code <<<"${r#* }")" -32001
r=$(cc 34 ok)
check "... one it allows: forwarded (the upstream's own answer)" "$(jq -c '[.id, .error.code != -32001]' <<<"${r#* }")" '[34,true]'
r=$(req POST /mcp/everything "${H[@]}" --data '{"jsonrpc":"2.0","id":36,"method":"resources/subscribe","params":{"uri":"demo://resource/static/document/../../dynamic/1"}}')
check "resources/subscribe of a '..' uri: -32602, as resources/read" "$(jq -c '[.id,.error.code]' <<<"${r#* }")" '[36,-32602]'
r=$(req POST /mcp/everything "${H[@]}" --data '{"jsonrpc":"2.0","id":35,"method":"resources/read","params":{"uri":"demo://resource/static/document/1","mode":"write"}}')
check "resources/read with another params member: -32602" "$(jq -c '[.id,.error.code]' <<<"${r#* }")" '[35,-32602]'
r=$(req POST /mcp/dead "${H[@]}" --data '{"jsonrpc":"2.0","id":12,"method":"ping"}')
check "upstream down: JSON-RPC -32603" "$(jq -c '[.id,.error.code]' <<<"${r#* }")" '[12,-32603]'
call_bad() { req POST /mcp/bad "${H[@]}" --data "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"tools/call\",\"params\":{\"name\":\"$2\"}}"; }
r=$(call_bad 20 garbage)
check "upstream answers garbage: -32603" "$(jq -c '[.id,.error.code]' <<<"${r#* }")" '[20,-32603]'
r=$(call_bad 21 close)
check "upstream closes mid-answer (JSON): -32603" "$(jq -c '[.id,.error.code]' <<<"${r#* }")" '[21,-32603]'
r=$(call_bad 25 sselist)
contains "a streamed answer holding a list (key escaped): filtered" "$r" '"tools":[{"name":"garbage"}]'
# (what the stream said of hang is no listing: the hang test below is still forwarded)
r=$(call_bad 22 sseclose)
contains "upstream closes mid-stream (SSE): the piece sent arrives" "$r" "notifications/progress"
curl -s -m 2 -o /dev/null -X POST "${H[@]}" --data '{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{"name":"hang"}}' "http://$ADDR/mcp/bad"
check "upstream hangs: the client gives up (curl timeout)" "$?" 28
r=$(req POST /mcp/echo "${H[@]}" --data '{"jsonrpc":"2.0","id":13,"method":"ping"}')
check "still serving" "${r%% *}" 200
# a resources/read uri an upstream could resolve elsewhere: refused before any decision
r=$(req POST /mcp/everything "${H[@]}" --data '{"jsonrpc":"2.0","id":26,"method":"resources/read","params":{"uri":"demo://resource/static/document/../../dynamic/1"}}')
check "resources/read of a '..' uri: -32602" "$(jq -c '[.id,.error.code]' <<<"${r#* }")" '[26,-32602]'
contains "resources/read of a '..' uri: says where" "$r" "'..' segment at byte 32"
r=$(req POST /mcp/everything "${H[@]}" --data '{"jsonrpc":"2.0","id":27,"method":"resources/read","params":{"uri":"demo://resource/static/document/%2e%2e/x"}}')
check "resources/read of an encoded '..': -32602" "$(jq -c '[.id,.error.code]' <<<"${r#* }")" '[27,-32602]'
r=$(req POST /mcp/everything "${H[@]}" --data '{"jsonrpc":"2.0","id":28,"method":"resources/read","params":{"uri":"demo://resource/static/document/.\t./.\t./dynamic/text/1"}}')
check "resources/read of a '.<TAB>.' uri (a URL parser drops the tab): -32602" "$(jq -c '[.id,.error.code]' <<<"${r#* }")" '[28,-32602]'
# a list in SSE with a BOM, lone CRs, a comment, a priming event and two data lines: filtered
OUT=$(mcp "$URL/bad" "$TOK" list)
check "tools/list in unusual SSE: read and filtered" "$(field list .tools)" '["close","garbage","hang","sseclose","sselist"]'
# a list the filter's parser refused once passed unfiltered: read it, or fail the answer
OUT=$(mcp "$URL/badnul" "$TOK" list)
check "tools/list with an escaped NUL: read and filtered" "$(field list .tools)" '["garbage"]'
# a list answered with a 2xx other than 200 is filtered all the same
r=$(req POST /mcp/bad203 "${H[@]}" --data '{"jsonrpc":"2.0","id":29,"method":"tools/list"}')
check "tools/list answered 203: filtered (no policy allows either tool)" "$(jq -c '.result.tools' <<<"${r#* }")" '[]'
r=$(req POST /mcp/badutf "${H[@]}" --data '{"jsonrpc":"2.0","id":24,"method":"tools/list"}')
check "tools/list that is not UTF-8: -32603, not passed" "$(jq -c '[.id,.error.code]' <<<"${r#* }")" '[24,-32603]'
contains "tools/list that is not UTF-8: says why" "$r" "could not be read"

# ---- prompts: listed one by one (name known, arguments unknown), decided on both
OUT=$(mcp "$URL/everything" "$TOK" prompts 'prompt:simple-prompt:{}' 'prompt:args-prompt:{"city":"Paris"}' \
    'prompt:args-prompt:{"city":"Rome"}' 'prompt:resource-prompt:{"resourceType":"Text","resourceId":"1"}')
check "prompts/list: only the prompts some call may get" "$(field prompts .names)" '["args-prompt","simple-prompt"]'
check "prompt allowed by name" "$(field 'prompt:simple-prompt:{}' .ok)" true
check "prompt allowed by its arguments" "$(field 'prompt:args-prompt:{"city":"Paris"}' .ok)" true
check "prompt denied by its arguments" "$(field 'prompt:args-prompt:{"city":"Rome"}' .code)" -32001
check "unlisted prompt denied" "$(field 'prompt:resource-prompt:{"resourceType":"Text","resourceId":"1"}' .code)" -32001

# ---- /metrics: the gateway's requests under their own endpoint, with their statuses
m=$(curl -s "http://$ADDR/metrics")
n=$(awk '/^writ_request_duration_seconds_count\{endpoint="mcp"\}/ {print $2}' <<<"$m")
[ "${n:-0}" -ge 20 ] && ok "metrics: MCP requests counted ($n)" || bad "metrics: MCP requests counted: <$n>"
c4=$(awk '/^writ_http_responses_total\{code="4xx"\}/ {print $2}' <<<"$m")
[ "${c4:-0}" -ge 2 ] && ok "metrics: the gateway's 4xx answers counted ($c4)" || bad "metrics: 4xx counted: <$c4>"

# ---- writ mcp schema: a Cedar fragment from the upstream's tools/list
sch=$("$WRIT" mcp schema everything --config "$TMP/writ.conf" 2>&1)
contains "mcp schema (HTTP, by name): get-sum action" "$sch" 'action "everything/get-sum" appliesTo'
contains "mcp schema: McpServer" "$sch" "entity McpServer;"
sch=$("$WRIT" mcp schema "http://127.0.0.1:$XPORT/mcp" --name echo --header "X-Api-Key: k" 2>&1)
contains "mcp schema (URL): add typed" "$sch" 'action "echo/add" appliesTo'
sch=$("$WRIT" mcp schema files --config "$TMP/writ.conf" 2>/dev/null)
contains "mcp schema (stdio)" "$sch" 'action "files/read_text_file" appliesTo'
"$WRIT" mcp schema nosuch --config "$TMP/writ.conf" >/dev/null 2>&1
check "mcp schema: unknown name refused" "$?" 2

# ---- audit: every decision, its action uid, a hash of the arguments; the chain verifies
q=$("$WRIT" audit query --state-dir "$TMP/mcp.state" --action 'Writ::Action::"everything/get-sum"')
check "audit: both get-sum decisions" "$(jq -s -c '[.[].decision]' <<<"$q")" '["allow","deny"]'
h=$(jq -n -c '{"a":1,"b":2}' | node -e 'const c=require("crypto");let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(c.createHash("sha256").update(s.trim()).digest("hex")))')
check "audit: SHA-256 of the canonical arguments" "$(jq -s -r '.[0].errors[-1].input_sha256' <<<"$q")" "$h"
"$WRIT" audit verify --state-dir "$TMP/mcp.state" >"$TMP/verify" 2>&1 && ok "audit verify" || { bad "audit verify"; cat "$TMP/verify"; }
# ---- an upstream slow to list its tools holds no worker: a server with one
# worker thread asks it (3 s) while the calls that named an unlisted tool
# wait, suspended; meanwhile the worker answers others at once.  Both calls
# are then decided on what the list declares, after one ask.
LIST_DELAY_MS=3000 LOG="$TMP/slowup.log" node "$REPO/tests/mcp/echo_upstream.mjs" >"$TMP/slow.port" 2>"$TMP/slow.err" &
PIDS+=("$!")
for _ in $(seq 100); do [ -s "$TMP/slow.port" ] && break; sleep 0.1; done
printf 'token_keys = %s\nmcp_upstream = slowlist http://127.0.0.1:%s/mcp\n' "$TMP/k.pem" "$(head -1 "$TMP/slow.port")" >"$TMP/slow.conf"
cat "$EX/mcp.cedar" - >"$TMP/slow.cedar" <<'CEDAR'
permit (principal, action in [Writ::Action::"slowlist/add", Writ::Action::"slowlist/wipe"], resource);
CEDAR
MAIN_ADDR=$ADDR MAIN_PID=$WPID
start_writ slow --policies "$TMP/slow.cedar" --config "$TMP/slow.conf" --threads 1
SLT=$(mint t-slow 'slowlist/*')
slowcall() { # slowcall OUT ID TOOL ARGS: in the background (OUT.code: the HTTP status)
    curl -s -m 20 -o "$1" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
        -H "Authorization: Bearer $SLT" "http://$ADDR/mcp/slowlist" \
        --data "{\"jsonrpc\":\"2.0\",\"id\":$2,\"method\":\"tools/call\",\"params\":{\"name\":\"$3\",\"arguments\":$4}}" \
        >"$1.code" &
}
slowcall "$TMP/slow.1" 1 wipe '{}'; s1=$!
sleep 0.3
slowcall "$TMP/slow.2" 2 add '{"a":1,"b":2}'; s2=$!
sleep 0.3
t0=$(date +%s%N)
r=$(req GET /healthz)
ms=$((($(date +%s%N) - t0) / 1000000))
check "/healthz answered while the gateway asks a slow upstream" "${r%% *}" 200
check "... at once (under 1500 ms of the ask's 3000; took $ms ms)" "$([ "$ms" -lt 1500 ] && echo yes)" yes
wait "$s1" "$s2"
contains "the call that waited: decided on the listed annotations" "$(cat "$TMP/slow.1")" "denied by policy no-destructive-tools"
contains "the other call that waited: its answer" "$(cat "$TMP/slow.2")" '"3"'
check "one ask for both" "$(jq -r 'select(.method == "tools/list") | .method' "$TMP/slowup.log" | wc -l | tr -d ' ')" 1
check "the destructive tool never reached the upstream" "$(jq -r 'select(.tool == "wipe") | .tool' "$TMP/slowup.log" | wc -l | tr -d ' ')" 0
stop_writ "$WPID"
# shutdown while a call waits for an ask (a new server: it has asked
# nothing yet): the call gets an answer (decided once the ask is over, or
# 503), the server exits cleanly
start_writ slow2 --policies "$TMP/slow.cedar" --config "$TMP/slow.conf" --threads 1
slowcall "$TMP/slow.3" 3 add '{"a":2,"b":2}'; s3=$!
sleep 0.5
t0=$(date +%s%N)
stop_writ "$WPID"
ms=$((($(date +%s%N) - t0) / 1000000))
check "clean shutdown while a call waits for an ask" "$STOP_RC" 0
check "... within the ask's bound ($ms ms)" "$([ "$ms" -lt 6000 ] && echo yes)" yes
wait "$s3"
check "the waiting call got an answer at shutdown" "$(grep -cxE '200|503' "$TMP/slow.3.code")" 1
# forbid_error_denies = false: Cedar's rule, the failing forbid skipped
start_writ skip --policies "$TMP/policies.cedar" --config "$TMP/writ.conf" --forbid-error-denies false
contains "forbid_error_denies false: the failing forbid is skipped" "$(fcall 21 whoami '{}')" "authorization"
OUT=$(mcp "http://$ADDR/mcp/flip" "$FT" list)
contains "... and the tool listed" "$(field list .tools)" '"whoami"'
stop_writ "$WPID"
ADDR=$MAIN_ADDR WPID=$MAIN_PID

# ---- shutdown with calls in flight: a lone one (held by its worker, then
# left to the upstream's thread) and others at once, all to an upstream that
# never answers; SIGTERM: each client gets an answer (an error) at once, and
# the server exits cleanly
HANG=()
for i in 1 2 3 4; do
    curl -s -m 20 -o "$TMP/hang.$i" -w '%{http_code}' -X POST "${H[@]}" "http://$ADDR/mcp/bad" \
        --data "{\"jsonrpc\":\"2.0\",\"id\":$i,\"method\":\"tools/call\",\"params\":{\"name\":\"hang\"}}" >"$TMP/hang.$i.code" &
    HANG+=("$!")
    [ "$i" = 1 ] && sleep 0.3 # the first alone
done
sleep 0.5
t0=$(date +%s%N)
stop_writ "$WPID"
check "clean shutdown with calls in flight" "$STOP_RC" 0
wait "${HANG[@]}"
ms=$((($(date +%s%N) - t0) / 1000000))
n=0; for i in 1 2 3 4; do jq -e ".id == $i and .error.code == -32603" <"$TMP/hang.$i" >/dev/null 2>&1 && n=$((n + 1)); done
check "every call in flight answered with an error at shutdown" "$n" 4
[ "$ms" -lt 10000 ] && ok "the calls in flight ended with the server ($ms ms)" || bad "calls in flight ended after $ms ms"
if grep -qE "AddressSanitizer|LeakSanitizer|runtime error" "$TMP/mcp.log"; then
    bad "sanitizer report in the server's log"; grep -A20 -E "Sanitizer|runtime error" "$TMP/mcp.log" | head -60
else ok "no sanitizer report in the server's log"; fi
finish
