#!/usr/bin/env bash
# defaults.sh - `writ serve` runs only the policies it is given: without
# policies it refuses to start and says how to pass them; with one's own
# policies and entities but no schema, no schema is in force (the example
# schema is never a silent default), so entities of one's own types load
# and decide.
. "$(dirname "$0")/lib.sh"

# ---- no policies: refused at once, naming the flags
out=$(timeout 10 "$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/none.state" 2>&1)
rc=$?
check "no policies: exit status 2" "$rc" 2
contains "no policies: says so" "$out" "no policies"
contains "no policies: names --policies" "$out" "--policies FILE"
contains "no policies: names --config" "$out" "--config FILE"
[ -e "$TMP/none.state" ] && bad "no policies: state folder created" || ok "no policies: nothing created"
# an empty value is no policies either, from a flag or from a file
out=$(timeout 10 "$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/none.state" --policies '' 2>&1)
check "empty --policies: exit status 2" "$?" 2
printf 'listen = 127.0.0.1:0\n' >"$TMP/nopol.conf"
out=$(timeout 10 "$WRIT" serve --config "$TMP/nopol.conf" --state-dir "$TMP/none.state" 2>&1)
check "config without policies: exit status 2" "$?" 2
contains "config without policies: says so" "$out" "no policies"
# the settings print without policies (nothing is loaded)
out=$("$WRIT" serve --print-config 2>&1)
check "print-config without policies" "$?" 0
out=$'\n'$out
contains "default policies: none" "$out" $'\npolicies = \n'
contains "default schema: none" "$out" $'\nschema = \n'
contains "default entities: none" "$out" $'\nentities = \n'

# ---- own policies and entities, no schema: the example schema would refuse
# these entities (Writ::Robot is not one of its types) and these attributes.
cat >"$TMP/own.cedar" <<'CEDAR'
@id("robots-read") permit (principal is Writ::Robot, action == Writ::Action::"read", resource is Writ::Shelf)
when { principal.clearance >= resource.level };
CEDAR
cat >"$TMP/own.json" <<'JSON'
[
  {"uid": {"type": "Writ::Robot", "id": "r2"}, "attrs": {"clearance": 3}, "parents": []},
  {"uid": {"type": "Writ::Shelf", "id": "low"}, "attrs": {"level": 1}, "parents": []},
  {"uid": {"type": "Writ::Shelf", "id": "high"}, "attrs": {"level": 9}, "parents": []}
]
JSON
# the example schema does refuse them (so the check below means something)
out=$(timeout 10 "$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/bad.state" --policies "$TMP/own.cedar" \
    --entities "$TMP/own.json" --schema "$EX/schema.cedarschema" 2>&1)
rc=$?
[ "$rc" -ne 0 ] && ok "example schema refuses the own entities (rc $rc)" || bad "example schema accepted the own entities"
start_writ own --policies "$TMP/own.cedar" --entities "$TMP/own.json"
robot() { post /access/v1/evaluation "{\"subject\":{\"type\":\"Robot\",\"id\":\"r2\"},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"Shelf\",\"id\":\"$1\"},\"context\":{}}"; }
contains "own entities, no schema: allow" "$(robot low)" '200 {"decision":true'
contains "own entities, no schema: deny" "$(robot high)" '200 {"decision":false'
r=$(req GET /healthz); contains "healthy" "$r" '200 {"status":"ok"'
stop_writ "$WPID" TERM
check "clean stop" "$STOP_RC" 0
finish
