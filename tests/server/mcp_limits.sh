#!/usr/bin/env bash
# mcp_limits.sh - the MCP gateway's upstream limits set in the configuration
# (mcp_idle_timeout, mcp_connect_timeout, mcp_max_answer): a silent tool is
# ended at the idle timeout with a JSON-RPC error, an answer past the size is
# cut with one, and the gateway goes on serving; out-of-range values are
# refused at start with the key named.
. "$(dirname "$0")/lib.sh"

if ! command -v node >/dev/null; then echo "skip: node is missing"; exit 77; fi

node "$REPO/tests/mcp/bad_upstream.mjs" >"$TMP/bad.port" 2>&1 &
PIDS+=("$!")
for _ in $(seq 50); do [ -s "$TMP/bad.port" ] && break; sleep 0.1; done
BPORT=$(head -1 "$TMP/bad.port")
"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
cat >"$TMP/writ.conf" <<CONF
token_keys = $TMP/k.pem
mcp_upstream = bad http://127.0.0.1:$BPORT/mcp
mcp_idle_timeout = 2s
mcp_max_answer = 8192
CONF
cat >"$TMP/policies.cedar" <<'CEDAR'
permit (principal, action in [Writ::Action::"bad/hang", Writ::Action::"bad/big"], resource);
CEDAR

# ---- out of range: refused at start, the key and the range named
for bad_arg in "--mcp-max-answer 100" "--mcp-idle-timeout 0" "--mcp-connect-timeout 10m" "--mcp-idle-timeout 2x"; do
    # shellcheck disable=SC2086
    out=$("$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/x.state" --policies "$TMP/policies.cedar" \
        --config "$TMP/writ.conf" $bad_arg 2>&1)
    rc=$?
    key=${bad_arg%% *}; key=${key#--}; key=${key//-/_}
    check "$bad_arg: refused" "$rc" 2
    contains "$bad_arg: the key named" "$out" "$key"
done

start_writ limits --policies "$TMP/policies.cedar" --config "$TMP/writ.conf"
TOK=$("$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ \
    --subject spiffe://corp.example/agents/helper --purpose demo --sensitivity restricted --txn t1 --action 'bad/*')
H=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $TOK")
call() { # call ID TOOL [ARGS]
    curl -s -m 20 -X POST "${H[@]}" --data "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"tools/call\",\"params\":{\"name\":\"$2\",\"arguments\":${3:-{\}}}}" \
        "http://$ADDR/mcp/bad"
}

# ---- a tool that never answers: ended after mcp_idle_timeout (2 s), not 30
t0=$(date +%s%N)
r=$(call 1 hang)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "silent tool: a JSON-RPC error" "$(jq -c '[.id,.error.code]' <<<"$r")" '[1,-32603]'
contains "silent tool: the reason" "$r" "no byte for 2000 ms (idle timeout)"
if [ "$ms" -ge 1900 ] && [ "$ms" -lt 6000 ]; then ok "silent tool: ended after ~2 s ($ms ms)"; else bad "silent tool: ended after $ms ms"; fi

# ---- answers read whole: up to mcp_max_answer (8192 bytes), cut past it
r=$(call 2 big '{"n":4000}')
check "an answer under the size: passed on" "$(jq -r '.result.content[0].text | length' <<<"$r")" 4000
r=$(call 3 big '{"n":20000}')
check "an answer past the size: a JSON-RPC error" "$(jq -c '[.id,.error.code]' <<<"$r")" '[3,-32603]'
contains "an answer past the size: the reason" "$r" "answer larger than 8192 bytes"
r=$(call 4 big '{"n":10}')
check "still serving" "$(jq -r '.result.content[0].text' <<<"$r")" xxxxxxxxxx

# ---- the defaults: 16 MiB, 30 s (the same 20,000 bytes pass)
stop_writ "$WPID"
grep -v '^mcp_idle_timeout\|^mcp_max_answer' "$TMP/writ.conf" >"$TMP/default.conf"
start_writ defaults --policies "$TMP/policies.cedar" --config "$TMP/default.conf"
r=$(call 5 big '{"n":20000}')
check "default size: 20,000 bytes pass" "$(jq -r '.result.content[0].text | length' <<<"$r")" 20000
finish
