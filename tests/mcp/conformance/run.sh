#!/usr/bin/env bash
# run.sh WRIT - the official MCP conformance suite (@modelcontextprotocol/
# conformance, server mode, every scenario: --suite all) run twice against
# the same fixture server (fixture_server.mjs, the official SDK):
#   1. directly (the baseline), and
#   2. through `writ serve` as an MCP gateway, with a task token added by
#      auth_proxy.mjs (the suite's client sends no headers).
# Required: every check that succeeds directly succeeds through Writ, except
# the scenarios listed in expected_writ_failures.txt (each with its reason).
# Prints both summaries and the per-scenario comparison.
. "$(dirname "$0")/../../server/lib.sh"

HERE="$REPO/tests/mcp/conformance"
PEERS="$REPO/tests/peers/node_modules"
SUITE="$PEERS/@modelcontextprotocol/conformance/dist/index.js"
if ! command -v node >/dev/null || ! command -v jq >/dev/null || [ ! -f "$SUITE" ] ||
    [ ! -d "$PEERS/@modelcontextprotocol/sdk" ]; then
    echo "skip: node, jq or the conformance suite is missing (cd tests/peers && npm ci)"; exit 77
fi
# the suite is built for Node 22; node20.mjs adds what Node 20 lacks
suite() { timeout 600 node --import "$HERE/node20.mjs" "$SUITE" server --suite all "$@"; }

# ---- the fixture
node "$HERE/fixture_server.mjs" >"$TMP/fixture.port" 2>"$TMP/fixture.err" &
PIDS+=("$!")
for _ in $(seq 100); do [ -s "$TMP/fixture.port" ] && break; sleep 0.1; done
FPORT=$(head -1 "$TMP/fixture.port")
[ -n "$FPORT" ] || { cat "$TMP/fixture.err"; bad "fixture did not start"; finish; }

# ---- 1. directly
suite --url "http://127.0.0.1:$FPORT/mcp" -o "$TMP/direct" >"$TMP/direct.log" 2>&1
echo "== directly against the fixture"
sed -n '/=== SUMMARY ===/,$p' "$TMP/direct.log"

# ---- 2. through Writ
"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
cat >"$TMP/writ.conf" <<CONF
token_keys = $TMP/k.pem
public_url = http://writ.test:8180
mcp_upstream = conf http://127.0.0.1:$FPORT/mcp
CONF
# Everything the fixture offers, for the conformance agent only: its tools,
# its prompts and resources, and the methods that are not calls of a tool
# (denied unless a policy names them).
AGENT=spiffe://corp.example/agents/conformance
cat >"$TMP/policies.cedar" <<CEDAR
@id("conformance-fixture")
permit (
  principal == Writ::Agent::"$AGENT",
  action in [
    Writ::Action::"conf/test_simple_text", Writ::Action::"conf/test_image_content",
    Writ::Action::"conf/test_audio_content", Writ::Action::"conf/test_embedded_resource",
    Writ::Action::"conf/test_multiple_content_types", Writ::Action::"conf/test_tool_with_logging",
    Writ::Action::"conf/test_tool_with_progress", Writ::Action::"conf/test_error_handling",
    Writ::Action::"conf/test_sampling", Writ::Action::"conf/test_elicitation",
    Writ::Action::"conf/test_elicitation_sep1034_defaults", Writ::Action::"conf/test_elicitation_sep1330_enums",
    Writ::Action::"conf/json_schema_2020_12_tool", Writ::Action::"conf/test_reconnection",
    Writ::Action::"conf/prompts/get", Writ::Action::"conf/resources/read",
    Writ::Action::"conf/resources/subscribe", Writ::Action::"conf/resources/unsubscribe",
    Writ::Action::"conf/logging/setLevel", Writ::Action::"conf/completion/complete"
  ],
  resource == Writ::McpServer::"conf"
);
CEDAR
start_writ conf --policies "$TMP/policies.cedar" --config "$TMP/writ.conf"
TOK=$("$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ --subject "$AGENT" \
    --purpose conformance --sensitivity restricted --txn t-conformance --action 'conf/*') || { bad "token mint"; finish; }
TARGET="$ADDR" TOKEN="$TOK" node "$HERE/auth_proxy.mjs" >"$TMP/proxy.port" 2>"$TMP/proxy.err" &
PIDS+=("$!")
for _ in $(seq 100); do [ -s "$TMP/proxy.port" ] && break; sleep 0.1; done
PPORT=$(head -1 "$TMP/proxy.port")
[ -n "$PPORT" ] || { cat "$TMP/proxy.err"; bad "proxy did not start"; finish; }

# the proxy adds the token, and Writ wants it: without the proxy, a 401
r=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data '{"jsonrpc":"2.0","id":1,"method":"ping"}' "http://$ADDR/mcp/conf")
check "Writ refuses the suite's requests without the proxy's token" "$r" 401
# DNS rebinding (see docs/MCP.md): on loopback, a Host that is neither
# loopback nor public_url's host is refused; public_url's host is served
host() { curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H 'Accept: application/json, text/event-stream' -H "Authorization: Bearer $TOK" -H "Host: $1" \
    --data '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"h","version":"1"}}}' \
    "http://$ADDR/mcp/conf"; }
