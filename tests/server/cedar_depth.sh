#!/usr/bin/env bash
# cedar_depth.sh - a policy whose expression is a 100 KB chain of operators
# neither starts the server nor reaches it by a reload (it once did, and the
# first decision overflowed the evaluator's stack and killed the server);
# the refusal names the line:column where the chain went past the limit.
# A 20,000-operand `||` chain is not deep (one node) and is enforced.
. "$(dirname "$0")/lib.sh"

data=(--entities "$EX/entities.json" --schema "$EX/schema.cedarschema")
head='forbid (principal, action, resource) when { 1'
chain=$(printf '+1%.0s' $(seq 50000))
line=$(($(wc -l <"$EX/policies.cedar") + 1))
{ cat "$EX/policies.cedar"; echo "$head$chain == 1 };"; } >"$TMP/deep.cedar"
# the 200th `+` is the first link too deep (the limit is 200 levels)
col=$((${#head} + 2 * 199 + 1))

timeout 20 "$WRIT" serve --listen 127.0.0.1:0 --state-dir "$TMP/s0.state" --policies "$TMP/deep.cedar" \
    "${data[@]}" >"$TMP/s0.log" 2>&1
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ok "refuses to start on a deep chain (exit $rc)" ||
    bad "refuses to start on a deep chain: exit $rc"
contains "start refusal names the place" "$(cat "$TMP/s0.log")" "$TMP/deep.cedar:$line:$col:"
contains "start refusal says why" "$(cat "$TMP/s0.log")" "nested too deeply (limit 200)"

cp "$EX/policies.cedar" "$TMP/policies.cedar"
start_writ depth --policies "$TMP/policies.cedar" "${data[@]}" --reload-poll 0
body=$(eval_json analyst read Dataset usage-metrics)
decision() { post /access/v1/evaluation "$body" | sed 's/^200 {"decision":\([a-z]*\).*/\1/'; }
check "before reload" "$(decision)" true

# wait_log TEXT: up to 5 s for the server log to hold TEXT
wait_log() {
    for _ in $(seq 50); do grep -qF "$1" "$TMP/depth.log" && return 0; sleep 0.1; done
    return 1
}
cp "$TMP/deep.cedar" "$TMP/p.new"; mv "$TMP/p.new" "$TMP/policies.cedar"; kill -HUP "$WPID"
wait_log "refused" && ok "deep chain reload refused" || bad "deep chain reload refused: $(tail -3 "$TMP/depth.log")"
contains "reload refusal names the place" "$(cat "$TMP/depth.log")" "$TMP/policies.cedar:$line:$col:"
check "old set still decides" "$(decision)" true
kill -0 "$WPID" 2>/dev/null && ok "server alive" || bad "server died"

# A long || chain reloads and is enforced (its last operand is true).
{ cat "$EX/policies.cedar"; printf 'forbid (principal, action, resource) when { false'
  printf ' || false%.0s' $(seq 20000); echo ' || true };'; } >"$TMP/p.new"
mv "$TMP/p.new" "$TMP/policies.cedar"; kill -HUP "$WPID"
wait_log "reloaded" || sleep 1
check "20,000-operand || forbid in force" "$(decision)" false
kill -0 "$WPID" 2>/dev/null && ok "server alive after the || chain" || bad "server died after the || chain"
finish
