#!/usr/bin/env bash
# facts.sh - every fact a policy sees comes from a source Writ can vouch
# for (issue 8, finding 2): forwarding headers only from trusted_proxies
# (X-Real-IP first, X-Forwarded-For read from the right), the destination
# from a route or a trusted proxy (unknown: "external", lower case, a
# duplicate refused), /oauth2/token judged on every destination asked for,
# a task token's holder and resource keep their stored attributes whatever
# the body's properties say, and every fact is present so a forbid on it is
# never skipped.  Needs node and tests/peers/node_modules (jose) for the
# token-exchange part; exit 77 = skipped.
. "$(dirname "$0")/lib.sh"
PEERS=${WRIT_PEERS:-$REPO/tests/peers}
if ! command -v node >/dev/null || [ ! -d "$PEERS/node_modules/jose" ]; then
    echo "facts: SKIPPED, node or $PEERS/node_modules/jose missing (npm ci in tests/peers)"; exit 77
fi
peer() { node "$REPO/tests/server/oauth_peer.mjs" "$PEERS" "$@"; }
A=spiffe://corp.example/agents
XT=urn:ietf:params:oauth:grant-type:token-exchange
JWT=urn:ietf:params:oauth:token-type:jwt
FORM='Content-Type: application/x-www-form-urlencoded'
body() { echo "${1#* }"; }
decision() { body "$1" | jq -c '[.decision, .context.reasons, [.context.errors[].message]]'; }

# No schema: Writ puts every fact into every request.  The policies read
# the facts; each permit or forbid shows one of them.
cat >"$TMP/facts.cedar" <<'CEDAR'
@id("office-reads")
permit (principal, action == Writ::Action::"read", resource)
when { context.source_ip.isInRange(ip("10.0.0.0/8")) };

@id("no-external")
forbid (principal, action, resource) when { context.destination == "external" };

@id("low-trust")
forbid (principal, action, resource) when { principal.trust_level < 3 };

@id("shallow-only")
forbid (principal, action, resource) when { context.chain_depth > 2 };

@id("start")
permit (principal, action == Writ::Action::"start_task", resource);

@id("level-zero")
forbid (principal, action, resource) when { resource has sensitivity && resource.sensitivity == 0 };
CEDAR
cat >"$TMP/facts.json" <<JSON
[
  {"uid": {"type": "Writ::Agent", "id": "$A/analyst"}, "attrs": {"trust_level": 5}, "parents": []},
  {"uid": {"type": "Writ::Agent", "id": "$A/intern"}, "attrs": {"trust_level": 2}, "parents": []},
  {"uid": {"type": "Writ::Dataset", "id": "metrics"}, "attrs": {"sensitivity": 1}, "parents": []},
  {"uid": {"type": "Writ::Dataset", "id": "unlevelled"}, "attrs": {"owner": "x"}, "parents": []}
]
JSON
"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
peer keys "$TMP" || { bad "jose keys"; finish; }
cat >"$TMP/writ.conf" <<CONF
policies = $TMP/facts.cedar
entities = $TMP/facts.json
schema =
token_keys = $TMP/k.pem
identity_spiffe = corp.example $TMP/bundle.json
check_principal_type = Agent
route = GET /datasets/{id}   read Dataset {id}
route = GET /internal/{id}   read Dataset {id}  Internal
CONF
mint() {   # mint AGENT [SENSITIVITY]
    "$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ --subject "$A/$1" \
        --purpose p --action read --resource '*' --sensitivity "${2:-restricted}"
}
tok=$(mint analyst)
chk() { req GET "$@" -H "Authorization: Bearer $tok"; }
EVAL="{\"subject\":{\"type\":\"Agent\",\"id\":\"$A/analyst\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"metrics\"}}"

