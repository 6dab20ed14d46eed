#!/usr/bin/env bash
# authzen_token.sh - AuthZEN with a task token (Authorization: Bearer): the
# token is verified as /authz/check verifies it (401 + WWW-Authenticate when
# refused, another scheme too), its holder is the principal (a subject in
# the body must name it), its scope bounds each evaluation, its task, chain
# and chain_depth replace the body's in the Cedar context, one token covers
# a batch, a revocation is effective on the next request, and the audit
# record carries the token's task.  Without the header nothing changes.
. "$(dirname "$0")/lib.sh"

A=spiffe://corp.example/agents
"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
"$WRIT" keys generate --out "$TMP/other.pem" >/dev/null
mint() {   # mint KEY AGENT PURPOSE ACTION RESOURCE [TXN]; sensitivity ceiling $SENS (confidential)
    "$WRIT" token mint --key "$1" --issuer https://writ.local --audience writ --subject "$A/$2" \
        --purpose "$3" --action "$4" --resource "$5" ${6:+--txn "$6"} --sensitivity "${SENS:-confidential}"
}
# apost PATH TOKEN JSON [curl args...]: POST with the token; "STATUS BODY",
# the response headers in $TMP/hdr
apost() {
    local p=$1 t=$2 j=$3; shift 3
    curl -s -m 5 -D "$TMP/hdr" -o "$TMP/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        ${t:+-H "Authorization: Bearer $t"} "$@" --data-binary "$j" "http://$ADDR$p" >"$TMP/code"
    echo "$(cat "$TMP/code") $(cat "$TMP/body")"
}
body() { echo "${1#* }"; }
decision() { body "$1" | jq -c '[.decision, .context.reasons, [.context.errors[].message]]'; }
cat >"$TMP/writ.conf" <<CONF
token_keys = $TMP/k.pem
CONF
start_writ az "${EXFILES[@]}" --config "$TMP/writ.conf"

# the example policies: analyst reads usage-metrics (read-own-team)
RES='"resource":{"type":"Dataset","id":"usage-metrics"}'
NOSUBJ="{\"action\":{\"name\":\"read\"},$RES,$CTX}"
tok=$(mint "$TMP/k.pem" analyst weekly-report read 'usage-*' t-report)

# ---- without the header: as before (the caller vouches for the subject)
r=$(post /access/v1/evaluation "$(eval_json analyst read Dataset usage-metrics)")
check "no token: subject as written" "$(decision "$r")" '[true,["read-own-team"],[]]'
r=$(post /access/v1/evaluation "$NOSUBJ")
contains "no token: subject still required" "$r" '400 {"error":{"status":400,"code":"bad_request","message":"subject is required"}}'

# ---- with a token: the holder is the principal
r=$(apost /access/v1/evaluation "$tok" "$NOSUBJ")
check "token, no subject: allowed as the holder" "${r%% *} $(decision "$r")" '200 [true,["read-own-team"],[]]'
r=$(apost /access/v1/evaluation "$tok" "$(eval_json analyst read Dataset usage-metrics)")
check "token, matching subject: allowed" "${r%% *} $(decision "$r")" '200 [true,["read-own-team"],[]]'
r=$(apost /access/v1/evaluation "$tok" "{\"subject\":{\"type\":\"Writ::Agent\",\"id\":\"$A/analyst\"},\"action\":{\"name\":\"read\"},$RES,$CTX}")
check "token, matching qualified subject: allowed" "$(decision "$r")" '[true,["read-own-team"],[]]'
r=$(apost /access/v1/evaluation "$tok" "$(eval_json code-agent read Dataset usage-metrics)")
check "token, another agent as subject: denied" "${r%% *} $(decision "$r")" \
    "200 [false,[],[\"subject does not match the task token's holder\"]]"
r=$(apost /access/v1/evaluation "$tok" "{\"subject\":{\"type\":\"Service\",\"id\":\"$A/analyst\"},\"action\":{\"name\":\"read\"},$RES,$CTX}")
check "token, the holder's id with another type: denied" "$(decision "$r")" \
    "[false,[],[\"subject does not match the task token's holder\"]]"
