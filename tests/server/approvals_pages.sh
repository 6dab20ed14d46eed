#!/usr/bin/env bash
# approvals_pages.sh - GET /approvals in pages, through the real server, on
# SQLite and then on a redis-server: limit (default 100, 1..1000, anything
# else a 400), "next" while more follow, following it covers the listing
# exactly once in its order, a status filter fills every page, approvals
# created between pages neither show up in nor shift the later pages, a
# cursor the server did not write is a 400; the CLI's --limit and --cursor.
# Needs curl, jq, redis-server.
source "$(dirname "$0")/lib.sh"
admin_secret

cat >"$TMP/policies.cedar" <<'CEDAR'
@id("deploy-production")
@approval("required")
permit (principal, action == Writ::Action::"deploy", resource is Writ::Service);
CEDAR
cat >"$TMP/entities.json" <<'JSON'
[{"uid":{"type":"Writ::Service","id":"payments"},"attrs":{},"parents":[]}]
JSON
cat >"$TMP/writ.conf" <<CONF
policies = $TMP/policies.cedar
entities = $TMP/entities.json
admin_token_file = $TMP/admin.secret
approval_max_pending = 0
CONF

body() { echo "${1#* }"; }
code() { echo "${1%% *}"; }
# ask N: a held deploy with input {"n": N}: its approval's id
ask() {
    post /access/v1/evaluation "{\"subject\":{\"type\":\"Agent\",\"id\":\"ci-bot\"},\"action\":{\"name\":\"deploy\"},
      \"resource\":{\"type\":\"Service\",\"id\":\"payments\"},\"context\":{\"input\":{\"n\":$1}}}" |
        cut -d' ' -f2- | jq -r .context.approval.id
}
list() { req GET "/approvals$1" -H "Authorization: Bearer $ADMIN"; }
dec() {
    req POST "/approvals/$1" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
        --data-binary "{\"decision\":\"$2\"}" >/dev/null
}
# walk QUERY LIMIT: follow "next" from the first page; prints the ids, one a
# line, and fails a check when a page other than the last is short
walk() {
    local q=$1 lim=$2 cur="" r n next pages=0
    while :; do
        r=$(list "?limit=$lim$q${cur:+&cursor=$cur}")
        [ "$(code "$r")" = 200 ] || { bad "walk $q $lim: HTTP $(code "$r")"; return; }
        body "$r" | jq -r '.approvals[].id'
        n=$(body "$r" | jq '.approvals | length')
        next=$(body "$r" | jq -r '.next // empty')
        pages=$((pages + 1))
        [ -z "$next" ] && break
        [ "$n" = "$lim" ] || bad "walk $q $lim: page $pages holds $n, not $lim, and is not the last"
        [ "$pages" -le 300 ] || { bad "walk $q $lim: no end"; return; }
        cur=$next
    done
}

# suite NAME: the checks against the server at $ADDR (a fresh state)
suite() {
    local b=$1 r i ids all
    for i in $(seq 105); do ask "$i" >>"$TMP/$b.made"; done
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