# ---- 1. no trusted proxies: the socket is the only source
start_writ plain --config "$TMP/writ.conf"
r=$(chk /authz/check/internal/metrics -H 'X-Real-IP: 10.1.2.3')
contains "X-Real-IP from an untrusted peer is ignored (127.0.0.1 is not in 10/8)" "$r" '403 {"decision":false,"context":{"reasons":[]'
r=$(chk /authz/check/internal/metrics -H 'X-Forwarded-For: 10.1.2.3')
check "X-Forwarded-For from an untrusted peer is ignored" "${r%% *}" 403
r=$(chk /authz/check/datasets/metrics -H 'X-Writ-Destination: internal' -H 'X-Real-IP: 10.1.2.3')
check "X-Writ-Destination from an untrusted peer is ignored" "${r%% *}" 403
r=$(chk /authz/check -H 'X-Original-URI: /internal/metrics' -H 'X-Original-Method: GET' -H 'X-Real-IP: 10.1.2.3')
contains "X-Original-* from an untrusted peer: refused" "$r" "from a peer that is not in trusted_proxies"
stop_writ "$WPID" TERM

# ---- 2. 127.0.0.1 is a trusted proxy
start_writ proxy --config "$TMP/writ.conf" --trusted-proxies "192.0.2.0/24, 127.0.0.1"
r=$(chk /authz/check -H 'X-Original-URI: /internal/metrics' -H 'X-Original-Method: GET' -H 'X-Real-IP: 10.1.2.3')
contains "X-Original-* from a trusted proxy: the nginx form" "$r" '200 {"decision":true'
r=$(chk /authz/check/internal/metrics -H 'X-Real-IP: 10.1.2.3')
contains "X-Real-IP from a trusted proxy is the source" "$r" '200 {"decision":true,"context":{"reasons":["office-reads"]'
r=$(chk /authz/check/internal/metrics -H 'X-Real-IP: 10.1.2.3' -H 'X-Forwarded-For: 8.8.8.8')
check "X-Real-IP wins over X-Forwarded-For" "${r%% *}" 200
r=$(chk /authz/check/internal/metrics -H 'X-Forwarded-For: 10.9.9.9, 192.0.2.7, 127.0.0.1')
check "X-Forwarded-For read from the right, skipping trusted proxies" "${r%% *}" 200
r=$(chk /authz/check/internal/metrics -H 'X-Forwarded-For: 10.9.9.9, 8.8.8.8')
check "a client's own X-Forwarded-For entry (left of an untrusted hop) is not believed" "${r%% *}" 403
r=$(chk /authz/check/internal/metrics -H 'X-Forwarded-For: 10.9.9.9' -H 'X-Forwarded-For: 8.8.8.8')
check "several X-Forwarded-For headers are one list, read from the right" "${r%% *}" 403
# an IPv4-mapped IPv6 client is its IPv4 address: the policy on 10/8 applies
for ip in ::ffff:10.1.2.3 ::FFFF:a01:203 0:0:0:0:0:ffff:a01:203; do
    r=$(chk /authz/check/internal/metrics -H "X-Real-IP: $ip")
    contains "X-Real-IP $ip is 10.1.2.3" "$r" '200 {"decision":true,"context":{"reasons":["office-reads"]'
done
r=$(chk /authz/check/internal/metrics -H 'X-Forwarded-For: ::ffff:10.9.9.9, ::ffff:127.0.0.1')
contains "X-Forwarded-For ::ffff:10.9.9.9 is 10.9.9.9" "$r" '200 {"decision":true,"context":{"reasons":["office-reads"]'
r=$(chk /authz/check/internal/metrics -H 'X-Real-IP: ::ffff:8.8.8.8')
contains "X-Real-IP ::ffff:8.8.8.8 is 8.8.8.8 (not in 10/8)" "$r" '403 {"decision":false,"context":{"reasons":[],"errors":[]}'
r=$(chk /authz/check/internal/metrics -H 'X-Real-IP: not-an-ip')
contains "a malformed X-Real-IP from a trusted proxy is a deny with the reason" "$r" "X-Real-IP from a trusted proxy is not an address"
r=$(chk /authz/check/internal/metrics -H 'X-Forwarded-For: 10.1.1.1, x')
contains "a malformed X-Forwarded-For is a deny" "$r" "X-Forwarded-For from a trusted proxy"
r=$(chk /authz/check/datasets/metrics -H 'X-Real-IP: 10.1.2.3')
contains "no destination anywhere: external, and the forbid on it applies" "$r" '403 {"decision":false,"context":{"reasons":["no-external"]'
r=$(chk /authz/check/datasets/metrics -H 'X-Real-IP: 10.1.2.3' -H 'X-Writ-Destination: INTERNAL')
check "a trusted proxy's destination, normalised to lower case" "${r%% *}" 200
r=$(chk /authz/check/datasets/metrics -H 'X-Real-IP: 10.1.2.3' -H 'X-Writ-Destination: internal' -H 'X-Writ-Destination: external')
contains "two different destination headers: deny" "$r" "X-Writ-Destination given twice with different values"
r=$(chk /authz/check/datasets/metrics -H 'X-Real-IP: 10.1.2.3' -H 'X-Writ-Destination: in ternal')
contains "a destination that is not one: deny" "$r" "X-Writ-Destination from a trusted proxy is not a destination"

