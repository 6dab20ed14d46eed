#!/usr/bin/env bash
# nginx.sh - a real nginx (auth_request) in front of an upstream that nginx
# itself serves, asking Writ's /authz/check; allowed and denied calls end to
# end.  Also the Envoy ext_authz form (original path after /authz/check).
#
# Until task tokens are in the build, the agent comes from the test-only
# trusted header (check_principal_header); the Cedar side is the real one.
. "$(dirname "$0")/lib.sh"
command -v nginx >/dev/null || { echo "nginx not installed"; bad "nginx available"; finish; }

cat >"$TMP/writ.conf" <<CONF
check_principal_header = X-Writ-Agent-Id
route = GET  /datasets/{id}          read   Dataset {id}
route = POST /repos/{repo}/*         write  Repo    {repo}
route = POST /services/{svc}/deploy  deploy Service {svc}
route = POST /tools/{tool}/invoke    invoke Tool    {tool}
route = *    /tickets/{t}            write  Ticket  {t}
CONF
start_writ nginx "${EXFILES[@]}" --config "$TMP/writ.conf"
WADDR=$ADDR

gw=$(free_port); up=$(free_port)
mkdir -p "$TMP/ngx"
cat >"$TMP/nginx.conf" <<CONF
worker_processes 1;
pid $TMP/ngx/nginx.pid;
error_log $TMP/ngx/error.log warn;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path $TMP/ngx/body; proxy_temp_path $TMP/ngx/proxy;
    fastcgi_temp_path $TMP/ngx/fastcgi; uwsgi_temp_path $TMP/ngx/uwsgi; scgi_temp_path $TMP/ngx/scgi;
    upstream writ { server $WADDR; keepalive 16; }
    server {   # the upstream tool
        listen 127.0.0.1:$up;
        location / { return 200 "upstream \$request_method \$uri agent=\$http_x_agent\n"; }
    }
    server {   # the gateway
        listen 127.0.0.1:$gw;
        location / {
            auth_request /_writ;
            auth_request_set \$agent \$upstream_http_x_writ_agent;
            proxy_set_header X-Agent \$agent;
            proxy_pass http://127.0.0.1:$up;
        }
        location = /_writ {
            internal;
            proxy_pass http://writ/authz/check;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI \$request_uri;
            proxy_set_header X-Original-Method \$request_method;
            proxy_set_header X-Real-IP \$remote_addr;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
nginx -t -c "$TMP/nginx.conf" -p "$TMP/ngx" >"$TMP/ngx/t.log" 2>&1 || { cat "$TMP/ngx/t.log"; bad "nginx config"; finish; }
nginx -c "$TMP/nginx.conf" -p "$TMP/ngx" -g 'daemon off;' >"$TMP/ngx/out.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$gw/" && break; sleep 0.1; done

A=spiffe://corp.example/agents
gwreq() {   # gwreq METHOD PATH AGENT [headers...]: "STATUS BODY"
    local m=$1 p=$2 a=$3; shift 3
    local h=(); [ -n "$a" ] && h=(-H "X-Writ-Agent-Id: $A/$a")
    curl -s -m 5 -o "$TMP/gbody" -w '%{http_code}' -X "$m" "${h[@]}" "$@" "http://127.0.0.1:$gw$p" >"$TMP/gcode"
    echo "$(cat "$TMP/gcode") $(head -c 200 "$TMP/gbody" | tr -d '\r')"
}

r=$(gwreq GET /datasets/usage-metrics analyst)
contains "allowed read reaches the upstream" "$r" "200 upstream GET /datasets/usage-metrics agent=$A/analyst"
r=$(gwreq GET /datasets/customer-pii analyst -H 'X-Writ-Destination: external')
check "sensitive data to an external destination" "${r%% *}" 403
r=$(gwreq GET /datasets/usage-metrics "")
check "no credentials" "${r%% *}" 401
r=$(gwreq GET /somewhere/else analyst)
check "no route is a deny" "${r%% *}" 403
r=$(gwreq POST /repos/writ/pulls/7 code-agent -H 'X-Writ-Purpose: bugfix')
contains "write for a bug fix" "$r" "200 upstream POST /repos/writ/pulls/7"
r=$(gwreq POST /repos/writ/pulls/7 code-agent -H 'X-Writ-Purpose: feature')
check "write for another purpose" "${r%% *}" 403
r=$(gwreq GET /repos/writ/pulls/7 code-agent -H 'X-Writ-Purpose: bugfix')
check "method not in the route" "${r%% *}" 403
r=$(gwreq POST /services/api-staging/deploy release-bot)
check "deploy from outside 10/8 (X-Real-IP 127.0.0.1)" "${r%% *}" 403
r=$(gwreq POST /tools/web-search/invoke scraper)
check "quarantined agent" "${r%% *}" 403
r=$(gwreq POST '/datasets/usage-metrics?x=1' analyst)
check "POST to a GET route" "${r%% *}" 403
r=$(gwreq GET '/datasets/usage-metrics?format=csv' analyst)
check "query string ignored" "${r%% *}" 200
r=$(gwreq GET '/datasets/usage%2Dmetrics' analyst)
check "percent-decoded segment" "${r%% *}" 200

# ---- Envoy ext_authz form, straight to Writ
ADDR=$WADDR
r=$(req GET /authz/check/datasets/usage-metrics -H "X-Writ-Agent-Id: $A/analyst" -D "$TMP/h")
contains "envoy form allow" "$r" '200 {"decision":true,"context":{"reasons":["policy0"]'
contains "X-Writ-Decision header" "$(tr -d '\r' <"$TMP/h")" "X-Writ-Decision: allow"
r=$(req DELETE /authz/check/datasets/usage-metrics -H "X-Writ-Agent-Id: $A/analyst")
contains "envoy form no route" "$r" '403 {"decision":false,"context":{"reasons":[],"errors":[{"policy":null,"message":"no route for this method and path"}]}}'
r=$(req GET /authz/check/datasets/usage-metrics -D "$TMP/h")
check "envoy form no credentials" "${r%% *}" 401
contains "WWW-Authenticate" "$(tr -d '\r' <"$TMP/h")" 'WWW-Authenticate: Bearer'

stop_writ "$WPID" TERM
v=$("$WRIT" audit verify --state-dir "$TMP/nginx.state")
contains "audit of the checks" "$v" "ok: "
q=$("$WRIT" audit query --state-dir "$TMP/nginx.state" --action 'Writ::Action::"write"' --decision allow)
contains "allowed write audited" "$q" '"resource":"Writ::Repo::\"writ\""'
finish
