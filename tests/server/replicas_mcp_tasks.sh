#!/usr/bin/env bash
# replicas_mcp_tasks.sh - MCP tasks bound to their agent across two `writ
# serve` replicas sharing one real redis-server (state = redis://...) and
# one signing key, in front of one MCP upstream with tasks
# (server-everything over Streamable HTTP, whose sessions keep their tasks):
#   - agent A creates a task through replica 1; through replica 2, A's
#     tasks/list shows it, and A's tasks/get and tasks/result work;
#   - agent B's tasks/get of A's task through replica 2 is refused (-32602)
#     and audited there as another agent's task, naming A;
#   - replica 1 killed (-9) and started again on an empty state folder: A's
#     tasks/get through it still works, B's is still refused;
#   - Redis stopped: a task replica 2 holds still answers; one it does not
#     hold is refused (-32603) and audited as "the state store is
#     unavailable";
#   - one replica on the embedded SQLite state (no Redis) restarted: A's
#     task is still A's.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { bad "jq installed"; finish; }
PEERS="$REPO/tests/peers/node_modules"
EVERY="$PEERS/@modelcontextprotocol/server-everything/dist/index.js"
if ! command -v node >/dev/null || [ ! -f "$EVERY" ]; then
    echo "skip: node or the MCP peers are missing (cd tests/peers && npm ci)"; exit 77
fi

start_redis_plain # sets rport
REDIS_PID=${PIDS[-1]}
EPORT=$(free_port)
PORT=$EPORT node "$EVERY" streamableHttp >"$TMP/everything.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do grep -q "listening" "$TMP/everything.log" && break; sleep 0.1; done

"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
cat "$EX/mcp.cedar" - >"$TMP/p.cedar" <<'CEDAR'
permit (principal, action in [Writ::Action::"evh/simulate-research-query", Writ::Action::"evh/tasks/get",
  Writ::Action::"evh/tasks/result", Writ::Action::"evh/tasks/list", Writ::Action::"evh/tasks/cancel"], resource);
CEDAR
cat >"$TMP/writ.conf" <<CONF
token_keys = $TMP/k.pem
token_leeway = 0
state = redis://127.0.0.1:$rport/0
state_stale_after = 60
mcp_upstream = evh http://127.0.0.1:$EPORT/mcp
CONF
start_writ r1 --policies "$TMP/p.cedar" --config "$TMP/writ.conf" --replica r1
R1=$ADDR R1PID=$WPID
start_writ r2 --policies "$TMP/p.cedar" --config "$TMP/writ.conf" --replica r2
R2=$ADDR

mint() { # mint AGENT
    "$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ \
        --subject "spiffe://corp.example/agents/$1" --purpose demo --sensitivity restricted --txn "t-$1" \
        --action 'evh/*' --ttl 600
}
ALICE=$(mint alice)
BOB=$(mint bob)
H=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}'
session() { # session ADDR TOKEN: a new session's id (Writ's, bound to the agent)
    curl -s -m 10 -D "$TMP/ih" -o /dev/null -X POST "${H[@]}" -H "Authorization: Bearer $2" "http://$1/mcp/evh" \
        --data "$INIT"
    tr -d '\r' <"$TMP/ih" | awk -F': ' 'tolower($1) == "mcp-session-id" {print $2}'
}
rpc() { # rpc ADDR TOKEN SID BODY: the answer's JSON-RPC messages, one a line
    curl -s -m 30 -X POST "${H[@]}" -H "Authorization: Bearer $2" -H "Mcp-Session-Id: $3" \
        -H 'MCP-Protocol-Version: 2025-11-25' "http://$1/mcp/evh" --data "$4" |
        awk '/^data: / {sub(/^data: /, ""); print; next} /^\{/ {print}'
}
get() { echo "{\"jsonrpc\":\"2.0\",\"id\":$1,\"method\":\"$2\",\"params\":{\"taskId\":\"$3\"}}"; }
denies() { "$WRIT" audit query --state-dir "$TMP/$1.state" --decision deny; }

ASID=$(session "$R1" "$ALICE")
[ -n "$ASID" ] && ok "A's session opened through r1" || { bad "no session"; finish; }
rpc "$R1" "$ALICE" "$ASID" '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
r=$(rpc "$R1" "$ALICE" "$ASID" '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"simulate-research-query","arguments":{"topic":"alice-replicated-topic"},"task":{"ttl":120000}}}')
TID=$(jq -r 'select(.id == 2) | .result.task.taskId // empty' <<<"$r")
[ -n "$TID" ] && ok "A's task-augmented call through r1 answers with its task" || { bad "no task: $r"; finish; }
# kept as long as the answer's ttl says (the upstream's choice: not the 120 s asked)
TTL=$(jq -r 'select(.id == 2) | .result.task.ttl // empty' <<<"$r")
KEYS=$(redis-cli -p "$rport" --scan --pattern 'writ:mt:*')
check "the binding is in Redis: one key, expiring with the task's ttl ($TTL ms)" \
    "$(wc -l <<<"$KEYS") $(redis-cli -p "$rport" pttl "$KEYS" | awk -v t="$TTL" '{print ($1 > t - 30000 && $1 <= t)}')" "1 1"

