#!/usr/bin/env bash
# decide_facts.sh - the AuthZEN decision path without a schema or a task
# token puts Writ's facts straight into the Cedar request (decide.c,
# srv_facts_direct); every other path sets them into the JSON context.
# Both must decide, answer and audit alike: each body is sent as it is (the
# quick split reader takes it) and with a top-level member the split reader
# declines (a real number: read by jansson, then the JSON way), and the
# answers, the facts the policies see, and the audit records must be equal.
# An approval gate reads the facts from the JSON context: a held request
# without a task in its context records the unknown task's purpose ("").
# The cases run twice: on a server with an @approval policy (the split
# tree holds json null for each member read as a Cedar value) and on one
# without (a lean split: the tree holds the kept members alone, authzen.c);
# a caller's `history` is dropped either way (Writ's alone, history.c).
. "$(dirname "$0")/lib.sh"

# one permit per fact and its unknown value, and one per value a caller gives
cat >"$TMP/p.cedar" <<'CEDAR'
@id("task-unknown")
permit (principal, action == Writ::Action::"read", resource) when { context.task == {"id": "", "purpose": ""} };
@id("chain-self")
permit (principal, action == Writ::Action::"read", resource) when { context.chain == ["a1"] };
@id("depth-unknown")
permit (principal, action == Writ::Action::"read", resource) when { context.chain_depth == 2147483647 };
@id("time-now")
permit (principal, action == Writ::Action::"read", resource) when { context.time > datetime("2026-01-01") };
@id("ip-socket")
permit (principal, action == Writ::Action::"read", resource) when { context.source_ip == ip("127.0.0.1") };
@id("dest-external")
permit (principal, action == Writ::Action::"read", resource) when { context.destination == "external" };
@id("dest-internal")
permit (principal, action == Writ::Action::"read", resource) when { context.destination == "internal" };
@id("public")
permit (principal, action == Writ::Action::"read", resource) when { context.sensitivity == "public" };
@id("any-dest")
permit (principal, action == Writ::Action::"read", resource) when { context.destinations == [] };
@id("mine")
permit (principal, action == Writ::Action::"read", resource)
when { context.task.id == "t9" && context.chain == ["x", "y"] && context.chain_depth == 1 &&
       context.time == datetime("2020-02-02T00:00:00Z") && context.source_ip == ip("10.0.0.1") &&
       context.sensitivity == "internal" && context.destinations == ["a"] && context.other };
@id("broken")
permit (principal, action == Writ::Action::"read", resource) when { context.other.nope };
@id("history-seen")
forbid (principal, action, resource) when { context has history };
CEDAR
cp "$TMP/p.cedar" "$TMP/lean.cedar"
cat >>"$TMP/p.cedar" <<'CEDAR'
@id("held")
@approval("required")
permit (principal, action == Writ::Action::"deploy", resource);
CEDAR
echo '[]' >"$TMP/e.json"
echo 'secret-admin-token-for-the-decide-facts-test' >"$TMP/admin.secret"

# Each case has its resource id, so that its records can be told apart.
subj() { N=$((N + 1)); S="\"subject\":{\"type\":\"Agent\",\"id\":\"a1\"},\"resource\":{\"type\":\"Tool\",\"id\":\"t$N\"}"; }
answer() { post /access/v1/evaluation "$1" | sed 's/^[0-9]* //' | jq -c '[.decision, (.context.reasons | sort), [.context.errors[] | .policy + ": " + .message]]'; }
# same NAME BODY-MEMBERS EXPECTED: the body as it is (the split reads it),
# and with a member the split declines (read the JSON way): both EXPECTED
same() {
    subj
    check "$1" "$(answer "{$S,$2}")" "$3"
    check "$1 (read the JSON way)" "$(answer "{\"zz\":1.5,$S,$2}")" "$3"
}
BROKEN='"broken: type error: expected entity or record, got bool"'

