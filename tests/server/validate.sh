#!/usr/bin/env bash
# validate.sh - the validator from the command line and in `writ serve`:
#   - `writ validate` on the examples: every example policy validates against
#     the example schema, and the example entities conform to it;
#   - an ill-typed policy: `policyid: line:col: message`, the summary line,
#     exit 1; a schema or policy file that does not parse: file:line:col;
#   - `writ serve` with a schema refuses to start on a set that does not
#     validate, and at reload keeps the old set, answers /healthz degraded
#     with the policy's position, and recovers when the set is fixed.
. "$(dirname "$0")/lib.sh"

S="$EX/schema.cedarschema"
out=$("$WRIT" validate --schema "$S" --policies "$EX/policies.cedar" --entities "$EX/entities.json"); rc=$?
check "examples validate (exit)" "$rc" 0
n=$(grep -c '^[[:space:]]*\(permit\|forbid\)' "$EX/policies.cedar")
contains "examples validate (summary)" "$out" "$n policies, 0 errors, 0 warnings"

# An optional-looking mistake: an attribute the schema does not declare, on line 3.
cp "$EX/policies.cedar" "$TMP/bad.cedar"
printf '\n@id("typo")\npermit (principal, action, resource) when {\n  principal.clearence == "high"\n};\n' >>"$TMP/bad.cedar"
line=$(grep -n 'principal.clearence' "$TMP/bad.cedar" | cut -d: -f1)
out=$("$WRIT" validate --schema "$S" --policies "$TMP/bad.cedar"); rc=$?
check "ill-typed policy: exit 1" "$rc" 1
contains "ill-typed policy: id, line:col and message" "$out" ": $line:3: attribute \`clearence\` not found on Writ::"
contains "ill-typed policy: summary" "$out" "$((n + 1)) policies, "
[[ "$out" =~ ([0-9]+)\ errors ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] && ok "ill-typed policy: errors counted" ||
    bad "ill-typed policy: errors counted: $out"

printf 'entity User {\n  age: Lng,\n};\n' >"$TMP/bad.cedarschema"
err=$("$WRIT" validate --schema "$TMP/bad.cedarschema" --policies "$EX/policies.cedar" 2>&1); rc=$?
check "bad schema: exit 1" "$rc" 1
contains "bad schema: file:line:col" "$err" "$TMP/bad.cedarschema:2:"
printf 'permit (principal, action, resource) when {\n  principal.level >\n};\n' >"$TMP/unparsable.cedar"
err=$("$WRIT" validate --schema "$S" --policies "$TMP/unparsable.cedar" 2>&1); rc=$?
check "bad policy text: exit 1" "$rc" 1
contains "bad policy text: file:line:col" "$err" "$TMP/unparsable.cedar:3:1:"
printf '[{"uid": {"type": "Writ::Agent", "id": "a"}, "attrs": {"nosuch": 1}, "parents": []}]' >"$TMP/bad.json"
out=$("$WRIT" validate --schema "$S" --policies "$EX/policies.cedar" --entities "$TMP/bad.json" 2>&1); rc=$?
check "entities that do not conform: exit 1" "$rc" 1
contains "entities that do not conform: reported" "$out" "$TMP/bad.json"
"$WRIT" validate --policies "$EX/policies.cedar" >/dev/null 2>&1; check "usage: exit 2" "$?" 2

# ---- serve: refused at start
"$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/s0" --policies "$TMP/bad.cedar" --entities "$EX/entities.json" \
    --schema "$S" >"$TMP/start.log" 2>&1 &
spid=$!
for _ in $(seq 50); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$spid" 2>/dev/null; then kill -KILL "$spid"; bad "serve refuses a set that does not validate"; else
    wait "$spid"; [ $? -ne 0 ] && ok "serve refuses a set that does not validate" || bad "serve exit status"; fi
contains "start refusal names file, position and policy" "$(cat "$TMP/start.log")" \
    "$TMP/bad.cedar:$line:3: policy typo does not validate against the schema"

# ---- serve: refused at reload, the old set keeps deciding
cp "$EX/policies.cedar" "$TMP/policies.cedar"
start_writ reload --policies "$TMP/policies.cedar" --entities "$EX/entities.json" --schema "$S"
eval_json analyst read Dataset usage-metrics >"$TMP/allow.json"
decision() { post /access/v1/evaluation "$(cat "$TMP/allow.json")" | sed 's/^200 {"decision":\([a-z]*\).*/\1/'; }
check "valid set serves" "$(decision)" true
{ cat "$EX/policies.cedar"; echo '@id("stop") forbid (principal, action, resource) when { principal.nosuch };'; } \
    >"$TMP/p.new"
mv "$TMP/p.new" "$TMP/policies.cedar"; kill -HUP "$WPID"; sleep 0.5
check "reload with a set that does not validate keeps the old one" "$(decision)" true
r=$(req GET /healthz)
contains "healthz degraded" "$r" '503 {"status":"degraded","reason":'
contains "healthz reason names the policy and position" "$r" "policy stop does not validate"
cp "$EX/policies.cedar" "$TMP/policies.cedar"; kill -HUP "$WPID"; sleep 0.5
r=$(req GET /healthz); contains "healthy again after a fix" "$r" '200 {"status":"ok"'
finish