# ---- through the other replica
r=$(rpc "$R2" "$ALICE" "$ASID" '{"jsonrpc":"2.0","id":3,"method":"tasks/list","params":{}}')
check "r2: A's tasks/list shows the task created through r1" "$(jq -c 'select(.id == 3) | [.result.tasks[]?.taskId]' <<<"$r")" "[\"$TID\"]"
r=$(rpc "$R2" "$ALICE" "$ASID" "$(get 4 tasks/get "$TID")")
check "r2: A's tasks/get of its task created through r1" "$(jq -r 'select(.id == 4) | .result.taskId // .error.message' <<<"$r")" "$TID"
r=$(rpc "$R2" "$ALICE" "$ASID" "$(get 5 tasks/result "$TID")")
contains "r2: A's tasks/result of it: its result" "$(jq -c 'select(.id == 5)' <<<"$r")" "alice-replicated-topic"
BSID=$(session "$R2" "$BOB")
rpc "$R2" "$BOB" "$BSID" '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
r=$(rpc "$R2" "$BOB" "$BSID" "$(get 6 tasks/get "$TID")")
check "r2: B's tasks/get of A's task: -32602" "$(jq -c 'select(.id == 6) | .error.code' <<<"$r")" -32602
case "$r" in *alice-replicated-topic*) bad "B saw A's task" ;; *) ok "r2: nothing of A's task shown to B" ;; esac
r=$(rpc "$R2" "$BOB" "$BSID" "$(get 7 tasks/result "$TID")")
check "r2: B's tasks/result of A's task: -32602" "$(jq -c 'select(.id == 7) | .error.code' <<<"$r")" -32602
q=$(denies r2)
why=$(jq -r -s 'map(select((.agent | endswith("agents/bob\"")) and .action == "Writ::Action::\"evh/tasks/get\"") | .errors[].message) | join("|")' <<<"$q")
contains "r2 audit: B's tasks/get refused as another agent's task" "$why" "another agent's task"
contains "... naming A" "$why" "agents/alice"
check "r2 audit: A never refused" "$(jq -s 'map(select(.agent | endswith("agents/alice\""))) | length' <<<"$q")" 0

# ---- replica 1 killed and started again, on an empty state folder
stop_writ "$R1PID" KILL
start_writ r1b --policies "$TMP/p.cedar" --config "$TMP/writ.conf" --replica r1
R1=$ADDR
r=$(rpc "$R1" "$ALICE" "$ASID" "$(get 8 tasks/get "$TID")")
check "r1 restarted: A's tasks/get still works" "$(jq -r 'select(.id == 8) | .result.taskId // .error.message' <<<"$r")" "$TID"
r=$(rpc "$R1" "$BOB" "$BSID" "$(get 9 tasks/cancel "$TID")")
check "r1 restarted: B's tasks/cancel of A's task: -32602" "$(jq -c 'select(.id == 9) | .error.code' <<<"$r")" -32602
contains "r1 restarted, audit: as another agent's task" "$(denies r1b | jq -r '.errors[].message')" "another agent's task (Agent spiffe://corp.example/agents/alice's)"
r=$(rpc "$R1" "$ALICE" "$ASID" '{"jsonrpc":"2.0","id":10,"method":"tasks/list","params":{}}')
check "r1 restarted: A's tasks/list shows it" "$(jq -c 'select(.id == 10) | [.result.tasks[]?.taskId]' <<<"$r")" "[\"$TID\"]"

# ---- Redis stopped: a task r2 holds answers from its memory; one it does
# not hold cannot be checked, and is refused (fail closed), said so
stop_writ "$REDIS_PID" KILL
r=$(rpc "$R2" "$ALICE" "$ASID" "$(get 11 tasks/get "$TID")")
check "Redis down: a task r2 holds still answers" "$(jq -r 'select(.id == 11) | .result.taskId // .error.message' <<<"$r")" "$TID"
r=$(rpc "$R2" "$ALICE" "$ASID" "$(get 12 tasks/get not-held-here)")
check "Redis down: a task r2 does not hold: -32603" "$(jq -c 'select(.id == 12) | .error.code' <<<"$r")" -32603
contains "... saying to try again" "$r" "try again"
contains "r2 audit: refused, the state store unavailable" \
    "$(denies r2 | jq -r 'select(.agent | endswith("agents/alice\"")) | .errors[].message')" \
    "task binding: tasks/get's params.taskId cannot be checked: the state store is unavailable (state: redis:"

# ---- one replica on the embedded SQLite state: restarted, tasks kept
grep -v '^state' "$TMP/writ.conf" >"$TMP/solo.conf"
start_writ solo --policies "$TMP/p.cedar" --config "$TMP/solo.conf"
SOLO=$WPID
SSID=$(session "$ADDR" "$ALICE")
rpc "$ADDR" "$ALICE" "$SSID" '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
r=$(rpc "$ADDR" "$ALICE" "$SSID" '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"simulate-research-query","arguments":{"topic":"solo"},"task":{"ttl":120000}}}')
STID=$(jq -r 'select(.id == 2) | .result.task.taskId // empty' <<<"$r")
[ -n "$STID" ] && ok "SQLite state: a task" || bad "SQLite state: no task: $r"
stop_writ "$SOLO" TERM
start_writ solo --policies "$TMP/p.cedar" --config "$TMP/solo.conf"
r=$(rpc "$ADDR" "$ALICE" "$SSID" "$(get 3 tasks/get "$STID")")
check "SQLite state, restarted: A's tasks/get still works" "$(jq -r 'select(.id == 3) | .result.taskId // .error.message' <<<"$r")" "$STID"
r=$(rpc "$ADDR" "$BOB" "$(session "$ADDR" "$BOB")" "$(get 4 tasks/get "$STID")")
check "SQLite state, restarted: B's tasks/get: -32602" "$(jq -c 'select(.id == 4) | .error.code' <<<"$r")" -32602
finish