r=$(apost /access/v1/evaluation "$tok" "{\"subject\":{\"type\":\"Agent\"},\"action\":{\"name\":\"read\"},$RES,$CTX}")
contains "token, a malformed subject is still a 400" "$r" '400 {"error":{"status":400,"code":"bad_request","message":"subject.id is required (a string)"}}'

# ---- refused credentials: 401 with WWW-Authenticate, the reason named
r=$(apost /access/v1/evaluation "$(mint "$TMP/other.pem" analyst weekly-report read 'usage-*')" "$NOSUBJ")
check "unknown signing key: 401" "${r%% *} $(body "$r" | jq -r '.error.code')" "401 invalid_token"
contains "unknown signing key: reason" "$(body "$r" | jq -r .error.message)" "task token refused: "
check "unknown signing key: WWW-Authenticate" "$(grep -i '^WWW-Authenticate:' "$TMP/hdr" | tr -d '\r')" \
    'WWW-Authenticate: Bearer realm="writ"'
# an expired token: the reason once, and the times as a person reads them
now=$(date +%s)
old=$("$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ --subject "$A/analyst" \
    --purpose weekly-report --action read --resource 'usage-*' --ttl 60 --now $((now - 600)))
r=$(apost /access/v1/evaluation "$old" "$NOSUBJ")
check "expired token: 401" "${r%% *} $(body "$r" | jq -r '.error.code')" "401 invalid_token"
exp_text=$(date -u -d "@$((now - 540))" +%Y-%m-%dT%H:%M:%SZ)
msg=$(body "$r" | jq -r .error.message)
contains "expired token: when, readable" "$msg" "task token refused: expired: exp $exp_text ($((now - 540))) is 5"
contains "expired token: the leeway" "$msg" "(leeway 30 s)"
case "$msg" in *"expired: expired"*) bad "expired token: the reason twice: <$msg>" ;; *) ok "expired token: the reason once" ;; esac
r=$(apost /access/v1/evaluation x.y.z "$NOSUBJ")
check "garbage token: 401" "${r%% *} $(body "$r" | jq -r '.error.code')" "401 invalid_token"
contains "garbage token: reason" "$r" '"message":"task token refused: '
case "$(body "$r")" in *"malformed: malformed"*) bad "garbage token: the reason twice: <$r>" ;; *) ok "garbage token: the reason once" ;; esac
r=$(apost /access/v1/evaluation "" "$NOSUBJ" -H 'Authorization: Bearer')
check "Bearer without a token: 401" "${r%% *}" 401
r=$(apost /access/v1/evaluation "" "$(eval_json analyst read Dataset usage-metrics)" -u analyst:secret)
check "Basic auth: 401" "${r%% *} $(body "$r" | jq -r '.error.code')" "401 unsupported_scheme"
contains "Basic auth: says why" "$r" 'unsupported Authorization scheme: only a task token (Authorization: Bearer) is accepted'
check "Basic auth: WWW-Authenticate" "$(grep -ci '^WWW-Authenticate: Bearer realm="writ"' "$TMP/hdr")" 1
r=$(apost /access/v1/evaluations x.y.z "{\"evaluations\":[$NOSUBJ]}")
check "batch with a garbage token: 401" "${r%% *} $(body "$r" | jq -r '.error.code')" "401 invalid_token"

# ---- the token's scope bounds each evaluation
r=$(apost /access/v1/evaluation "$tok" "{\"action\":{\"name\":\"write\"},$RES,$CTX}")
check "action outside the scope: denied" "${r%% *} $(decision "$r")" \
    "200 [false,[],[\"action write is outside the task token's scope\"]]"
r=$(apost /access/v1/evaluation "$tok" "{\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"customer-pii\"},$CTX}")
check "resource outside the scope (Cedar alone would allow it): denied" "$(decision "$r")" \
    "[false,[],[\"resource customer-pii is outside the task token's scope\"]]"
r=$(post /access/v1/evaluation "$(eval_json analyst read Dataset customer-pii)")
check "... Cedar alone allows it" "$(decision "$r")" '[true,["read-own-team"],[]]'

