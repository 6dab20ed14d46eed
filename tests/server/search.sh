#!/usr/bin/env bash
# search.sh - AuthZEN 1.0 search through the real server on the example
# set: the metadata names the three endpoints; subject, resource and action
# searches answer exactly what brute force gives (every entity of the type
# evaluated one by one at /access/v1/evaluation, same body, same server);
# paging with limit 1 walks the whole answer; page tokens that are altered,
# continue another search or predate a reload are 400s naming why;
# malformed bodies are 400s with positions; an unknown type is an empty
# answer with the reason; with a task token a resource search is bounded by
# the token's scope and a subject search is refused; one audit record per
# search.
. "$(dirname "$0")/lib.sh"

A=spiffe://corp.example/agents
"$WRIT" keys generate --out "$TMP/k.pem" >/dev/null || { bad "keys generate"; finish; }
cp "$EX/entities.json" "$TMP/entities.json"
start_writ s --policies "$EX/policies.cedar" --entities "$TMP/entities.json" --schema "$EX/schema.cedarschema" \
    --token-keys "$TMP/k.pem"

r=$(req GET /.well-known/authzen-configuration)
for k in subject resource action; do
    contains "metadata $k" "$r" "\"search_${k}_endpoint\":\"http://$ADDR/access/v1/search/$k\""
done

# ids of the store's entities of a type, in store order
ids() { jq -r --arg t "Writ::$1" '.[] | select(.uid.type == $t) | .uid.id' "$EX/entities.json"; }
AGENTS=$(ids Agent)
ACTIONS="read write deploy approve start_task delegate invoke mutating"