# ---- 3. AuthZEN with a task token: the body cannot supply Writ's facts
az() {   # az TOKEN JSON [curl args]
    local t=$1 j=$2; shift 2
    curl -s -m 5 -o "$TMP/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        ${t:+-H "Authorization: Bearer $t"} "$@" --data-binary "$j" "http://$ADDR/access/v1/evaluation" >"$TMP/code"
    echo "$(cat "$TMP/code") $(cat "$TMP/body")"
}
CTX='"context":{"destination":"internal","source_ip":{"__extn":{"fn":"ip","arg":"10.0.0.1"}},"chain_depth":0}'
r=$(az "$tok" "{\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"metrics\"},$CTX}")
check "token: the body's destination and source_ip are replaced (external, 127.0.0.1)" "$(decision "$r")" \
    '[false,["no-external"],[]]'
r=$(az "$tok" "{\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"metrics\"},$CTX}" \
    -H 'X-Real-IP: 10.0.0.1' -H 'X-Writ-Destination: internal')
check "token: the same facts from the trusted proxy" "$(decision "$r")" '[true,["office-reads"],[]]'
itok=$(mint intern)
r=$(az "$itok" "{\"subject\":{\"type\":\"Agent\",\"id\":\"$A/intern\",\"properties\":{\"trust_level\":5}},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"metrics\",\"properties\":{\"sensitivity\":0}},$CTX}" \
    -H 'X-Real-IP: 10.0.0.1' -H 'X-Writ-Destination: internal')
check "token: properties cannot raise the holder's stored trust_level (2 -> 5)" "$(decision "$r")" '[false,["low-trust"],[]]'
ptok=$(mint analyst public)
r=$(az "$ptok" "{\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"metrics\",\"properties\":{\"sensitivity\":0}},$CTX}" \
    -H 'X-Real-IP: 10.0.0.1' -H 'X-Writ-Destination: internal')
contains "token: properties cannot lower the resource's stored sensitivity under the ceiling" "$r" \
    "the resource's sensitivity 1 is above the task token's ceiling public"
# a resource the store holds without a sensitivity (or does not hold)
# counts as restricted whatever the body's properties say, and Cedar sees
# the level the ceiling checked: none (level-zero would forbid a 0)
for id in unlevelled unstored; do
    LVL0="\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"$id\",\"properties\":{\"sensitivity\":0,\"owner\":\"y\"}}"
    r=$(az "$ptok" "{$LVL0,$CTX}" -H 'X-Real-IP: 10.0.0.1' -H 'X-Writ-Destination: internal')
    check "token: properties cannot give $id a sensitivity under the ceiling" "$(decision "$r")" \
        '[false,[],["the resource has no sensitivity, so it counts as restricted: above the task token'"'"'s ceiling public"]]'
    r=$(az "$tok" "{$LVL0,$CTX}" -H 'X-Real-IP: 10.0.0.1' -H 'X-Writ-Destination: internal')
    check "token: Cedar does not see a sensitivity the properties gave $id" "$(decision "$r")" \
        '[true,["office-reads"],[]]'
