#!/usr/bin/env bash
# brute.sh - `writ query` against brute force: every search's results equal
# those of the same search with --exhaustive (every entity of the type
# decided one by one by writ_authorize), on the example entities and on
# generated stores of 10,000 entities (gen_entities.py, fixed seed; made at
# test time, kept out of git): with the example schema and policies, and
# without a schema on a store with missing and mistyped attributes against
# policies shaped to trip the pruning (tricky.cedar).  Also: --limit gives a
# prefix of the full answer, the pruned search decides fewer candidates, and
# bad input is refused with a clear message.
set -uo pipefail
WRIT=${1:?usage: $0 path/to/writ}
HERE=$(cd "$(dirname "$0")" && pwd)
EX="$HERE/../../examples"
TMP=$(mktemp -d /tmp/writ-search.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
PASS=0 FAIL=0 SEARCHES=0 PRUNED=0 RESULTS=0
ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL $*"; }

# the example schema's context; tricky.cedar (no schema) also reads context.env
CTXS='"context":{"task":{"id":"t1","purpose":"bugfix"},"chain_depth":0,"destination":"internal","time":{"__extn":{"fn":"datetime","arg":"2025-06-02T14:05:00Z"}},"source_ip":{"__extn":{"fn":"ip","arg":"10.20.0.7"}}}'
CTXT='"context":{"task":{"id":"t1","purpose":"bugfix"},"chain_depth":0,"destination":"internal","env":"staging","time":{"__extn":{"fn":"datetime","arg":"2025-06-02T14:05:00Z"}},"source_ip":{"__extn":{"fn":"ip","arg":"10.20.0.7"}}}'
CTX=$CTXS

# compare KIND BODIES FILES...: every body (one a line) answered the same
# pruned and exhaustive
compare() {
    local kind=$1 bodies=$2; shift 2
    local n
    n=$(wc -l <"$bodies")
    [ "$n" -gt 0 ] || return
    "$WRIT" query "$kind" "$@" --namespace Writ --request "$bodies" --lines --stats >"$TMP/a" 2>"$TMP/sa" || { bad "query $kind: $(head -3 "$TMP/sa")"; return; }
    "$WRIT" query "$kind" "$@" --namespace Writ --request "$bodies" --lines --exhaustive --stats >"$TMP/b" 2>"$TMP/sb" || { bad "exhaustive $kind: $(head -3 "$TMP/sb")"; return; }
    SEARCHES=$((SEARCHES + n))
    [ "$(wc -l <"$TMP/a")" = "$n" ] || bad "$kind: $(wc -l <"$TMP/a") answers for $n bodies"
    local i=0 la lb
    while IFS= read -r la && IFS= read -r lb <&3; do
        i=$((i + 1))
        if [ "$la" = "$lb" ]; then ok; else bad "$kind line $i $(sed -n "${i}p" "$bodies"): pruned <$la> exhaustive <$lb>"; fi
    done <"$TMP/a" 3<"$TMP/b"
    # how many searches decided fewer candidates than brute force did
    PRUNED=$((PRUNED + $(paste -d' ' <(sed -n 's/.* \([0-9]*\) decided.*/\1/p' "$TMP/sa") \
        <(sed -n 's/.*: \([0-9]*\) candidates.*/\1/p' "$TMP/sb") | awk '$1 < $2 {n++} END {print n + 0}')))
    RESULTS=$((RESULTS + $(jq '.results | length' "$TMP/a" | awk '{s += $1} END {print s + 0}')))
}

run_set() { # ENTITIES FILES... : searches over agents, actions and types of the store
    local ents=$1; shift
    local n0=$SEARCHES r0=$RESULTS
    local agents
    agents=$(jq -r '[.[] | select(.uid.type == "Writ::Agent") | .uid.id] | .[0:8][]' "$ents")
    : >"$TMP/res.jsonl"; : >"$TMP/sub.jsonl"; : >"$TMP/act.jsonl"
    for ag in $agents; do
        for act in read write deploy approve invoke start_task delegate audit; do
            for ty in Dataset Repo Ticket Service Tool Task Agent; do
                echo "{\"subject\":{\"type\":\"Agent\",\"id\":\"$ag\"},\"action\":{\"name\":\"$act\"},\"resource\":{\"type\":\"$ty\"},$CTX}" >>"$TMP/res.jsonl"
            done
        done
    done
    for r in $(jq -r '[.[] | select(.uid.type != "Writ::Team" and .uid.type != "Writ::ToolGroup") | "\(.uid.type | sub("Writ::"; ""))/\(.uid.id)"] | (.[0:16] + .[-16:])[]' "$ents"); do
        for act in read write deploy approve invoke start_task delegate; do
            echo "{\"subject\":{\"type\":\"Agent\"},\"action\":{\"name\":\"$act\"},\"resource\":{\"type\":\"${r%%/*}\",\"id\":\"${r#*/}\"},$CTX}" >>"$TMP/sub.jsonl"
        done
        for ag in $agents; do
            echo "{\"subject\":{\"type\":\"Agent\",\"id\":\"$ag\"},\"resource\":{\"type\":\"${r%%/*}\",\"id\":\"${r#*/}\"},$CTX}" >>"$TMP/act.jsonl"
        done
    done
    compare resource "$TMP/res.jsonl" --entities "$ents" "$@"
    compare subject "$TMP/sub.jsonl" --entities "$ents" "$@"
    compare action "$TMP/act.jsonl" --entities "$ents" "$@"
    # a set where nothing is allowed would compare empty with empty
    if [ $((RESULTS - r0)) -gt $(((SEARCHES - n0) / 10)) ]; then ok; else bad "$ents $*: only $((RESULTS - r0)) results in $((SEARCHES - n0)) searches"; fi
}

POL=(--policies "$EX/policies.cedar")
SCH=(--schema "$EX/schema.cedarschema")
run_set "$EX/entities.json" "${POL[@]}" "${SCH[@]}"
echo "examples: $SEARCHES searches compared"
python3 "$HERE/gen_entities.py" 10000 --seed 11 >"$TMP/e10k.json"
python3 "$HERE/gen_entities.py" 10000 --seed 12 --messy >"$TMP/messy.json"
n0=$SEARCHES
run_set "$TMP/e10k.json" "${POL[@]}" "${SCH[@]}"
echo "generated (10,000 entities, example policies and schema): $((SEARCHES - n0)) searches compared"
n0=$SEARCHES
CTX=$CTXT
run_set "$TMP/messy.json" --policies "$HERE/tricky.cedar"
run_set "$TMP/messy.json" "${POL[@]}"
CTX=$CTXS
echo "generated messy (10,000 entities, no schema, tricky.cedar and the examples): $((SEARCHES - n0)) searches compared"
if [ "$PRUNED" -gt $((SEARCHES / 4)) ]; then ok; else bad "the pruned search decided fewer candidates in only $PRUNED of $SEARCHES searches"; fi

# --limit: a prefix of the whole answer
top=$(jq -r 'first(.[] | select(.uid.type == "Writ::Agent" and .attrs.trust_level == 5 and (.parents | length) == 1)) | .uid.id' "$TMP/e10k.json")
body="{\"subject\":{\"type\":\"Agent\",\"id\":\"$top\"},\"action\":{\"name\":\"invoke\"},\"resource\":{\"type\":\"Tool\"},$CTX}"
all=$("$WRIT" query resource "${POL[@]}" "${SCH[@]}" --entities "$TMP/e10k.json" --namespace Writ --body "$body" | jq -c '.results')
five=$("$WRIT" query resource "${POL[@]}" "${SCH[@]}" --entities "$TMP/e10k.json" --namespace Writ --body "$body" --limit 5 | jq -c '.results')
if [ "$(jq length <<<"$all")" -gt 5 ] && [ "$five" = "$(jq -c '.[0:5]' <<<"$all")" ]; then ok; else bad "--limit 5: <$five> of <$all>"; fi

# bad input: clear messages, exit 2
expect_err() { # NAME WANT ARGS...
    local name=$1 want=$2; shift 2
    local out rc
    out=$("$WRIT" query "$@" 2>&1 >/dev/null); rc=$?
    if [ "$rc" = 2 ] && [[ "$out" == *"$want"* ]]; then ok; else bad "$name: rc $rc <$out> lacks <$want>"; fi
}
expect_err "unknown type (schema)" "unknown entity type Writ::Spaceship: the schema does not declare it" \
    resource "${POL[@]}" "${SCH[@]}" --entities "$EX/entities.json" --namespace Writ \
    --body '{"subject":{"type":"Agent","id":"a"},"action":{"name":"read"},"resource":{"type":"Spaceship"}}'
expect_err "unknown type (no schema)" "no entity of that type is loaded and no policy names it" \
    resource "${POL[@]}" --entities "$EX/entities.json" --namespace Writ \
    --body '{"subject":{"type":"Agent","id":"a"},"action":{"name":"read"},"resource":{"type":"Spaceship"}}'
expect_err "malformed body" "malformed JSON at line 2, column" \
    resource "${POL[@]}" --entities "$EX/entities.json" --body $'{"subject":{"type":"Agent","id":"a"},\n "action":{"name":"read"}, "resource":}'
expect_err "missing part" "the request needs resource.id" \
    subject "${POL[@]}" --body '{"subject":{"type":"Agent"},"action":{"name":"read"},"resource":{"type":"Dataset"}}'
expect_err "unknown search" "unknown search 'things'" things "${POL[@]}" --body '{}'

echo "$PASS passed, $FAIL failed ($SEARCHES searches compared with brute force, $RESULTS results, $PRUNED decided fewer candidates)"
[ "$FAIL" -eq 0 ]