# ---- the token's task wins over the body's context
FIX='"action":{"name":"write"},"resource":{"type":"Repo","id":"writ"}'
ctx() {   # ctx PURPOSE DEPTH
    echo "\"context\":{\"task\":{\"id\":\"forged-task\",\"purpose\":\"$1\"},\"chain_depth\":$2,\"destination\":\"internal\",\"time\":\"2025-06-02T14:05:00Z\",\"source_ip\":\"10.20.0.7\"}"
}
feat=$(mint "$TMP/k.pem" code-agent feature write '*' t-feature)
r=$(apost /access/v1/evaluation "$feat" "{$FIX,$(ctx bugfix 0)}")
check "body says bugfix, the token feature: denied" "$(decision "$r")" '[false,[],[]]'
r=$(post /access/v1/evaluation "{\"subject\":{\"type\":\"Agent\",\"id\":\"$A/code-agent\"},$FIX,$(ctx bugfix 0)}")
check "... without the token the body's purpose is believed" "$(decision "$r")" '[true,["write-repo-for-fix"],[]]'
fix=$(mint "$TMP/k.pem" code-agent bugfix write '*' t-fix)
r=$(apost /access/v1/evaluation "$fix" "{$FIX,$(ctx feature 9)}")
check "body says feature at depth 9, the token bugfix at 0: allowed" "$(decision "$r")" '[true,["write-repo-for-fix"],[]]'

# ---- batches: one token for every item
items="[{\"action\":{\"name\":\"read\"}},{\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"customer-pii\"}},{\"action\":{\"name\":\"write\"}},{\"action\":{\"name\":\"read\"},\"subject\":{\"type\":\"Agent\",\"id\":\"$A/code-agent\"}}]"
r=$(apost /access/v1/evaluations "$tok" "{$RES,$CTX,\"evaluations\":$items}")
check "batch with a token: each item bounded" \
    "${r%% *} $(body "$r" | jq -c '[.evaluations[] | [.decision, (.context.errors[0].message // "")]]')" \
    "200 [[true,\"\"],[false,\"resource customer-pii is outside the task token's scope\"],[false,\"action write is outside the task token's scope\"],[false,\"subject does not match the task token's holder\"]]"
r=$(apost /access/v1/evaluations "$tok" "{$RES,$CTX,\"evaluations\":$items,\"options\":{\"evaluations_semantic\":\"deny_on_first_deny\"}}")
check "batch deny_on_first_deny with a token" "$(body "$r" | jq -c '[.evaluations[].decision]')" "[true,false]"
r=$(apost /access/v1/evaluations "$tok" "$NOSUBJ")
check "batch endpoint, one evaluation, token's holder" "${r%% *} $(decision "$r")" '200 [true,["read-own-team"],[]]'

# ---- revocation takes effect on the next AuthZEN request
rev=$(mint "$TMP/k.pem" analyst weekly-report read 'usage-*' t-rev)
r=$(apost /access/v1/evaluation "$rev" "$NOSUBJ")
check "before the revocation: allowed" "$(decision "$r")" '[true,["read-own-team"],[]]'
"$WRIT" revoke --db "$TMP/az.state/writ.db" --jti "$("$WRIT" token inspect "$rev" 2>/dev/null | jq -r .payload.jti)" \
    >/dev/null || bad "writ revoke"
sleep 0.6
r=$(apost /access/v1/evaluation "$rev" "$NOSUBJ")
check "revoked token: 401" "${r%% *} $(body "$r" | jq -r '.error.code')" "401 invalid_token"
contains "revoked token: named" "$r" "revoked"
r=$(apost /access/v1/evaluation "$tok" "$NOSUBJ")
check "other tokens unaffected" "$(decision "$r")" '[true,["read-own-team"],[]]'

m=$(curl -s -m 5 "http://$ADDR/metrics")
# unknown key, expired, garbage, empty Bearer, Basic, batch with garbage, revoked
check "401s counted as token rejections" "$(awk '/^writ_tokens_rejected_total/ {print $2}' <<<"$m")" 7
stop_writ "$WPID" TERM
check "clean shutdown" "$STOP_RC" 0

