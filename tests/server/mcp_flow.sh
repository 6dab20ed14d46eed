#!/usr/bin/env bash
# mcp_flow.sh - the MCP gateway's flow control, with a real upstream
# (tests/mcp/flow_upstream.mjs) that streams 64 MiB SSE answers, and real
# clients (flow_client.mjs): what the gateway holds of a streamed answer its
# client does not read is bounded (the upstream is paused, not read ahead
# of the client), a client that reads gets all of a stream however long
# (no total cap on a stream), other calls are answered meanwhile, the
# credential is still masked when cut in two around a pause, and the
# connections of clients that never read are ended by the timeout.
. "$(dirname "$0")/lib.sh"

if ! command -v node >/dev/null; then
    echo "skip: node is missing"; exit 77
fi

node "$REPO/tests/mcp/flow_upstream.mjs" >"$TMP/flow.port" 2>"$TMP/flow.err" &
PIDS+=("$!")
for _ in $(seq 100); do [ -s "$TMP/flow.port" ] && break; sleep 0.1; done
KEY=flow-secret-0123456789
printf '%s\n' "$KEY" >"$TMP/flow.cred"
"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
cat >"$TMP/writ.conf" <<CONF
token_keys = $TMP/k.pem
timeout = 8
mcp_agent_requests = 32
mcp_upstream = flow http://127.0.0.1:$(cat "$TMP/flow.port")/mcp
mcp_credential = flow header X-Api-Key $TMP/flow.cred
CONF
cat "$EX/mcp.cedar" - >"$TMP/p.cedar" <<'CEDAR'
permit (principal, action in [Writ::Action::"flow/big", Writ::Action::"flow/endless", Writ::Action::"flow/echo", Writ::Action::"flow/leak",
                              Writ::Action::"flow/leakraw", Writ::Action::"flow/stats"], resource);
