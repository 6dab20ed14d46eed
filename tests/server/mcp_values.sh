#!/usr/bin/env bash
# mcp_values.sh - the MCP gateway's context built straight into Cedar values
# (gateway.c call_values, facts.c srv_facts_task) against the way before it
# (the context as JSON, read back: mcp_context_values = false).  Two servers,
# the same policies on context.input, context.tool and every task fact, the
# same token and messages: every answer must be byte for byte the same, and
# so must the audit records (but their time and hash chain).
. "$(dirname "$0")/lib.sh"
command -v node >/dev/null && command -v jq >/dev/null || { echo "skip: node or jq missing"; exit 77; }

node "$REPO/bench/mcp/upstream.mjs" >"$TMP/up.port" &
PIDS+=("$!")
for _ in $(seq 50); do [ -s "$TMP/up.port" ] && break; sleep 0.1; done
UP=$(head -1 "$TMP/up.port")
"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
cat >"$TMP/p.cedar" <<'CEDAR'
@id("p-add")
permit (principal, action == Writ::Action::"v/add", resource)
when { context.input.a < 100 && context.tool.name == "add" &&
       context.tool.annotations == {"readOnlyHint": true} }; // as the upstream lists it
@id("f-unlisted")
forbid (principal, action == Writ::Action::"v/nope", resource) // not listed: MCP's defaults
when { context.tool.annotations == {"readOnlyHint": false, "destructiveHint": true, "idempotentHint": false,
                                    "openWorldHint": true} };
@id("p-set")
permit (principal, action == Writ::Action::"v/tags", resource)
when { context.input.tags.containsAll(["x", "y"]) && !(context.input.tags.contains(1)) };
@id("p-dec")
permit (principal, action == Writ::Action::"v/pay", resource)
when { context.input.amount.lessThan(decimal("10.5")) && context.input.note == "1e-7" };
@id("p-deep")
permit (principal, action == Writ::Action::"v/deep", resource)
when { context.input.o.p.q == "r\u{e9}" && !(context.input.o has n) && context.input.o.l == [2, 1] };
@id("p-task")
permit (principal, action == Writ::Action::"v/task", resource)
when { context.task.purpose == "bench" && context.task.id == "txn-7" &&
       context.chain == ["spiffe://corp.example/agents/v"] && context.chain_depth == 0 &&
       context.sensitivity == "restricted" && context.destinations.containsAll(["db.internal", "external"]) && ["db.internal", "external"].containsAll(context.destinations) &&
       context.source_ip.isLoopback() && context.destination == "external" &&
       context.time > datetime("2020-01-01") && context == {
         "input": context.input, "tool": context.tool, "task": context.task, "chain": context.chain,
         "chain_depth": context.chain_depth, "time": context.time, "source_ip": context.source_ip,
         "destination": context.destination, "sensitivity": context.sensitivity,
         "destinations": context.destinations } };
@id("p-spend")
permit (principal, action == Writ::Action::"v/spend", resource) when { context.input.cost < 50 };
@id("f-spent")
forbid (principal, action == Writ::Action::"v/spend", resource)
when { context.history.spent.greaterThan(decimal("20.0")) };
@id("f-big")
forbid (principal, action, resource) when { context.input has big && context.input.big > 5 };
CEDAR
# a limit that sums an argument: read from the values given (srv_ask.given_record) or the JSON
args=(--policies "$TMP/p.cedar" --token-keys "$TMP/k.pem" --mcp-upstream "v http://127.0.0.1:$UP/mcp"
      --limit "spent 1h v/spend sum context.input.cost per task")