# brute KIND FIXED...: the allowed candidates as a sorted JSON array, one
# evaluation per entity of the type (one /access/v1/evaluations batch)
brute() {
    local kind=$1; shift
    local cands evs
    case $kind in
    resource) cands=$(ids "$3" | jq -R -c --arg t "$3" '{type: $t, id: .}' | jq -s -c .)
        evs=$(jq -c '[.[] | {resource: .}]' <<<"$cands")
        body="{\"subject\":{\"type\":\"Agent\",\"id\":\"$1\"},\"action\":{\"name\":\"$2\"},$CTX,\"evaluations\":$evs}" ;;
    subject) cands=$(ids Agent | jq -R -c '{type: "Agent", id: .}' | jq -s -c .)
        evs=$(jq -c '[.[] | {subject: .}]' <<<"$cands")
        body="{\"action\":{\"name\":\"$1\"},\"resource\":{\"type\":\"$2\",\"id\":\"$3\"},$CTX,\"evaluations\":$evs}" ;;
    action) cands=$(for x in $ACTIONS; do echo "{\"name\":\"$x\"}"; done | jq -s -c .)
        evs=$(jq -c '[.[] | {action: .}]' <<<"$cands")
        body="{\"subject\":{\"type\":\"Agent\",\"id\":\"$1\"},\"resource\":{\"type\":\"$2\",\"id\":\"$3\"},$CTX,\"evaluations\":$evs}" ;;
    esac
    local r
    r=$(post /access/v1/evaluations "$body")
    jq -c --argjson c "$cands" '[.evaluations | to_entries[] | select(.value.decision) | $c[.key]] | sort_by(tostring)' <<<"${r#* }"
}
# post, counting the searches answered (each must leave one audit record)
post() {
    curl -s -m 10 -o "$TMP/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary "$2" "http://$ADDR$1" >"$TMP/code"
    local c; c=$(cat "$TMP/code")
    [[ "$1" == /access/v1/search/* && "$c" == 200 ]] && echo x >>"$TMP/searches"
    echo "$c $(cat "$TMP/body")"
}
found() { echo "${1#* }" | jq -c '.results | sort_by(tostring)'; }

n=0 nonempty=0
for ag in $A/analyst $A/code-agent $A/release-bot $A/scraper; do
    for act in read write invoke delegate deploy; do
        for ty in Dataset Repo Tool Agent Service; do
            r=$(post /access/v1/search/resource "{\"subject\":{\"type\":\"Agent\",\"id\":\"$ag\"},\"action\":{\"name\":\"$act\"},\"resource\":{\"type\":\"$ty\"},$CTX}")
            want=$(brute resource "$ag" "$act" "$ty")
            [ "$(found "$r")" = "$want" ] || bad "resource search $ag $act $ty: <$r> want <$want>"
            n=$((n + 1)); [ "$want" != "[]" ] && nonempty=$((nonempty + 1))
        done
    done
done
check "resource searches equal brute force ($n, $nonempty non-empty)" "$FAILS" 0
f0=$FAILS
for res in Dataset/customer-pii Repo/writ Service/api-staging Tool/shell Agent/$A/triage-bot; do
    for act in read write deploy invoke delegate; do
        r=$(post /access/v1/search/subject "{\"subject\":{\"type\":\"Agent\"},\"action\":{\"name\":\"$act\"},\"resource\":{\"type\":\"${res%%/*}\",\"id\":\"${res#*/}\"},$CTX}")
        want=$(brute subject "$act" "${res%%/*}" "${res#*/}")
        [ "$(found "$r")" = "$want" ] || bad "subject search $act $res: <$r> want <$want>"
    done
    for ag in $A/code-agent $A/release-bot $A/scraper; do
        r=$(post /access/v1/search/action "{\"subject\":{\"type\":\"Agent\",\"id\":\"$ag\"},\"resource\":{\"type\":\"${res%%/*}\",\"id\":\"${res#*/}\"},$CTX}")
        want=$(brute action "$ag" "${res%%/*}" "${res#*/}")
        [ "$(found "$r")" = "$want" ] || bad "action search $ag $res: <$r> want <$want>"
    done
done
check "subject and action searches equal brute force" "$FAILS" "$f0"

# ---- the questions of the issue, answered
r=$(post /access/v1/search/resource "{\"subject\":{\"type\":\"Agent\",\"id\":\"$A/analyst\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\"},$CTX}")
check "which datasets can the analyst read" "$r" '200 {"results":[{"type":"Dataset","id":"usage-metrics"},{"type":"Dataset","id":"customer-pii"}],"page":{"next_token":"","count":2}}'
r=$(post /access/v1/search/subject "{\"subject\":{\"type\":\"Agent\"},\"action\":{\"name\":\"deploy\"},\"resource\":{\"type\":\"Service\",\"id\":\"api-staging\"},$CTX}")
check "which agents can deploy api-staging" "$(found "$r")" "[{\"type\":\"Agent\",\"id\":\"$A/release-bot\"}]"

# ---- paging: limit 1 walks the whole answer
SB="\"subject\":{\"type\":\"Agent\"},\"action\":{\"name\":\"invoke\"},\"resource\":{\"type\":\"Tool\",\"id\":\"web-search\"},$CTX"
full=$(found "$(post /access/v1/search/subject "{$SB}")")
tok="" all="[]" pages=0
while :; do
    page=$([ -n "$tok" ] && echo "{\"limit\":1,\"token\":\"$tok\"}" || echo '{"limit":1}')
    r=$(post /access/v1/search/subject "{$SB,\"page\":$page}")
    [ "${r%% *}" = 200 ] || { bad "page $pages: $r"; break; }
    all=$(jq -c --argjson a "$all" '$a + .results' <<<"${r#* }")
    tok=$(jq -r '.page.next_token' <<<"${r#* }")
    pages=$((pages + 1))
    [ -z "$tok" ] || [ "$pages" -gt 20 ] && break
done
check "limit 1: every page one result, together the whole answer" "$pages $(jq -c 'sort_by(tostring)' <<<"$all")" "$(jq length <<<"$full") $full"
r=$(post /access/v1/search/subject "{$SB,\"page\":{\"limit\":1}}")
tok=$(jq -r '.page.next_token' <<<"${r#* }")
[ -n "$tok" ] && ok "a first page has a next_token" || bad "no next_token: $r"

# ---- bad page tokens
alt=$(python3 -c "import sys; t=sys.argv[1]; i=len(t)//2; print(t[:i] + ('A' if t[i] != 'A' else 'B') + t[i+1:])" "$tok")
r=$(post /access/v1/search/subject "{$SB,\"page\":{\"token\":\"$alt\"}}")
contains "altered token" "$r" '400 {"error":{"status":400,"code":"bad_page_token","message":"page.token was altered'
r=$(post /access/v1/search/subject "{$SB,\"page\":{\"token\":\"not a token!\"}}")
contains "garbage token" "$r" '"code":"bad_page_token","message":"page.token is not a page token'
r=$(post /access/v1/search/subject "{\"subject\":{\"type\":\"Agent\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Tool\",\"id\":\"web-search\"},$CTX,\"page\":{\"token\":\"$tok\"}}")
contains "token of another search" "$r" '"code":"bad_page_token","message":"page.token continues another search'
r=$(post /access/v1/search/subject "{$SB,\"page\":{\"token\":7}}")
contains "token not a string" "$r" '400 {"error":{"status":400,"code":"bad_request","message":"page.token must be a string"'
r=$(post /access/v1/search/subject "{$SB,\"page\":{\"limit\":0}}")
contains "limit 0" "$r" '"message":"page.limit must be an integer from 1 to 1000"'
r=$(post /access/v1/search/subject "{$SB,\"page\":{\"token\":\"$tok\"}}")
contains "the token itself still works" "$r" '200 {"results":['
# a reload makes old tokens stale
jq '. + [{"uid":{"type":"Writ::Tool","id":"new-tool"},"attrs":{"sensitivity":0},"parents":[]}]' "$EX/entities.json" >"$TMP/e2.json"
mv "$TMP/e2.json" "$TMP/entities.json"
kill -HUP "$WPID"
for _ in $(seq 50); do
    r=$(post /access/v1/search/subject "{$SB,\"page\":{\"token\":\"$tok\"}}")
    [[ "$r" == 400* ]] && break; sleep 0.1
done
contains "token from before a reload" "$r" '"message":"page.token was issued before the policies or entities were reloaded'

# ---- malformed input
r=$(post /access/v1/search/resource $'{"subject":{"type":"Agent","id":"x"},\n  "action":{"name":"read"},\n  "resource":{"type":"Dataset"},,}')
contains "malformed JSON: line and column" "$r" '400 {"error":{"status":400,"code":"bad_json","message":"malformed JSON at line 3, column'
r=$(post /access/v1/search/resource '{"subject":{"type":"Agent"},"action":{"name":"read"},"resource":{"type":"Dataset"}}')
contains "resource search without subject.id" "$r" '"message":"subject.id must be a non-empty string"'
r=$(post /access/v1/search/subject '{"subject":{"type":"Agent"},"resource":{"type":"Dataset","id":"x"}}')
contains "subject search without action" "$r" '"message":"action is required"'
r=$(post /access/v1/search/action '{"subject":{"type":"Agent","id":"x"}}')
contains "action search without resource" "$r" '"message":"resource is required"'
r=$(post /access/v1/search/resource '[]')
contains "not an object" "$r" '"message":"expected a JSON object"'
r=$(req GET /access/v1/search/resource)
contains "GET is 405" "$r" "405"
r=$(post /access/v1/search/resource "{\"subject\":{\"type\":\"Agent\",\"id\":\"$A/analyst\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Spaceship\"}}")
check "unknown type: empty, with the reason" "$r" '200 {"results":[],"page":{"next_token":"","count":0},"context":{"errors":[{"message":"unknown entity type Writ::Spaceship: the schema does not declare it"}]}}'

# ---- with a task token: bounded like a decision, or refused
tokn=$("$WRIT" token mint --key "$TMP/k.pem" --issuer https://writ.local --audience writ --subject "$A/analyst" \
    --purpose weekly-report --action read --resource 'usage-*' --sensitivity restricted)
apost() { curl -s -m 5 -o "$TMP/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $1" --data-binary "$2" "http://$ADDR$3" >"$TMP/code"
    [ "$(cat "$TMP/code")" = 200 ] && echo x >>"$TMP/searches"; echo "$(cat "$TMP/code") $(cat "$TMP/body")"; }
r=$(apost "$tokn" "{\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\"},$CTX}" /access/v1/search/resource)
check "token: only what its scope covers" "$r" '200 {"results":[{"type":"Dataset","id":"usage-metrics"}],"page":{"next_token":"","count":1}}'
r=$(apost "$tokn" "{\"action\":{\"name\":\"write\"},\"resource\":{\"type\":\"Dataset\"},$CTX}" /access/v1/search/resource)
contains "token: an action outside its scope finds nothing" "$r" '200 {"results":[],'
r=$(apost "$tokn" "{\"resource\":{\"type\":\"Dataset\",\"id\":\"usage-metrics\"},$CTX}" /access/v1/search/action)
check "token: action search" "$r" '200 {"results":[{"name":"read"}],"page":{"next_token":"","count":1}}'
r=$(apost "$tokn" "{\"subject\":{\"type\":\"Agent\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\",\"id\":\"usage-metrics\"}}" /access/v1/search/subject)
contains "token: subject search refused" "$r" '403 {"error":{"status":403,"code":"search_refused"'
r=$(apost "$tokn" "{\"subject\":{\"type\":\"Agent\",\"id\":\"$A/code-agent\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\"}}" /access/v1/search/resource)
contains "token: another subject refused" "$r" "403"
r=$(apost "bad.token.here" "{\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\"}}" /access/v1/search/resource)
contains "bad token: 401" "$r" "401"

# ---- the work of one request is bounded (search_max_decisions): a page may
# hold fewer results and still have a next_token; following them gives the
# same results (a second server; its searches are not counted above)
S1=$ADDR P1=$WPID
start_writ small --policies "$EX/policies.cedar" --entities "$TMP/entities.json" --schema "$EX/schema.cedarschema" \
    --search-max-decisions 1
q="{\"subject\":{\"type\":\"Agent\",\"id\":\"$A/analyst\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Dataset\"},$CTX"
whole=$(ADDR=$S1 post /access/v1/search/resource "$q}"); whole=$(found "$whole")
tok="" all="[]" pages=0 most=0
while :; do
    body="$q}"; [ -n "$tok" ] && body="$q,\"page\":{\"token\":\"$tok\"}}"
    r=$(curl -s -m 10 -X POST -H 'Content-Type: application/json' --data-binary "$body" "http://$ADDR/access/v1/search/resource")
    all=$(jq -c --argjson a "$all" '$a + .results' <<<"$r")
    n=$(jq '.results | length' <<<"$r"); [ "$n" -gt "$most" ] && most=$n
    tok=$(jq -r '.page.next_token' <<<"$r")
    pages=$((pages + 1))
    [ -z "$tok" ] || [ "$pages" -gt 200 ] && break
done
[ "$whole" != "[]" ] && ok "the whole search finds something ($whole)" || bad "the whole search found nothing"
check "one decision per request: the same results, page by page" "$(jq -c 'sort_by(tostring)' <<<"$all")" "$whole"
[ "$pages" -gt 1 ] && [ "$most" -le 1 ] && ok "... over $pages pages of at most one result" || bad "pages $pages, most $most"
stop_writ "$WPID"
ADDR=$S1 WPID=$P1

# ---- one audit record per search, none per candidate
SEARCHES_OK=$(grep -c . "$TMP/searches")
stop_writ "$WPID"
q=$("$WRIT" audit query --state-dir "$TMP/s.state" 2>/dev/null)
nsearch=$(grep -c '"message":"search ' <<<"$q")
nrec=$(grep -c . <<<"$q")
nbatch=$(grep -vc '"message":"search ' <<<"$q")
# every search answered 200 wrote one record; the rest are the brute force's evaluations
check "audit: one record per search" "$nsearch" "$SEARCHES_OK"
[ "$nbatch" -gt "$nsearch" ] && ok "audit: $nrec records, $nsearch of searches" || bad "audit: $nrec records, $nsearch searches"
refused=$(jq -c 'select(.errors | tostring | test("refused with a task token|does not match the task token")) | [.decision, .agent]' <<<"$q")
check "audit: both refused searches recorded" "$(grep -c . <<<"$refused")" 2
check "... as denies under the holder" "$(sort -u <<<"$refused")" "[\"deny\",\"Writ::Agent::\\\"$A/analyst\\\"\"]"
contains "audit: the search record" "$q" "\"agent\":\"Writ::Agent::\\\"$A/analyst\\\"\",\"chain\":null,\"task\":\"\",\"action\":\"Writ::Action::\\\"read\\\"\",\"resource\":\"Writ::Dataset::*\""
finish
