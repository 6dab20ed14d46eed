#!/usr/bin/env bash
# approvals_pages.sh - GET /approvals in pages, through the real server, on
# SQLite and then on a redis-server: limit (default 100, 1..1000, anything
# else a 400), "next" while more follow, following it covers the listing
# exactly once in its order, a status filter fills every page, approvals
# created between pages neither show up in nor shift the later pages, a
# cursor the server did not write is a 400; the CLI's --limit and --cursor.
# People (OIDC tokens) see only the approvals policy lets them decide: two
# approvers under different policies see different lists in full pages that
# never repeat, one whom no policy lets decide (or who is the requester)
# sees an empty list and a 404 on an id, and the work of a page is bounded
# (10 x limit approvals weighed: short pages with "next").
# Needs curl, jq, redis-server, node (jose, for the OIDC tokens).
source "$(dirname "$0")/lib.sh"
PEERS="$REPO/tests/peers"
if ! command -v node >/dev/null || [ ! -d "$PEERS/node_modules/jose" ]; then
    echo "approvals_pages: SKIPPED, node or $PEERS/node_modules/jose missing"; exit 77
fi
peer() { node "$REPO/tests/server/oauth_peer.mjs" "$PEERS" "$@"; }
peer keys "$TMP" || { bad "jose keys"; finish; }
IDP=https://idp.example
admin_secret

cat >"$TMP/policies.cedar" <<'CEDAR'
@id("deploy-production")
@approval("required")
permit (principal, action == Writ::Action::"deploy", resource is Writ::Service);

// who decides (and so sees) which: input.k is n mod 3
@id("third-decides-k0")
permit (principal == Writ::User::"third", action == Writ::Action::"approve_request", resource is Writ::Approval)
when { resource.input has k && resource.input.k == 0 };
@id("rest-decides-k12")
permit (principal == Writ::User::"rest", action == Writ::Action::"approve_request", resource is Writ::Approval)
when { resource.input has k && resource.input.k != 0 };
@id("rare-decides-three")
permit (principal == Writ::User::"rare", action == Writ::Action::"approve_request", resource is Writ::Approval)
when { resource.input has n && [1, 50, 105].contains(resource.input.n) };
// the agent as a person: policy lets it, Writ's own rule does not
@id("agent-decides-all")
permit (principal == Writ::User::"ci-bot", action == Writ::Action::"approve_request", resource is Writ::Approval);
CEDAR
cat >"$TMP/entities.json" <<'JSON'
[{"uid":{"type":"Writ::Service","id":"payments"},"attrs":{},"parents":[]}]
JSON
cat >"$TMP/writ.conf" <<CONF
policies = $TMP/policies.cedar
entities = $TMP/entities.json
admin_token_file = $TMP/admin.secret
identity_oidc = $IDP $TMP/oidc.json
approval_max_pending = 0
CONF

body() { echo "${1#* }"; }
code() { echo "${1%% *}"; }
# ask N: a held deploy with input {"n": N, "k": N mod 3}: its approval's id
ask() {
    post /access/v1/evaluation "{\"subject\":{\"type\":\"Agent\",\"id\":\"ci-bot\"},\"action\":{\"name\":\"deploy\"},
      \"resource\":{\"type\":\"Service\",\"id\":\"payments\"},\"context\":{\"input\":{\"n\":$1,\"k\":$(($1 % 3))}}}" |
        cut -d' ' -f2- | jq -r .context.approval.id
}
# ask_all N: the held deploys 1..N in that order, through one curl (a
# process or two for them all, not six each); their ids, one a line
ask_all() {
    local i args=()
    for i in $(seq "$1"); do
        args+=(-X POST -H 'Content-Type: application/json' -w '\n' --data-binary
            "{\"subject\":{\"type\":\"Agent\",\"id\":\"ci-bot\"},\"action\":{\"name\":\"deploy\"},\"resource\":{\"type\":\"Service\",\"id\":\"payments\"},\"context\":{\"input\":{\"n\":$i,\"k\":$((i % 3))}}}"
            "http://$ADDR/access/v1/evaluation")
        [ "$i" -lt "$1" ] && args+=(--next)
    done
    curl -s -m 60 "${args[@]}" | jq -r .context.approval.id
}
# list QUERY: GET /approvals as $AS (default: the admin)
list() { req GET "/approvals$1" -H "Authorization: Bearer ${AS:-$ADMIN}"; }
dec() {
    req POST "/approvals/$1" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
        --data-binary "{\"decision\":\"$2\"}" >/dev/null
}
# walk QUERY LIMIT: follow "next" from the first page; prints the ids, one a
# line, and fails a check when a page other than the last is short
walk() {
    local q=$1 lim=$2 cur="" r n next pages=0 page
    while :; do
        r=$(list "?limit=$lim$q${cur:+&cursor=$cur}")
        [ "${r%% *}" = 200 ] || { bad "walk $q $lim: HTTP ${r%% *}"; return; }
        # one jq a page (the test forks a lot): the count, next ("" at the end), the ids
        mapfile -t page < <(jq -r '(.approvals | length), (.next // ""), .approvals[].id' <<<"${r#* }")
        n=${page[0]} next=${page[1]}
        [ "${#page[@]}" -gt 2 ] && printf '%s\n' "${page[@]:2}"
        pages=$((pages + 1))
        [ -z "$next" ] && break
        [ "$n" = "$lim" ] || bad "walk $q $lim: page $pages holds $n, not $lim, and is not the last"
        [ "$pages" -le 300 ] || { bad "walk $q $lim: no end"; return; }
        cur=$next
    done
}