check "Host evil.example.com: 403" "$(host evil.example.com)" 403
check "public_url's host: served" "$(host writ.test:8180)" 200

suite --url "http://127.0.0.1:$PPORT/mcp/conf" -o "$TMP/writ" >"$TMP/writ.log" 2>&1
echo "== through Writ (auth_proxy -> writ serve -> fixture)"
sed -n '/=== SUMMARY ===/,$p' "$TMP/writ.log"
kill -0 "$WPID" 2>/dev/null && ok "writ serve is still running" || bad "writ serve died"
stop_writ "$WPID"
check "writ serve stops cleanly" "$STOP_RC" 0
grep -q "Sanitizer" "$TMP/conf.log" && { bad "a sanitizer report"; grep -A20 Sanitizer "$TMP/conf.log" | head -40; }

# ---- compare, check by check
# results DIR: one line per scenario, "scenario<TAB>{check id: status}" (the
# suite's INFO entries are a trace, not checks, and are left out).
results() {
    local d s
    for d in "$1"/server-*/; do
        s=$(basename "$d" | sed -E 's/^server-//; s/-[0-9]{4}-[0-9]{2}-[0-9]{2}T.*$//')
        printf '%s\t%s\n' "$s" "$(jq -c '[.[] | select(.status != "INFO") | {(.id): .status}] | add // {}' "$d/checks.json")"
    done | sort
}
results "$TMP/direct" >"$TMP/direct.tsv"
results "$TMP/writ" >"$TMP/writ.tsv"
N=$(wc -l <"$TMP/direct.tsv")
[ "$N" -ge 32 ] && ok "the suite ran $N scenarios directly" || bad "only $N scenarios ran directly"
check "the same scenarios ran through Writ" "$(cut -f1 "$TMP/writ.tsv")" "$(cut -f1 "$TMP/direct.tsv")"

# expected_writ_failures.txt: "scenario  reason" lines (# comments)
declare -A EXPECTED=()
while read -r s why; do
    [ -n "$s" ] && [ "${s:0:1}" != "#" ] && EXPECTED[$s]=$why
done <"$HERE/expected_writ_failures.txt"

verdict() { # verdict JSON: PASS, WARN (n) or FAIL (n)
    jq -r '[.[]] as $v | ($v | map(select(. == "FAILURE")) | length) as $f |
           ($v | map(select(. == "WARNING")) | length) as $w |
           if $f > 0 then "FAIL(\($f))" elif $w > 0 then "WARN(\($w))" else "PASS" end' <<<"$1"
}
echo
printf '%-32s %-10s %-10s %s\n' scenario direct writ ""
DIRECT_PASS=0 WRIT_PASS=0
while IFS=$'\t' read -r s d; do
    w=$(awk -F'\t' -v s="$s" '$1 == s {print $2}' "$TMP/writ.tsv")
    [ -n "$w" ] || w='{}'
    vd=$(verdict "$d") vw=$(verdict "$w")
    [[ $vd == FAIL* ]] || DIRECT_PASS=$((DIRECT_PASS + 1))
    [[ $vw == FAIL* ]] || WRIT_PASS=$((WRIT_PASS + 1))
    # checks that succeed directly and not through Writ
    lost=$(jq -rn --argjson d "$d" --argjson w "$w" \
        '[$d | to_entries[] | select(.value == "SUCCESS") | .key | select($w[.] != "SUCCESS")] | join(",")')
    note=""
    if [ -n "$lost" ]; then
        if [ -n "${EXPECTED[$s]+x}" ]; then
            note="expected: ${EXPECTED[$s]}"
        else
            note="LOST through Writ: $lost"
            bad "$s: succeeds directly, not through Writ ($lost)"
        fi
    elif [ -n "${EXPECTED[$s]+x}" ]; then
        bad "$s: listed as an expected failure but passes through Writ: take it off the list"
    fi
    printf '%-32s %-10s %-10s %s\n' "$s" "$vd" "$vw" "$note"
done <"$TMP/direct.tsv"
echo "directly: $DIRECT_PASS/$N scenarios without a failed check; through Writ: $WRIT_PASS/$N"
[ "$DIRECT_PASS" -eq "$N" ] && ok "every scenario passes directly against the fixture" ||
    bad "the fixture fails $((N - DIRECT_PASS)) scenario(s) directly: see $TMP/direct.log"

if [ "$FAILS" -ne 0 ]; then
    echo "---- checks that failed through Writ"
    for d in "$TMP/writ"/server-*/; do
        jq -r --arg d "$(basename "$d")" '.[] | select(.status == "FAILURE" or .status == "WARNING") |
            "\($d): \(.id) \(.status): \(.errorMessage // "")"' "$d/checks.json"
    done | head -60
    echo "---- writ serve log (tail)"; tail -20 "$TMP/conf.log"
fi
finish
