#!/usr/bin/env bash
# shadow.sh - shadow policies through the real server: @mode("shadow")
# policies are evaluated and recorded (audit field, metric), never enforced;
# a shadow_policies candidate set is evaluated beside the live one, its
# disagreements recorded and counted, reloaded with the live set (a bad one
# refused at start, kept out at reload); `writ audit query --shadow` and
# `writ audit verify` (which catches an edited shadow field).
source "$(dirname "$0")/lib.sh"

cat >"$TMP/live.cedar" <<'CEDAR'
@id("read-all")
permit (principal, action == Writ::Action::"read", resource);

// a new forbid, watched before it bites
@id("no-secret") @mode("shadow")
forbid (principal, action == Writ::Action::"read", resource == Writ::Dataset::"secret");

// a permit that would allow what is denied now
@id("write-tickets") @mode("shadow")
permit (principal, action == Writ::Action::"write", resource is Writ::Ticket);

@id("no-delete")
forbid (principal, action == Writ::Action::"delete", resource);

// would change nothing: the forbid above still wins
@mode("shadow")
permit (principal, action == Writ::Action::"delete", resource);
CEDAR

# candidate A: reads of "public" only
cat >"$TMP/cand.cedar" <<'CEDAR'
@id("cand-read-public")
permit (principal, action == Writ::Action::"read", resource == Writ::Dataset::"public");
CEDAR

ask() { # ask ACTION RTYPE RID -> "DECISION REASONS"
    local r
    r=$(post /access/v1/evaluation "{\"subject\":{\"type\":\"Agent\",\"id\":\"bot\"},\"action\":{\"name\":\"$1\"},\"resource\":{\"type\":\"$2\",\"id\":\"$3\"}}")
    jq -c '[.decision, .context.reasons]' <<<"${r#* }"
}
metric() { curl -s -m 5 "http://$ADDR/metrics" | awk -v k="$1" '$1 == k {print $2}' | grep . || echo absent; }
# the shadow field of the newest audit record
last_shadow() { "$WRIT" audit tail -n 1 --state-dir "$TMP/s.state" | jq -c '.shadow // null'; }
healthz() { req GET /healthz | cut -c1-3; }

# ---- writ authorize: the same naming and the same shadow answer, from the command line
echo '{"principal":{"type":"Writ::Agent","id":"bot"},"action":{"type":"Writ::Action","id":"read"},"resource":{"type":"Writ::Dataset","id":"secret"},"context":{}}' >"$TMP/rq.json"
out=$("$WRIT" authorize --policies "$TMP/live.cedar" --request "$TMP/rq.json"); rc=$?
check "writ authorize: shadow forbid not enforced, and shown" "$rc $out" \
    '0 {"decision":"allow","reasons":["read-all"],"errors":[],"shadow":{"decision":"deny","policies":["no-secret"]}}'

# ---- a bad candidate file at start: a clear error, no server
printf 'permit (principal, action, resource)\nforbid (' >"$TMP/bad.cedar"
out=$(timeout 10 "$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/bad.state" --policies "$TMP/live.cedar" \
    --entities '' --schema '' --shadow_policies "$TMP/bad.cedar" 2>&1); rc=$?
check "bad candidate at start: refused" "$rc" 1
contains "bad candidate at start: the file and position" "$out" "$TMP/bad.cedar:2:"
# a misspelt @mode in the live set
printf '@mode("shdow")\nforbid (principal, action, resource);\n' >"$TMP/typo.cedar"
out=$(timeout 10 "$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/typo.state" --policies "$TMP/typo.cedar" \
    --entities '' --schema '' 2>&1); rc=$?
check "misspelt @mode: refused" "$rc" 1
contains "misspelt @mode: named with its position" "$out" "$TMP/typo.cedar:1:1: @mode is \"shadow\" or \"enforce\""

start_writ s --policies "$TMP/live.cedar" --entities '' --schema '' --shadow_policies "$TMP/cand.cedar" \
    --reload_poll 0

# ---- @mode("shadow"): never enforced, recorded when it would change the answer
check "no shadow change: allowed" "$(ask read Dataset public)" '[true,["read-all"]]'
check "... no shadow field" "$(last_shadow)" null
check "shadow forbid not enforced: still allowed, named by the live permit" "$(ask read Dataset secret)" \
    '[true,["read-all"]]'
check "... the would-be deny is in the audit record (and the candidate's too)" "$(last_shadow)" \
    '{"decision":"deny","policies":["no-secret"],"candidate":{"decision":"deny","policies":[],"set":"candidate"}}'
check "... counted for its policy" "$(metric 'writ_shadow_changes_total{policy="no-secret"}')" 1
check "shadow permit not enforced: still denied" "$(ask write Ticket t1)" '[false,[]]'
check "... the would-be allow is recorded" "$(last_shadow)" '{"decision":"allow","policies":["write-tickets"]}'
check "... counted" "$(metric 'writ_shadow_changes_total{policy="write-tickets"}')" 1
check "shadow permit under a live forbid: denied" "$(ask delete Dataset public)" '[false,["no-delete"]]'
check "... changes nothing: no shadow field" "$(last_shadow)" null
check "... not counted (listed at 0)" "$(metric 'writ_shadow_changes_total{policy="policy4"}')" 0
ask read Dataset secret >/dev/null
check "counts add up" "$(metric 'writ_shadow_changes_total{policy="no-secret"}')" 2

