#!/usr/bin/env bash
# nginx.sh - a real nginx (auth_request) in front of an upstream that nginx
# itself serves, asking Writ's /authz/check; allowed and denied calls end to
# end.  nginx runs the recipe of docs/PROXIES.md as written there (ports
# replaced), and every spelling of a path is refused or decided as its
# canonical form through it.  Also the Envoy ext_authz form (original path
# after /authz/check); tests/server/paths.sh has the rest of that form.
#
# Until task tokens are in the build, the agent comes from the test-only
# trusted header (check_principal_header); the Cedar side is the real one.
. "$(dirname "$0")/lib.sh"
command -v nginx >/dev/null || { echo "nginx not installed"; bad "nginx available"; finish; }

cat >"$TMP/writ.conf" <<CONF
check_principal_header = X-Writ-Agent-Id
trusted_proxies = 127.0.0.1
route = GET  /datasets/{id}          read   Dataset {id}
route = POST /repos/{repo}/*         write  Repo    {repo}
route = POST /services/{svc}/deploy  deploy Service {svc}
route = POST /tools/{tool}/invoke    invoke Tool    {tool}
route = *    /tickets/{t}            write  Ticket  {t}
CONF
start_writ nginx "${EXFILES[@]}" --config "$TMP/writ.conf"
WADDR=$ADDR

# The recipe of docs/PROXIES.md, as written there, with this test's ports:
# one gateway for tools that stay inside, one (the same recipe) for tools
# that send data out.
recipe=$(awk '/<!-- recipe: nginx/ {f = 1; next} f && /^```nginx/ {g = 1; next} g && /^```/ {exit} g' \
    "$REPO/docs/PROXIES.md")
grep -q 'auth_request /_writ;' <<<"$recipe" || { bad "the nginx recipe in docs/PROXIES.md"; finish; }
gw=$(free_port); gwx=$(free_port); up=$(free_port)
server_of() {   # server_of PORT DESTINATION: the recipe's server block
    awk '/^server \{/ {f = 1} f' <<<"$recipe" |
        sed -e "s/listen 8080;/listen 127.0.0.1:$1;/" -e "s/set \$writ_destination internal;/set \$writ_destination $2;/"
}
. "$REPO/scripts/nginx.sh"
{ nginx_head "$TMP/ngx" 1; cat <<CONF
$(awk '/^upstream / {print} /^server \{/ {exit}' <<<"$recipe" | sed -e "s/127.0.0.1:8180/$WADDR/" -e "s/127.0.0.1:9000/127.0.0.1:$up/")
    server {   # the tools
        listen 127.0.0.1:$up;
        location / { return 200 "upstream \$request_method \$uri agent=\$http_x_writ_agent\n"; }
    }
$(server_of "$gw" internal)
$(server_of "$gwx" external)
}
CONF
} >"$TMP/nginx.conf"
nginx -t -c "$TMP/nginx.conf" -p "$TMP/ngx" >"$TMP/ngx/t.log" 2>&1 || { cat "$TMP/ngx/t.log"; bad "nginx config"; finish; }
nginx -c "$TMP/nginx.conf" -p "$TMP/ngx" -g 'daemon off;' >"$TMP/ngx/out.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$gw/" && break; sleep 0.1; done

A=spiffe://corp.example/agents
GW=$gw
gwreq() {   # gwreq METHOD PATH AGENT [headers...]: "STATUS BODY" through gateway $GW, the path as written
    local m=$1 p=$2 a=$3; shift 3
    local h=(); [ -n "$a" ] && h=(-H "X-Writ-Agent-Id: $A/$a")
    curl -s -m 5 --path-as-is -o "$TMP/gbody" -w '%{http_code}' -X "$m" "${h[@]}" "$@" "http://127.0.0.1:$GW$p" >"$TMP/gcode"
    echo "$(cat "$TMP/gcode") $(head -c 200 "$TMP/gbody" | tr -d '\r')"
}

r=$(gwreq GET /datasets/usage-metrics analyst)
contains "allowed read reaches the upstream" "$r" "200 upstream GET /datasets/usage-metrics agent=$A/analyst"
r=$(GW=$gwx gwreq GET /datasets/customer-pii analyst -H 'X-Writ-Destination: internal')
check "sensitive data through the external gateway (the client's destination header ignored)" "${r%% *}" 403
r=$(gwreq GET /datasets/customer-pii analyst -H 'X-Writ-Destination: external')
contains "the internal gateway says internal, whatever the client sends" "$r" "200 upstream GET /datasets/customer-pii"
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

# ---- every spelling of a path through the recipe (issue 8, finding 1):
# refused by nginx itself (400) or by Writ (403, audited with the reason),
# never reaching the tool; the others decided as their canonical form.
# (nginx 1.22's own refusals: a NUL, a bad escape, a '..' above the root.)
D=services/api-staging/deploy
nrefused=0
while IFS='|' read -r name path want; do
    [ -n "$name" ] || continue
    r=$(gwreq POST "$path" code-agent -H 'X-Writ-Purpose: bugfix')
    check "spelling refused: $name" "${r%% *}" "$want"
    [ "$want" = 403 ] && nrefused=$((nrefused + 1))
done <<SPELLINGS
dot-dot|/repos/writ/../../$D|403
dot|/repos/writ/./pulls/7|403
trailing dot-dot|/repos/writ/pulls/..|403
%2e%2e|/repos/writ/%2e%2e/%2e%2e/$D|403
%2E%2E|/repos/writ/%2E%2E/%2E%2E/$D|403
.%2e|/repos/writ/.%2e/.%2E/$D|403
..; (a servlet container strips ;x, then resolves ..)|/repos/writ/..;/..;/$D|403
..%3B|/repos/writ/..%3B/..%3Bx/$D|403
%2F|/repos/writ%2F..%2F..%2F$D|403
%2f|/repos/writ/pulls%2f7|403
%3F|/repos/writ/pulls%3F/../../../$D|403
%23|/repos/writ/pulls%23/../../../$D|403
overlong dot|/repos/writ/%C0%AE%C0%AE/$D|403
%FF|/repos/writ/%FF|403
surrogate|/repos/writ/%ED%A0%80|403
cut sequence|/repos/writ/%C3/x|403
empty segment|/repos//writ/pulls/7|403
leading //|//repos/writ/pulls/7|403
%00|/repos/writ/pulls%00/../../../$D|400
%zz|/repos/writ/%zz|400
%4|/repos/writ/%4|400
trailing %|/repos/writ/pulls%|400
above the root|/../repos/writ/pulls/7|400
SPELLINGS
canon=$(gwreq POST /repos/writ/pulls/7 code-agent -H 'X-Writ-Purpose: bugfix')
contains "canonical write" "$canon" "200 upstream POST /repos/writ/pulls/7 agent="
r=$(gwreq POST /repos/%77rit/pulls/7 code-agent -H 'X-Writ-Purpose: bugfix')
check "spelling decided as canonical: %77rit" "$r" "$canon"
r=$(gwreq POST '/repos/writ/pulls/7?x=/../../services' code-agent -H 'X-Writ-Purpose: bugfix')
check "spelling decided as canonical: query" "$r" "$canon"
r=$(gwreq POST /repos/writ/pulls/7/ code-agent -H 'X-Writ-Purpose: bugfix')
contains "spelling decided as canonical: trailing slash" "$r" "200 upstream POST /repos/writ/pulls/7/ agent="
r=$(gwreq POST /repos/writ/pulls/7 code-agent -H 'X-Writ-Purpose: bugfix' --request-target http://gw/repos/writ/pulls/7)
check "spelling decided as canonical: absolute-form target" "$r" "$canon"
r=$(gwreq POST /services/api%2Dstaging/deploy code-agent -H 'X-Writ-Purpose: bugfix')
check "a denied path stays denied: %2D" "${r%% *}" 403
r=$(gwreq GET /datasets/%252e%252e analyst)
check "%252e%252e is the dataset %2e%2e (audited below), not '..'" "${r%% *}" 403

# ---- Envoy ext_authz form, straight to Writ
ADDR=$WADDR
r=$(req GET /authz/check/datasets/usage-metrics -H "X-Writ-Agent-Id: $A/analyst" -D "$TMP/h")
contains "envoy form allow" "$r" '200 {"decision":true,"context":{"reasons":["read-own-team"]'
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
q=$("$WRIT" audit query --state-dir "$TMP/nginx.state" --decision deny)
check "every spelling nginx passed on was refused by Writ, with a path reason" \
    "$(grep -c '"message":"path: ' <<<"$q")" "$nrefused"
contains "a dot segment refused" "$q" "\"message\":\"path: '..' segment at byte 12\""
q=$("$WRIT" audit query --state-dir "$TMP/nginx.state" --resource 'Writ::Dataset::"%2e%2e"')
contains "%252e%252e decided once-decoded" "$q" '"decision":"deny"'
finish
