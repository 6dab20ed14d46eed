#!/usr/bin/env bash
# oauth.sh - the token endpoints end to end: a jose-signed JWT-SVID is
# exchanged at /oauth2/token (RFC 8693) for a task token that jose verifies
# with /.well-known/jwks.json and /authz/check accepts; Cedar decides
# start_task and delegate (403 on deny); delegation narrows only;
# /oauth2/revoke (RFC 7009, by token, task, agent) takes effect on the very
# next request; malformed forms are 400s.  Needs node and
# tests/peers/node_modules (npm ci); exit 77 = skipped.
. "$(dirname "$0")/lib.sh"
PEERS=${WRIT_PEERS:-$REPO/tests/peers}
if ! command -v node >/dev/null || [ ! -d "$PEERS/node_modules/jose" ]; then
    echo "oauth: SKIPPED, node or $PEERS/node_modules/jose missing (npm ci in tests/peers)"; exit 77
fi
peer() { node "$REPO/tests/server/oauth_peer.mjs" "$PEERS" "$@"; }
A=spiffe://corp.example/agents
XT=urn:ietf:params:oauth:grant-type:token-exchange
JWT=urn:ietf:params:oauth:token-type:jwt
AT=urn:ietf:params:oauth:token-type:access_token
FORM='Content-Type: application/x-www-form-urlencoded'

