#!/usr/bin/env bash
# mcp_stdio_long.sh - a stdio upstream's answer longer than its max_answer
# fails that call alone (src/mcp/upstream_stdio.c), not the process every
# agent shares.  server-filesystem (tests/peers) over stdio, the default
# max_answer (16 MiB: no setting changes it): while bob's read of a FIFO is
# in flight in the process, alice reads a 17 MiB file, whose answer is one
# line of 34 MiB (the text twice: content and structuredContent).  Alice
# gets a JSON-RPC error naming the limit, at once; bob's read is answered
# right; the process is the same (no restart); and the next calls work.
. "$(dirname "$0")/lib.sh"

PEERS="$REPO/tests/peers/node_modules"
FSRV="$PEERS/@modelcontextprotocol/server-filesystem/dist/index.js"
if ! command -v node >/dev/null || [ ! -f "$FSRV" ] || [ ! -d "$PEERS/@modelcontextprotocol/sdk" ]; then
    echo "skip: node or the MCP peers are missing (cd tests/peers && npm ci)"; exit 77
fi
CLIENT="$REPO/tests/server/mcp_client.mjs"
MAX=$((16 << 20))

mkdir -p "$TMP/files"
echo "hello from a file" >"$TMP/files/a.txt"
head -c $((17 << 20)) /dev/zero | tr '\0' 'a' >"$TMP/files/big.txt"
# A read of the FIFO waits in the process until the test writes it: a call in flight.
mkfifo "$TMP/files/slow"

"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
cat >"$TMP/writ.conf" <<CONF
token_keys = $TMP/k.pem
mcp_upstream = files stdio node $FSRV $TMP/files
CONF
start_writ long --policies "$EX/mcp.cedar" --config "$TMP/writ.conf"
URL="http://$ADDR/mcp/files"
mint() { # mint AGENT
    "$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ \
        --subject "spiffe://corp.example/agents/$1" --purpose demo --sensitivity restricted --txn "t-$1" \
        --action 'files/*'
}
ALICE=$(mint alice)
BOB=$(mint bob)
mcp() { timeout 90 node "$CLIENT" "$@" 2>>"$TMP/client.err"; }
read_of() { echo "call:read_text_file:{\"path\":\"$TMP/files/$1\"}"; }

# a first call: the process is up and initialized
OUT=$(mcp "$URL" "$BOB" "$(read_of a.txt)")
check "a first read" "$(jq -c .text <<<"$OUT")" '"hello from a file\n"'
CH=$(pgrep -P "$WPID" | head -1)
[ -n "$CH" ] && ok "the stdio process runs ($CH)" || { bad "no stdio process"; finish; }

# The FIFO's writer: it opens once the process opens the FIFO to read it
# (bob's call is then in flight), and writes when told to.
(
    exec 3>"$TMP/files/slow"
    touch "$TMP/slow-open"
    for _ in $(seq 600); do [ -e "$TMP/go" ] && break; sleep 0.1; done
    echo "slow file" >&3
) &
WRITER=$!
PIDS+=("$WRITER")
mcp "$URL" "$BOB" "$(read_of slow)" "$(read_of a.txt)" >"$TMP/bob.out" &
BOBC=$!
for _ in $(seq 300); do [ -e "$TMP/slow-open" ] && break; sleep 0.1; done
if [ -e "$TMP/slow-open" ]; then ok "bob's read of the FIFO is in flight in the process"; else
    bad "bob's read never reached the process"
    timeout 2 cat "$TMP/files/slow" >/dev/null # the writer waits for a reader: be it
fi

t0=$(date +%s%N)
OUT=$(mcp "$URL" "$ALICE" "$(read_of big.txt)" "$(read_of a.txt)")
t1=$(date +%s%N)
check "alice's read of 17 MiB: a JSON-RPC error" "$(jq -s -c '.[0] | [.ok, .mcp, .code]' <<<"$OUT")" '[false,true,-32603]'
contains "the error names the limit" "$(jq -s -r '.[0].message' <<<"$OUT")" \
    "upstream files: answer larger than $MAX bytes (cut)"
check "alice's next read: answered" "$(jq -s -c '.[1].text' <<<"$OUT")" '"hello from a file\n"'
ms=$(((t1 - t0) / 1000000))
[ "$ms" -lt 30000 ] && ok "alice's error came at once (${ms} ms for both calls), not at a timeout" ||
    bad "alice's calls took $ms ms"

touch "$TMP/go"
wait "$BOBC"
wait "$WRITER" 2>/dev/null
OUT=$(cat "$TMP/bob.out")
check "bob's read in flight meanwhile: its answer" "$(jq -s -c '.[0] | .text // .message' <<<"$OUT")" '"slow file\n"'
check "bob's next read: answered" "$(jq -s -c '.[1].text' <<<"$OUT")" '"hello from a file\n"'

NOW=$(pgrep -P "$WPID" | head -1)
check "the same stdio process: not restarted" "$NOW" "$CH"
OUT=$(mcp "$URL" "$BOB" "$(read_of a.txt)" 'call:list_directory:{"path":"'"$TMP/files"'"}')
check "a call afterwards" "$(jq -s -c '.[0].text' <<<"$OUT")" '"hello from a file\n"'
contains "and another tool" "$(jq -s -r '.[1].text' <<<"$OUT")" "[FILE] big.txt"
check "still the same process" "$(pgrep -P "$WPID" | head -1)" "$CH"
finish