done
r=$(az "" "{\"subject\":{\"type\":\"Agent\",\"id\":\"$A/analyst\"},$LVL0,$CTX}")
check "no token: the PEP vouches for a resource's sensitivity" "$(decision "$r")" '[false,["level-zero"],[]]'
r=$(az "" "{\"subject\":{\"type\":\"Agent\",\"id\":\"$A/intern\",\"properties\":{\"trust_level\":5}},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"metrics\"},$CTX}")
check "no token: the PEP vouches for properties and context, as before" "$(decision "$r")" '[true,["office-reads"],[]]'
r=$(az "" "$EVAL")
check "no token, no context: every fact present, unknown ones restrictive (external)" "$(decision "$r")" \
    '[false,["no-external","shallow-only"],[]]'
r=$(az "" "{\"subject\":{\"type\":\"Agent\",\"id\":\"$A/analyst\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"metrics\"},\"context\":{\"destination\":\"INTERNAL\",\"source_ip\":{\"__extn\":{\"fn\":\"ip\",\"arg\":\"10.0.0.1\"}},\"chain_depth\":0}}")
check "no token: the PEP's destination is normalised to lower case" "$(decision "$r")" '[true,["office-reads"],[]]'

# ---- 4. /oauth2/token: every destination asked for counts
cat >"$TMP/start.cedar" <<'CEDAR'
@id("start")
permit (principal, action == Writ::Action::"start_task", resource);
@id("no-external-tasks")
forbid (principal, action == Writ::Action::"start_task", resource)
when { context.destination == "external" || context.destinations.contains("external") };
@id("no-public-tasks")
forbid (principal, action == Writ::Action::"start_task", resource)
when { context.destinations.contains("public.example") };
@id("delegate")
permit (principal, action == Writ::Action::"delegate", resource);
@id("no-partner-delegation")
forbid (principal, action == Writ::Action::"delegate", resource)
when { context.destinations.contains("partner.example") };
CEDAR
stop_writ "$WPID" TERM
start_writ start --config "$TMP/writ.conf" --policies "$TMP/start.cedar"
svid=$(peer svid "$TMP" "$A/analyst")
ex() { req POST /oauth2/token -H "$FORM" --data-urlencode "grant_type=$XT" --data-urlencode "subject_token=$svid" \
    --data-urlencode "subject_token_type=$JWT" --data-urlencode scope=read --data-urlencode purpose=p "$@"; }
r=$(ex --data-urlencode destination=internal)
check "start_task with one internal destination: allowed" "${r%% *}" 200
r=$(ex --data-urlencode destination=internal --data-urlencode destination=external)
check "start_task asking for internal and external: the second one counts too" "${r%% *}" 403
r=$(ex)
check "start_task with no destination limit: the destination is unknown, so external" "${r%% *}" 403
# Cedar decides on the destinations the token will hold: lower case
r=$(ex --data-urlencode destination=Public.Example)
contains "start_task: the asked destinations are lower-cased before Cedar decides" "$r" \
    '403 {"error":"access_denied","error_description":"policy_denied: no policy permits Writ::Action::\"start_task\" on Writ::Task::'
contains "... so the forbid on them holds" "$r" "(forbidden by no-public-tasks)"
r=$(ex --data-urlencode destination=Partner.Example)
ptok=$(body "$r" | jq -r '.access_token // empty')
check "a task for partner.example" "$("$WRIT" token inspect "$ptok" 2>/dev/null | jq -c .payload.tctx.destinations)" '["partner.example"]'
delegate() {   # delegate TOKEN ACTOR-SVID [form args]
    req POST /oauth2/token -H "$FORM" --data-urlencode "grant_type=$XT" --data-urlencode "subject_token=$1" \
        --data-urlencode "subject_token_type=urn:ietf:params:oauth:token-type:access_token" \
        --data-urlencode "actor_token=$2" --data-urlencode "actor_token_type=$JWT" "${@:3}"
}
r=$(delegate "$ptok" "$(peer svid "$TMP" "$A/intern" writ-actor)" --data-urlencode destination=PARTNER.EXAMPLE)
contains "delegate: the asked destinations are lower-cased before Cedar decides" "$r" \
    "(forbidden by no-partner-delegation)"
stop_writ "$WPID" TERM
check "clean shutdown" "$STOP_RC" 0
finish
