#!/usr/bin/env bash
# history_noschema.sh - task-history limits without a schema, where Writ puts
# context.history straight into the Cedar request (no JSON, docs/LIMITS.md):
# a count allows 3 and denies the 4th, a decimal sum is a decimal (compared
# with decimal methods, fractions kept), a Long sum of Longs is a decimal
# too, a limit of another action is absent, a caller's history is replaced
# both ways, and the values the policies see match the counts.
. "$(dirname "$0")/lib.sh"

cat >"$TMP/p.cedar" <<'CEDAR'
@id("permit-all")
permit (principal, action, resource);

@id("three-deploys")
forbid (principal, action == Action::"deploy", resource)
when { context.history.deploys >= 3 };

@id("spend")
forbid (principal, action == Action::"pay", resource)
when { context.history.spent.greaterThanOrEqual(decimal("10.5")) };

@id("count-is-long")
forbid (principal, action == Action::"pay", resource)
when { context.history.pays + 1 > 100 };

@id("no-deploys-in-pay")
forbid (principal, action == Action::"pay", resource)
when { context.history has deploys };

@id("units-is-decimal")
forbid (principal, action == Action::"buy", resource)
when { context.history.units.greaterThan(decimal("4.0")) };
CEDAR
echo '[]' >"$TMP/e.json"
start_writ h --policies "$TMP/p.cedar" --entities "$TMP/e.json" --schema "" --namespace "" \
    --limit "deploys 1h deploy per task" --limit "spent 1d pay sum context.amount per agent" \
    --limit "pays 1d pay per agent" --limit "units 1d buy sum context.n per agent"

# az AGENT ACTION CONTEXT: "allow|deny REASONS [ERR ...]"
az() {
    curl -s -m 5 -X POST -H 'Content-Type: application/json' \
        --data-binary "{\"subject\":{\"type\":\"Agent\",\"id\":\"$1\"},\"action\":{\"name\":\"$2\"},\"resource\":{\"type\":\"Thing\",\"id\":\"x\"},\"context\":$3}" \
        "http://$ADDR/access/v1/evaluation" |
        jq -r '(if .decision then "allow" else "deny" end) + " " + (.context.reasons | join(",")) + ((.context.errors // []) | map(" ERR " + .message) | join(""))'
}
times() {
    local n=$1 out="" r; shift
    for _ in $(seq "$n"); do r=$("$@"); out+="${r:0:1}"; done
    echo "$out"
}

T1='{"task":{"id":"t1"}}'
check "deploy: 3 allowed, then denied" "$(times 5 az a1 deploy "$T1")" "aaadd"
check "... by the limit's forbid, no error" "$(az a1 deploy "$T1")" "deny three-deploys"
check "another task counts apart" "$(az a1 deploy '{"task":{"id":"t2"}}')" "allow permit-all"
check "a caller's history cannot lift it" "$(az a1 deploy '{"task":{"id":"t1"},"history":{"deploys":0}}')" \
    "deny three-deploys"
check "a caller's history cannot impose it" "$(az a1 deploy '{"task":{"id":"t3"},"history":{"deploys":99}}')" \
    "allow permit-all"
check "a caller's history of the wrong type is replaced" \
    "$(az a1 deploy '{"task":{"id":"t4"},"history":"nonsense"}')" "allow permit-all"

# decimal sums: 4.25 + 6.20 + 0.04 + 0.01 = 10.50 reaches 10.5
pay() { az a2 pay "{\"amount\":{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"$1\"}}}"; }
check "pay 4.25 (sum 0)" "$(pay 4.25)" "allow permit-all"
check "pay 6.20 (sum 4.25)" "$(pay 6.20)" "allow permit-all"
check "pay 0.04 (sum 10.45)" "$(pay 0.04)" "allow permit-all"
check "pay 0.01 (sum 10.49: under)" "$(pay 0.01)" "allow permit-all"
check "pay 0.01 (sum 10.50: at the limit)" "$(pay 0.01)" "deny spend"
check "another agent's sum is apart" "$(az a3 pay '{"amount":"1.00"}')" "allow permit-all"
# Long amounts summed: a decimal without a schema
check "buy 3 (units 0)" "$(az a4 buy '{"n":3}')" "allow permit-all"
check "buy 1 (units 3.0)" "$(az a4 buy '{"n":1}')" "allow permit-all"
check "buy 1 (units 4.0: not over)" "$(az a4 buy '{"n":1}')" "allow permit-all"
check "buy 1 (units 5.0: over)" "$(az a4 buy '{"n":1}')" "deny units-is-decimal"
contains "a sum that is not a number is refused" "$(az a4 buy '{"n":"many"}')" \
    "deny  ERR task-history limits: limit units: context.n is not a Long or a decimal"
finish