# ---- the audit log: the token's task and holder, never the body's
v=$("$WRIT" audit verify --state-dir "$TMP/az.state"); contains "audit chain" "$v" "ok: "
q=$("$WRIT" audit query --state-dir "$TMP/az.state" --task t-fix)
check "audit: the token's task" "$(jq -sc '[.[] | [.agent, .action, .resource, .task, .decision]]' <<<"$q")" \
    "[[\"Writ::Agent::\\\"$A/code-agent\\\"\",\"Writ::Action::\\\"write\\\"\",\"Writ::Repo::\\\"writ\\\"\",\"t-fix\",\"allow\"]]"
check "audit: the chain from the token" "$(jq -sc '.[0].chain' <<<"$q")" "[\"$A/code-agent\"]"
q=$("$WRIT" audit query --state-dir "$TMP/az.state" --task forged-task)
check "audit: the body's task only where no token was sent" "$(jq -sc '[.[] | .decision]' <<<"$q")" '["allow"]'
q=$("$WRIT" audit query --state-dir "$TMP/az.state" --task t-report --decision deny)
contains "audit: a subject mismatch is a deny of the token's task" "$q" "subject does not match the task token's holder"

# ---- a delegated token: the chain and its depth reach Cedar (no schema)
cat >"$TMP/chain.cedar" <<CEDAR
permit (principal == Writ::Agent::"$A/helper", action == Writ::Action::"read", resource)
when {
  context.task.id == "t-chain" && context.task.purpose == "weekly-report" &&
  context.chain_depth == 1 && context.chain == ["$A/analyst", "$A/helper"] &&
  context.destination == "internal"
};
CEDAR
# the destination comes from a trusted proxy (127.0.0.1 here), never the body
start_writ chain --config "$TMP/writ.conf" --policies "$TMP/chain.cedar" --entities '' --schema '' \
    --trusted-proxies 127.0.0.1
# no entities: the resource has no sensitivity, so only a restricted ceiling reaches it
root=$(SENS=restricted mint "$TMP/k.pem" analyst weekly-report read 'usage-*' t-chain)
del=$("$WRIT" token delegate --key "$TMP/k.pem" --issuer https://writ.local --audience writ --token "$root" \
    --target "$A/helper")
FORGED='"context":{"task":{"id":"forged","purpose":"other"},"chain_depth":0,"chain":["x"],"destination":"internal"}'
r=$(apost /access/v1/evaluation "$del" "{\"action\":{\"name\":\"read\"},$RES,$FORGED}" -H 'X-Writ-Destination: Internal')
check "delegated token: chain, depth and task from the token, destination from the trusted proxy" "$(decision "$r")" \
    '[true,["policy0"],[]]'
r=$(apost /access/v1/evaluation "$del" "{\"action\":{\"name\":\"read\"},$RES,$FORGED}")
check "... the body's destination is not believed (unknown: external)" "$(decision "$r")" '[false,[],[]]'
r=$(apost /access/v1/evaluation "$root" "{\"action\":{\"name\":\"read\"},$RES,$FORGED}" -H 'X-Writ-Destination: internal')
check "the root token (depth 0, chain of one): denied" "$(decision "$r")" '[false,[],[]]'
r=$(post /access/v1/evaluation "{\"subject\":{\"type\":\"Agent\",\"id\":\"$A/helper\"},\"action\":{\"name\":\"read\"},$RES,\"context\":{\"task\":{\"id\":\"t-chain\",\"purpose\":\"weekly-report\"},\"chain_depth\":1,\"chain\":[\"$A/analyst\",\"$A/helper\"],\"destination\":\"internal\"}}")
check "without a token the body's context is believed" "$(decision "$r")" '[true,["policy0"],[]]'
stop_writ "$WPID" TERM
check "clean shutdown (sanitizers see no leak)" "$STOP_RC" 0
q=$("$WRIT" audit query --state-dir "$TMP/chain.state" --task t-chain --decision allow)
check "audit: the delegated token's holder, task and chain" \
    "$(jq -sc '[.[] | [.agent, .task, .chain]]' <<<"$q" | head -c 400)" \
    "[[\"Writ::Agent::\\\"$A/helper\\\"\",\"t-chain\",[\"$A/analyst\",\"$A/helper\"]],[\"Writ::Agent::\\\"$A/helper\\\"\",\"t-chain\",[\"$A/analyst\",\"$A/helper\"]]]"
finish
