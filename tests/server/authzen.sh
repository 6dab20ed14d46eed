#!/usr/bin/env bash
# authzen.sh - AuthZEN over real HTTP: single and batch evaluations against
# the example policies (decisions as the reference engine gave them),
# properties, batch semantics, malformed input, oversized and chunked
# bodies, wrong methods and paths, keep-alive, metrics, and the audit log
# after a graceful stop.
. "$(dirname "$0")/lib.sh"

start_writ main "${EXFILES[@]}" --max-body 4096 --max-batch 8

r=$(req GET /healthz); contains "healthz" "$r" '200 {"status":"ok"'
r=$(req GET /.well-known/authzen-configuration)
contains "metadata" "$r" "\"access_evaluation_endpoint\":\"http://$ADDR/access/v1/evaluation\""
contains "metadata batch" "$r" '"access_evaluations_endpoint"'

# ---- every example request, in AuthZEN form, decides as expected.json says
for f in "$EX"/requests/[0-9]*.json; do
    name=$(basename "$f")
    body=$(jq -c '{subject: {type: .principal.type, id: .principal.id}, action: {name: .action.id},
                   resource: {type: .resource.type, id: .resource.id}, context: .context}' "$f")
    want=$(jq -c --arg n "$name" '.[$n] | {decision: (.decision == "allow"), reasons: .reasons}' \
        "$EX/requests/expected.json")
    # an allow resting on an @approval("required") permit waits for a person (approvals.sh)
    [ "$name" = 05-release-deploys-production.json ] && want='{"decision":false,"reasons":[]}'
    r=$(post /access/v1/evaluation "$body")
    got=$(jq -c '{decision: .decision, reasons: .context.reasons}' <<<"${r#* }")
    check "example $name" "${r%% *} $got" "200 $want"
done

# ---- @approval("required"): held with a pending approval
r=$(post /access/v1/evaluation "$(jq -c '{subject: {type: "Agent", id: .principal.id}, action: {name: .action.id},
      resource: {type: "Service", id: .resource.id}, context: .context}' "$EX/requests/05-release-deploys-production.json")")
