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
# port), UP_PID (its process), TOK (the task token), BODY (the call) and MCP_SERVE_ARGS (the
# `writ serve` arguments naming them, to which the caller adds its own).
mcp_bench_setup() {
    local work=$1 writ=$2 repo
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    node "$repo/bench/mcp/upstream.mjs" >"$work/up.port" &
    UP_PID=$!
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

# mcp_bench_nginx WORK: nginx as a plain reverse proxy in front of the same
# upstream (2 worker processes, as Writ has 2 threads; keep-alive both ways;
# the credential header added as Writ adds it), the reference for what any
# proxy adds on this machine: an extra process on the path, two more
# wake-ups and two more socket hops per call.  It decides nothing and writes
# no record.  Sets NGX (its port); its pid is added to PIDS when the caller
# keeps that array.  Needs mcp_bench_setup first (UP).
mcp_bench_nginx() {
    local work=$1 used try pid
    mkdir -p "$work/ngx"
    for try in $(seq 10); do
        # below the kernel's ephemeral range (32768-60999), where a client's
        # socket could take the port between the check and nginx's bind
        used=$(ss -Htan 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}')
        NGX=$((20000 + RANDOM % 12000))
        grep -qx "$NGX" <<<"$used" && continue
        mcp_bench_nginx_conf "$work"
        nginx -c "$work/ngx/nginx.conf" -p "$work/ngx" -g 'daemon off;' >"$work/ngx/out.log" 2>&1 &
        pid=$!
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            if curl -s -o /dev/null "http://127.0.0.1:$NGX/"; then
                if declare -p PIDS >/dev/null 2>&1; then PIDS+=("$pid"); fi
                return 0
            fi
            sleep 0.1
        done
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    echo "nginx did not start: $(cat "$work/ngx/out.log" "$work/ngx/error.log" 2>/dev/null)" >&2
    return 1
}

mcp_bench_nginx_conf() {
    local work=$1
    . "$(dirname "${BASH_SOURCE[0]}")/../../scripts/nginx.sh"
    {
        nginx_head "$work/ngx"
        cat <<CONF
    upstream mcp { server 127.0.0.1:$UP; keepalive 64; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$NGX;
        location / {
            proxy_pass http://mcp/mcp;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "";
            proxy_set_header X-Api-Key "$(cat "$work/cred")";
        }
    }
}
CONF
    } >"$work/ngx/nginx.conf"
}