# ---- the candidate set
check "candidate agrees: no record" "$(ask read Dataset public >/dev/null; last_shadow)" null
check "candidate disagrees: the live answer stands" "$(ask read Dataset other)" '[true,["read-all"]]'
check "... both answers in the record" "$("$WRIT" audit tail -n 1 --state-dir "$TMP/s.state" |
    jq -c '[.decision, .policies, .shadow]')" \
    '["allow",["read-all"],{"decision":"deny","policies":[],"set":"candidate"}]'
check "... counted" "$(metric writ_shadow_set_disagreements_total)" 3

# ---- reload: a bad candidate keeps the old one, and /healthz says so
cp "$TMP/cand.cedar" "$TMP/cand.good"
printf '@id("x")\npermit (principal, action, resource);\n@id("x")\nforbid (principal, action, resource);\n' \
    >"$TMP/cand.cedar"
kill -HUP "$WPID"; sleep 0.5
r=$(req GET /healthz)
contains "bad candidate at reload: degraded" "$r" '503 {"status":"degraded"'
contains "... naming the file, position and the duplicate" "$r" "$TMP/cand.cedar:3:1: duplicate @id"
ask read Dataset other >/dev/null
check "... the old candidate keeps deciding" "$(last_shadow)" '{"decision":"deny","policies":[],"set":"candidate"}'
cat >"$TMP/cand.cedar" <<'CEDAR'
@id("cand-read")
permit (principal, action == Writ::Action::"read", resource);
@id("cand-no-public")
forbid (principal, action, resource == Writ::Dataset::"public");
CEDAR
kill -HUP "$WPID"; sleep 0.5
check "good candidate at reload: healthy again" "$(healthz)" 200
check "new candidate agrees on other" "$(ask read Dataset other >/dev/null; last_shadow)" null
ask read Dataset public >/dev/null
check "new candidate disagrees on public" "$(last_shadow)" \
    '{"decision":"deny","policies":["cand-no-public"],"set":"candidate"}'
check "counter kept across reloads" "$(metric 'writ_shadow_changes_total{policy="no-secret"}')" 2

# ---- writ audit query --shadow, verify, tamper
stop_writ "$WPID" TERM
q=$("$WRIT" audit query --shadow --state-dir "$TMP/s.state")
check "query --shadow: only records with a shadow field" \
    "$(jq -s 'length' <<<"$q") $(jq -s 'map(select(.shadow == null)) | length' <<<"$q")" "6 0"
all=$("$WRIT" audit query --state-dir "$TMP/s.state" | jq -s 'length')
[ "$all" -gt 6 ] && ok "query without --shadow lists the others too ($all)" || bad "query lists $all records"
v=$("$WRIT" audit verify --state-dir "$TMP/s.state"); rc=$?
check "verify with shadow records: exit 0" "$rc" 0
contains "verify: whole" "$v" "ok: "
seq=$(jq -s '.[0].seq' <<<"$q")
cp -r "$TMP/s.state" "$TMP/t.state"
sqlite3 "$TMP/t.state/writ.db" "UPDATE audit SET shadow = replace(shadow, '\"deny\"', '\"allow\"') WHERE seq = $seq"
v=$("$WRIT" audit verify --state-dir "$TMP/t.state"); rc=$?
check "edited shadow field: verify exit 1" "$rc" 1
contains "... names the record" "$v" "BROKEN: record $seq: hash does not match"
rm -rf "$TMP/t.state"; cp -r "$TMP/s.state" "$TMP/t.state"
sqlite3 "$TMP/t.state/writ.db" "UPDATE audit SET shadow = '' WHERE seq = $seq"
v=$("$WRIT" audit verify --state-dir "$TMP/t.state"); rc=$?
check "removed shadow field: verify exit 1" "$rc" 1
# re-hashed by someone without the key: the signed checkpoint catches it
rm -rf "$TMP/t.state"; cp -r "$TMP/s.state" "$TMP/t.state"
sqlite3 "$TMP/t.state/writ.db" "UPDATE audit SET shadow = '' WHERE seq = $seq"
python3 "$(dirname "$0")/clients/audit_forge.py" "$TMP/t.state/writ.db" "$seq"
v=$("$WRIT" audit verify --state-dir "$TMP/t.state"); rc=$?
check "removed and re-hashed: verify exit 1" "$rc" 1
contains "... against the signed checkpoint" "$v" "does not match signed checkpoint"
# the independent re-hash agrees with the server's v1/v2 hashes on an untouched log
rm -rf "$TMP/t.state"; cp -r "$TMP/s.state" "$TMP/t.state"
python3 "$(dirname "$0")/clients/audit_forge.py" "$TMP/t.state/writ.db" 1
v=$("$WRIT" audit verify --state-dir "$TMP/t.state"); rc=$?
check "the documented hash (audit.h), computed independently, matches" "$rc" 0

finish
