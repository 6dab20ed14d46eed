#!/usr/bin/env bash
# authzen_fields.sh - the single AuthZEN evaluation without a schema, where
# the body is read as fields (writ_json_parse_fields: subject, action and
# resource as slices of the body, no JSON tree of them), answers exactly as
# the usual reading does.  Each body is sent as it is and once more with a
# member "zz":"\u0041" added, which the quick reader declines (a \u escape),
# so that copy is read the usual way: status and answer must be the same
# bytes, for decisions, properties (with and without a task token: with
# one, properties cannot change what the entity store holds), escaped ids,
# options.explain and every malformed part.
. "$(dirname "$0")/lib.sh"

cat >"$TMP/p.cedar" <<'CEDAR'
@id("trusted-read")
permit (principal, action == Writ::Action::"read", resource)
when { principal.trust_level >= resource.sensitivity };

@id("blocked")
forbid (principal, action, resource) when { context has blocked && context.blocked };
CEDAR
cat >"$TMP/e.json" <<'JSON'
[
  {"uid": {"type": "Writ::Agent", "id": "spiffe://corp.example/agents/low"}, "attrs": {"trust_level": 2}, "parents": []},
  {"uid": {"type": "Writ::Agent", "id": "q\"uote/x"}, "attrs": {"trust_level": 5}, "parents": []},
  {"uid": {"type": "Writ::Dataset", "id": "public"}, "attrs": {"sensitivity": 1}, "parents": []},
  {"uid": {"type": "Writ::Dataset", "id": "secret"}, "attrs": {"sensitivity": 4}, "parents": []}
]
JSON
"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
cat >"$TMP/writ.conf" <<CONF
token_keys = $TMP/k.pem
check_principal_type = Agent
CONF
A=spiffe://corp.example/agents
LOW=$A/low
mint() {   # mint AGENT
    "$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ --subject "$A/$1" \
        --purpose p --action read --resource '*' --sensitivity restricted
}
start_writ f --policies "$TMP/p.cedar" --entities "$TMP/e.json" --schema "" --config "$TMP/writ.conf"

# apost TOKEN JSON: "STATUS BODY" of /access/v1/evaluation
apost() {
    curl -s -m 5 -o "$TMP/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        ${1:+-H "Authorization: Bearer $1"} --data-binary "$2" "http://$ADDR/access/v1/evaluation" >"$TMP/code"
    echo "$(cat "$TMP/code") $(cat "$TMP/body")"
}
# same TOKEN NAME JSON: the answer to JSON equals the answer to JSON read the
# usual way; the answer in $r
same() {
    local t=$1 name=$2 j=$3 b
    r=$(apost "$t" "$j")
    b=$(apost "$t" "${j%\}},\"zz\":\"\\u0041\"}")
    check "same answer both ways: $name" "$r" "$b"
}
decision() { jq -c '[.decision, .context.reasons, [.context.errors[].message]]' <<<"${1#* }"; }
S() { echo "\"subject\":{\"type\":\"Agent\",\"id\":\"$1\"${2:+,\"properties\":$2}}"; }
R() { echo "\"resource\":{\"type\":\"Dataset\",\"id\":\"$1\"${2:+,\"properties\":$2}}"; }
ACT='"action":{"name":"read"}'
CTX='"context":{"purpose":"x","n":1,"tags":["a"],"amount":{"__extn":{"fn":"decimal","arg":"1.5"}}}'