# sizes QUERY LIMIT: follow "next" from the first page as $AS; prints each
# page as "COUNT:IDS" (a line a page) and "end" after the last
sizes() {
    local q=$1 lim=$2 cur="" r pages=0 page
    while :; do
        r=$(list "?limit=$lim$q${cur:+&cursor=$cur}")
        [ "${r%% *}" = 200 ] || { echo "HTTP ${r%% *}"; return; }
        mapfile -t page < <(jq -r '"\(.approvals | length):\([.approvals[].id] | join(","))", (.next // "")' <<<"${r#* }")
        echo "${page[0]}"
        cur=${page[1]}
        pages=$((pages + 1))
        [ -z "$cur" ] && { echo end; return; }
        [ "$pages" -le 100 ] || { echo "no end"; return; }
    done
}

# people: each sees what policy lets them decide, and nothing else
people() {
    local b=$1 r all ids exp other unknown k0 k1
    local THIRD REST RARE NOBODY AGENT
    THIRD=$(peer oidc "$TMP" "$IDP" third)
    REST=$(peer oidc "$TMP" "$IDP" rest)
    RARE=$(peer oidc "$TMP" "$IDP" rare)
    NOBODY=$(peer oidc "$TMP" "$IDP" nobody)
    AGENT=$(peer oidc "$TMP" "$IDP" ci-bot)
    r=$(list "?limit=1000")
    all=$(body "$r" | jq -r '.approvals[].id')
    # two approvers, two policies: each its own approvals, in full pages
    exp=$(body "$r" | jq -r '.approvals[] | select(.input.k == 0) | .id')
    other=$(body "$r" | jq -r '.approvals[] | select(.input.k != 0) | .id')
    check "$b: third's share: 35" "$(grep -c . <<<"$exp")" 35
    for lim in 2 4 35 100; do
        check "$b: third (every third approval) in pages of $lim: full, once, in order" "$(AS=$THIRD walk "" "$lim")" "$exp"
    done
    check "$b: rest (the other two thirds) in pages of 7" "$(AS=$REST walk "" 7)" "$other"
    check "$b: third and rest: the whole listing between them" "$(sort <<<"$exp"$'\n'"$other")" "$(sort <<<"$all")"
    exp=$(body "$r" | jq -r '.approvals[] | select(.input.k != 0 and .status == "pending") | .id')
    check "$b: rest, pending, in pages of 3" "$(AS=$REST walk "&status=pending" 3)" "$exp"
    exp=$(body "$r" | jq -r '.approvals[] | select(.input.k == 0 and .status == "denied") | .id')
    check "$b: third, denied, in pages of 4" "$(AS=$THIRD walk "&status=denied" 4)" "$exp"
    # one of each
    ids=($all)
    k0=$(body "$r" | jq -r '[.approvals[] | select(.input.k == 0)][0].id')
    k1=$(body "$r" | jq -r '[.approvals[] | select(.input.k == 1 and .status == "pending")][0].id')
    check "$b: third reads one of its own: 200" "$(code "$(AS=$THIRD list "/$k0")")" 200
    r=$(AS=$THIRD list "/$k1")
    unknown=$(AS=$THIRD list "/apr_AAAAAAAAAAAAAAAAAAAAAA")
    check "$b: third reads one of rest's: 404" "$(code "$r")" 404
    check "$b: ... the answer of an id that does not exist" "$(body "$r" | sed "s/$k1/ID/g")" \
        "$(body "$unknown" | sed "s/apr_AAAAAAAAAAAAAAAAAAAAAA/ID/g")"
    r=$(req POST "/approvals/$k1" -H "Authorization: Bearer $THIRD" -H 'Content-Type: application/json' \
        --data-binary '{"decision":"approve"}')
    check "$b: third approves one of rest's: 404" "$(code "$r")" 404
    check "$b: ... and it is still pending" "$(list "/$k1" | cut -d' ' -f2- | jq -r .status)" pending
    # a person no policy lets decide: nothing, however it asks
    check "$b: nobody: an empty list" "$(AS=$NOBODY list "" | cut -d' ' -f2- | jq -c .)" '{"approvals":[]}'
    check "$b: nobody: 404 on an id" "$(code "$(AS=$NOBODY list "/${ids[0]}")")" 404
    r=$(req POST "/approvals/${ids[0]}" -H "Authorization: Bearer $NOBODY" -H 'Content-Type: application/json' \
        --data-binary '{"decision":"deny"}')
    check "$b: nobody decides one: 404" "$(code "$r")" 404
    # the bound: a page weighs at most 10 x limit approvals (50 of the 105
    # here), then answers what it found, "next" continuing after them
    check "$b: nobody in pages of 5: empty pages, 50 approvals weighed each" \
        "$(AS=$NOBODY sizes "" 5 | tr '\n' ' ')" "0: 0: 0: end "
    exp=$(body "$(list "?limit=1000")" | jq -r '[.approvals[] | select(.input.n | IN(105, 50, 1)) | "1:" + .id] | join(" ")')
    check "$b: rare (3 of 105) in pages of 5: one a page, each after 50 weighed" \
        "$(AS=$RARE sizes "" 5 | tr '\n' ' ')" "$exp end "
    # the requester's own identity: a person named as the agent sees none
    check "$b: the agent as a person: an empty list" "$(AS=$AGENT list "" | cut -d' ' -f2- | jq -c .)" '{"approvals":[]}'
    check "$b: the agent as a person: 404 on its own approval" "$(code "$(AS=$AGENT list "/${ids[0]}")")" 404
    # the admin secret: everything
    check "$b: the admin: every approval" "$(list "?limit=1000" | cut -d' ' -f2- | jq -r '.approvals[].id')" "$all"
}

