#!/usr/bin/env bash
# explain.sh - AuthZEN "options": {"explain": true} over real HTTP: off by
# default (403), a bad value (400); with explain = true a deny names the
# permits in scope with the condition that failed and the forbids that
# held (text, line, column of examples/policies.cedar), an allow and a
# request without the option answer as before, batches explain each deny.
. "$(dirname "$0")/lib.sh"

PX="$EX/requests"
# the AuthZEN form of an example request, with options
az() {   # az FILE [OPTIONS-JSON]
    jq -c --argjson o "${2:-null}" '{subject: {type: .principal.type, id: .principal.id}, action: {name: .action.id},
        resource: {type: .resource.type, id: .resource.id}, context: .context}
        + (if $o == null then {} else {options: $o} end)' "$1"
}

# ---- off by default
start_writ off "${EXFILES[@]}"
r=$(post /access/v1/evaluation "$(az "$PX/08-approve-large-payment.json" '{"explain":true}')")
contains "explain off: 403" "$r" '403 {"error":{"status":403,"code":"explain_disabled"'
r=$(post /access/v1/evaluations "$(az "$PX/08-approve-large-payment.json" '{"explain":true}' | jq -c '. + {evaluations: [{}]}')")
contains "explain off: batch 403" "$r" '403 {"error":{"status":403,"code":"explain_disabled"'
r=$(post /access/v1/evaluation "$(az "$PX/08-approve-large-payment.json" '{"explain":false}')")
check "explain false: plain answer" "$r" '200 {"decision":false,"context":{"reasons":[],"errors":[]}}'
r=$(post /access/v1/evaluation "$(az "$PX/08-approve-large-payment.json" '{"explain":"yes"}')")
contains "explain not a bool: 400" "$r" '400 {"error":{"status":400,"code":"bad_request"'
contains "explain not a bool: message" "$r" 'options.explain must be true or false'
stop_writ "$WPID"

# ---- on
start_writ on "${EXFILES[@]}" --explain true
# no permit held: the first condition of approve-small-payments that failed
r=$(post /access/v1/evaluation "$(az "$PX/08-approve-large-payment.json" '{"explain":true}')")
check "no permit held" "${r%% *} $(jq -c .context.explain <<<"${r#* }")" \
    '200 {"permits":[{"policy":"approve-small-payments","held":false,"condition":{"clause":"when","text":"context.amount.lessThanOrEqual(decimal(\"500.00\"))","line":49,"column":3}}],"forbids":[]}'
# a forbid held: its condition, and the permit it overrode
r=$(post /access/v1/evaluation "$(az "$PX/02-analyst-exports-pii.json" '{"explain":true}')")
check "forbid held" "$(jq -c .context.explain <<<"${r#* }")" \
    '{"permits":[{"policy":"read-own-team","held":true}],"forbids":[{"policy":"no-sensitive-egress","conditions":[{"clause":"when","text":"resource.sensitivity >= 3 && context.destination == \"external\"","line":79,"column":8}]}]}'
check "forbid held: reasons as before" "$(jq -c .context.reasons <<<"${r#* }")" '["no-sensitive-egress"]'
r=$(post /access/v1/evaluation "$(az "$PX/06-deploy-from-outside.json" '{"explain":true}')")
check "unless held" "$(jq -c '[.context.explain.forbids[0].conditions[0].clause, .context.explain.forbids[0].conditions[0].text, .context.explain.permits[1].condition.text]' <<<"${r#* }")" \
    '["unless","context.source_ip.isInRange(ip(\"10.0.0.0/8\"))","resource.environment == \"production\""]'
# an allow explains nothing; without the option nothing changes
r=$(post /access/v1/evaluation "$(az "$PX/01-analyst-reads-metrics.json" '{"explain":true}')")
check "allow: no explain" "$r" '200 {"decision":true,"context":{"reasons":["read-own-team"],"errors":[]}}'
r=$(post /access/v1/evaluation "$(az "$PX/08-approve-large-payment.json")")
check "no option: plain answer" "$r" '200 {"decision":false,"context":{"reasons":[],"errors":[]}}'
# a request refused before Cedar (bad context) has its reason, no explain
r=$(post /access/v1/evaluation "$(az "$PX/08-approve-large-payment.json" '{"explain":true}' | jq -c '.context.chain_depth = "x"')")
check "refused: no explain" "$(jq -c '[.decision, (.context | has("explain")), (.context.errors | length)]' <<<"${r#* }")" '[false,false,1]'
# a batch explains each deny
body=$(az "$PX/08-approve-large-payment.json" '{"explain":true}' |
    jq -c '. + {evaluations: [{}, {action: {name: "read"}, resource: {type: "Dataset", id: "usage-metrics"}}]}')
r=$(post /access/v1/evaluations "$body")
check "batch" "${r%% *} $(jq -c '[.evaluations[] | [.decision, .context.explain.permits[0].condition.line]]' <<<"${r#* }")" \
    '200 [[false,49],[false,9]]'
stop_writ "$WPID"
finish