CEDAR
# An ASan build keeps what is freed resident for a while (its quarantine,
# 256 MiB by default): the resident size below is to show what is held
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8"
start_writ flow --policies "$TMP/p.cedar" --config "$TMP/writ.conf"
mint() {
    "$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ \
        --subject "spiffe://corp.example/agents/$1" --purpose demo --sensitivity restricted --txn "t-$1" \
        --action 'flow/*' --ttl 600
}
ALICE=$(mint alice)
BOB=$(mint bob)
URL="http://$ADDR/mcp/flow"
H=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
call() { # call TOKEN TOOL ARGS: the answer's body
    curl -s -m 3 -X POST "${H[@]}" -H "Authorization: Bearer $1" "$URL" \
        --data "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"$2\",\"arguments\":$3}}"
}
stats() { call "$BOB" stats '{}' | jq -r '.result.content[0].text'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$WPID/status"; }

r=$(call "$BOB" echo '{"text":"hello"}')
check "a call is answered" "$(jq -r '.result.content[0].text' <<<"$r")" hello
sleep 0.5
BASE=$(rss_kb)

# ---- (a) 8 answers of 64 MiB, their clients reading nothing: bounded
node "$REPO/tests/server/flow_client.mjs" hold "$URL" "$ALICE" 8 >"$TMP/hold.out" 2>&1 &
HOLD=$!
PIDS+=("$HOLD")
T0=$SECONDS
for _ in $(seq 100); do [ "$(grep -c '^open 200' "$TMP/hold.out")" = 8 ] && break; sleep 0.1; done
check "8 streams begun" "$(grep -c '^open 200' "$TMP/hold.out")" 8
sleep 2
GREW=$((($(rss_kb) - BASE) / 1024))
echo "     RSS grew by $GREW MiB with 8 unread streams (baseline $((BASE / 1024)) MiB)"
if [ "$GREW" -lt 64 ]; then ok "unread streams: RSS bounded (+$GREW MiB < 64)"; else bad "unread streams: RSS grew by $GREW MiB"; fi
s=$(stats)
check "the unread streams are paused, not cut" "$(jq -c '[.open, .aborted]' <<<"$s")" '[8,0]'

# ---- (c) other calls are answered meanwhile
slow=0
for i in 1 2 3 4 5; do
    t=$(date +%s%N)
    r=$(call "$BOB" echo "{\"text\":\"m$i\"}")
    [ "$(jq -r '.result.content[0].text' <<<"$r")" = "m$i" ] || bad "call $i meanwhile: <$r>"
    [ $((($(date +%s%N) - t) / 1000000)) -lt 1000 ] || slow=$((slow + 1))
done
check "calls meanwhile answered, each within 1 s" "$slow" 0

# ---- (b) a client that reads gets all of a 64 MiB stream, byte for byte
# (the 16 MiB cap on an answer is no longer a cap on a stream), also when
# it first reads nothing for 1 s (its upstream paused, then resumed)
T1=$SECONDS
r=$(timeout 40 node "$REPO/tests/server/flow_client.mjs" read "$URL" "$ALICE" big '{"mb":64}' 1000)
echo "     64 MiB read in $((SECONDS - T1)) s"
s=$(stats)
check "64 MiB read whole" "$(jq -c '[.status, .whole]' <<<"$r")" '[200,true]'
check "... every byte" "$(jq -r .bytes <<<"$r")" "$(jq -r .bytes <<<"$s")"
check "... the same bytes (sha256)" "$(jq -r .sha256 <<<"$r")" "$(jq -r .sha256 <<<"$s")"
r=$(call "$BOB" echo '{"text":"after"}')
check "a call after it is answered" "$(jq -r '.result.content[0].text' <<<"$r")" after

# ---- (d) the credential, cut in two around a pause, is still masked: the
# client reads nothing for 1.5 s while 24 MiB come ahead of the key (more
# than the sockets' buffers and the gateway's bound: the upstream waits)
for t in leak leakraw; do
    r=$(timeout 20 node "$REPO/tests/server/flow_client.mjs" read "$URL" "$ALICE" $t '{"mb":24}' 1500 "$TMP/$t.out")
    check "$t: read whole" "$(jq -c .whole <<<"$r")" true
    w=$(stats | jq -r .waited_ms)
    if [ "$w" -ge 1000 ]; then ok "$t: the upstream paused until the client read (${w} ms)"; else bad "$t: the upstream was read ahead of the client (${w} ms)"; fi
    if grep -q -e "$KEY" -e "secret-0" "$TMP/$t.out"; then bad "$t: the credential shown"; else ok "$t: the credential not shown"; fi
    check "$t: masked in place" "$(grep -a -o 'key:\? [*]*' "$TMP/$t.out" | tr -d :)" "key **********************"
done

# ---- what cannot be handed out at all (one SSE event that never ends) is
# held up to the upstream's max_answer (16 MiB), then the stream is cut
r=$(timeout 20 node "$REPO/tests/server/flow_client.mjs" read "$URL" "$ALICE" endless '{}' 0)
check "an endless SSE event: cut, nothing of it handed out" "$(jq -c '[.status, .bytes, .whole]' <<<"$r")" '[200,0,false]'

# ---- the clients that read nothing are ended by the connection's timeout
# (8 s), and their upstream transfers with them
for _ in $(seq 300); do [ "$(stats | jq -r .open)" = 0 ] && break; sleep 0.1; done
echo "     the unread streams ended $((SECONDS - T0)) s after they began"
check "the unread streams ended by the timeout, with their upstream transfers" "$(stats | jq -c '[.open, .aborted]')" '[0,8]'
# Writ's ends closed (a FIN waiting behind what the clients never took)
check "... their connections closed by Writ" "$(ss -Htn state fin-wait-1 "( sport = :${ADDR##*:} )" | wc -l)" 8
kill "$HOLD" 2>/dev/null

finish