# suite NAME: the checks against the server at $ADDR (a fresh state)
suite() {
    local b=$1 r i ids all
    ask_all 105 >"$TMP/$b.made"
    check "$b: 105 approvals made" "$(sort -u "$TMP/$b.made" | grep -c '^apr_')" 105
    # the listing in one page, checked against created_at
    r=$(list "?limit=1000")
    check "$b: limit=1000: 200" "$(code "$r")" 200
    all=$(body "$r" | jq -r '.approvals[].id')
    check "$b: limit=1000: every approval" "$(sort <<<"$all")" "$(sort "$TMP/$b.made")"
    check "$b: limit=1000: no next" "$(body "$r" | jq -c 'has("next")')" false
    check "$b: newest first" "$(body "$r" | jq '[.approvals[].created_at] | . == (sort | reverse)')" true

    # the default page
    r=$(list "")
    check "$b: no limit: 100" "$(body "$r" | jq '.approvals | length')" 100
    check "$b: no limit: the newest 100" "$(body "$r" | jq -r '.approvals[].id')" "$(head -100 <<<"$all")"
    next=$(body "$r" | jq -r .next)
    [[ "$next" =~ ^[A-Za-z0-9_-]+$ ]] && ok "$b: next is a URL-safe cursor" || bad "$b: next <$next>"
    r=$(list "?cursor=$next")
    check "$b: the page after: the other 5" "$(body "$r" | jq -r '.approvals[].id')" "$(tail -5 <<<"$all")"
    check "$b: the last page: no next" "$(body "$r" | jq -c 'has("next")')" false

    # following next: the whole listing once, in order, whatever the limit
    for lim in 2 35 104 105; do
        check "$b: pages of $lim: the listing once, in order" "$(walk "" "$lim")" "$all"
    done

    # a status filter: full pages of it
    ids=($all)
    for i in $(seq 0 3 104); do dec "${ids[$i]}" deny; done
    for i in $(seq 1 10 104); do dec "${ids[$i]}" approve; done
    den=$(list "?limit=1000&status=denied" | cut -d' ' -f2- | jq -r '.approvals[].id')
    check "$b: 35 denied" "$(grep -c . <<<"$den")" 35
    check "$b: denied in pages of 4" "$(walk "&status=denied" 4)" "$den"
    pend=$(list "?limit=1000&status=pending" | cut -d' ' -f2- | jq -r '.approvals[].id')
    check "$b: pending in pages of 6" "$(walk "&status=pending" 6)" "$pend"
    r=$(list "?status=approved&limit=3")
    check "$b: status and limit: a full page of approved" "$(body "$r" | jq -r '[.approvals[].status] | unique | .[]')/$(body "$r" | jq '.approvals | length')" approved/3

    people "$b"

    # approvals created between pages: not in the later pages, nothing shifted
    r=$(list "?limit=10")
    first=$(body "$r" | jq -r '.approvals[].id')
    next=$(body "$r" | jq -r .next)
    new1=$(ask 1001)
    new2=$(ask 1002)
    rest=""
    cur=$next
    while [ -n "$cur" ]; do
        r=$(list "?limit=10&cursor=$cur")
        rest+=$(body "$r" | jq -r '.approvals[].id')$'\n'
        cur=$(body "$r" | jq -r '.next // empty')
    done
    check "$b: created between pages: the pages after are as before" "$first"$'\n'"${rest%$'\n'}" "$all"
    check "$b: created between pages: they head a new first page" \
        "$(list "?limit=2" | cut -d' ' -f2- | jq -r '.approvals[].id' | sort)" "$(printf '%s\n' "$new1" "$new2" | sort)"

    # bad limits and cursors: 400 saying which
    for l in 0 1001 -1 +5 abc 1.5 "" "%205" 99999999999999999999999; do
        r=$(list "?limit=$l")
        check "$b: limit=$l: 400" "$(code "$r")" 400
        contains "$b: limit=$l: says why" "$(body "$r")" "limit must be a whole number from 1 to 1000"
    done
    forged=$(printf '%s' '12.../etc' | base64 | tr '+/' '-_' | tr -d '=')
    for c in garbage! "" "${next:0:1}" "$next=" "$forged" "$(printf '%s' '+5.apr_x' | base64 | tr '+/' '-_' | tr -d '=')"; do
        r=$(list "?cursor=$c")
        check "$b: cursor <$c>: 400" "$(code "$r")" 400
        contains "$b: cursor <$c>: says why" "$(body "$r")" "cursor is not one this server gave"
    done
    # a cursor before every approval: an empty last page
    before=$(printf '%s' '5.apr_x' | base64 | tr '+/' '-_' | tr -d '=')
    r=$(list "?cursor=$before")
    check "$b: a cursor past the end: 200, empty, no next" "$(code "$r") $(body "$r" | jq -c .)" '200 {"approvals":[]}'
    r=$(list "?cursor=$next&status=denied&limit=1000")
    check "$b: a cursor with another status: that status after the place" "$(body "$r" | jq -r '[.approvals[].status] | unique | .[]')" denied

    # the CLI: one page, then the next
    out=$("$WRIT" approvals list --server "http://$ADDR" --token-file "$TMP/admin.secret" --limit 2 --status pending)
    check "$b: cli --limit 2: two" "$(jq '.approvals | length' <<<"$out")" 2
    out2=$("$WRIT" approvals list --server "http://$ADDR" --token-file "$TMP/admin.secret" --limit 2 --status pending \
        --cursor "$(jq -r .next <<<"$out")")
    check "$b: cli --cursor: the next two pending" "$(jq -r '.approvals[].id' <<<"$out$out2")" \
        "$(list "?status=pending&limit=4" | cut -d' ' -f2- | jq -r '.approvals[].id')"
    "$WRIT" approvals list --server "http://$ADDR" --token-file "$TMP/admin.secret" --limit 0 >/dev/null 2>&1
    check "$b: cli --limit 0: exit 1 (400)" "$?" 1
}

start_writ sqlite --config "$TMP/writ.conf"
suite sqlite
start_redis_plain # sets rport
start_writ redis --config "$TMP/writ.conf" --state "redis://127.0.0.1:$rport/0"
suite redis
finish