cases() {   # cases NAME POLICIES: every case on a new server, then its audit records
N=0
start_writ "$1" --policies "$2" --entities "$TMP/e.json" --schema "" --admin-token-file "$TMP/admin.secret"
ALL='"any-dest","chain-self","depth-unknown","dest-external","ip-socket","public","task-unknown","time-now"'
ALL_BUT_SELF='"any-dest","depth-unknown","dest-external","ip-socket","public","task-unknown","time-now"'
# no context: every fact, each unknown one restrictive ("broken" reads
# context.other, which is not there: an error, named)
same "no context" '"action":{"name":"read"}' "[true,[$ALL],[\"broken: attribute \`other\` does not exist\"]]"
same "an empty context" '"action":{"name":"read"},"context":{}' \
    "[true,[$ALL],[\"broken: attribute \`other\` does not exist\"]]"

MINE='"task":{"id":"t9","purpose":"p"},"chain":["x","y"],"chain_depth":1,"time":{"__extn":{"fn":"datetime","arg":"2020-02-02T00:00:00Z"}},"source_ip":{"__extn":{"fn":"ip","arg":"10.0.0.1"}},"sensitivity":"internal","destinations":["a"],"other":true'
same "the caller's facts win, its destination normalised" \
    "\"action\":{\"name\":\"read\"},\"context\":{$MINE,\"destination\":\"INTERNAL\"}" "[true,[\"dest-internal\",\"mine\"],[$BROKEN]]"
same "no destination from the caller: external" "\"action\":{\"name\":\"read\"},\"context\":{$MINE}" \
    "[true,[\"dest-external\",\"mine\"],[$BROKEN]]"
# some facts given, some not; the split's placeholders and kept members mixed
same "half the facts given" \
    '"action":{"name":"read"},"context":{"chain":["a1"],"hour":3,"time":{"__extn":{"fn":"datetime","arg":"2020-01-01"}},"other":{"nope":true}}' \
    '[true,["any-dest","broken","chain-self","depth-unknown","dest-external","ip-socket","public","task-unknown"],[]]'
# the caller's context refused: the same deny and reason both ways
same "a caller's bad destination" '"action":{"name":"read"},"context":{"destination":"in ternal"}' \
    '[false,[],[": context.destination is not a destination (letters, digits, . _ - : /)"]]'
same "a caller's destination not a string" '"action":{"name":"read"},"context":{"destination":["internal"],"n":1}' \
    '[false,[],[": context.destination is not a destination (letters, digits, . _ - : /)"]]'
same "a caller's destination a number" '"action":{"name":"read"},"context":{"destination":7}' \
    '[false,[],[": context.destination is not a destination (letters, digits, . _ - : /)"]]'
same "a caller's destination escaped" '"action":{"name":"read"},"context":{"destination":"Int\/ernal\t"}' \
    '[false,[],[": context.destination is not a destination (letters, digits, . _ - : /)"]]'
same "a caller's bad chain" '"action":{"name":"read"},"context":{"chain":[null]}' \
    '[false,[],[": request: context, attribute `chain`: found a `null`; JSON nulls are not allowed in Cedar"]]'
# a chain of entities the split reads as a Cedar value: its audit text comes
# from that reading (jsonfast.c), the JSON way's from the tree; equal below
same "a caller's chain of entities, spaced and escaped" \
    '"action":{"name":"read"},"context":{"chain" : [ {"__entity" : {"type":"Agent", "id":"a\"b\\c\/d\té"}} , "x\ty", -0, 7, true, {"z":1,"a":[ ]} ] , "m":2}' \
    "[true,[$ALL_BUT_SELF],[\"broken: attribute \`other\` does not exist\"]]"
same "a caller's history is dropped" \
    '"action":{"name":"read"},"context":{"history":{"n":1},"hour":3,"chain":[{"__entity":{"type":"Agent","id":"r"}}]}' \
    "[true,[$ALL_BUT_SELF],[\"broken: attribute \`other\` does not exist\"]]"
same "a caller's history of nulls is dropped" '"action":{"name":"read"},"context":{"history":null,"n":[1]}' \
    "[true,[$ALL],[\"broken: attribute \`other\` does not exist\"]]"

# the audit records of the two ways: equal but for time and hashes
stop_writ "$WPID" TERM
"$WRIT" audit tail -n 100 --state-dir "$TMP/$1.state" >"$TMP/$1.audit" || bad "audit tail"
check "$1: audited: two records a case" "$(wc -l <"$TMP/$1.audit")" $((2 * N))
jq -c '[.agent, .action, .resource, .task, .chain, .decision, .policies, .errors]' "$TMP/$1.audit" | sort -u >"$TMP/$1.rec"
check "$1: the two records of each case are equal" "$(wc -l <"$TMP/$1.rec")" "$N"
# (the record's bytes: both ways give the compact text json_dumps writes)
check "$1: the chain of entities audited compactly, both ways" \
    "$(grep -cF '"chain":[{"__entity":{"type":"Agent","id":"a\"b\\c/d\té"}},"x\ty",0,7,true,{"z":1,"a":[]}],' "$TMP/$1.audit")" 2
"$WRIT" audit verify --state-dir "$TMP/$1.state" >/dev/null && ok "$1: audit verifies" || bad "audit verify"
}
cases facts "$TMP/p.cedar"
cases lean "$TMP/lean.cedar"
# the lean server's records are the other server's, byte for byte but for
# time and hashes
strip() { jq -c 'del(.time, .ts, .hash, .prev, .seq)' "$1"; }
check "the same records with and without a lean split" "$(strip "$TMP/facts.audit" | md5sum)" \
    "$(strip "$TMP/lean.audit" | md5sum)"

# an approval gate reads the JSON context: a held deploy without a task
start_writ facts2 --policies "$TMP/p.cedar" --entities "$TMP/e.json" --schema "" --admin-token-file "$TMP/admin.secret"
subj
r=$(post /access/v1/evaluation "{$S,\"action\":{\"name\":\"deploy\"},\"context\":{\"input\":{\"v\":1}}}")
id=$(echo "${r#* }" | jq -r .context.approval.id)
[[ "$id" == apr_* ]] && ok "held for an approval ($id)" || bad "not held: $r"
r=$(req GET "/approvals/$id" -H "Authorization: Bearer $(cat "$TMP/admin.secret")")
check "the approval's task is the unknown one" "$(echo "${r#* }" | jq -c '[.task, .chain, .input]')" \
    '[null,[],{"v":1}]'
stop_writ "$WPID" TERM
check "clean shutdown" "$STOP_RC" 0
finish
