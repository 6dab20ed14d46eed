#!/usr/bin/env bash
# examples_check.sh WRIT_BINARY - decide every examples/requests/*.json with
# `writ authorize` and compare with examples/requests/expected.json (written by
# the reference engine: node tests/peers/examples_expected.mjs).
#
# The decision must match; when writ's JSON answer lists the determining
# policies ("reasons" or "reason") or erroring policies ("errors"), those sets
# must match too.
set -uo pipefail

[ $# -eq 1 ] && [ "$1" != -h ] && [ "$1" != --help ] || { echo "usage: $0 WRIT_BINARY" >&2; exit 2; }
writ=$(realpath -e "$1" 2>/dev/null) || { echo "examples_check: no such binary: $1" >&2; exit 2; }
cd "$(dirname "${BASH_SOURCE[0]}")/../examples" || exit 2
command -v node >/dev/null || { echo "examples_check: needs node (scripts/test.sh installs it)" >&2; exit 2; }

passed=0 failed=0
for rq in requests/[0-9]*.json; do
    name=$(basename "$rq")
    answer=$("$writ" authorize --policies policies.cedar --entities entities.json \
        --schema schema.cedarschema --request "$rq" 2>/tmp/examples_check.$$)
    rc=$?
    verdict=$(node -e '
        const [expFile, name, answer] = process.argv.slice(1);
        const exp = require(require("path").resolve(expFile))[name];
        if (!exp) { console.log("no expected answer for " + name); process.exit(); }
        let a;
        try { a = JSON.parse(answer); } catch (e) { console.log("answer is not JSON: " + answer.slice(0, 200)); process.exit(); }
        const ids = v => (v || []).map(x => typeof x === "string" ? x : (x.policy_id || x.policyId || x.policy || x.id)).sort().join(",");
        const why = [];
        if (a.decision !== exp.decision) why.push(`decision ${a.decision}, expected ${exp.decision}`);
        const got = a.reasons !== undefined ? a.reasons : a.reason;
        if (got !== undefined && ids(got) !== exp.reasons.join(","))
            why.push(`reasons [${ids(got)}], expected [${exp.reasons}]`);
        if (a.errors !== undefined && ids(a.errors) !== exp.errors.join(","))
            why.push(`errors [${ids(a.errors)}], expected [${exp.errors}]`);
        console.log(why.length ? why.join("; ") : "ok");
    ' requests/expected.json "$name" "$answer")
    if [ "$verdict" = ok ]; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name: $verdict (writ exit $rc)"
        sed 's/^/     /' /tmp/examples_check.$$ | head -n 5
    fi
done
rm -f /tmp/examples_check.$$
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
