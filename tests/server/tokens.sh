#!/usr/bin/env bash
# tokens.sh - /authz/check with real task tokens: verified offline
# (signature, issuer, audience), the holder is the agent, the token's scope
# bounds the Cedar decision, and a revocation (writ revoke, another process)
# is effective on the next request.
. "$(dirname "$0")/lib.sh"

"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
"$WRIT" keys generate --out "$TMP/other.pem" >/dev/null
mint() {   # mint KEY AGENT PURPOSE ACTION RESOURCE [SENSITIVITY [DESTINATION]]
    "$WRIT" token mint --key "$1" --issuer https://writ.local --audience writ \
        --subject "spiffe://corp.example/agents/$2" --purpose "$3" --action "$4" --resource "$5" \
        --sensitivity "${6:-confidential}" ${7:+--destination "$7"}
}
cat >"$TMP/writ.conf" <<CONF
token_keys = $TMP/k.pem
route = GET  /datasets/{id}   read   Dataset {id}
route = POST /repos/{repo}/*  write  Repo    {repo}
route = GET  /internal/{id}   read   Dataset {id}  Internal
CONF
start_writ tokens "${EXFILES[@]}" --config "$TMP/writ.conf"

tok=$(mint "$TMP/k.pem" analyst weekly-report read 'usage-*')
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $tok")
contains "token allows" "$r" '200 {"decision":true'
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $(mint "$TMP/other.pem" analyst weekly-report read 'usage-*')")
contains "unknown signing key" "$r" '401 {"decision":false'
contains "reason given" "$r" 'task token refused: '
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer x.y.z")
check "garbage token" "${r%% *}" 401
r=$(req GET /authz/check/datasets/usage-metrics)
check "no token" "${r%% *}" 401
r=$(req GET /authz/check/datasets/sales-2025 -H "Authorization: Bearer $tok")
contains "resource outside the scope" "$r" "403 {\"decision\":false,\"context\":{\"reasons\":[],\"errors\":[{\"policy\":null,\"message\":\"resource sales-2025 is outside the task token's scope\"}]}}"
tok2=$(mint "$TMP/k.pem" code-agent bugfix write '*')
r=$(req POST /authz/check/repos/writ/pulls -H "Authorization: Bearer $tok2")
contains "purpose from the token reaches Cedar" "$r" '200 {"decision":true,"context":{"reasons":["write-repo-for-fix"]'
tok3=$(mint "$TMP/k.pem" code-agent feature write '*')
r=$(req POST /authz/check/repos/writ/pulls -H "Authorization: Bearer $tok3")
check "another purpose is denied by Cedar" "${r%% *}" 403
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $tok2")
contains "action outside the scope" "$r" "action read is outside the task token's scope"

# ---- the token's sensitivity ceiling and destinations are enforced
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $(mint "$TMP/k.pem" analyst weekly-report read 'usage-*' public)")
contains "sensitivity above the ceiling" "$r" "403 {\"decision\":false"
contains "sensitivity reason" "$r" "the resource's sensitivity 1 is above the task token's ceiling public"
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $(mint "$TMP/k.pem" analyst weekly-report read 'usage-*' internal)")
contains "sensitivity at the ceiling" "$r" '200 {"decision":true'
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $(mint "$TMP/k.pem" analyst weekly-report read 'usage-*' internal internal)")
contains "unknown destination is external, outside [internal]" "$r" "destination external is outside the task token's destinations"
r=$(req GET /authz/check/internal/usage-metrics -H "Authorization: Bearer $(mint "$TMP/k.pem" analyst weekly-report read 'usage-*' internal internal)")
contains "a route's destination inside [internal]" "$r" '200 {"decision":true'
r=$(req GET /authz/check/internal/usage-metrics -H "Authorization: Bearer $(mint "$TMP/k.pem" analyst weekly-report read 'usage-*' internal INTERNAL)")
contains "destinations compared in lower case" "$r" '200 {"decision":true'
r=$(req GET /authz/check/datasets/usage-metrics -H "X-Writ-Destination: internal" -H "Authorization: Bearer $(mint "$TMP/k.pem" analyst weekly-report read 'usage-*' internal internal)")
contains "a destination header from an untrusted peer is ignored" "$r" "destination external is outside"

# ---- revocation by another process takes effect on the next request
jti=$("$WRIT" token inspect "$tok" 2>/dev/null | jq -r .payload.jti)
"$WRIT" revoke --db "$TMP/tokens.state/writ.db" --jti "$jti" >/dev/null || bad "writ revoke"
sleep 0.6
r=$(req GET /authz/check/datasets/usage-metrics -H "Authorization: Bearer $tok")
check "revoked token refused" "${r%% *}" 401
contains "revocation named" "$r" "revoked"
r=$(req POST /authz/check/repos/writ/pulls -H "Authorization: Bearer $tok2")
check "other tokens unaffected" "${r%% *}" 200
txn=$("$WRIT" token inspect "$tok2" 2>/dev/null | jq -r .payload.txn)
"$WRIT" revoke --db "$TMP/tokens.state/writ.db" --task "$txn" >/dev/null
sleep 0.6
r=$(req POST /authz/check/repos/writ/pulls -H "Authorization: Bearer $tok2")
check "task revoked" "${r%% *}" 401
m=$(curl -s -m 5 "http://$ADDR/metrics")
contains "rejections counted" "$m" "writ_tokens_rejected_total 5"
stop_writ "$WPID" TERM
v=$("$WRIT" audit verify --state-dir "$TMP/tokens.state"); contains "audit" "$v" "ok: "
q=$("$WRIT" audit query --state-dir "$TMP/tokens.state" --decision allow --action 'Writ::Action::"write"')
contains "chain in the audit record" "$q" '"chain":["spiffe://corp.example/agents/code-agent"]'
q=$("$WRIT" audit query --state-dir "$TMP/tokens.state" --decision allow --agent 'Writ::Agent::"spiffe://corp.example/agents/code-agent"')
check "the agent in the audit record is the Cedar principal (namespaced, as AuthZEN records it)" \
    "$(jq -sc '[.[] | .task] | length > 0' <<<"$q")" true
finish
