#!/usr/bin/env bash
# paths.sh - one canonical path for /authz/check (issue 8, finding 1).
#
# Every spelling of a path that a proxy or an upstream could read as another
# path (dot segments, also with ';' parameters, any other ';', encoded '/',
# NUL, '?', '#', bad escapes, invalid UTF-8, empty segments) is refused with
# a 403 deny that names the reason and is audited; every other spelling is
# decided exactly as its canonical form (decoded once).  Both forms: Envoy's
# (/authz/check/<raw path>, sent with curl --path-as-is) and nginx's
# (X-Original-URI + X-Original-Method, which come together or not at all).
# tests/server/nginx.sh does the same through a real nginx.
. "$(dirname "$0")/lib.sh"

cat >"$TMP/writ.conf" <<CONF
check_principal_header = X-Writ-Agent-Id
trusted_proxies = 127.0.0.1
route = GET  /datasets/{id}          read   Dataset {id}
route = POST /repos/{repo}/*         write  Repo    {repo}
route = POST /services/{svc}/deploy  deploy Service {svc}
route = *    /tools/{tool}/*         invoke Tool    {tool}:{*}
CONF
start_writ paths "${EXFILES[@]}" --config "$TMP/writ.conf"

A=spiffe://corp.example/agents
# envoy METHOD RAWPATH AGENT [curl args...]: "STATUS BODY" of
# METHOD /authz/check<RAWPATH>, the path sent exactly as written.
envoy() {
    local m=$1 p=$2 a=$3; shift 3
    req "$m" "/authz/check$p" --path-as-is -H "X-Writ-Agent-Id: $A/$a" -H 'X-Writ-Purpose: bugfix' "$@"
}
# ngx METHOD|- URI|- AGENT [curl args...]: the nginx form, straight to Writ
# ("-" leaves that header out).
ngx() {
    local m=$1 u=$2 a=$3; shift 3
    local h=(-H "X-Writ-Agent-Id: $A/$a" -H 'X-Writ-Purpose: bugfix')
    # (curl sends an empty header as "Name;")
    case $m in -) ;; '') h+=(-H 'X-Original-Method;') ;; *) h+=(-H "X-Original-Method: $m") ;; esac
    case $u in -) ;; '') h+=(-H 'X-Original-URI;') ;; *) h+=(-H "X-Original-URI: $u") ;; esac
    req GET /authz/check "${h[@]}" "$@"
}
refused() {   # refused NAME "STATUS BODY" REASON-PREFIX
    local r=$2
    check "$1: 403" "${r%% *}" 403
    contains "$1: reason" "$r" "\"decision\":false,\"context\":{\"reasons\":[],\"errors\":[{\"policy\":null,\"message\":\"$3"
}

# ---- the canonical forms these spellings must be decided as
ALLOW_REPO=$(envoy POST /repos/writ/pulls/7 code-agent)
contains "canonical: write the repo" "$ALLOW_REPO" '200 {"decision":true'
DENY_DEPLOY=$(envoy POST /services/api-staging/deploy code-agent)
contains "canonical: code-agent may not deploy" "$DENY_DEPLOY" '403 {"decision":false'
ALLOW_READ=$(envoy GET /datasets/usage-metrics analyst)
contains "canonical: read usage-metrics" "$ALLOW_READ" '200 {"decision":true'

# ---- refused, Envoy form (a write to the repo that lands on a deploy)
D=services/api-staging/deploy
while IFS='|' read -r name path reason; do
    [ -n "$name" ] || continue
    refused "envoy $name" "$(envoy POST "$path" code-agent)" "$reason"
done <<EOF
dot-dot|/repos/writ/../../$D|path: '..' segment at byte 12
dot|/repos/writ/./pulls/7|path: '.' segment at byte 12
trailing dot-dot|/repos/writ/pulls/..|path: '..' segment at byte 18
%2e%2e|/repos/writ/%2e%2e/%2e%2e/$D|path: '..' segment at byte 12
%2E%2E|/repos/writ/%2E%2E/%2E%2E/$D|path: '..' segment at byte 12
.%2e|/repos/writ/.%2e/%2E./$D|path: '..' segment at byte 12
dot-dot;|/repos/writ/..;/..;/$D|path: '..' segment at byte 12
dot-dot;x|/repos/writ/..;x/..;x/$D|path: '..' segment at byte 12
%2e%2e;|/repos/writ/%2e%2e;/%2e%2e;/$D|path: '..' segment at byte 12
..%3B|/repos/writ/..%3B/..%3B/$D|path: '..' segment at byte 12
segment parameter|/repos/writ;x/pulls/7|path: ';' at byte 11
encoded ;|/repos/writ%3Bx/pulls/7|path: encoded ';' at byte 11
%2F|/repos/writ%2F..%2F..%2F$D|path: encoded '/' at byte 11
fullwidth dots|/repos/writ/%EF%BC%8E%EF%BC%8E/%EF%BC%8E%EF%BC%8E/$D|path: segment that reads as '..' at byte 12
fullwidth solidus|/repos/writ/..%EF%BC%8F..%EF%BC%8F$D|path: a character that reads as '/' (U+FF0F) at byte 14
vertical two dots|/repos/writ/%EF%B8%B0/%EF%B8%B0/$D|path: segment that reads as '..' at byte 12
backslash|/repos/writ/..\\..\\$D|path: '\\\\' at byte 14
%5C|/repos/writ/%5C..%5C..%5C$D|path: encoded '\\\\' at byte 12
%2f|/repos/writ/pulls%2f7|path: encoded '/' at byte 17
%00|/repos/writ/pulls%00/../../../$D|path: encoded NUL at byte 17
%3F|/repos/writ/pulls%3F/../../../$D|path: encoded '?' at byte 17
%23|/repos/writ/pulls%23/../../../$D|path: encoded '#' at byte 17
%zz|/repos/writ/%zz|path: bad percent-escape at byte 12
%4|/repos/writ/%4|path: bad percent-escape at byte 12
trailing %|/repos/writ/pulls%|path: bad percent-escape at byte 17
overlong dot (%C0%AE)|/repos/writ/%C0%AE%C0%AE/$D|path: invalid UTF-8 at byte 12
%FF|/repos/writ/%FF|path: invalid UTF-8 at byte 12
surrogate|/repos/writ/%ED%A0%80|path: invalid UTF-8 at byte 12
cut sequence|/repos/writ/%C3/x|path: invalid UTF-8 at byte 12
empty segment|/repos//writ/pulls/7|path: empty segment at byte 7
leading //|//repos/writ/pulls/7|path: empty segment at byte 1
EOF
# raw bytes a request target never holds (libmicrohttpd passes them on;
# curl will not send them)
rawreq() {   # rawreq METHOD TARGET AGENT: "STATUS BODY", over a bare socket
    local host=${ADDR%:*} port=${ADDR##*:}
    exec 3<>"/dev/tcp/$host/$port" || { echo "000 no connection"; return; }
    printf '%s\r\n' "$1 $2 HTTP/1.1" "Host: writ" "Connection: close" "X-Writ-Agent-Id: $A/$3" \
        "X-Writ-Purpose: bugfix" "" >&3
    timeout 5 cat <&3 >"$TMP/raw"
    exec 3<&-
    local st
    st=$(head -n1 "$TMP/raw" | awk '{print $2}')
    echo "$st $(sed '1,/^\r$/d' "$TMP/raw")"
}
check "raw socket: canonical" "$(rawreq POST /authz/check/repos/writ/pulls/7 code-agent)" "$ALLOW_REPO"
refused "envoy raw tab" "$(rawreq POST $'/authz/check/repos/writ/a\tb' code-agent)" "path: control character or space at byte 13"
refused "envoy raw #" "$(rawreq POST '/authz/check/repos/writ/pulls#/../../../services/api-staging/deploy' code-agent)" "path: '#' at byte 17"
# (libmicrohttpd's strict parsing, once on, refuses a raw space itself)
r=$(rawreq POST '/authz/check/repos/writ/a /x' code-agent)
case ${r%% *} in
400 | '') ok "envoy raw space: refused by the HTTP layer" ;;
*) refused "envoy raw space" "$r" "path: control character or space at byte 13" ;;
esac

# ---- accepted spellings decide as their canonical form
check "envoy %77rit = writ" "$(envoy POST /repos/%77rit/pulls/7 code-agent)" "$ALLOW_REPO"
check "envoy query ignored" "$(envoy POST '/repos/writ/pulls/7?x=/../../services&y=%zz' code-agent)" "$ALLOW_REPO"
check "envoy trailing slash" "$(envoy POST /repos/writ/pulls/7/ code-agent)" "$ALLOW_REPO"
check "envoy dots inside a segment" "$(envoy POST /repos/writ/..a/.b./... code-agent)" "$ALLOW_REPO"
check "envoy %2D in a denied path" "$(envoy POST /services/api%2Dstaging/deploy code-agent)" "$DENY_DEPLOY"
check "envoy %2D in an allowed path" "$(envoy GET /datasets/usage%2Dmetrics analyst)" "$ALLOW_READ"
# decoded once: %252e%252e is the segment "%2e%2e", not ".." (audited below)
r=$(envoy GET /datasets/%252e%252e analyst)
contains "envoy %252e%252e decided, not refused" "$r" '403 {"decision":false,"context":{"reasons":[],"errors":[{"policy":"read-own-team","message":"entity `Writ::Dataset::\"%2e%2e\"` does not exist"'
r=$(envoy GET /datasets/caf%C3%A9 analyst)
contains "envoy UTF-8 decoded" "$r" 'entity `Writ::Dataset::\"café\"` does not exist'
check "envoy raw UTF-8 = encoded" "$(envoy GET /datasets/café analyst)" "$r"
r=$(envoy GET /tools/web-search/a%20b/c%25d analyst)
contains "envoy {*} is the decoded rest" "$r" 'entity `Writ::Tool::\"web-search:a b/c%d\"` does not exist'

# ---- nginx form: X-Original-URI and X-Original-Method together
check "nginx form canonical" "$(ngx POST /repos/writ/pulls/7 code-agent)" "$ALLOW_REPO"
refused "nginx URI without method" "$(ngx - /datasets/usage-metrics analyst)" "X-Original-URI without X-Original-Method"
refused "nginx method without URI" "$(ngx GET - analyst)" "X-Original-Method without X-Original-URI"
refused "nginx empty method" "$(ngx '' /datasets/usage-metrics analyst)" "X-Original-Method is not an HTTP method"
refused "nginx URI and a path after /authz/check" \
    "$(req GET /authz/check/datasets/usage-metrics -H 'X-Original-Method: GET' -H 'X-Original-URI: /datasets/usage-metrics' -H "X-Writ-Agent-Id: $A/analyst")" \
    "X-Original-URI and a path after /authz/check"
refused "nginx two X-Original-URI" \
    "$(ngx GET /datasets/usage-metrics analyst -H 'X-Original-URI: /datasets/customer-pii')" \
    "X-Original-URI or X-Original-Method given twice"
check "nginx query stripped before decoding" "$(ngx GET '/datasets/usage-metrics?a=%zz&b=/../..' analyst)" "$ALLOW_READ"
refused "nginx dot-dot" "$(ngx POST /repos/writ/../../$D code-agent)" "path: '..' segment at byte 12"
refused "nginx %2e%2e" "$(ngx POST /repos/writ/%2e%2e/%2E%2E/$D code-agent)" "path: '..' segment at byte 12"
refused "nginx dot-dot;" "$(ngx POST "/repos/writ/..;/..;/$D" code-agent)" "path: '..' segment at byte 12"
refused "nginx backslash" "$(ngx POST '/repos/writ/..\..\'"$D" code-agent)" "path: '\\\\' at byte 14"
refused "nginx %00" "$(ngx GET /datasets/usage-metrics%00.csv analyst)" "path: encoded NUL at byte 23"
refused "nginx fragment" "$(ngx GET '/datasets/usage-metrics#/../customer-pii' analyst)" "path: '#' at byte 23"
refused "nginx empty URI" "$(ngx GET '' analyst)" "path: does not start with '/'"
refused "nginx relative" "$(ngx GET datasets/usage-metrics analyst)" "path: does not start with '/'"
long=/datasets/$(head -c 4100 /dev/zero | tr '\0' a)
refused "nginx too long" "$(ngx GET "$long" analyst)" "path: longer than 4096 bytes"

# ---- URLs reach the server undecoded: endpoints are matched as sent
r=$(req GET /healthz)
check "/healthz" "${r%% *}" 200
r=$(req GET /%68ealthz --path-as-is)
check "an encoded endpoint name is not that endpoint" "${r%% *}" 404
r=$(req GET /authz%2Fcheck/datasets/usage-metrics --path-as-is -H "X-Writ-Agent-Id: $A/analyst")
check "nor is an encoded /authz/check" "${r%% *}" 404
r=$(req GET '/.well-known/jwks.json?x=%zz')
check "a query with a bad escape is no matter elsewhere" "${r%% *}" 200

# ---- every refusal is audited as a deny with its reason
stop_writ "$WPID" TERM
q=$("$WRIT" audit query --state-dir "$TMP/paths.state" --decision deny)
contains "refusal audited" "$q" "path: '..' segment at byte 12"
contains "missing method audited" "$q" "X-Original-URI without X-Original-Method"
n=$(grep -c '"decision":"deny"' <<<"$q")
m=$(grep -c 'control character or space at byte 13' <<<"$q")
check "denies audited" "$n" $((53 + m - 1))
q=$("$WRIT" audit query --state-dir "$TMP/paths.state" --resource 'Writ::Dataset::"%2e%2e"')
contains "%252e%252e audited as the resource %2e%2e" "$q" '"resource":"Writ::Dataset::\"%2e%2e\""'
v=$("$WRIT" audit verify --state-dir "$TMP/paths.state")
contains "audit chain" "$v" "ok: "
finish
