#!/usr/bin/env bash
# oauth.sh - the token endpoints end to end: a jose-signed JWT-SVID is
# exchanged at /oauth2/token (RFC 8693) for a task token that jose verifies
# with /.well-known/jwks.json and /authz/check accepts; Cedar decides
# start_task and delegate (403 on deny); delegation narrows only;
# /oauth2/revoke (RFC 7009, by token, task, agent) takes effect on the very
# next request; identity isolation (an OIDC issuer never speaks for a SPIFFE
# agent, no bare trust domains, revoked agents get nothing, a task token
# revokes only its own subtree, a whole task only the admin, a revoked task
# is started no more); malformed forms are 400s.  Needs node and
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
admin_secret
cat >"$TMP/writ.conf" <<CONF
identity_spiffe = corp.example $TMP/bundle.json
identity_oidc = https://idp.example $TMP/oidc.json
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
    --data-urlencode 'owner=carol@corp.example' --data-urlencode 'sensitivity=internal')
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
# ECDSA low-S only: the high-S twin of a valid signature (jose's verifier
# accepts it) is refused, for the identity token and for the task token
twin=$(peer twin "$tok")
check "jose accepts the high-S twin of the task token" \
    "$(peer verify "$TMP/jwks.json" "$twin" https://writ.local writ | jq -r .sub)" "$A/analyst"
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $twin")
check "high-S twin of a task token refused" "${r%% *}" 401
contains "... as high-S" "$r" "high S"
r=$(exchange --data-urlencode "subject_token=$(peer twin "$svid")" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=weekly-report' --data-urlencode 'owner=carol@corp.example')
check "high-S twin of a JWT-SVID refused" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" \
    "invalid_grant bad_signature"

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
for td in spiffe://corp.example spiffe://corp.example/; do
    r=$(exchange --data-urlencode "subject_token=$(peer svid "$TMP" "$td")" --data-urlencode "subject_token_type=$JWT" \
        --data-urlencode 'scope=read' --data-urlencode 'purpose=x')
    check "JWT-SVID for the bare trust domain $td refused" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" \
        "invalid_grant subject"
done

# ---- identity isolation: a trusted OIDC issuer never speaks for an agent
r=$(exchange --data-urlencode "subject_token=$(peer oidc "$TMP" https://idp.example "$A/code-agent")" \
    --data-urlencode "subject_token_type=$JWT" --data-urlencode 'scope=read write' --data-urlencode 'purpose=bugfix' \
    --data-urlencode 'resource=*' --data-urlencode 'owner=alice@corp.example')
check "OIDC token naming a SPIFFE agent refused" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" \
    "invalid_grant subject"
contains "refusal says why" "$r" "may not vouch for a SPIFFE ID"
r=$(exchange --data-urlencode "subject_token=$(peer oidc "$TMP" https://idp.example alice@corp.example)" \
    --data-urlencode "subject_token_type=$JWT" --data-urlencode 'scope=read' --data-urlencode 'purpose=bugfix' \
    --data-urlencode 'owner=alice@corp.example')
check "an OIDC subject is a User to Cedar (no policy permits it)" "${r%% *}" 403

# ---- delegation
csvid=$(peer svid "$TMP" "$A/code-agent")
r=$(exchange --data-urlencode "subject_token=$csvid" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read write' --data-urlencode 'purpose=bugfix' --data-urlencode 'resource=*' \
    --data-urlencode 'owner=alice@corp.example' --data-urlencode 'sensitivity=confidential')
check "code-agent starts a task" "${r%% *}" 200
ctok=$(body "$r" | jq -r .access_token)
ctask=$(body "$r" | jq -r .task_id)
tsvid=$(peer svid "$TMP" "$A/triage-bot" writ-actor) # triage-bot's token for acting on a delegation
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
r=$(delegate "$ctok" "$(peer svid "$TMP" "$A/analyst" writ-actor)" --data-urlencode 'scope=read')
check "delegate outside the team: Cedar 403" "${r%% *}" 403
# the receiver's actor token is in the delegator's hands: it must not start
# tasks as the receiver (a root token wider than what was delegated), and an
# identity token for start_task is no actor token
r=$(exchange --data-urlencode "subject_token=$tsvid" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read write' --data-urlencode 'purpose=bugfix' --data-urlencode 'resource=*' \
    --data-urlencode 'owner=alice@corp.example' --data-urlencode 'sensitivity=restricted')
check "an actor token replayed as start_task's subject: refused" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" "invalid_grant audience"
contains "... saying why" "$(body "$r" | jq -r .error_description)" "writ' is not in aud"
both=$(peer svid "$TMP" "$A/triage-bot" '["writ","writ-actor"]')
r=$(exchange --data-urlencode "subject_token=$both" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=bugfix' --data-urlencode 'owner=alice@corp.example')
check "a token for both uses: refused for start_task" "$(body "$r" | jq -r .writ_reason)" audience
r=$(delegate "$ctok" "$both" --data-urlencode 'scope=read')
check "... and as an actor" "$(body "$r" | jq -r .writ_reason)" audience
r=$(delegate "$ctok" "$(peer svid "$TMP" "$A/triage-bot")" --data-urlencode 'scope=read')
check "an identity token for start_task as the actor: refused" "$(body "$r" | jq -r .writ_reason)" audience
r=$(delegate "$ctok" "garbage")
check "bad actor token" "$(body "$r" | jq -r .error)" invalid_grant
# a parent without a resource or destination list allows any: a delegate narrows it
r=$(exchange --data-urlencode "subject_token=$csvid" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=bugfix' --data-urlencode 'owner=alice@corp.example' \
    --data-urlencode 'sensitivity=confidential')
check "an any-resource, any-destination task" "${r%% *}" 200
otok=$(body "$r" | jq -r .access_token)
r=$(delegate "$otok" "$tsvid" --data-urlencode 'resource=writ')
check "an any-resource parent narrowed to one resource: 200" "${r%% *}" 200
ntok=$(body "$r" | jq -r .access_token)
check "the narrowed token names its resource" \
    "$(peer verify "$TMP/jwks.json" "$ntok" https://writ.local writ | jq -c '.tctx.resources')" '["writ"]'
r=$(req GET /authz/check/repos/writ -H "Authorization: Bearer $ntok")
contains "the narrowed delegate reads its resource" "$r" '200 {"decision":true'
r=$(req GET /authz/check/repos/other -H "Authorization: Bearer $ntok")
contains "and no other" "$r" "outside the task token's scope"
r=$(delegate "$otok" "$tsvid" --data-urlencode 'destination=internal')
check "an any-destination parent narrowed to internal: 200" "${r%% *}" 200
r=$(delegate "$ntok" "$tsvid" --data-urlencode 'resource=other')
check "the narrowed token cannot widen again" "$(body "$r" | jq -r .writ_reason)" scope_widened

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
# a delegate revokes only its own subtree
r=$(delegate "$ctok" "$tsvid" --data-urlencode 'scope=read')
check "a sibling delegation" "${r%% *}" 200
stok=$(body "$r" | jq -r .access_token)
r=$(delegate "$dtok" "$tsvid" --data-urlencode 'scope=read')
check "the delegate delegates on (depth 2)" "${r%% *}" 200
gtok=$(body "$r" | jq -r .access_token)
r=$(form /oauth2/revoke --data-urlencode "token=$ctok" -H "Authorization: Bearer $dtok")
check "a delegate may not revoke its parent" "$(body "$r" | jq -r .error) ${r%% *}" "unauthorized_client 403"
r=$(form /oauth2/revoke --data-urlencode "token=$stok" -H "Authorization: Bearer $dtok")
check "a delegate may not revoke a sibling" "${r%% *}" 403
r=$(form /oauth2/revoke --data-urlencode "task=$ctask" -H "Authorization: Bearer $dtok")
check "a delegate may not revoke the whole task" "${r%% *}" 403
r=$(form /oauth2/revoke --data-urlencode "task=$ctask" -H "Authorization: Bearer $gtok")
check "a depth-2 delegate may not revoke the task either" "${r%% *}" 403
for t in "$ctok" "$stok" "$dtok" "$gtok"; do
    r=$(req GET /authz/check/repos/writ -H "Authorization: Bearer $t")
    check "refused revocations changed nothing" "${r%% *}" 200
done
r=$(form /oauth2/revoke --data-urlencode "token=$gtok" -H "Authorization: Bearer $dtok")
check "a delegate revokes a token delegated from it" "${r%% *}" 200
r=$(req GET /authz/check/repos/writ -H "Authorization: Bearer $gtok")
check "the revoked child is refused next" "${r%% *}" 401
r=$(req GET /authz/check/repos/writ -H "Authorization: Bearer $dtok")
check "the delegate itself is untouched" "${r%% *}" 200
r=$(form /oauth2/revoke --data-urlencode "token=$ctok" -H "Authorization: Bearer $ctok")
check "the root token revokes itself and its subtree" "${r%% *}" 200
r=$(req GET /authz/check/repos/writ -H "Authorization: Bearer $dtok")
check "subtree: the delegated token is refused next" "${r%% *}" 401
r=$(req GET /authz/check/repos/writ -H "Authorization: Bearer $stok")
check "subtree: the sibling too" "${r%% *}" 401
r=$(delegate "$ctok" "$tsvid" --data-urlencode 'scope=read')
check "a revoked token cannot be exchanged" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" "invalid_grant revoked"
r=$(exchange --data-urlencode "subject_token=$(peer svid "$TMP" "$A/analyst")" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=weekly-report' --data-urlencode 'owner=carol@corp.example')
atok=$(body "$r" | jq -r .access_token)
r=$(form /oauth2/revoke --data-urlencode "agent=$A/analyst" -H "Authorization: Bearer $(cat "$TMP/admin.secret")")
check "admin revokes an agent" "${r%% *}" 200
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $atok")
check "agent revoked: next request refused" "${r%% *}" 401
r=$(exchange --data-urlencode "subject_token=$(peer svid "$TMP" "$A/analyst")" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=weekly-report' --data-urlencode 'owner=carol@corp.example')
check "a revoked agent is issued no task token" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" \
    "invalid_grant revoked"

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
contains "issues counted" "$m" "writ_tokens_issued_total 10"
contains "revocations counted" "$m" "writ_tokens_revoked_total 4"
n=$(awk '/^writ_token_requests_refused_total/ {print $2}' <<<"$m")
[ "${n:-0}" -ge 19 ] && ok "refusals counted ($n)" || bad "refusals counted: $n"

# ---- a revoked agent is no delegation target
r=$(exchange --data-urlencode "subject_token=$csvid" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=bugfix' --data-urlencode 'resource=*' \
    --data-urlencode 'owner=alice@corp.example')
c2tok=$(body "$r" | jq -r .access_token)
r=$(delegate "$c2tok" "$tsvid" --data-urlencode 'scope=read')
check "delegation to triage-bot before its revocation" "${r%% *}" 200
r=$(form /oauth2/revoke --data-urlencode "agent=$A/triage-bot" -H "Authorization: Bearer $(cat "$TMP/admin.secret")")
check "admin revokes triage-bot" "${r%% *}" 200
r=$(delegate "$c2tok" "$tsvid" --data-urlencode 'scope=read')
check "a revoked agent is no delegation target" "$(body "$r" | jq -r '[.error, .writ_reason] | join(" ")')" \
    "invalid_grant revoked"

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
check "issuances audited" "$q" 6
q=$("$WRIT" audit query --state-dir "$TMP/oauth.state" --action 'Writ::Action::"revoke"' | wc -l)
[ "$q" -ge 6 ] && ok "revocations and refused revocations audited ($q)" || bad "revoke audit records: $q"
q=$("$WRIT" audit query --state-dir "$TMP/oauth.state" --action 'Writ::Action::"delegate"' --decision deny)
contains "refused delegation audited with its reason" "$q" "scope_widened"
q=$("$WRIT" audit query --state-dir "$TMP/oauth.state" --action 'Writ::Action::"start_task"' \
    --agent 'Writ::User::"alice@corp.example"' | wc -l)
check "the OIDC subject's start_task is audited as a User" "$q" 1
q=$("$WRIT" audit query --state-dir "$TMP/oauth.state" --action 'Writ::Action::"revoke"' --decision deny)
contains "a delegate's refused revocation audited" "$q" "not in the caller's own subtree"

# ---- an OIDC issuer typed as the agent type is refused at start
sed 's|^identity_oidc = .*|identity_oidc = https://idp.example '"$TMP"'/oidc.json Agent|' "$TMP/writ.conf" >"$TMP/bad.conf"
out=$(timeout 10 "$WRIT" serve "${EXFILES[@]}" --listen 127.0.0.1:0 --state-dir "$TMP/bad.state" --config "$TMP/bad.conf" 2>&1)
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ok "serve refuses identity_oidc ... Agent (exit $rc)" || bad "serve with OIDC typed Agent: exit $rc"
contains "and says why" "$out" "OIDC subjects are never agents"
sed 's|^identity_oidc = .*|identity_oidc = https://idp.example '"$TMP"'/oidc.json 1bad|' "$TMP/writ.conf" >"$TMP/bad2.conf"
out=$(timeout 10 "$WRIT" serve "${EXFILES[@]}" --listen 127.0.0.1:0 --state-dir "$TMP/bad.state" --config "$TMP/bad2.conf" 2>&1)
contains "a principal type that is no Cedar type name is a config error" "$out" "is not a Cedar type name"
# ---- identity_allow_high_s: for issuers that do not normalise S (task tokens stay low-S)
start_writ oauth_hs "${EXFILES[@]}" --config "$TMP/writ.conf" --identity-allow-high-s true
r=$(exchange --data-urlencode "subject_token=$(peer twin "$svid")" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=weekly-report' --data-urlencode 'owner=carol@corp.example')
check "identity_allow_high_s: the high-S twin of a JWT-SVID is accepted" "${r%% *}" 200
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $twin")
check "identity_allow_high_s: a task token's high-S twin is still refused" "${r%% *}" 401
stop_writ "$WPID" TERM

# ---- a stored task two agents of its owner start (task-42, alice's): each
# revokes only its own subtree, the whole task only the admin; a revoked
# task id is started no more
start_writ shared "${EXFILES[@]}" --config "$TMP/writ.conf"
st42() { exchange --data-urlencode "subject_token=$(peer svid "$TMP" "$A/$1")" --data-urlencode "subject_token_type=$JWT" \
    --data-urlencode 'scope=read' --data-urlencode 'purpose=bugfix' --data-urlencode 'task=task-42' \
    --data-urlencode 'sensitivity=confidential'; }
reads() { r=$(req GET /authz/check/repos/writ -H "Authorization: Bearer $1"); echo "${r%% *}"; }
r=$(st42 code-agent); c1=$(body "$r" | jq -r .access_token)
r=$(st42 code-agent); c2=$(body "$r" | jq -r .access_token)
r=$(st42 triage-bot); t1=$(body "$r" | jq -r .access_token)
check "code-agent and triage-bot both start task-42" "$(reads "$c1") $(reads "$c2") $(reads "$t1")" "200 200 200"
r=$(form /oauth2/revoke --data-urlencode "token=$c1" -H "Authorization: Bearer $t1")
check "another agent's root token of the same task may not revoke a token" \
    "$(body "$r" | jq -r .error) ${r%% *}" "unauthorized_client 403"
r=$(form /oauth2/revoke --data-urlencode "token=$c1" -H "Authorization: Bearer $c2")
check "nor another root token of the same agent (not in its subtree)" "${r%% *}" 403
r=$(form /oauth2/revoke --data-urlencode "task=task-42" -H "Authorization: Bearer $t1")
check "a root token may not revoke a task other agents may hold" "$(body "$r" | jq -r .error) ${r%% *}" \
    "unauthorized_client 403"
r=$(form /oauth2/revoke --data-urlencode "task=task-42" -H "Authorization: Bearer $c1")
check "... whoever holds it" "${r%% *}" 403
check "refused revocations changed nothing" "$(reads "$c1") $(reads "$c2") $(reads "$t1")" "200 200 200"
r=$(form /oauth2/revoke --data-urlencode "token=$t1" -H "Authorization: Bearer $t1")
check "a root token revokes itself" "${r%% *}" 200
check "... and nothing of the other agent's" "$(reads "$c1") $(reads "$c2") $(reads "$t1")" "200 200 401"
r=$(form /oauth2/revoke --data-urlencode "task=task-42" -H "Authorization: Bearer $(cat "$TMP/admin.secret")")
check "the admin revokes the task" "${r%% *}" 200
check "... every token of it" "$(reads "$c1") $(reads "$c2")" "401 401"
r=$(st42 code-agent)
check "a revoked task is started no more: no dead token issued" "$(body "$r" | jq -r '[.error, .writ_reason, .access_token] | join(" ")')" \
    "invalid_request revoked "
contains "... and the refusal says why" "$r" "task 'task-42' is revoked"
stop_writ "$WPID" TERM
finish
