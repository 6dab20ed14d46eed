# lib.sh - the workload every bench/mcp script runs, sourced by run.sh,
# irpercall.sh and ab.sh:
#
#   mcp_bench_setup WORK WRIT
#
# starts the minimal Node upstream (bench/mcp/upstream.mjs; its pid is added
# to PIDS when the caller keeps that array) and writes into WORK a signing
# key (k.pem), the upstream's credential (cred), the policies
# (examples/mcp.cedar plus one on context.input: p.cedar) and wrk's script
# (post.lua: a tools/call with the task token).  Sets UP (the upstream's
# port), TOK (the task token), BODY (the call) and MCP_SERVE_ARGS (the
# `writ serve` arguments naming them, to which the caller adds its own).
mcp_bench_setup() {
    local work=$1 writ=$2 repo
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    node "$repo/bench/mcp/upstream.mjs" >"$work/up.port" &
    if declare -p PIDS >/dev/null 2>&1; then PIDS+=("$!"); fi
    for _ in $(seq 50); do [ -s "$work/up.port" ] && break; sleep 0.1; done
    UP=$(head -1 "$work/up.port")
    [ -n "$UP" ] || { echo "the Node upstream did not start" >&2; return 1; }
    "$writ" keys generate --out "$work/k.pem" >/dev/null
    echo bench-secret >"$work/cred"
    cat "$repo/examples/mcp.cedar" - >"$work/p.cedar" <<'CEDAR'
@id("bench-add")
permit (principal, action == Writ::Action::"bench/add", resource) when { context.input.a < 100 };
CEDAR
    MCP_SERVE_ARGS=(--threads 2 --policies "$work/p.cedar" --token-keys "$work/k.pem"
                    --mcp-upstream "bench http://127.0.0.1:$UP/mcp" --mcp-credential "bench header X-Api-Key $work/cred")
    TOK=$("$writ" token mint --key "$work/k.pem" --issuer https://writ.local --audience writ \
        --subject spiffe://corp.example/agents/bench --purpose bench --action 'bench/*' --sensitivity restricted --ttl 900)
    BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}'
    cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Authorization"] = "Bearer $TOK"
wrk.body = '$BODY'
LUA
}