check "approval required" "$(jq -r .context.approval.status <<<"${r#* }")" pending

# ---- properties: an agent the store does not know, described by the request
props='{"trust_level":4,"team":"data-science","owner":"dana@corp.example"}'
r=$(post /access/v1/evaluation "{\"subject\":{\"type\":\"Agent\",\"id\":\"new-bot\",\"properties\":$props},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"usage-metrics\"},$CTX}")
contains "properties allow" "$r" '200 {"decision":true'
r=$(post /access/v1/evaluation "{\"subject\":{\"type\":\"Agent\",\"id\":\"new-bot\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"usage-metrics\"},$CTX}")
contains "no properties deny" "$r" '200 {"decision":false'

# ---- a context that does not match the schema is a deny with the reason
r=$(post /access/v1/evaluation "$(eval_json analyst read Dataset usage-metrics | sed 's/"chain_depth":0/"chain_depth":"zero"/')")
contains "schema mismatch is a deny" "$r" '200 {"decision":false'
contains "schema mismatch reason" "$r" '"message":"request: '

# ---- batches
A=$(eval_json analyst read Dataset usage-metrics)
items='[{"action":{"name":"read"}},{"action":{"name":"write"}},{"action":{"name":"read"}}]'
batch() {
    local opts=""
    [ -n "${2:-}" ] && opts=",\"options\":{\"evaluations_semantic\":\"$2\"}"
    echo "{\"subject\":{\"type\":\"Agent\",\"id\":\"spiffe://corp.example/agents/analyst\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"usage-metrics\"},$CTX,\"evaluations\":$1$opts}"
}
r=$(post /access/v1/evaluations "$(batch "$items")")
check "batch execute_all" "${r%% *} $(jq -c '[.evaluations[].decision]' <<<"${r#* }")" "200 [true,false,true]"
r=$(post /access/v1/evaluations "$(batch "$items" deny_on_first_deny)")
check "batch deny_on_first_deny" "$(jq -c '[.evaluations[].decision]' <<<"${r#* }")" "[true,false]"
items2='[{"action":{"name":"write"}},{"action":{"name":"read"}},{"action":{"name":"write"}}]'
r=$(post /access/v1/evaluations "$(batch "$items2" permit_on_first_permit)")
check "batch permit_on_first_permit" "$(jq -c '[.evaluations[].decision]' <<<"${r#* }")" "[false,true]"
r=$(post /access/v1/evaluations "$(batch '[{"action":{"name":"read"},"resource":{"type":"Dataset","id":"customer-pii"},"context":{"task":{"id":"t","purpose":"p"},"chain_depth":0,"destination":"external","time":"2025-06-02T14:05:00Z","source_ip":"10.0.0.1"}},{"action":{"name":"read"},"subject":{"type":"Agent"}}]')")
check "batch overrides and a bad item" "$(jq -c '[.evaluations[] | [.decision, .context.reasons]]' <<<"${r#* }")" '[[false,["no-sensitive-egress"]],[false,[]]]'
contains "batch bad item reason" "$r" 'evaluations[1]: subject.id is required (a string)'
r=$(post /access/v1/evaluations "$A")
check "batch without evaluations is one evaluation" "$(jq -c .decision <<<"${r#* }")" "true"
r=$(post /access/v1/evaluations "$(batch "$items" sometimes)")
contains "bad semantic" "$r" '400 {"error":{"status":400,"code":"bad_request"'
r=$(post /access/v1/evaluations "$(batch '[{},{},{},{},{},{},{},{},{}]')")
contains "too many evaluations" "$r" '400 {"error":{"status":400,"code":"too_many_evaluations"'

# ---- malformed requests: clear 4xx JSON
r=$(post /access/v1/evaluation '{"subject": ')
contains "malformed JSON" "$r" '400 {"error":{"status":400,"code":"bad_json","message":"malformed JSON at line 1'
r=$(post /access/v1/evaluation '[1,2]'); contains "not an object" "$r" '400 {"error":{"status":400,"code":"bad_request","message":"expected a JSON object"'
r=$(post /access/v1/evaluation ''); contains "empty body" "$r" '400 {"error":{"status":400,"code":"bad_request"'
r=$(post /access/v1/evaluation '{"action":{"name":"read"},"resource":{"type":"T","id":"x"}}')
contains "missing subject" "$r" '"message":"subject is required"'
r=$(post /access/v1/evaluation '{"subject":{"type":"Agent","id":"a"},"action":{"name":7},"resource":{"type":"T","id":"x"}}')
contains "action name not a string" "$r" '"message":"action.name must be a string"'
r=$(post /access/v1/evaluation '{"subject":{"type":"Agent","id":"a"},"action":{"name":"read"},"resource":{"type":"T","id":"x"},"context":[]}')
contains "context not an object" "$r" '"message":"context must be an object"'
r=$(post /access/v1/evaluation '{"a":1,"a":2}'); contains "duplicate keys" "$r" '400 {"error":{"status":400,"code":"bad_json"'
r=$(req POST /access/v1/evaluation -H 'Content-Type: text/plain' --data-binary "$A")
contains "wrong content type" "$r" '415 {"error":{"status":415'
r=$(req GET /access/v1/evaluation -D "$TMP/hdr")
contains "wrong method" "$r" '405 {"error":{"status":405,"code":"method_not_allowed"'
contains "Allow header" "$(tr -d '\r' <"$TMP/hdr")" "Allow: POST"
r=$(req PUT /healthz); contains "PUT healthz" "$r" '405 '
r=$(req GET /nope); check "unknown path" "$r" '404 {"error":{"status":404,"code":"not_found","message":"no such endpoint"}}'
r=$(req GET /access/v1/evaluationX); contains "near path" "$r" '404 '

# ---- bodies: over the limit (declared and chunked), in several pieces
big=$(head -c 5000 /dev/zero | tr '\0' 'x')
r=$(post /access/v1/evaluation "{\"pad\":\"$big\"}")
contains "oversized (Content-Length)" "$r" '413 {"error":{"status":413,"code":"body_too_large"'
r=$(req POST /access/v1/evaluation -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary "{\"pad\":\"$big\"}")
contains "oversized (chunked)" "$r" '413 {"error":{"status":413,"code":"body_too_large"'
r=$(req POST /access/v1/evaluation -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary "$A")
contains "chunked within the limit" "$r" '200 {"decision":true'
# the same body written in three pieces with pauses
host=${ADDR%:*}; port=${ADDR##*:}
n=${#A}; p1=${A:0:20}; p2=${A:20:100}; p3=${A:120}
resp=$(timeout 10 bash -c "exec 3<>/dev/tcp/$host/$port
  printf 'POST /access/v1/evaluation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: $n\r\nConnection: close\r\n\r\n' >&3
  printf '%s' '$p1' >&3; sleep 0.3; printf '%s' '$p2' >&3; sleep 0.3; printf '%s' '$p3' >&3
  cat <&3")
contains "body in pieces" "$resp" '{"decision":true'

# ---- keep-alive: two requests, one connection
conns=$(curl -s -m 5 -o /dev/null -o /dev/null -w '%{num_connects}\n' "http://$ADDR/healthz" "http://$ADDR/healthz" | paste -sd' ')
check "keep-alive" "$conns" "1 0"

# ---- a vouching PEP's context.chain is the audit record's chain, written
# compactly (spaces dropped, escapes kept, keys in order: json_dumps' text)
r=$(post /access/v1/evaluation '{"subject":{"type":"Agent","id":"chain-probe"},"action":{"name":"read"},"resource":{"type":"Dataset","id":"usage-metrics"},"context":{"chain" : [ {"__entity" : {"type":"Agent", "id":"a\"b\\c\/d\u0001é"}} , "x\ty", 7, true, null, {"z":1,"a":[]} ] }}')
contains "chain probe answered" "$r" '200 {"decision":'

# ---- metrics
m=$(curl -s -m 5 "http://$ADDR/metrics")
contains "metrics decisions" "$m" 'writ_decisions_total{decision="allow"}'
contains "metrics histogram" "$m" 'writ_request_duration_seconds_bucket{endpoint="evaluation",le="+Inf"}'
contains "metrics 413" "$m" 'writ_body_too_large_total 2'
decisions=$(awk '/^writ_decisions_total/ {s += $2} END {print s}' <<<"$m")

# ---- graceful stop: every decision is in the audit log, chain whole
stop_writ "$WPID" TERM
check "exit status after SIGTERM" "$STOP_RC" 0
v=$("$WRIT" audit verify --state-dir "$TMP/main.state")
check "audit verify" "$v" "$(sed -n 's/^ok: .*/&/p' <<<"$v")"
contains "audit holds every decision" "$v" "ok: $decisions records"
t=$("$WRIT" audit query --state-dir "$TMP/main.state" --decision allow --limit 1 --agent 'Writ::Agent::"spiffe://corp.example/agents/analyst"')
contains "audit query" "$t" '"decision":"allow"'
t=$("$WRIT" audit query --state-dir "$TMP/main.state" --agent 'Writ::Agent::"chain-probe"')
contains "audit: the body's chain, compact" "$t" \
    '[{"__entity":{"type":"Agent","id":"a\"b\\c/d\u0001é"}},"x\ty",7,true,null,{"z":1,"a":[]}]'

# ---- a forbid that cannot be evaluated denies (forbid_error_denies), with
# its name and Cedar's error; false: Cedar's rule, skipped
cat >"$TMP/limit.cedar" <<'CEDAR'
permit (principal, action, resource);
@id("over-limit")
forbid (principal, action, resource) when { context.amount > 1000 };
CEDAR
limit_body() { echo "{\"subject\":{\"type\":\"User\",\"id\":\"u\"},\"action\":{\"name\":\"pay\"},\"resource\":{\"type\":\"Account\",\"id\":\"a\"},\"context\":{\"amount\":$1}}"; }
for mode in true false; do
    start_writ "limit-$mode" --policies "$TMP/limit.cedar" --schema "" --namespace "" --forbid-error-denies "$mode"
    r=$(post /access/v1/evaluation "$(limit_body 5000)")
    check "forbid_error_denies $mode: a Long over the limit: denied by it" "$(jq -c '[.decision, .context.reasons]' <<<"${r#* }")" '[false,["over-limit"]]'
    r=$(post /access/v1/evaluation "$(limit_body 5)")
    check "forbid_error_denies $mode: under the limit: allowed" "$(jq -c .decision <<<"${r#* }")" true
    r=$(post /access/v1/evaluation "$(limit_body '"5000"')")
    if [ "$mode" = true ]; then
        check "a String where the forbid wants a Long: denied" "$(jq -c .decision <<<"${r#* }")" false
        contains "... naming the forbid and Cedar's error" "$(jq -r '.context.errors[0].message' <<<"${r#* }")" \
            "forbid over-limit could not be evaluated, so it may apply: type error"
        contains "... counted" "$(curl -s -m 5 "http://$ADDR/metrics")" "writ_forbid_error_denies_total 1"
    else
        check "forbid_error_denies false: the failing forbid skipped (Cedar's rule)" "$(jq -c '[.decision, .context.errors[0].policy]' <<<"${r#* }")" '[true,"over-limit"]'
    fi
    stop_writ "$WPID"
done
finish