# ---- decisions
same "" "low reads public" "{$(S $LOW),$ACT,$(R public),$CTX}"
check "low reads public: allowed" "$(decision "$r")" '[true,["trusted-read"],[]]'
same "" "low reads secret" "{$(S $LOW),$ACT,$(R secret),$CTX}"
check "low reads secret: denied" "$(decision "$r")" '[false,[],[]]'
same "" "blocked" "{$(S $LOW),$ACT,$(R public),\"context\":{\"blocked\":true}}"
check "a context fact decides" "$(decision "$r")" '[false,["blocked"],[]]'
same "" "members in another order" "{\"context\":{},$(R public),\"options\":{},$ACT,$(S $LOW)}"
check "members in any order" "$(decision "$r")" '[true,["trusted-read"],[]]'
same "" "qualified type" "{\"subject\":{\"type\":\"Writ::Agent\",\"id\":\"$LOW\"},$ACT,$(R public),$CTX}"
check "a qualified type is taken as written" "$(decision "$r")" '[true,["trusted-read"],[]]'
same "" "escaped id" "{$(S 'q\"uote\/x'),$ACT,$(R secret),$CTX}"
check "an id with escapes names the stored entity" "$(decision "$r")" '[true,["trusted-read"],[]]'

# ---- properties without a token: the caller vouches, they replace the store's
same "" "properties raise trust" "{$(S $LOW '{"trust_level":5}'),$ACT,$(R secret),$CTX}"
check "no token: properties replace stored attributes" "$(decision "$r")" '[true,["trusted-read"],[]]'
same "" "resource properties" "{$(S $LOW),$ACT,$(R secret '{"sensitivity":0}'),$CTX}"
check "no token: resource properties too" "$(decision "$r")" '[true,["trusted-read"],[]]'
same "" "unknown agent described" "{$(S $A/newbie '{"trust_level":4,"tags":["a"],"team":{"__entity":{"type":"Writ::Team","id":"t"}}}'),$ACT,$(R secret),$CTX}"
check "no token: an agent the store does not know, described by properties" "$(decision "$r")" '[true,["trusted-read"],[]]'
same "" "properties null" "{$(S $LOW null),$ACT,$(R secret null),$CTX}"
check "properties null: none" "$(decision "$r")" '[false,[],[]]'
same "" "properties empty" "{$(S $LOW '{}'),$ACT,$(R public '{}'),$CTX}"
same "" "properties a bad value" "{$(S $LOW '{"trust_level":null}'),$ACT,$(R public),$CTX}"

# ---- properties with a task token: only what the store does not hold
tlow=$(mint low)
tnew=$(mint newbie)
same "$tlow" "token, properties raise trust" "{$(S $LOW '{"trust_level":5}'),$ACT,$(R secret),$CTX}"
check "token: properties cannot raise the holder's stored trust_level" "$(decision "$r")" '[false,[],[]]'
same "$tlow" "token, resource properties" "{$ACT,$(R secret '{"sensitivity":0}'),$CTX}"
check "token: properties cannot lower the resource's stored sensitivity" "$(decision "$r")" '[false,[],[]]'
same "$tnew" "token, unknown holder described" "{$(S $A/newbie '{"trust_level":4}'),$ACT,$(R secret),$CTX}"
check "token: properties may add attributes the store does not hold" "$(decision "$r")" '[true,["trusted-read"],[]]'
same "$tlow" "token, another subject" "{$(S 'q\"uote\/x'),$ACT,$(R secret),$CTX}"
check "token: a subject must name the holder" "$(decision "$r")" \
    "[false,[],[\"subject does not match the task token's holder\"]]"
same "$tlow" "token, the holder with escapes" "{$(S 'spiffe:\/\/corp.example\/agents\/low'),$ACT,$(R public),$CTX}"
check "token: a subject with escapes names the holder" "$(decision "$r")" '[true,["trusted-read"],[]]'


# ---- options.explain (this server does not explain)
same "" "explain asked" "{$(S $LOW),$ACT,$(R public),$CTX,\"options\":{\"explain\":true}}"
contains "explain refused here" "$r" '403 {"error":{"status":403,"code":"explain_disabled"'
same "" "explain not a bool" "{$(S $LOW),$ACT,$(R public),$CTX,\"options\":{\"explain\":1}}"
contains "explain must be a bool" "$r" '"message":"options.explain must be true or false"'
same "" "explain false" "{$(S $LOW),$ACT,$(R public),$CTX,\"options\":{\"explain\":false}}"
check "explain false decides" "$(decision "$r")" '[true,["trusted-read"],[]]'
same "" "options a string" "{$(S $LOW),$ACT,$(R public),$CTX,\"options\":\"explain\"}"
check "options not an object: ignored" "$(decision "$r")" '[true,["trusted-read"],[]]'