peer keys "$TMP" || { bad "jose keys"; finish; }
head -c 48 /dev/urandom | base64 | tr -d '\n/+=' >"$TMP/admin.secret"
cat >"$TMP/writ.conf" <<CONF
identity_spiffe = corp.example $TMP/bundle.json
admin_token_file = $TMP/admin.secret
route = GET  /datasets/{id}   read   Dataset {id}
route = GET  /repos/{repo}    read   Repo    {repo}
route = POST /repos/{repo}/*  write  Repo    {repo}
CONF
start_writ oauth "${EXFILES[@]}" --config "$TMP/writ.conf"
key="$TMP/oauth.state/token-key.pem"
check "signing key generated on first start (0600)" "$(stat -c %a "$key" 2>/dev/null)" 600

# form POST PATH [curl args]: prints "STATUS BODY"
form() { local p=$1; shift; req POST "$p" -H "$FORM" "$@"; }
# exchange ARGS...: --data-urlencode pairs; prints "STATUS BODY"
exchange() { form /oauth2/token --data-urlencode "grant_type=$XT" "$@"; }
body() { echo "${1#* }"; }

r=$(req GET /.well-known/jwks.json)
check "jwks served" "${r%% *}" 200
body "$r" >"$TMP/jwks.json"
contains "jwks holds an ES256 key, public only" "$(jq -c '[.keys[0].kty, .keys[0].crv, (.keys[0] | has("d"))]' "$TMP/jwks.json")" '["EC","P-256",false]'

# ---- start a task
svid=$(peer svid "$TMP" "$A/analyst")
r=$(exchange --data-urlencode "subject_token=$svid" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=weekly-report' --data-urlencode 'resource=usage-*' \
    --data-urlencode 'owner=carol@corp.example')
check "exchange: 200" "${r%% *}" 200
b=$(body "$r")
check "RFC 8693 answer" "$(jq -c '[.issued_token_type, .token_type, .scope, (.expires_in > 250 and .expires_in <= 300)]' <<<"$b")" \
    "[\"$AT\",\"Bearer\",\"read\",true]"
tok=$(jq -r .access_token <<<"$b")
claims=$(peer verify "$TMP/jwks.json" "$tok" https://writ.local writ)
# a task token stops when the credential it was issued against does
short=$(peer svid "$TMP" "$A/analyst" writ 60s)
r=$(exchange --data-urlencode "subject_token=$short" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=weekly-report' --data-urlencode 'ttl=600' \
    --data-urlencode 'owner=carol@corp.example')
sexp=$(jq -R 'split(".")[1] | gsub("-"; "+") | gsub("_"; "/") | @base64d | fromjson | .exp' <<<"$short")
check "short-lived SVID exchanged" "${r%% *}" 200
st=$(jq -r .access_token <<<"$(body "$r")")
texp=$(peer verify "$TMP/jwks.json" "$st" https://writ.local writ | jq .exp)
check "token capped at the SVID's expiry" "$(jq -c '.expires_in <= 60' <<<"$(body "$r")") $texp" "true $sexp"
check "jose verifies the issued token with the JWKS" "$(jq -c '[.sub, .purp, .scope, .tctx.resources]' <<<"$claims")" \
    "[\"$A/analyst\",\"weekly-report\",\"read\",[\"usage-*\"]]"
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $tok")
contains "issued token allowed at /authz/check" "$r" '200 {"decision":true'
r=$(req GET /authz/check/datasets/sales-2025 -H "Authorization: Bearer $tok")
check "outside the token's resources" "${r%% *}" 403

# ---- Cedar refuses start_task
r=$(exchange --data-urlencode "subject_token=$svid" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=weekly-report' --data-urlencode 'task=task-42')
check "start_task denied: 403" "${r%% *}" 403
check "denied: OAuth error" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" "access_denied policy_denied"
contains "denied: reason" "$r" 'no policy permits Writ::Action::\"start_task\" on Writ::Task::\"task-42\"'
r=$(exchange --data-urlencode "subject_token=$svid" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=weekly-report' --data-urlencode 'owner=mallory@evil')
check "start_task for another owner: 403" "${r%% *}" 403

# ---- refused identity tokens
r=$(exchange --data-urlencode "subject_token=$(peer svid "$TMP" "$A/analyst" someone-else)" \
    --data-urlencode "subject_token_type=$JWT" --data-urlencode 'scope=read' --data-urlencode 'purpose=x')
check "wrong audience: invalid_grant" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" "invalid_grant audience"
r=$(exchange --data-urlencode "subject_token=$tok" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=x')
check "a task token is no identity token" "$(body "$r" | jq -r .error)" invalid_grant

# ---- delegation
csvid=$(peer svid "$TMP" "$A/code-agent")
r=$(exchange --data-urlencode "subject_token=$csvid" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read write' --data-urlencode 'purpose=bugfix' --data-urlencode 'resource=*' \
    --data-urlencode 'owner=alice@corp.example')
check "code-agent starts a task" "${r%% *}" 200
ctok=$(body "$r" | jq -r .access_token)
ctask=$(body "$r" | jq -r .task_id)
tsvid=$(peer svid "$TMP" "$A/triage-bot")
delegate() {
    exchange --data-urlencode "subject_token=$1" --data-urlencode "subject_token_type=$AT" \
        --data-urlencode "actor_token=$2" --data-urlencode "actor_token_type=$JWT" "${@:3}"
}
r=$(delegate "$ctok" "$tsvid" --data-urlencode 'scope=read')
check "delegate narrowed: 200" "${r%% *}" 200
dtok=$(body "$r" | jq -r .access_token)
check "delegated token: act chain, narrowed scope" \
    "$(peer verify "$TMP/jwks.json" "$dtok" https://writ.local writ | jq -c '[.act.sub, .depth, .scope, .txn]')" \
    "[\"$A/triage-bot\",1,\"read\",\"$ctask\"]"
r=$(req GET /authz/check/repos/writ -H "Authorization: Bearer $dtok")
check "the delegate reads with its token" "${r%% *}" 200
r=$(delegate "$ctok" "$tsvid" --data-urlencode 'scope=read deploy')
check "widening refused" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" "invalid_scope scope_widened"
r=$(delegate "$dtok" "$tsvid" --data-urlencode 'scope=read write')
check "re-widening through a second hop refused" "$(body "$r" | jq -r .writ_reason)" scope_widened
r=$(delegate "$ctok" "$svid" --data-urlencode 'scope=read')
check "delegate outside the team: Cedar 403" "${r%% *}" 403
r=$(delegate "$ctok" "garbage")
check "bad actor token" "$(body "$r" | jq -r .error)" invalid_grant

# ---- revocation takes effect on the very next request
r=$(form /oauth2/revoke --data-urlencode "token=$tok")
check "revoke without credentials: 401" "$(body "$r" | jq -r .error)" invalid_client
r=$(form /oauth2/revoke --data-urlencode "task=$ctask" -H "Authorization: Bearer $tok")
check "a token may not revoke another task" "${r%% *}" 403
r=$(form /oauth2/revoke --data-urlencode "agent=$A/analyst" -H "Authorization: Bearer $tok")
check "agent revocation needs admin" "${r%% *}" 403
r=$(form /oauth2/revoke --data-urlencode "token=$tok" --data-urlencode token_type_hint=access_token \
    -H "Authorization: Bearer $tok")
check "revoke own token: 200" "${r%% *}" 200
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $tok")
check "revoked token refused on the very next request" "${r%% *}" 401
contains "revocation named" "$r" "revoked"
r=$(form /oauth2/revoke --data-urlencode "token=not.a.token" -H "Authorization: Bearer $(cat "$TMP/admin.secret")")
check "RFC 7009: an invalid token is a 200" "${r%% *}" 200
r=$(req GET /authz/check/repos/writ -H "Authorization: Bearer $dtok")
check "delegated token works before its parent is revoked" "${r%% *}" 200
r=$(form /oauth2/revoke --data-urlencode "token=$ctok" -H "Authorization: Bearer $dtok")
check "a delegate revokes its task's root token (same task)" "${r%% *}" 200
r=$(req GET /authz/check/repos/writ -H "Authorization: Bearer $dtok")
check "subtree: the delegated token is refused next" "${r%% *}" 401
r=$(delegate "$ctok" "$tsvid" --data-urlencode 'scope=read')
check "a revoked token cannot be exchanged" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" "invalid_grant revoked"
r=$(exchange --data-urlencode "subject_token=$(peer svid "$TMP" "$A/analyst")" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=weekly-report' --data-urlencode 'owner=carol@corp.example')
atok=$(body "$r" | jq -r .access_token)
r=$(form /oauth2/revoke --data-urlencode "agent=$A/analyst" -H "Authorization: Bearer $(cat "$TMP/admin.secret")")
check "admin revokes an agent" "${r%% *}" 200
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $atok")
check "agent revoked: next request refused" "${r%% *}" 401

# ---- malformed forms
r=$(form /oauth2/token --data "grant_type=$XT&grant_type=$XT")
check "duplicate parameter" "$(body "$r" | jq -r .error)" invalid_request
contains "duplicate named" "$r" "grant_type given more than once"
r=$(form /oauth2/token --data "grant_type=%zz")
check "bad percent-escape" "${r%% *}" 400
r=$(form /oauth2/token --data "grant_type=a%00b")
check "encoded NUL" "${r%% *}" 400
r=$(form /oauth2/token --data "grant_type=$XT&&scope=a")
check "empty pair" "${r%% *}" 400
r=$(form /oauth2/token --data "grant_type")
check "no '='" "${r%% *}" 400
r=$(form /oauth2/token --data "grant_type=password&username=a")
check "unsupported grant" "$(body "$r" | jq -r .error)" unsupported_grant_type
r=$(form /oauth2/token --data "subject_token=x")
check "grant_type required" "$(body "$r" | jq -r .error)" invalid_request
r=$(post /oauth2/token "{\"grant_type\":\"$XT\"}")
check "JSON body: 415" "${r%% *}" 415
check "415 in OAuth shape" "$(body "$r" | jq -r .error)" invalid_request
r=$(exchange --data-urlencode "subject_token=$svid" --data-urlencode "subject_token_type=$JWT" --data-urlencode 'purpose=x')
check "scope required" "$(body "$r" | jq -r .error)" invalid_request
r=$(exchange --data-urlencode "subject_token=$svid" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=x' --data-urlencode 'ttl=99999')
check "ttl over the maximum" "$(body "$r" | jq -r .error)" invalid_request
r=$(exchange --data-urlencode "subject_token=$svid" --data-urlencode "subject_token_type=urn:x")
check "unknown subject_token_type" "$(body "$r" | jq -r .error)" invalid_request
r=$(req GET /oauth2/token)
check "GET /oauth2/token: 405" "${r%% *}" 405

m=$(curl -s -m 5 "http://$ADDR/metrics")
contains "issues counted" "$m" "writ_tokens_issued_total 5"
contains "revocations counted" "$m" "writ_tokens_revoked_total 3"
n=$(awk '/^writ_token_requests_refused_total/ {print $2}' <<<"$m")
[ "${n:-0}" -ge 19 ] && ok "refusals counted ($n)" || bad "refusals counted: $n"

# ---- the key survives a restart
stop_writ "$WPID" TERM
check "clean stop" "$STOP_RC" 0
kid=$(jq -r '.keys[0].kid' "$TMP/jwks.json")
start_writ oauth "${EXFILES[@]}" --config "$TMP/writ.conf"
r=$(req GET /.well-known/jwks.json)
check "same key after restart" "$(body "$r" | jq -r '.keys[0].kid')" "$kid"
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $tok")
check "revocation survives a restart" "${r%% *}" 401
stop_writ "$WPID" TERM

v=$("$WRIT" audit verify --state-dir "$TMP/oauth.state"); contains "audit chain" "$v" "ok: "
q=$("$WRIT" audit query --state-dir "$TMP/oauth.state" --action 'Writ::Action::"start_task"' --decision allow | wc -l)
check "issuances audited" "$q" 4
q=$("$WRIT" audit query --state-dir "$TMP/oauth.state" --action 'Writ::Action::"revoke"' | wc -l)
[ "$q" -ge 6 ] && ok "revocations and refused revocations audited ($q)" || bad "revoke audit records: $q"
q=$("$WRIT" audit query --state-dir "$TMP/oauth.state" --action 'Writ::Action::"delegate"' --decision deny)
contains "refused delegation audited with its reason" "$q" "scope_widened"
finish