start_writ values "${args[@]}"
A1=$ADDR P1=$WPID
start_writ json "${args[@]}" --mcp-context-values false --mcp-spin-us 0 # and the worker never spins
A2=$ADDR P2=$WPID
TOK=$("$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ \
    --subject spiffe://corp.example/agents/v --purpose bench --action 'v/*' --sensitivity restricted \
    --destination external --destination db.internal --txn txn-7 --ttl 600)

call() { # call ADDR BODY: "STATUS BODY"
    curl -s -m 5 -X POST "http://$1/mcp/v" -H 'Content-Type: application/json' \
        -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $TOK" \
        -w ' %{http_code}' --data-binary "$2"
}
msgs=(
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}'
    '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add","arguments":{"a":100}}}'
    '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add","arguments":{"a":1.5}}}'
    '{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"add"}}'
    '{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"tags","arguments":{"tags":["y","x",null,"x"]}}}'
    '{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"tags","arguments":{"tags":["y","x",1]}}}'
    '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"pay","arguments":{"amount":10.25,"note":1e-7}}}'
    '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"pay","arguments":{"amount":10.5,"note":1e-7}}}'
    '{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"pay","arguments":{"amount":0.00001,"note":"1e-7"}}}'
    '{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"deep","arguments":{"o":{"p":{"q":"r\u00e9"},"n":null,"l":[1,2,2]}}}}'
    '{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"deep","arguments":{"o":{"p":{"q":"ré"},"l":[1,2]},"big":6}}}'
    '{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"task","arguments":{}}}'
    '{"jsonrpc":"2.0","id":"s","method":"tools/call","params":{"name":"task","arguments":{"k\u0000ey":[{"a":[]}],"":true}}}'
    '{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"task","arguments":{"x":{"__extn":{"fn":"ip","arg":"1.2.3.4"}}}}}'
    '{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":"nope","arguments":{"a":1}}}'
    '{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"add","arguments":{"a":1e400}}}'
    '{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"add","arguments":[1]}}'
    '{"jsonrpc":"2.0","id":18,"method":"resources/read","params":{"uri":"file:///x"}}'
    '{"jsonrpc":"2.0","id":19,"method":"ping"}'
    '{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"spend","arguments":{"cost":12}}}'
    '{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"spend","arguments":{"cost":"x"}}}'
    '{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":"spend","arguments":{"cost":9}}}'
    '{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{"name":"spend","arguments":{"cost":1}}}'
    '{"jsonrpc":"2.0","id":24,"method":"tools/call","params":{"name":"spend","arguments":{"cost":"2.5"}}}'
    '{"jsonrpc":"2.0","id":25,"method":"tools/call","params":{"name":"spend","arguments":{"cost":0.25}}}'
)
allowed=0
ans=()
for m in "${msgs[@]}"; do
    r1=$(call "$A1" "$m")
    ans+=("$r1")
    r2=$(call "$A2" "$m")
    check "same answer: ${m:0:90}" "$r1" "$r2"
    [ -n "${SHOW:-}" ] && echo "    $r1"
    [[ "$r1" == *'"text":"3"'* ]] && allowed=$((allowed + 1))
done
# the policies allow some and deny others (the comparison is not vacuous)
check "calls allowed (ids 1 5 7 10 12 s 20 22, and ping)" "$allowed" 9
# the limit counted the allowed spends (12 + 9) and so denied the next one
contains "a sum that is no number is denied" "${ans[20]}" 'is not a Long or a decimal'
contains "spent 12: the next spend allowed" "${ans[21]}" '"text":"3"'
contains "spent 21 > 20: denied by the limit's forbid" "${ans[22]}" 'f-spent'
contains "a decimal as a string is summed too (then denied by the forbid)" "${ans[23]}" 'f-spent'
contains "a fraction is summed as a decimal (then denied by the forbid)" "${ans[24]}" 'f-spent'
stop_writ "$P1"
stop_writ "$P2"
strip='del(.time, .ts, .hash, .prev, .seq, .id, .record_hash, .prev_hash)'
"$WRIT" audit query --state-dir "$TMP/values.state" | jq -c "$strip" >"$TMP/a1"
"$WRIT" audit query --state-dir "$TMP/json.state" | jq -c "$strip" >"$TMP/a2"
check "audit records" "$(wc -l <"$TMP/a1")" "$(wc -l <"$TMP/a2")"
[ -n "${SHOW:-}" ] && head -2 "$TMP/a1"
if cmp -s "$TMP/a1" "$TMP/a2"; then ok "audit records the same"; else bad "audit records differ: $(diff "$TMP/a1" "$TMP/a2" | head -5)"; fi
contains "an allowed record carries input_sha256" "$(cat "$TMP/a1")" '"input_sha256"'
finish