# ---- malformed parts: the same 400s
bad_part() {   # bad_part NAME JSON MESSAGE
    local r
    same "" "$1" "$2"
    contains "$1" "$r" "400 {\"error\":{\"status\":400,\"code\":\"bad_request\",\"message\":\"$3\"}}"
}
bad_part "no subject" "{$ACT,$(R public),$CTX}" "subject is required"
bad_part "subject null" "{\"subject\":null,$ACT,$(R public),$CTX}" "subject must be an object"
bad_part "subject a string" "{\"subject\":\"low\",$ACT,$(R public),$CTX}" "subject must be an object"
bad_part "subject an array" "{\"subject\":[],$ACT,$(R public),$CTX}" "subject must be an object"
bad_part "subject.type a number" "{\"subject\":{\"type\":1,\"id\":\"$LOW\"},$ACT,$(R public),$CTX}" \
    "subject.type must be a string"
bad_part "subject.id empty" "{\"subject\":{\"type\":\"Agent\",\"id\":\"\"},$ACT,$(R public),$CTX}" \
    "subject.id must not be empty"
bad_part "subject.id an object" "{\"subject\":{\"type\":\"Agent\",\"id\":{}},$ACT,$(R public),$CTX}" \
    "subject.id must be a string"
bad_part "no action" "{$(S $LOW),$(R public),$CTX}" "action is required"
bad_part "action.name missing" "{$(S $LOW),\"action\":{},$(R public),$CTX}" "action.name is required (a string)"
bad_part "action.name misspelled" "{$(S $LOW),\"action\":{\"nam\":\"read\"},$(R public),$CTX}" \
    "action.name is required (a string)"
bad_part "action.name a number" "{$(S $LOW),\"action\":{\"name\":7},$(R public),$CTX}" \
    "action.name must be a string"
bad_part "resource.id missing" "{$(S $LOW),$ACT,\"resource\":{\"type\":\"Dataset\"},$CTX}" \
    "resource.id is required (a string)"
bad_part "resource true" "{$(S $LOW),$ACT,\"resource\":true,$CTX}" "resource must be an object"
bad_part "properties a string" "{$(S $LOW '"x"'),$ACT,$(R public),$CTX}" "properties must be an object"
bad_part "resource properties an array" "{$(S $LOW),$ACT,$(R public '[]'),$CTX}" "properties must be an object"
bad_part "the first error wins" "{\"subject\":{\"type\":\"\"},\"action\":{},\"resource\":1,$CTX}" \
    "resource must be an object"
same "$tlow" "token, no subject, bad resource" "{$ACT,\"resource\":{\"id\":\"x\"},$CTX}"
contains "token: subject optional, resource still checked" "$r" '"message":"resource.type is required (a string)"'

# ---- outside the quick reader's subset, read the usual way all the same
many=$(for i in $(seq 40); do printf ',"m%d":"v"' "$i"; done)
same "" "40 members in subject" "{\"subject\":{\"type\":\"Agent\",\"id\":\"$LOW\"$many},$ACT,$(R public),$CTX}"
check "a subject of 40 members" "$(decision "$r")" '[true,["trusted-read"],[]]'
r=$(apost "" "{$(S $LOW),$ACT,$(R public),$CTX,$(S $LOW)}")
contains "duplicate member refused" "$r" '400 {"error":{"status":400,"code":"bad_json","message":"malformed JSON at line 1'
r=$(apost "" "{\"subject\":{\"type\":\"Agent\",\"id\":\"$LOW\",\"id\":\"x\"},$ACT,$(R public),$CTX}")
contains "duplicate member in subject refused" "$r" '400 {"error":{"status":400,"code":"bad_json"'
r=$(apost "" "{$(S $LOW),$ACT,$(R public),$CTX} x")
contains "trailing bytes refused" "$r" '400 {"error":{"status":400,"code":"bad_json"'

finish
